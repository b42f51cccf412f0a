"""SQL of the flows feature: flows, their versions and runs."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from audience import configuration
from audience.db import DriverStatement
from audience.tables import flow_runs, flow_versions, flows

ACTIVE_STATUSES = ("active", "waiting")


def insert_flow(conn: Connection, **values: Any) -> None:
    conn.execute(insert(flows).values(**values))
    conn.execute(
        insert(flow_versions).values(
            flow_id=values["id"],
            version=values["version"],
            definition=values["definition"],
            created_at=values["created_at"],
        )
    )


def update_flow(conn: Connection, flow_id: str, **values: Any) -> None:
    conn.execute(update(flows).where(flows.c.id == flow_id).values(**values))
    if "definition" in values:
        conn.execute(
            insert(flow_versions).values(
                flow_id=flow_id,
                version=values["version"],
                definition=values["definition"],
                created_at=values["updated_at"],
            )
        )


def delete_flow(conn: Connection, flow_id: str) -> None:
    conn.execute(delete(flows).where(flows.c.id == flow_id))


def find_flow(conn: Connection, flow_id: str, for_update: bool = False) -> Row | None:
    statement = select(flows).where(flows.c.id == flow_id)
    if for_update and conn.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return conn.execute(statement).first()


def list_flows(conn: Connection, after_id: str | None, limit: int) -> list[Row]:
    statement = select(flows).order_by(flows.c.id).limit(limit)
    if after_id is not None:
        statement = statement.where(flows.c.id > after_id)
    return list(conn.execute(statement))


# Every stored event asks this, mostly to learn that no flow is enabled: on the driver
# directly (a third of a one-event request's CPU went to building the SQLAlchemy select).
_ENABLED = DriverStatement("SELECT id, version FROM flows WHERE enabled = ?")


configuration.part(
    "flows",
    "SELECT id, CAST(version AS TEXT) AS value FROM flows WHERE enabled = 1",
    "SELECT id, CAST(version AS TEXT) AS value FROM flows WHERE enabled",
)


def enabled_flow_versions(conn: Connection) -> list[tuple[str, int]]:
    """(id, version) of every enabled flow; definitions are read only when not yet parsed."""
    rows = configuration.preloaded(conn, "flows")
    if rows is None:
        rows = _ENABLED.run(conn, (True,)).fetchall()
    return [(str(fid), int(version)) for fid, version in rows]


def flow_definitions(conn: Connection, flow_ids: Sequence[str]) -> list[Row]:
    return list(
        conn.execute(
            select(flows.c.id, flows.c.version, flows.c.definition).where(
                flows.c.id.in_(list(flow_ids))
            )
        )
    )


def run_counts(conn: Connection, flow_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {flow_id: {} for flow_id in flow_ids}
    if not flow_ids:
        return counts
    rows = conn.execute(
        select(flow_runs.c.flow_id, flow_runs.c.status, func.count())
        .where(flow_runs.c.flow_id.in_(list(flow_ids)))
        .group_by(flow_runs.c.flow_id, flow_runs.c.status)
    )
    for flow_id, status, count in rows:
        counts[flow_id][status] = int(count)
    return counts


def version_definition(conn: Connection, flow_id: str, version: int) -> dict[str, Any] | None:
    return conn.execute(
        select(flow_versions.c.definition).where(
            flow_versions.c.flow_id == flow_id, flow_versions.c.version == version
        )
    ).scalar()


def insert_run_if_none_active(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert an active run unless the person already has one of this flow; answers whether
    it was inserted. ON CONFLICT DO NOTHING, so a concurrent trigger never aborts the
    transaction of the change that caused it."""
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(flow_runs)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["flow_id", "person_id", "active"])
        .returning(flow_runs.c.id)
    )
    return conn.execute(statement).first() is not None


def last_run_started(conn: Connection, flow_id: str, person_id: str) -> datetime | None:
    return conn.execute(
        select(func.max(flow_runs.c.started_at)).where(
            flow_runs.c.flow_id == flow_id, flow_runs.c.person_id == person_id
        )
    ).scalar()


def find_run(conn: Connection, run_id: str, for_update: bool = False) -> Row | None:
    statement = select(flow_runs).where(flow_runs.c.id == run_id)
    if for_update and conn.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return conn.execute(statement).first()


def save_run(conn: Connection, run_id: str, **values: Any) -> None:
    if values.get("status") not in (None, *ACTIVE_STATUSES):
        values["active"] = None
    conn.execute(update(flow_runs).where(flow_runs.c.id == run_id).values(**values))


def active_runs(
    conn: Connection, *, flow_id: str | None = None, person_ids: Sequence[str] | None = None
) -> list[Row]:
    statement = select(flow_runs).where(flow_runs.c.active.is_(True))
    if flow_id is not None:
        statement = statement.where(flow_runs.c.flow_id == flow_id)
    if person_ids is not None:
        statement = statement.where(flow_runs.c.person_id.in_(list(person_ids)))
    return list(conn.execute(statement))


def runs_page(
    conn: Connection,
    *,
    flow_id: str | None = None,
    person_ids: Sequence[str] | None = None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
    statement = select(flow_runs).order_by(flow_runs.c.started_at, flow_runs.c.id).limit(limit)
    if flow_id is not None:
        statement = statement.where(flow_runs.c.flow_id == flow_id)
    if person_ids is not None:
        statement = statement.where(flow_runs.c.person_id.in_(list(person_ids)))
    if after is not None:
        started_at, run_id = after
        statement = statement.where(
            or_(
                flow_runs.c.started_at > started_at,
                and_(flow_runs.c.started_at == started_at, flow_runs.c.id > run_id),
            )
        )
    return list(conn.execute(statement))
