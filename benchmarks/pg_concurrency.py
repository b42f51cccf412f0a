"""Threads with blocking psycopg against async psycopg on the event loop, for the mobile calls'
shape of work on PostgreSQL (issue 13's "decide with measurements").

Each unit of work is a register-shaped transaction — two reads whose results are needed, three
inserts, a commit — run by 32 concurrent tasks in one uvloop process for ``--seconds``:

* ``threads``: each task hands the unit to anyio's worker threads (as ``bare_routes.respond``
  does), which run it on a blocking connection from a queue of 32;
* ``async``: each task runs the unit on its own ``psycopg.AsyncConnection``.

Prints one JSON line per mode and round: units per second and the client's CPU µs per unit.

    .venv/bin/python benchmarks/pg_concurrency.py --database-url postgresql://…  [--rounds 3]

The database gets two scratch tables (``pgc_parent``, ``pgc_child``), dropped at the end.
"""

import argparse
import asyncio
import json
import queue
import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import psycopg
import uvloop

CONCURRENCY = 32
Statements = tuple[tuple[str, Callable[[uuid.UUID], tuple[Any, ...] | None]], ...]
READS: Statements = (
    ("SELECT 1 AS x, 'a' AS y UNION ALL SELECT 2, 'b'", lambda key: None),
    ("SELECT id FROM pgc_parent WHERE id = %s", lambda key: (uuid.uuid4(),)),
)
WRITES: Statements = (
    ("INSERT INTO pgc_parent VALUES (%s, %s, now())", lambda key: (key, "x")),
    ("INSERT INTO pgc_child VALUES (%s, %s, %s)", lambda key: (uuid.uuid4(), key, "y")),
    ("INSERT INTO pgc_child VALUES (%s, %s, %s)", lambda key: (uuid.uuid4(), key, "z")),
)


def blocking_unit(conn: psycopg.Connection[Any]) -> None:
    key = uuid.uuid4()
    cursor = conn.cursor()
    for sql, params in READS:
        cursor.execute(sql, params(key))
        cursor.fetchall()
    for sql, params in WRITES:
        cursor.execute(sql, params(key))
    conn.commit()


async def async_unit(conn: psycopg.AsyncConnection[Any]) -> None:
    key = uuid.uuid4()
    cursor = conn.cursor()
    for sql, params in READS:
        await cursor.execute(sql, params(key))
        await cursor.fetchall()
    for sql, params in WRITES:
        await cursor.execute(sql, params(key))
    await conn.commit()


async def measure(mode: str, dsn: str, seconds: float) -> dict[str, Any]:
    done = 0
    deadline = time.perf_counter() + seconds
    worker: Callable[[], Any]
    if mode == "threads":
        pool: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
        for _ in range(CONCURRENCY):
            pool.put(psycopg.connect(dsn))

        def one() -> None:
            conn = pool.get()
            try:
                blocking_unit(conn)
            finally:
                pool.put(conn)

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await anyio.to_thread.run_sync(one)
                done += 1

    else:
        connections = [await psycopg.AsyncConnection.connect(dsn) for _ in range(CONCURRENCY)]

        async def worker() -> None:
            nonlocal done
            conn = connections.pop()
            while time.perf_counter() < deadline:
                await async_unit(conn)
                done += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"mode": mode, "per_s": round(done / wall), "client_cpu_us": round(cpu / done * 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… (psycopg form)")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dsn = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS pgc_child, pgc_parent")
        conn.execute("CREATE TABLE pgc_parent (id uuid PRIMARY KEY, a text, at timestamptz)")
        conn.execute("CREATE TABLE pgc_child (id uuid PRIMARY KEY, parent uuid, c text)")
    try:
        for _ in range(args.rounds):
            for mode in ("threads", "async"):
                print(json.dumps(uvloop.run(measure(mode, dsn, args.seconds))), flush=True)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS pgc_child, pgc_parent")


if __name__ == "__main__":
    main()
