"""The deployment's configuration as a hot write transaction needs it, in one statement.

Every stored event, registration, personalize and person update asks three features whether
they care: the enabled webhook endpoints, the enabled flows, the saved segments' versions.
Each answer is a small query, and on PostgreSQL each query is a round trip costing more CPU
than its work (about 80 µs in the client alone on the project's machine). So the mobile calls
:func:`preload` all of them in one statement at the start of their transaction, and each
feature's reader takes its part from there (:func:`preloaded`) instead of asking again.

Each feature declares its part (:func:`part`): a SELECT of two text columns (an id and a
value). The snapshot belongs to the transaction that read it; transactions that did not
preload (for instance those changing the configuration itself) read as before.
"""

from typing import Any

from sqlalchemy import Connection

from audience.db import DriverStatement

_KEY = "configuration_snapshot"
_parts: dict[str, tuple[str, str]] = {}
_statement: list[DriverStatement] = []


def part(name: str, sqlite: str, postgresql: str | None = None) -> None:
    """Declare a part: SELECT statements of (id, value) as text, without parameters."""
    _parts[name] = (sqlite, postgresql or sqlite)
    _statement.clear()


def _union() -> DriverStatement:
    if not _statement:
        forms = [
            " UNION ALL ".join(
                f"SELECT '{name}' AS part, p.* FROM ({sql[dialect]}) AS p"
                for name, sql in sorted(_parts.items())
            )
            for dialect in (0, 1)
        ]
        _statement.append(DriverStatement(*forms))
    return _statement[0]


def preload(conn: Connection) -> None:
    """Read every declared part for this transaction, in one statement (in a pipelined
    transaction, sent with the transaction's next statement and read when first needed)."""
    if not _parts:
        return
    answer = _union().send(conn)
    if conn.dialect.name == "sqlite":
        answer = _by_part(answer)
    conn.info[_KEY] = (conn.get_transaction(), answer)


def _by_part(answer: Any) -> dict[str, list[tuple[str, Any]]]:
    found: dict[str, list[tuple[str, Any]]] = {name: [] for name in _parts}
    for name, id_, value in answer.fetchall():
        found[name].append((id_, value))
    return found


def preloaded(conn: Connection, name: str) -> list[tuple[str, Any]] | None:
    """The part's rows if this transaction preloaded them, else None (read it yourself)."""
    cached = conn.info.get(_KEY)
    if cached is None or cached[0] is not conn.get_transaction():
        return None
    found = cached[1]
    if not isinstance(found, dict):
        found = _by_part(found)
        conn.info[_KEY] = (cached[0], found)
    rows: list[tuple[str, Any]] | None = found.get(name)
    return rows
