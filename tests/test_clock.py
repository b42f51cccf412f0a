"""The clock's conversions: the fast naive-UTC arithmetic is the same as the library's."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audience.clock import naive_utc, to_naive_utc

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.datetimes(timezones=st.just(UTC) | offsets))
def test_naive_utc_is_astimezone_without_the_zone(value: datetime) -> None:
    try:
        expected = value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        with pytest.raises(OverflowError):
            naive_utc(value)
        return
    converted = naive_utc(value)
    assert converted == expected
    assert converted.tzinfo is None  # (fold, meaningless for a fixed offset, is not kept)


@given(st.datetimes() | st.datetimes(timezones=st.just(UTC) | offsets))
def test_to_naive_utc_truncates_to_milliseconds(value: datetime) -> None:
    try:
        utc = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    except OverflowError:
        return
    assert to_naive_utc(value) == utc.replace(microsecond=utc.microsecond // 1000 * 1000)
    assert to_naive_utc(value).tzinfo is None
