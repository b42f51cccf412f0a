"""The audit trail (R9): who changed which field of a person, from what to what."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from audience.clock import isoformat
from audience.persons import queries
from audience.webhooks.publish import publish_person_changes


@dataclass
class Audit:
    """Changes collected during one unit of work and written together at its end."""

    source: str
    at: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, person_id: str, field_name: str, old: Any, new: Any) -> None:
        self.rows.append(
            {
                "person_id": person_id,
                "changed_at": self.at,
                "source": self.source,
                "field": field_name,
                "old_value": old,
                "new_value": new,
            }
        )

    def flush(self, conn: Connection) -> None:
        queries.insert_changes(conn, self.rows)
        publish_person_changes(conn, self.rows)
        self.rows = []


def change_to_api(row: Row) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "personId": row.person_id,
        "changedAt": isoformat(row.changed_at),
        "source": row.source,
        "field": row.field,
        "oldValue": row.old_value,
        "newValue": row.new_value,
    }


def installation_source(push_registration_id: str) -> str:
    return f"installation:{push_registration_id}"
