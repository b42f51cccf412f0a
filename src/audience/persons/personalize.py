"""Personalize (R2) and depersonalize (R3); the merge itself lives in ``persons.merges``.

Every function here runs inside the caller's single write transaction. On PostgreSQL a
concurrent request may win a unique identity first; the caller then retries the whole unit
of work, which now finds the winner and takes the "existing person" branch.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row

from audience.auth.principals import AppPrincipal
from audience.db import ConcurrentChange
from audience.errors import (
    AmbiguousPersonalizeCandidates,
    PersonalizationImpossible,
    UserIdentityInvalid,
    UserMergeInterrupted,
)
from audience.events.standard import DEPERSONALIZE, PERSONALIZE, record_standard_event
from audience.installations.service import (
    get_installation,
    live_summaries_for_person,
    move_to_person,
    update_installation,
)
from audience.persons import queries
from audience.persons.audit import Audit
from audience.persons.guardrails import installations_over_cap
from audience.persons.identities import Identity
from audience.persons.merges import merge_into
from audience.persons.service import apply_changes, get_person, identity_taken
from audience.segments.service import refresh_person


class Personalized(NamedTuple):
    """The person the installation now belongs to, its phones and emails, its tags and its
    live installations' summaries (None: not read)."""

    person: Any
    identities: dict[str, list[str]]
    tags: list[str] | None
    live: list[Any] | None


def require_identity(identity: Identity) -> None:
    """R2 step 0: X must hold at least one identity."""
    if identity.is_empty():
        raise UserIdentityInvalid("userIdentity needs externalUserId, a phone or an email")


def personalize(
    conn: Connection,
    app: AppPrincipal,
    installation: Row,
    identity: Identity,
    attributes: dict[str, Any] | None,
    force_depersonalize: bool,
    set_primary: bool,
    audit: Audit,
    check_target: Callable[[Connection, Row], None] | None = None,
) -> Personalized:
    """R2, steps 0 to 5; answers the person the installation belongs to afterwards.
    ``check_target`` may refuse the person found by X before anything changes (docs/security.md)."""
    require_identity(identity)
    candidates = queries.owners(conn, identity.external_user_id, identity.phones, identity.emails)
    if len(candidates) > 1:
        raise AmbiguousPersonalizeCandidates()
    target_id = candidates.pop() if candidates else None
    # Both persons this may change are locked in one global order (by id): two crossing
    # personalizations queue instead of deadlocking.
    locked = queries.lock_persons(conn, (target_id, installation.person_id))
    target = _locked_row(conn, locked, target_id) if target_id else None
    if (
        target is not None
        and identity.external_user_id is not None
        and target.external_user_id is not None
        and target.external_user_id != identity.external_user_id
    ):
        raise identity_taken("The person owning these identities has another externalUserId")
    if target is not None and check_target is not None:
        check_target(conn, target)

    # An installation's person is live (merges move installations): no merge to follow.
    current = _locked_row(conn, locked, installation.person_id)
    already_linked = target is not None and target.id == current.id
    if current.type == "IDENTIFIED" and not already_linked:
        if not force_depersonalize:
            raise PersonalizationImpossible()
        installation = depersonalize(conn, installation, app.application_code, audit)
        current = _row(conn, installation.person_id, for_update=True)

    if target is None or already_linked:
        person = current  # promote the anonymous person, or add to the linked one
    else:
        merge_into(conn, current, target, audit)
        person = _row(conn, target.id)  # the merge changed it
    # The person's row is carried along from here, changed by what is written: the answer
    # needs no second read (unless an eviction below touches it).
    person, identities, read_tags = _add_identity(conn, person, identity, audit)
    tags: list[str] | None = read_tags
    if attributes:
        person = person._replace(**apply_changes(conn, person, attributes, audit))
        if attributes.get("tags") is not None:
            tags = None  # changed: read again for the answer
    if set_primary:
        update_installation(
            conn,
            get_installation(conn, installation.push_registration_id),
            {"is_primary_device": True},
        )
    # The live installations as the answer shows them, unless an eviction changes them.
    live = live_summaries_for_person(conn, person.id)
    evicted = installations_over_cap(conn, person.id, installation.push_registration_id, len(live))
    for device in evicted:
        audit.record(person.id, "installationEvicted", device.push_registration_id, None)
        depersonalize(conn, device, device.application_code, audit)
    if not already_linked:
        audit.record(person.id, "installations", None, installation.push_registration_id)
        record_standard_event(
            conn, PERSONALIZE, installation, app.application_code, person.id, audit.at
        )
    audit.flush(conn)
    refresh_person(conn, person.id, audit.at)
    if evicted:
        return Personalized(_row(conn, person.id), identities, tags, None)
    return Personalized(person, identities, tags, live)


def _row(conn: Connection, live_id: str, for_update: bool = False) -> Any:
    """A live person's row as it now is (``live_id`` is no merged-away id: nothing to follow)."""
    row = queries.find(conn, live_id, for_update)
    assert row is not None
    return row


def _locked_row(conn: Connection, locked: dict[str, Any], person_id: str) -> Any:
    """The person's row, locked: as ``lock_persons`` read it, else read now (SQLite)."""
    row = locked.get(person_id)
    return row if row is not None else queries.find(conn, person_id, for_update=True)


def _add_identity(
    conn: Connection, person: Any, identity: Identity, audit: Audit
) -> tuple[Any, dict[str, list[str]], list[str]]:
    """Give ``person`` the identity values of X it lacks (phones and emails are added);
    answers its row and identities after, and its tags (read with the identities: one
    statement for the answer's two lists)."""
    current, tags = queries.identities_and_tags(conn, person.id)
    changes: dict[str, Any] = {}
    if identity.external_user_id is not None and person.external_user_id is None:
        changes["external_user_id"] = identity.external_user_id
    new_phones = [p for p in identity.phones if p not in current["phone"]]
    new_emails = [e for e in identity.emails if e not in current["email"]]
    if new_phones:
        changes["phones"] = current["phone"] + new_phones
    if new_emails:
        changes["emails"] = current["email"] + new_emails
    if not changes:
        return person, current, tags
    try:
        # Every owner of X was found at the start (none but ``person``): not asked again.
        written = apply_changes(conn, person, changes, audit, current_identities=current)
    except UserMergeInterrupted as exc:
        # Every owner of X was found at the start, so a conflict now can only be a
        # concurrent request claiming a value since: run again and see the winner.
        raise ConcurrentChange from exc
    # As ``identities_of`` reads them: by creation time (the new ones last), then value.
    identities = {
        "phone": current["phone"] + sorted(new_phones),
        "email": current["email"] + sorted(new_emails),
    }
    return person._replace(**written), identities, tags


def depersonalize(conn: Connection, installation: Row, application_code: str, audit: Audit) -> Row:
    """R3: the installation moves to a new anonymous person; the identified one keeps its
    history and gets a ``Depersonalize`` event. An anonymous installation is left as it is."""
    person = get_person(conn, installation.person_id, for_update=True)
    if person.type != "IDENTIFIED":
        return installation
    anonymous_id = queries.insert_anonymous_person(conn, audit.at)
    move_to_person(conn, installation.push_registration_id, anonymous_id)
    record_standard_event(conn, DEPERSONALIZE, installation, application_code, person.id, audit.at)
    audit.record(person.id, "installations", installation.push_registration_id, None)
    queries.update_person(conn, person.id, updated_at=audit.at)
    audit.flush(conn)
    refresh_person(conn, person.id, audit.at)
    refresh_person(conn, anonymous_id, audit.at)
    return get_installation(conn, installation.push_registration_id)
