"""Personalize (R2), depersonalize (R3) and the merge of an anonymous person into another.

Every function here runs inside the caller's single write transaction. On PostgreSQL a
concurrent request may win a unique identity first; the caller then retries the whole unit
of work, which now finds the winner and takes the "existing person" branch.
"""

from typing import Any

from sqlalchemy import Connection, Row

from audience.auth.principals import AppPrincipal
from audience.db import ConcurrentChange
from audience.errors import ApiError
from audience.events.standard import DEPERSONALIZE, PERSONALIZE, record_standard_event
from audience.flows.service import on_person_merged as move_flow_runs
from audience.installations import queries as installation_queries
from audience.installations.service import get_installation, update_installation
from audience.persons import queries
from audience.persons.audit import Audit
from audience.persons.identities import Identity
from audience.persons.service import (
    STANDARD_FIELDS,
    apply_changes,
    apply_tags,
    get_person,
    identity_taken,
)
from audience.segments.membership import refresh_person
from audience.segments.queries import forget_person


def require_identity(identity: Identity) -> None:
    """R2 step 0: X must hold at least one identity."""
    if identity.is_empty():
        raise ApiError(
            400, "USER_IDENTITY_INVALID", "userIdentity needs externalUserId, a phone or an email"
        )


def personalize(
    conn: Connection,
    app: AppPrincipal,
    installation: Row,
    identity: Identity,
    attributes: dict[str, Any] | None,
    force_depersonalize: bool,
    set_primary: bool,
    audit: Audit,
) -> Row:
    """R2, steps 0 to 5; answers the person the installation belongs to afterwards."""
    require_identity(identity)
    candidates = queries.owners(conn, identity.external_user_id, identity.phones, identity.emails)
    if len(candidates) > 1:
        raise ApiError(
            409,
            "AMBIGUOUS_PERSONALIZE_CANDIDATES",
            "The identities in userIdentity belong to more than one person",
        )
    target = queries.find(conn, candidates.pop(), for_update=True) if candidates else None
    if (
        target is not None
        and identity.external_user_id is not None
        and target.external_user_id is not None
        and target.external_user_id != identity.external_user_id
    ):
        raise identity_taken("The person owning these identities has another externalUserId")

    current = get_person(conn, installation.person_id, for_update=True)
    already_linked = target is not None and target.id == current.id
    if current.type == "IDENTIFIED" and not already_linked:
        if not force_depersonalize:
            raise ApiError(
                409,
                "PERSONALIZATION_IMPOSSIBLE",
                "The installation is personalized with another person; "
                "depersonalize it first or use forceDepersonalize",
            )
        installation = depersonalize(conn, installation, app.application_code, audit)
        current = get_person(conn, installation.person_id, for_update=True)

    if target is None or already_linked:
        person = current  # promote the anonymous person, or add to the linked one
    else:
        merge_into(conn, current, target, audit)
        person = target
    _add_identity(conn, person, identity, audit)
    person = get_person(conn, person.id)
    if attributes:
        apply_changes(conn, person, attributes, audit)
    if set_primary:
        update_installation(
            conn,
            get_installation(conn, installation.push_registration_id),
            {"is_primary_device": True},
        )
    if not already_linked:
        audit.record(person.id, "installations", None, installation.push_registration_id)
        record_standard_event(
            conn, PERSONALIZE, installation, app.application_code, person.id, audit.at
        )
    audit.flush(conn)
    refresh_person(conn, person.id, audit.at)
    return get_person(conn, person.id)


def _add_identity(conn: Connection, person: Row, identity: Identity, audit: Audit) -> None:
    """Give ``person`` the identity values of X it lacks (phones and emails are added)."""
    current = queries.identities_of(conn, person.id)
    changes: dict[str, Any] = {}
    if identity.external_user_id is not None and person.external_user_id is None:
        changes["external_user_id"] = identity.external_user_id
    new_phones = [p for p in identity.phones if p not in current["phone"]]
    new_emails = [e for e in identity.emails if e not in current["email"]]
    if new_phones:
        changes["phones"] = current["phone"] + new_phones
    if new_emails:
        changes["emails"] = current["email"] + new_emails
    if changes:
        try:
            apply_changes(conn, person, changes, audit)
        except ApiError as exc:
            if exc.code != "USER_MERGE_INTERRUPTED":
                raise
            # Every owner of X was found at the start, so a conflict now can only be a
            # concurrent request claiming a value since: run again and see the winner.
            raise ConcurrentChange from exc


def merge_into(conn: Connection, anonymous: Row, survivor: Row, audit: Audit) -> None:
    """Merge ``anonymous`` into ``survivor`` (R2.4): its devices move, the attributes and tags
    the survivor lacks are copied (the survivor wins on conflict), and its id becomes an alias
    of the survivor. Its events stay where they are and are read through the alias, so the
    cost does not depend on how long its history is."""
    values: dict[str, Any] = {}
    for name in STANDARD_FIELDS:
        if getattr(survivor, name) is None and getattr(anonymous, name) is not None:
            values[name] = getattr(anonymous, name)
    custom = dict(anonymous.custom_attributes or {}) | dict(survivor.custom_attributes or {})
    if custom != (survivor.custom_attributes or {}):
        values["custom_attributes"] = custom
    if values:
        apply_changes(conn, survivor, values, audit)
    tags = set(queries.tags_of(conn, anonymous.id))
    if tags:
        apply_tags(conn, survivor.id, {"add": sorted(tags)}, audit)
    queries.move_installations(conn, anonymous.id, survivor.id)
    move_flow_runs(conn, anonymous.id, survivor.id)
    forget_person(conn, anonymous.id)
    queries.add_alias(conn, anonymous.id, survivor.id, audit.at)
    queries.delete_person_row(conn, anonymous.id)
    audit.record(survivor.id, "merge", anonymous.id, survivor.id)
    queries.update_person(conn, survivor.id, updated_at=audit.at)


def depersonalize(conn: Connection, installation: Row, application_code: str, audit: Audit) -> Row:
    """R3: the installation moves to a new anonymous person; the identified one keeps its
    history and gets a ``Depersonalize`` event. An anonymous installation is left as it is."""
    person = get_person(conn, installation.person_id, for_update=True)
    if person.type != "IDENTIFIED":
        return installation
    anonymous_id = queries.insert_anonymous_person(conn, audit.at)
    installation_queries.move_to_person(conn, installation.push_registration_id, anonymous_id)
    record_standard_event(conn, DEPERSONALIZE, installation, application_code, person.id, audit.at)
    audit.record(person.id, "installations", installation.push_registration_id, None)
    queries.update_person(conn, person.id, updated_at=audit.at)
    audit.flush(conn)
    refresh_person(conn, person.id, audit.at)
    refresh_person(conn, anonymous_id, audit.at)
    return get_installation(conn, installation.push_registration_id)
