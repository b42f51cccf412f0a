"""The SDK's local storage: one SQLite file per application in ``storage_dir``.

It keeps what a device must not forget across restarts — the ``pushRegistrationId``, the user
the app personalized with, a pending depersonalize, the last launch time — and the durable
event queue. WAL with ``synchronous=NORMAL`` survives an app crash, as mobile SDKs' stores do.
"""

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
"""


def storage_path(storage_dir: str | Path, application_code: str) -> Path:
    """One file per application, so one directory may serve several apps' clients."""
    digest = hashlib.sha256(application_code.encode()).hexdigest()[:16]
    return Path(storage_dir) / f"audience-{digest}.sqlite3"


class Storage:
    """Thread-safe key/value state plus a FIFO event queue, each write one transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def get(self, key: str) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def update(self, values: dict[str, Any]) -> None:
        """Set several keys at once; ``None`` deletes a key."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for key, value in values.items():
                    if value is None:
                        self._conn.execute("DELETE FROM state WHERE key = ?", (key,))
                    else:
                        self._conn.execute(
                            "INSERT INTO state (key, value) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (key, json.dumps(value)),
                        )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def enqueue(self, event: dict[str, Any]) -> int:
        """Queue one event; answers the queue length."""
        with self._lock:
            self._conn.execute("INSERT INTO events (body) VALUES (?)", (json.dumps(event),))
            count: int = self._conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return count

    def peek(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest ``limit`` queued events with their sequence numbers."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, body FROM events ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def remove(self, up_to_seq: int) -> None:
        """Drop the events up to and including ``up_to_seq`` (a batch the server took)."""
        with self._lock:
            self._conn.execute("DELETE FROM events WHERE seq <= ?", (up_to_seq,))

    def queued(self) -> int:
        with self._lock:
            count: int = self._conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return count

    def close(self) -> None:
        with self._lock:
            self._conn.close()
