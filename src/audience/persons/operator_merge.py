"""The operator merge of docs/identity.md: two persons chosen by an operator become one."""

from typing import Any

from sqlalchemy import Connection

from audience.errors import validation_error
from audience.persons import service
from audience.persons.audit import Audit
from audience.persons.merges import merge_persons
from audience.segments.membership import refresh_person


class DryRun(Exception):
    """Raised with the answer of a dry run so its transaction rolls back: the preview is
    the real merge, computed and then undone by the database, so it cannot disagree."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.answer = answer


def operator_merge(
    conn: Connection, first_id: str, second_id: str, dry_run: bool, audit: Audit
) -> dict[str, Any]:
    """Merge the later created of two persons into the earlier one (on a tie, the second
    named into the first); answers survivor, merged id, merge id and conflicts."""
    ids = [service.live_person_id(conn, first_id), service.live_person_id(conn, second_id)]
    if ids[0] == ids[1]:
        raise validation_error("personIds name the same person", "personIds")
    locked = {pid: service.get_person(conn, pid, for_update=True) for pid in sorted(ids)}
    first, second = locked[ids[0]], locked[ids[1]]
    survivor, merged = (second, first) if second.created_at < first.created_at else (first, second)
    outcome = merge_persons(conn, merged, survivor, "operator", audit)
    audit.flush(conn)
    refresh_person(conn, survivor.id, audit.at)
    answer = {
        "survivor": service.person_to_api(conn, service.get_person(conn, survivor.id)),
        "mergedPersonId": merged.id,
        "mergeId": None if dry_run else outcome.merge_id,
        "conflicts": outcome.conflicts,
        "dryRun": dry_run,
    }
    if dry_run:
        raise DryRun(answer)
    return answer
