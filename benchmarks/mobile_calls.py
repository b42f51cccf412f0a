"""The mobile SDK's calls, one at a time, in process: CPU per call and statements per call.

A development tool for the hot paths (issue 13): no HTTP client or sockets in the way, so the
figures are the server's own work for one call — the ASGI app, the middleware, the handler and
the database driver — without the noise of a loaded machine's scheduling. On SQLite it also
counts the SQL statements each call sends (``BEGIN`` and ``COMMIT`` included).

    .venv/bin/python benchmarks/mobile_calls.py [--database-url …] [--calls 300]
        [--ops update,event] [--segments 10] [--profile personalize] [--trace]
        [--concurrency 16] [--threads 4]

``--profile`` prints cProfile's top functions of the event loop's thread; for the whole picture
(worker threads too) run it under ``py-spy record -f raw``.

Prints one JSON line per operation: ``{"op", "cpu_us", "wall_us", "statements", "db_cpu_us"}``;
``db_cpu_us`` (PostgreSQL, on the database's own machine) is the CPU its backends serving this
database spent a call, read from ``/proc`` (needs the right to read their ``stat``).
"""

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_database

from audience.app import create_app
from audience.auth.service import ensure_bootstrap_key
from audience.config import Settings
from audience.migrate import upgrade

ADMIN = "ak_mobile-calls-admin-key"
OPS = ("register", "update", "personalize", "person_update", "event")
# Real-time segments of each kind the mobile calls can change (``--segments N`` takes N).
SEGMENT_RULES = [
    {"identified": True},
    {"attribute": "firstName", "op": "starts_with", "value": "Ann"},
    {"installation": {"attribute": "platform", "op": "eq", "value": "Android"}},
    {"event": "purchase", "count": {"gte": 3}},
    {"tag": "vip"},
    {"installation": {"attribute": "applicationVersion", "op": "eq", "value": "1.0.7"}},
    {"attribute": "lastName", "op": "eq", "value": "Lee"},
    {"event": "purchase"},
    {"identified": False},
    {"attribute": "firstName", "op": "eq", "value": "Bob"},
]


class Asgi:
    """Calls an ASGI app directly: one request in, status and body out."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def call(
        self, method: str, path: str, body: Any = None, auth: str | None = None
    ) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else b""
        headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(payload)).encode()))
        if auth:
            headers.append((b"authorization", f"App {auth}".encode()))
        path, _, query = path.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80), "app": self.app,
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        raw = b"".join(chunks)
        return status, json.loads(raw) if raw else None


def backend_cpu(app: Any) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the app's database."""
    with app.state.db.engine.connect() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars().all()
        conn.rollback()
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


async def run(args: argparse.Namespace) -> None:
    url = fresh_database(args.database_url, "mobile-calls")
    upgrade(url)
    settings = Settings(
        database_url=url, admin_key=ADMIN, embedded_worker=False, segment_sweep_seconds=0,
        rate_limit_requests_per_minute=100_000_000,
    )
    app = create_app(settings)
    if args.threads:
        anyio.to_thread.current_default_thread_limiter().total_tokens = args.threads
    statements = itertools.count()
    last_call: list[str] = []
    if app.state.db.is_sqlite:
        def traced(sql: str) -> None:
            next(statements)
            last_call.append(sql)

        @event.listens_for(app.state.db.engine, "connect")
        def _trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(traced)

    with app.state.db.write() as conn:
        ensure_bootstrap_key(conn, ADMIN)
    asgi = Asgi(app)
    status, created = await asgi.call("POST", "/v1/apps", {"name": "Bench"}, ADMIN)
    assert status == 201, created
    code = created["applicationCode"]
    await asgi.call(
        "POST", "/v1/event-definitions",
        {"id": "purchase", "properties": {"amount": "number", "sku": "string"}}, ADMIN,
    )
    for index, rule in enumerate(SEGMENT_RULES[: args.segments]):
        status, answer = await asgi.call(
            "POST", "/v1/segments", {"name": f"s{index}", "rule": rule}, ADMIN
        )
        assert status == 201, answer
    n = args.calls
    counter = itertools.count()
    registered: list[str] = []

    def register() -> tuple[str, str, Any]:
        return "POST", "/v1/installations", {
            "platform": "Android", "osVersion": "14", "deviceModel": "Pixel 8",
            "applicationVersion": "1.0.0", "pushServiceType": "Firebase",
            "pushServiceToken": f"token-{uuid.uuid4().hex}",
        }

    def on(make: Callable[[str, int], tuple[str, str, Any]]) -> Callable[[], tuple[str, str, Any]]:
        def next_call() -> tuple[str, str, Any]:
            i = next(counter)
            return make(registered[i % len(registered)], i)
        return next_call

    ops: dict[str, Callable[[], tuple[str, str, Any]]] = {
        "register": register,
        "update": on(lambda r, i: ("PATCH", f"/v1/installations/{r}",
                                   {"applicationVersion": f"1.0.{i}"})),
        # as in peers.py: each installation once, with a new user (never the idempotent repeat)
        "personalize": on(lambda r, i: ("POST", f"/v1/installations/{r}/personalize",
                                        {"userIdentity": {"externalUserId": f"u-{r}"}})),
        "person_update": on(lambda r, i: ("PATCH", f"/v1/installations/{r}/person",
                                          {"firstName": f"Ann {i}", "lastName": "Lee"})),
        "event": on(lambda r, i: ("POST", f"/v1/installations/{r}/events", {"events": [{
            "definitionId": "purchase", "eventId": uuid.uuid4().hex,
            "properties": {"amount": 1.5, "sku": "S"}}]})),
    }
    if "register" not in args.ops:
        # installations for the other calls, not timed: personalize takes each one once
        for _ in range(n if "personalize" in args.ops else min(n, 100)):
            status, answer = await asgi.call(*register(), code)
            registered.append(answer["pushRegistrationId"])
    for op, make in ops.items():
        if op not in args.ops:
            continue
        if op != "register":
            counter = itertools.count()
        profiler = cProfile.Profile(time.process_time) if args.profile == op else None
        before = next(statements)
        db_before = {} if app.state.db.is_sqlite else backend_cpu(app)
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()

        async def lane(calls: int, op: str = op, make: Callable[[], Any] = make) -> None:
            for _ in range(calls):
                method, path, body = make()
                last_call.clear()
                status, answer = await asgi.call(method, path, body, code)
                if status not in (200, 201):
                    raise SystemExit(f"{op}: {status} {answer}")
                if op == "register":
                    registered.append(answer["pushRegistrationId"])

        await asyncio.gather(*(lane(n // args.concurrency) for _ in range(args.concurrency)))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        count = next(statements) - before - 1
        db_cpu = None
        if not app.state.db.is_sqlite:
            db_after = backend_cpu(app)
            spent = sum(t - db_before.get(pid, 0.0) for pid, t in db_after.items())
            db_cpu = round(spent / n * 1e6)
        print(json.dumps({
            "op": op, "cpu_us": round(cpu / n * 1e6), "wall_us": round(wall / n * 1e6),
            "statements": round(count / n, 1) if app.state.db.is_sqlite else None,
            "db_cpu_us": db_cpu,
        }), flush=True)
        if profiler:
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
            if args.dump:
                profiler.dump_stats(args.dump)
        if args.trace:
            print("\n".join(f"  {' '.join(sql.split())[:200]}" for sql in last_call))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL (emptied first); default SQLite")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="calls in flight at once (PostgreSQL: worker threads contend)")
    parser.add_argument("--threads", type=int, default=0,
                        help="worker threads for blocking work (default: anyio's 40)")
    parser.add_argument("--segments", type=int, default=0,
                        help=f"real-time segments to keep up (0-{len(SEGMENT_RULES)})")
    parser.add_argument("--ops", default=",".join(OPS), type=lambda v: v.split(","),
                        help="operations to time, comma-separated")
    parser.add_argument("--profile", help="cProfile this operation (its main thread only)")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--dump", help="also write the cProfile stats to this file (pstats)")
    parser.add_argument("--sort", default="cumulative", help="cProfile order (tottime, …)")
    parser.add_argument("--trace", action="store_true",
                        help="print the SQL of each operation's last call (SQLite)")
    args = parser.parse_args()
    tempfile.tempdir = tempfile.mkdtemp(prefix="audience-calls-")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
