"""Person rows: matched by externalUserId, then email, then phone; created or updated with the
same checks, audit and codes as ``POST``/``PATCH /v1/persons`` (a row's own checks are in
``person_checks``). Batches go through ``person_batch``; ``apply_row`` (one row through the
API's services) is the fallback for a batch that met a concurrent writer.

An import adds what a row holds: its phones, emails and tags join the person's (it never
removes one), its attributes overwrite, empty cells leave values alone.
"""

from typing import Any

from sqlalchemy import Connection

from audience.attributes import queries as attribute_queries
from audience.errors import ApiError
from audience.imports.person_checks import no_identity
from audience.persons import queries as person_queries
from audience.persons.audit import Audit
from audience.persons.service import apply_changes, identity_taken, read_identity


def attribute_types(conn: Connection) -> dict[str, str]:
    rows = attribute_queries.list_definitions(conn, "person", None, 100_000)
    return {row.name: row.type for row in rows}


def apply_row(conn: Connection, fields: dict[str, Any], audit: Audit) -> tuple[str, str]:
    """Create or update the row's person; answers ("created"|"updated"|"unchanged", its id)."""
    identity = read_identity(fields)
    if identity.is_empty():
        raise no_identity()
    found = person_queries.owners(conn, identity.external_user_id, identity.phones, identity.emails)
    if len(found) > 1:
        raise ApiError(
            409,
            "AMBIGUOUS_PERSONALIZE_CANDIDATES",
            "The row's identities belong to more than one person",
        )
    if "tags" in fields and fields["tags"] is not None:
        fields["tags"] = {"add": fields["tags"]}
    if not found:
        person_id = person_queries.insert_anonymous_person(conn, audit.at)
        row = person_queries.find(conn, person_id)
        assert row is not None
        apply_changes(conn, row, fields, audit)
        return "created", person_id
    (person_id,) = found
    row = person_queries.find(conn, person_id, for_update=True)
    assert row is not None
    ext = identity.external_user_id
    if ext is not None and row.external_user_id not in (None, ext):
        raise identity_taken("The row's identities belong to a person with another externalUserId")
    current = person_queries.identities_of(conn, person_id)
    for kind, name in (("phone", "phones"), ("email", "emails")):
        if name in fields:
            wanted = getattr(identity, name)
            fields[name] = current[kind] + [v for v in wanted if v not in current[kind]]
    changed = apply_changes(conn, row, fields, audit)
    return ("updated" if changed else "unchanged"), person_id
