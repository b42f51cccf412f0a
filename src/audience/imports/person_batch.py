"""Person rows applied a batch at a time, with the same outcome as applying them one by one.

The row-at-a-time path (``persons.apply_row``: the API's services, a savepoint each) costs
about 16 statements a row. Here a batch costs a few: every identity of the batch is resolved
with set queries, the persons it names are read (and locked) once, and the rows are then
applied *in file order* to that state in memory, with the API's own checks and codes — so a
row sees what the rows before it did, in-batch duplicates included, exactly as before. What
changed is then written with one bulk statement per table (COPY on PostgreSQL), the audit
once (streamed while the rows are applied), and segment membership re-evaluated once for
the batch's persons.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import Connection

from audience.attributes.values import merge_custom_attributes
from audience.errors import ApiError, validation_error
from audience.ids import new_time_ordered_id
from audience.imports import queries
from audience.imports.person_checks import Candidate
from audience.memory import paused_gc as paused_gc  # where the import's service uses it
from audience.persons.identities import Identity
from audience.persons.service import (
    MAX_TAGS,
    STANDARD_FIELDS,
    identity_taken,
    read_identity,
)
from audience.persons.service import _check_birthday as check_birthday
from audience.segments.service import refresh_persons
from audience.webhooks.publish import PERSON_UPDATED, publish_person_changes, wanted

STANDARD = STANDARD_FIELDS
# Audit entries handed to the database at a time while a batch is applied (PostgreSQL's COPY
# sends them on in 32 KiB blocks: ~200 rows).
AUDIT_CHUNK = 1000
API_NAMES = {name: to_camel(name) for name in STANDARD}
KINDS = (("phone", "phones"), ("email", "emails"))


@dataclass
class State:
    """A person as the batch sees it: as stored, plus the batch's earlier rows."""

    id: str
    new: bool
    type: str
    external_user_id: str | None
    standard: dict[str, Any]
    custom: dict[str, Any]
    identities: dict[str, list[str]]
    tags: set[str]
    created_at: datetime
    changed: bool = False
    # phones and emails this batch added (stored with the batch's time)
    added: set[str] = field(default_factory=set)


@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0})
    errors: dict[int, ApiError] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


class Batch:
    def __init__(self, conn: Connection, types: dict[str, str], source: str, at: datetime):
        self.conn = conn
        self.types = types
        self.source = source
        self.at = at
        self.by_ext: dict[str, str] = {}
        self.by_identity: dict[tuple[str, str], str] = {}
        self.persons: dict[str, State] = {}
        self.new_identities: list[tuple[Any, ...]] = []
        self.new_tags: list[tuple[str, str]] = []
        self.audit: list[tuple[str, str, Any, Any]] = []  # person, field, old, new

    # --- reading: a few set queries for the whole batch --------------------------------------

    def load(self, candidates: list[Candidate]) -> None:
        exts = sorted({e for c in candidates if (e := c.identity.external_user_id) is not None})
        self.by_ext = queries.persons_by_external_id(self.conn, exts)
        owners = set(self.by_ext.values())
        for kind, name in KINDS:
            values = sorted({v for c in candidates for v in getattr(c.identity, name)})
            found = queries.identity_owners(self.conn, kind, values)
            self.by_identity.update({(kind, value): pid for value, pid in found.items()})
            owners.update(found.values())
        if not owners:
            return
        for row in queries.lock_and_read_persons(self.conn, sorted(owners)):
            self.persons[row.id] = State(
                id=row.id,
                new=False,
                type=row.type,
                external_user_id=row.external_user_id,
                standard={name: getattr(row, name) for name in STANDARD},
                custom=dict(row.custom_attributes or {}),
                identities={"phone": [], "email": []},
                tags=set(),
                created_at=row.created_at,
            )
        ids = sorted(self.persons)
        for person_id, kind, value in queries.identities_of_many(self.conn, ids):
            self.persons[person_id].identities[kind].append(value)
        for person_id, tag in queries.tags_of_many(self.conn, ids):
            self.persons[person_id].tags.add(tag)
        # A person deleted since its identity was read is no match (it no longer exists).
        self.by_ext = {k: v for k, v in self.by_ext.items() if v in self.persons}
        self.by_identity = {k: v for k, v in self.by_identity.items() if v in self.persons}

    # --- one row, in file order: ``persons.apply_row`` and ``apply_changes`` on the state ----

    def apply(self, candidate: Candidate) -> str:
        """Apply one row; answers "created", "updated" or "unchanged", or raises its error
        (then nothing of the row is kept)."""
        identity = candidate.identity
        fields = dict(candidate.fields)
        found = self._owners(identity)
        if len(found) > 1:
            raise ApiError(
                409,
                "AMBIGUOUS_PERSONALIZE_CANDIDATES",
                "The row's identities belong to more than one person",
            )
        if fields.get("tags") is not None:
            fields["tags"] = {"add": fields["tags"]}
        if not found:
            state = State(
                id=new_time_ordered_id(),
                new=True,
                type="ANONYMOUS",
                external_user_id=None,
                standard=dict.fromkeys(STANDARD),
                custom={},
                identities={"phone": [], "email": []},
                tags=set(),
                created_at=self.at,
            )
            self._change(state, fields, identity)
            self.persons[state.id] = state
            return "created"
        state = self.persons[found.pop()]
        ext = identity.external_user_id
        if ext is not None and state.external_user_id not in (None, ext):
            raise identity_taken(
                "The row's identities belong to a person with another externalUserId"
            )
        known: Identity | None = identity
        for kind, name in KINDS:
            if name in fields:
                wanted = getattr(identity, name)
                current = state.identities[kind]
                fields[name] = current + [v for v in wanted if v not in current]
                known = None  # the lists changed: checked again, as the row path does
        return "updated" if self._change(state, fields, known) else "unchanged"

    def _owners(self, identity: Identity) -> set[str]:
        found = set()
        if identity.external_user_id is not None and identity.external_user_id in self.by_ext:
            found.add(self.by_ext[identity.external_user_id])
        for kind, name in KINDS:
            for value in getattr(identity, name):
                owner = self.by_identity.get((kind, value))
                if owner is not None:
                    found.add(owner)
        return found

    def _change(self, state: State, changes: dict[str, Any], identity: Identity | None) -> bool:
        """``persons.service.apply_changes`` on the state: checks first, then kept whole.
        ``identity``: ``read_identity(changes)`` when the row's own check already has it."""
        audit: list[tuple[str, Any, Any]] = []
        standard: dict[str, Any] = {}
        for name in STANDARD:
            if name in changes and changes[name] != state.standard[name]:
                if name == "birthday":
                    check_birthday(changes[name])
                standard[name] = changes[name]
                audit.append((API_NAMES[name], state.standard[name], changes[name]))
        custom = state.custom
        if changes.get("custom_attributes"):
            merged = merge_custom_attributes(
                self.types, "person", state.custom, changes["custom_attributes"]
            )
            for key in sorted(set(state.custom) | set(merged)):
                if state.custom.get(key) != merged.get(key):
                    audit.append(
                        (f"customAttributes.{key}", state.custom.get(key), merged.get(key))
                    )
            custom = merged
        changed = bool(standard) or custom != state.custom
        identities = self._identities(state, changes, identity, audit)
        changed |= identities is not None
        tags = state.tags
        if changes.get("tags") is not None:
            wanted = state.tags | set(changes["tags"]["add"])
            if wanted != state.tags:
                if len(wanted) > MAX_TAGS:
                    raise validation_error(f"At most {MAX_TAGS} tags per person", "tags")
                audit.append(("tags", sorted(state.tags), sorted(wanted)))
                tags = wanted
                changed = True
        if not changed:
            return False
        # Checked: keep the row.
        state.standard.update(standard)
        state.custom = custom
        if identities is not None:
            ext, kind_values, new_type = identities
            if ext != state.external_user_id:
                if state.external_user_id is not None:
                    self.by_ext.pop(state.external_user_id, None)
                if ext is not None:
                    self.by_ext[ext] = state.id
                state.external_user_id = ext
            for kind, values in kind_values.items():
                for value in values:
                    if value not in state.identities[kind]:
                        self.new_identities.append((kind, value, state.id, self.at))
                        self.by_identity[(kind, value)] = state.id
                        state.added.add(value)
                state.identities[kind] = _stored_order(values, state.added)
            state.type = new_type
        self.new_tags += [(state.id, tag) for tag in sorted(tags - state.tags)]
        state.tags = tags
        state.changed = True
        self.audit += [(state.id, name, old, new) for name, old, new in audit]
        return True

    def _identities(
        self,
        state: State,
        changes: dict[str, Any],
        identity: Identity | None,
        audit: list[tuple[str, Any, Any]],
    ) -> tuple[str | None, dict[str, list[str]], str] | None:
        """``persons.service._apply_identities`` on the state: the new externalUserId, the
        phones and emails to hold, and the type, or None when nothing changes."""
        sent = {k for k in ("external_user_id", "phones", "emails") if k in changes}
        if not sent:
            return None
        new = identity if identity is not None else read_identity(changes)
        ext = new.external_user_id if "external_user_id" in sent else state.external_user_id
        wanted = {
            "phone": new.phones if "phones" in sent else state.identities["phone"],
            "email": new.emails if "emails" in sent else state.identities["email"],
        }
        others = self._owners(Identity(ext, wanted["phone"], wanted["email"])) - {state.id}
        if others:
            raise identity_taken("An identity in the request belongs to another person")
        changed = False
        if ext != state.external_user_id:
            audit.append(("externalUserId", state.external_user_id, ext))
            changed = True
        for kind, name in KINDS:
            old = state.identities[kind]
            if set(old) != set(wanted[kind]):
                audit.append((name, old, wanted[kind]))
                changed = True
        identified = bool(ext or wanted["phone"] or wanted["email"])
        new_type = "IDENTIFIED" if identified else "ANONYMOUS"
        if not changed and new_type == state.type:
            return None
        return ext, wanted, new_type

    # --- writing: one statement per table ----------------------------------------------------

    def audit_rows(self, start: int) -> list[queries.ChangeRow]:
        """The audit from entry ``start`` on, as stored (values as JSON text)."""
        return [(pid, name, _json(old), _json(new)) for pid, name, old, new in self.audit[start:]]

    def write(self) -> set[str]:
        """Store what the applied rows changed (but the audit, written as the rows are
        applied: ``apply_batch``); answers the persons changed."""
        conn = self.conn
        changed = [s for s in self.persons.values() if s.changed]
        queries.insert_persons(conn, [self._row(s) for s in changed if s.new])
        queries.update_persons(conn, [self._row(s) for s in changed if not s.new])
        queries.insert_identities(conn, self.new_identities)
        queries.insert_tags(conn, self.new_tags)
        if wanted(conn, [PERSON_UPDATED]):
            publish_person_changes(
                conn,
                [
                    {"person_id": pid, "field": name, "old_value": old, "new_value": new}
                    for pid, name, old, new in self.audit
                ],
            )
        touched = {s.id for s in changed}
        refresh_persons(conn, touched, self.at)
        return touched

    def _row(self, state: State) -> tuple[Any, ...]:
        std = state.standard
        return (
            state.id,
            state.type,
            state.external_user_id,
            std["first_name"],
            std["last_name"],
            std["middle_name"],
            std["gender"],
            std["birthday"],
            _json(state.custom),
            state.created_at,
            self.at,
        )


def _stored_order(values: list[str], added: set[str]) -> list[str]:
    """The values as ``identities_of`` reads them back: those stored before the batch in
    their order, then the batch's (all stamped with the batch's time) by value."""
    return [v for v in values if v not in added] + sorted(v for v in values if v in added)


_encode_text = json.encoder.encode_basestring_ascii


def _json(value: Any) -> str:
    """``json.dumps(value)``, with the audit's usual values (None, text, lists of text) taken
    without its per-call overhead (the audit of a batch is tens of thousands of values)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return str(_encode_text(value))
    if type(value) is list:
        try:
            return "[" + ", ".join(map(_encode_text, value)) + "]"
        except TypeError:  # not all text
            pass
    return json.dumps(value)


def apply_batch(
    conn: Connection, candidates: list[Candidate], types: dict[str, str], source: str, at: datetime
) -> Outcome:
    """Apply the rows in order; a failing row is listed and leaves nothing."""
    batch = Batch(conn, types, source, at)
    batch.load(candidates)
    outcome = Outcome()
    with queries.changes_stream(conn, at, source) as write_changes:
        written = 0  # audit entries handed to the database so far
        for candidate in candidates:
            try:
                result = batch.apply(candidate)
            except ApiError as exc:  # the row's checks come first: it left no audit
                outcome.errors[candidate.number] = exc
                continue
            if result != "unchanged":
                outcome.counts[result] += 1
            if len(batch.audit) - written >= AUDIT_CHUNK:
                write_changes(batch.audit_rows(written))
                written = len(batch.audit)
        write_changes(batch.audit_rows(written))
    outcome.touched = batch.write()
    return outcome
