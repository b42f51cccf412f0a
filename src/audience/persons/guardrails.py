"""Identity guardrails (docs/identity.md): placeholder identity values are refused, a person's
devices are capped, and refused personalize attempts leave a trace in the audit."""

from typing import Any

from sqlalchemy import Connection, func, select

from audience.config import Settings
from audience.db import Database
from audience.errors import ApiError
from audience.installations import queries as installation_queries
from audience.persons import identities
from audience.persons.audit import Audit
from audience.tables import app_launches

_max_installations = 50


def configure(settings: Settings) -> None:
    """Set by the application at start from its settings (one set per process)."""
    global _max_installations
    identities.block(identities.parse_blocked(settings.blocked_identities))
    _max_installations = settings.max_installations_per_person


def installations_over_cap(
    conn: Connection, person_id: str, keep_id: str, live_count: int | None = None
) -> list[Any]:
    """Over the cap, the least recently seen live installations (last launch or update,
    whichever is later) other than ``keep_id`` are answered for eviction, oldest first.
    ``live_count``: how many live installations the person has, when the caller knows."""
    if live_count is None:
        live_count = installation_queries.live_count(conn, person_id)
    if live_count <= _max_installations:
        return []  # the usual case, from one count (personalize runs this every time)
    live = installation_queries.live_for_person(conn, person_id)
    excess = len(live) - _max_installations
    launches: dict[str, Any] = {
        registration_id: launched
        for registration_id, launched in conn.execute(
            select(app_launches.c.push_registration_id, func.max(app_launches.c.occurred_at))
            .where(app_launches.c.push_registration_id.in_([d.push_registration_id for d in live]))
            .group_by(app_launches.c.push_registration_id)
        )
    }

    def last_seen(device: Any) -> Any:
        launched = launches.get(device.push_registration_id)
        return max(device.updated_at, launched) if launched else device.updated_at

    others = [d for d in live if d.push_registration_id != keep_id]
    return sorted(others, key=lambda d: (last_seen(d), d.push_registration_id))[:excess]


def record_refusal(db: Database, person_id: str, audit: Audit, error: ApiError) -> None:
    """A refused personalize, in the audit of the installation's current person, in its own
    transaction (the refused one rolled back)."""
    audit.record(
        person_id, "personalizeRefused", None, {"code": error.code, "message": error.message}
    )
    with db.write() as conn:
        audit.flush(conn)
