"""Ids: the time-ordered form keeps the id format (36-character UUID text) and sorts by
creation time, so bulk inserts append to their indexes."""

import time
import uuid

from audience.ids import new_id, new_time_ordered_id


def test_time_ordered_ids_are_uuids_of_the_usual_form() -> None:
    ids = {new_time_ordered_id() for _ in range(1000)}
    assert len(ids) == 1000  # 74 random bits: never the same twice
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and len(value) == len(new_id()) == 36
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_time_ordered_ids_sort_by_creation_time() -> None:
    earlier = new_time_ordered_id()
    time.sleep(0.002)
    later = [new_time_ordered_id() for _ in range(100)]
    assert all(earlier < value for value in later)
    millis = uuid.UUID(later[0]).int >> 80
    assert abs(millis - time.time_ns() // 1_000_000) < 5_000
