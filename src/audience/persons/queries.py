"""SQL for persons."""

from datetime import datetime

from sqlalchemy import Connection, insert, select

from audience.ids import new_id
from audience.tables import person_aliases, persons


def insert_anonymous_person(conn: Connection, at: datetime) -> str:
    person_id = new_id()
    conn.execute(
        insert(persons).values(
            id=person_id, type="ANONYMOUS", custom_attributes={}, created_at=at, updated_at=at
        )
    )
    return person_id


def resolve_person_id(conn: Connection, person_id: str) -> str | None:
    """The live person an id names: itself, or the survivor it was merged into; else None."""
    found = conn.execute(select(persons.c.id).where(persons.c.id == person_id)).scalar()
    if found is not None:
        return str(found)
    survivor = conn.execute(
        select(person_aliases.c.person_id).where(person_aliases.c.alias_id == person_id)
    ).scalar()
    return str(survivor) if survivor is not None else None


def profile_ids(conn: Connection, person_id: str) -> list[str]:
    """Every id whose events belong to this person: its own and those merged into it.

    Events keep the person id they were recorded under; a merge only adds an alias row, so
    reading a person's events means reading all of these ids.
    """
    aliases = conn.execute(
        select(person_aliases.c.alias_id).where(person_aliases.c.person_id == person_id)
    ).scalars()
    return [person_id, *aliases]
