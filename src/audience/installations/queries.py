"""SQL for installations."""

from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Select, bindparam, select, update

from audience.db import DriverSelect, DriverStatement, TableWriter
from audience.tables import applications, installations

_with_code = select(installations, applications.c.application_code).join(
    applications, applications.c.id == installations.c.application_id
)


def select_installations() -> Select:
    """Installations with their application's code (every API answer shows it)."""
    return _with_code


# Built once: constructing a statement costs more than running it (every mobile call finds
# its installation).
_find_select = _with_code.where(installations.c.push_registration_id == bindparam("id"))
_find = DriverSelect(_find_select)
_find_for_update = DriverSelect(_find_select.with_for_update(of=installations))


# A mobile call's own installation, locked, with what the call needs of its application.
_find_mobile_select = (
    select(
        installations,
        applications.c.application_code,
        applications.c.require_user_jwt,
        applications.c.jwt_secret,
    )
    .join(applications, applications.c.id == installations.c.application_id)
    .where(installations.c.push_registration_id == bindparam("id"))
)
_find_mobile = DriverSelect(_find_mobile_select)
_find_mobile_for_update = DriverSelect(_find_mobile_select.with_for_update(of=installations))


def find_mobile(conn: Connection, push_registration_id: str, for_update: bool = False) -> Any:
    """The installation with its application's code, ``requireUserJwt`` and JWT secret."""
    query = _find_mobile_for_update if for_update else _find_mobile
    return query.first(conn, id=push_registration_id)


def find(conn: Connection, push_registration_id: str, for_update: bool = False) -> Any | None:
    """The installation with its application's code (a named tuple), locked if asked."""
    return (_find_for_update if for_update else _find).first(conn, id=push_registration_id)


class InstallationKey(NamedTuple):
    """What event ingestion needs of an installation: who owns it and where events go."""

    push_registration_id: str
    application_id: str
    application_code: str
    person_id: str | None
    uninstalled_at: Any  # only ever tested against None (driver text or datetime)


_KEY_SQL = (
    "SELECT i.push_registration_id, i.application_id, a.application_code, i.person_id, "
    "i.uninstalled_at FROM installations i JOIN applications a ON a.id = i.application_id "
    "WHERE i.push_registration_id = ?"
)
FIND_KEY = DriverStatement(_KEY_SQL)
# SQLite has one writer at a time; PostgreSQL locks the row.
FIND_KEY_FOR_UPDATE = DriverStatement(_KEY_SQL, _KEY_SQL + " FOR UPDATE OF i")


def key_of(rows: list[Any]) -> InstallationKey | None:
    """The result of ``FIND_KEY`` (or its locking twin) as an ``InstallationKey``."""
    return InstallationKey(*rows[0]) if rows else None


def find_key(conn: Connection, push_registration_id: str) -> InstallationKey | None:
    """The installation's key columns, on the driver directly (the ingestion hot path)."""
    return key_of(FIND_KEY.run(conn, (push_registration_id,)).fetchall())


# Register and update are mobile hot paths: their writes run on the driver.
_writer = TableWriter(installations, key="push_registration_id")


def insert_installation(conn: Connection, **values: Any) -> None:
    _writer.insert(conn, **values)


def update_installation(conn: Connection, push_registration_id: str, **values: Any) -> None:
    _writer.update(conn, push_registration_id, **values)


def clear_other_primaries(conn: Connection, person_id: str, keep_id: str) -> None:
    """R5: at most one primary device per person."""
    conn.execute(
        update(installations)
        .where(
            installations.c.person_id == person_id,
            installations.c.push_registration_id != keep_id,
            installations.c.is_primary_device.is_(True),
        )
        .values(is_primary_device=False)
    )


_live_for_person = DriverSelect(
    _with_code.where(
        installations.c.person_id == bindparam("person_id"),
        installations.c.uninstalled_at.is_(None),
    ).order_by(installations.c.created_at, installations.c.push_registration_id)
)


# What a person's answer lists of each device (``installation_summary``): the person answer
# of every personalize and person update reads it, so no other columns are read and decoded.
_live_summaries = DriverSelect(
    select(
        installations.c.push_registration_id,
        applications.c.application_code,
        installations.c.platform,
        installations.c.is_primary_device,
        installations.c.device_model,
        installations.c.device_manufacturer,
        installations.c.os_version,
        installations.c.application_version,
        installations.c.created_at,
        installations.c.updated_at,
        applications.c.require_user_jwt,  # whether the person is protected (persons.protection)
    )
    .join(applications, applications.c.id == installations.c.application_id)
    .where(
        installations.c.person_id == bindparam("person_id"),
        installations.c.uninstalled_at.is_(None),
    )
    .order_by(installations.c.created_at, installations.c.push_registration_id)
)


def live_summaries_for_person(conn: Connection, person_id: str) -> list[Any]:
    """The columns of :func:`live_for_person` that a person's device list shows."""
    return _live_summaries.rows(conn, person_id=person_id)


_LIVE_COUNT = DriverStatement(
    "SELECT count(*) FROM installations WHERE person_id = ? AND uninstalled_at IS NULL"
)


def live_count(conn: Connection, person_id: str) -> int:
    return int(_LIVE_COUNT.run(conn, (person_id,)).fetchone()[0])


def live_for_person(conn: Connection, person_id: str) -> list[Row]:
    return _live_for_person.rows(conn, person_id=person_id)


def all_for_person(conn: Connection, person_id: str) -> list[Row]:
    """Live installations and tombstones alike (for export)."""
    query = _with_code.where(installations.c.person_id == person_id).order_by(
        installations.c.created_at, installations.c.push_registration_id
    )
    return list(conn.execute(query))


def move_to_person(conn: Connection, push_registration_id: str, person_id: str) -> None:
    update_installation(conn, push_registration_id, person_id=person_id, is_primary_device=False)
