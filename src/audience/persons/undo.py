"""Undoing a merge (docs/identity.md): the merged person comes back under its old id.

Who holds the merged person's data now is whoever its id resolves to (the survivor, or the
person the survivor was merged into since). The restored person gets back what it held at
merge time minus what earlier operator merges had given it (those stay with the holder:
undoing B in A ← B ← C leaves C merged into A), where it is still the holder's or nobody's;
the holder loses what the merge gave it unless it changed since. Events need no moving: the merged
person's own events were never re-owned, and dropping the alias gives them back.
"""

from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import Connection, Row

from audience.attributes.values import parse_datetime
from audience.errors import ApiError
from audience.installations import queries as installation_queries
from audience.persons import merge_journal, queries
from audience.persons.audit import Audit
from audience.persons.merge_plan import Holdings, still_given, subtract
from audience.segments.membership import refresh_person


def not_undoable(message: str) -> ApiError:
    return ApiError(409, "MERGE_NOT_UNDOABLE", message)


def undo_merge(conn: Connection, merge_id: str, audit: Audit) -> tuple[str, str]:
    """Undo one merge in the caller's transaction; answers (holder id, restored id)."""
    entry = merge_journal.find(conn, merge_id, for_update=True)
    if entry is None:
        raise ApiError(404, "MERGE_NOT_FOUND", f"No merge '{merge_id}'")
    if entry.undone_at is not None:
        raise not_undoable("This merge was already undone")
    holder_id = queries.alias_target(conn, entry.merged_person_id)
    if not entry.snapshot or holder_id is None:
        raise not_undoable("A person of this merge was deleted")
    holder = queries.find(conn, holder_id, for_update=True)
    if holder is None or queries.find(conn, entry.merged_person_id) is not None:
        raise not_undoable("The persons of this merge have changed beyond undoing")
    restored_id = entry.merged_person_id
    # Operator merges into the merged person stay with the holder; what personalize merges
    # gave it (the anonymous profiles of devices it signed in on) is its own.
    earlier = [e for e in merge_journal.entries(conn, entry.inherited) if e.kind == "operator"]
    inherited = [e.given for e in earlier]
    foreign = {alias for e in earlier for alias in [e.merged_person_id, *e.snapshot["aliases"]]}
    own = subtract(entry.snapshot, inherited)
    take_back = still_given(
        subtract(entry.given, inherited), merge_journal.holdings_of(conn, holder)
    )
    queries.remove_alias(conn, restored_id)
    for alias in entry.snapshot.get("aliases", []):
        if alias not in foreign and queries.alias_target(conn, alias) == holder.id:
            queries.set_alias_target(conn, alias, restored_id)
    queries.insert_person(
        conn,
        id=restored_id,
        type="ANONYMOUS",
        custom_attributes={},
        created_at=_created_at(entry.snapshot, audit),
        updated_at=audit.at,
    )
    holder_values = _take_back_values(holder, take_back, audit)
    restored_values = dict(own["fields"])
    restored_values["custom_attributes"] = own["customAttributes"]
    if take_back["externalUserId"] is not None:
        holder_values["external_user_id"] = None
        audit.record(holder.id, "externalUserId", take_back["externalUserId"], None)
    if holder_values:
        queries.update_person(conn, holder.id, **holder_values)
    ext = own["externalUserId"]
    if ext is not None and not queries.owners(conn, ext, [], []):
        restored_values["external_user_id"] = ext
    queries.update_person(conn, restored_id, **restored_values)
    _give_back_identities(conn, holder.id, restored_id, own, audit)
    _move_tags(conn, holder.id, restored_id, own["tags"], take_back["tags"], audit)
    _give_back_installations(
        conn, holder.id, restored_id, own["installations"], entry.snapshot, audit
    )
    for person_id in (holder.id, restored_id):
        _settle_type(conn, person_id)
    audit.record(holder.id, "unmerge", restored_id, None)
    audit.record(restored_id, "unmerge", holder.id, restored_id)
    merge_journal.mark_undone(conn, merge_id, audit.at)
    audit.flush(conn)
    refresh_person(conn, holder.id, audit.at)
    refresh_person(conn, restored_id, audit.at)
    return holder.id, restored_id


def _created_at(snapshot: Holdings, audit: Audit) -> Any:
    text = snapshot.get("createdAt")
    return parse_datetime(text) if text else audit.at


def _take_back_values(holder: Row, take_back: Holdings, audit: Audit) -> dict[str, Any]:
    """Filled-in standard and custom attributes the holder still has as given: they go."""
    values: dict[str, Any] = {}
    for name, value in take_back["fields"].items():
        values[name] = None
        audit.record(holder.id, to_camel(name), value, None)
    if take_back["customAttributes"]:
        custom = dict(holder.custom_attributes or {})
        for name, value in take_back["customAttributes"].items():
            custom.pop(name, None)
            audit.record(holder.id, f"customAttributes.{name}", value, None)
        values["custom_attributes"] = custom
    if values:
        values["updated_at"] = audit.at
    return values


def _give_back_identities(
    conn: Connection, holder_id: str, restored_id: str, own: Holdings, audit: Audit
) -> None:
    """Phones and emails go back from the holder, or are taken again if nobody has them;
    one another person claimed since stays theirs."""
    for kind, key in (("phone", "phones"), ("email", "emails")):
        owners = queries.identity_owners(conn, kind, own[key])
        from_holder = [v for v in own[key] if owners.get(v) == holder_id]
        free = [v for v in own[key] if v not in owners]
        if from_holder:
            before = queries.identities_of(conn, holder_id)[kind]
            queries.move_identities(conn, holder_id, restored_id, kind, from_holder)
            audit.record(holder_id, key, before, [v for v in before if v not in from_holder])
        queries.add_identities(conn, restored_id, kind, free, audit.at)


def _move_tags(
    conn: Connection,
    holder_id: str,
    restored_id: str,
    own: list[str],
    taken_back: list[str],
    audit: Audit,
) -> None:
    if taken_back:
        before = queries.tags_of(conn, holder_id)
        queries.remove_tags(conn, holder_id, taken_back)
        audit.record(holder_id, "tags", before, [t for t in before if t not in taken_back])
    queries.add_tags(conn, restored_id, sorted(set(own)))


def _give_back_installations(
    conn: Connection,
    holder_id: str,
    restored_id: str,
    own: list[str],
    snapshot: Holdings,
    audit: Audit,
) -> None:
    """Devices it had, still live and still on the holder, come back (with their primary
    flag as it was at merge time)."""
    primary = set(snapshot.get("primary", []))
    for push_registration_id in own:
        device = installation_queries.find(conn, push_registration_id, for_update=True)
        if device is None or device.person_id != holder_id or device.uninstalled_at is not None:
            continue
        installation_queries.update_installation(
            conn,
            push_registration_id,
            person_id=restored_id,
            is_primary_device=push_registration_id in primary,
            updated_at=audit.at,
        )
        audit.record(holder_id, "installations", push_registration_id, None)
        audit.record(restored_id, "installations", None, push_registration_id)


def _settle_type(conn: Connection, person_id: str) -> None:
    """IDENTIFIED exactly when the person holds an identity."""
    row = queries.find(conn, person_id)
    assert row is not None
    identities = queries.identities_of(conn, person_id)
    identified = bool(row.external_user_id or identities["phone"] or identities["email"])
    wanted = "IDENTIFIED" if identified else "ANONYMOUS"
    if row.type != wanted:
        queries.update_person(conn, person_id, type=wanted)
