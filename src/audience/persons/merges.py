"""Merging one person into another (R2 step 4 and the operator merge of docs/identity.md).

The merged person's devices and identities move to the survivor, the values the survivor lacks
are copied, and its id becomes an alias of the survivor. Its events stay where they are and
are read through the alias, so a merge costs the same whatever the history size — and so the
journal entry written here is enough to undo it (``persons.undo``).
"""

from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import Connection, Row

from audience.errors import validation_error
from audience.flows.service import on_person_merged as move_flow_runs
from audience.persons import merge_journal, queries
from audience.persons.audit import Audit
from audience.persons.identities import MAX_VALUES
from audience.persons.merge_plan import plan_merge
from audience.persons.service import MAX_TAGS, apply_tags
from audience.segments.queries import forget_person


@dataclass
class MergeOutcome:
    merge_id: str
    conflicts: list[dict[str, Any]]


def merge_persons(
    conn: Connection, merged: Row, survivor: Row, kind: str, audit: Audit
) -> MergeOutcome:
    """Merge ``merged`` into ``survivor`` inside the caller's transaction (both rows locked);
    segments are the caller's to refresh for the survivor."""
    snapshot = merge_journal.holdings_of(conn, merged)
    current = merge_journal.holdings_of(conn, survivor)
    plan = plan_merge(current, snapshot)
    given = plan.given
    _check_limits(current, given)
    _move_identities(conn, merged, survivor, current, given, audit)
    _fill_values(conn, survivor, given, audit)
    if given["tags"]:
        apply_tags(conn, survivor.id, {"add": given["tags"]}, audit)
    queries.move_installations(conn, merged.id, survivor.id)
    move_flow_runs(conn, merged.id, survivor.id)
    forget_person(conn, merged.id)
    queries.add_alias(conn, merged.id, survivor.id, audit.at)
    queries.delete_person_row(conn, merged.id)
    audit.record(survivor.id, "merge", merged.id, survivor.id)
    queries.update_person(conn, survivor.id, updated_at=audit.at)
    merge_id = merge_journal.record_merge(
        conn,
        survivor_id=survivor.id,
        merged_person_id=merged.id,
        kind=kind,
        source=audit.source,
        snapshot=snapshot,
        given=given,
        at=audit.at,
    )
    return MergeOutcome(merge_id=merge_id, conflicts=plan.conflicts)


def merge_into(conn: Connection, anonymous: Row, survivor: Row, audit: Audit) -> str:
    """R2.4: the installation's anonymous person is merged into the person found; answers
    the merge id."""
    return merge_persons(conn, anonymous, survivor, "personalize", audit).merge_id


def _check_limits(current: dict[str, Any], given: dict[str, Any]) -> None:
    for key in ("phones", "emails"):
        if len(current[key]) + len(given[key]) > MAX_VALUES:
            raise validation_error(f"The merged person would have over {MAX_VALUES} {key}", key)
    if len(current["tags"]) + len(given["tags"]) > MAX_TAGS:
        raise validation_error(f"The merged person would have over {MAX_TAGS} tags", "tags")


def _move_identities(
    conn: Connection,
    merged: Row,
    survivor: Row,
    current: dict[str, Any],
    given: dict[str, Any],
    audit: Audit,
) -> None:
    """Phones and emails change owner; the externalUserId moves only into a gap (another one
    is dropped with the merged person, as a conflict)."""
    for kind, key in (("phone", "phones"), ("email", "emails")):
        if given[key]:
            queries.move_identities(conn, merged.id, survivor.id, kind)
            audit.record(survivor.id, key, current[key], current[key] + given[key])
    values: dict[str, Any] = {}
    if given["externalUserId"] is not None:
        queries.update_person(conn, merged.id, external_user_id=None)
        values["external_user_id"] = given["externalUserId"]
        audit.record(survivor.id, "externalUserId", None, given["externalUserId"])
    identified = given["externalUserId"] or given["phones"] or given["emails"]
    if identified and survivor.type != "IDENTIFIED":
        values["type"] = "IDENTIFIED"
    if values:
        queries.update_person(conn, survivor.id, **values)


def _fill_values(conn: Connection, survivor: Row, given: dict[str, Any], audit: Audit) -> None:
    """Standard and custom attributes the survivor lacked, copied as they are (they were
    valid when written; a definition changed since must not make the merge fail)."""
    values: dict[str, Any] = {}
    for name, value in given["fields"].items():
        values[name] = value
        audit.record(survivor.id, to_camel(name), None, value)
    if given["customAttributes"]:
        custom = dict(survivor.custom_attributes or {})
        for name, value in given["customAttributes"].items():
            custom[name] = value
            audit.record(survivor.id, f"customAttributes.{name}", None, value)
        values["custom_attributes"] = custom
    if values:
        queries.update_person(conn, survivor.id, **values)
