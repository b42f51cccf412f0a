"""SQL for persons."""

from datetime import datetime

from sqlalchemy import Connection, insert

from audience.ids import new_id
from audience.tables import persons


def insert_anonymous_person(conn: Connection, at: datetime) -> str:
    person_id = new_id()
    conn.execute(
        insert(persons).values(
            id=person_id, type="ANONYMOUS", custom_attributes={}, created_at=at, updated_at=at
        )
    )
    return person_id
