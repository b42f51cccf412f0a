"""Audience against Parse Server, side by side, on the mobile SDK's calls.

Installs Parse Server from npm into a cache folder (``~/.cache/audience-bench/parse-server``,
once), then runs Parse and Audience one after the other, each on a freshly emptied PostgreSQL
database of the same server, driven by the same minimal asyncio HTTP/1.1 client (the one of
``ingest.py``): ``--connections`` keep-alive connections, ``--seconds`` per operation.

Operations, and what each is on Parse (the closest single call a Parse app makes):

  register       POST /v1/installations                    POST /parse/installations
  update         PATCH /v1/installations/{id}              PUT /parse/installations/{objectId}
  personalize    POST …/{id}/personalize (a new user)       PUT /parse/installations/{objectId}
                                                            {"userId": …} (Parse has no
                                                            identities or merges)
  person_update  PATCH …/{id}/person                        PUT /parse/classes/Person/{objectId}
  event          POST …/{id}/events (one event)             POST /parse/classes/Event
  batch          POST …/{id}/events (100 events)            POST /parse/batch (100 creates)

Parse runs with logging off (``logLevel: error``, ``silent``), client class creation on, and
the indexes a Parse user adds for installations (``installationId``, ``deviceToken``). It is
run as one process or a node ``cluster`` of ``--parse-workers`` processes. Audience runs with
its access log off the same way (``AUDIENCE_LOG_LEVEL=WARNING``: no line per request).

    .venv/bin/python benchmarks/peers.py --database-url postgresql+psycopg://u@host/bench \
        --parse-database-url postgres://u@host/parse_bench [--audience-database-url sqlite] \
        [--audience-only] [--seconds 20] [--only personalize,person_update]

``--only`` runs the named operations and registration (the others need its installations;
person updates need personalize's persons); the skipped ones report 0 requests/s.

The last line printed is one JSON object: per operation ``{op}_per_s``, ``parse_{op}_per_s``,
``{op}_ratio`` (Audience ÷ Parse requests/s), p50/p99 of both, errors, server CPU ms per
request, and ``backend``.
"""

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, free_port, fresh_database, server
from ingest import Connection, RssSampler, _tree_cpu_s

ADMIN_KEY = "ak_benchmark-admin-key"
PARSE_VERSION = "9.10.0"
PARSE_DIR = Path.home() / ".cache" / "audience-bench" / f"parse-server-{PARSE_VERSION}"
OPERATIONS = ("register", "update", "personalize", "person_update", "event", "batch")
# The figures of an operation not run (``--audience-only``'s Parse, ``--only``'s others).
NOT_RUN: dict[str, Any] = {
    "per_s": 0, "p50_ms": None, "p99_ms": None, "errors": None, "cpu_ms": None, "requests": 0,
}

PARSE_MAIN = """
import cluster from 'node:cluster';
import express from 'express';
import { ParseServer } from 'parse-server';

const port = Number(process.env.PORT);
const workers = Number(process.env.WORKERS || '1');
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const parse = new ParseServer({
    databaseURI: process.env.DATABASE_URI,
    appId: 'bench',
    masterKey: 'bench-master',
    serverURL: `http://127.0.0.1:${port}/parse`,
    logLevel: 'error',
    silent: true,
    allowClientClassCreation: true,
  });
  await parse.start();
  const app = express();
  app.use('/parse', parse.app);
  app.listen(port, '127.0.0.1');
}
"""


# --- Parse Server ------------------------------------------------------------------------------


def install_parse() -> Path:
    if not (PARSE_DIR / ".installed-router-2.2").exists():
        PARSE_DIR.mkdir(parents=True, exist_ok=True)
        (PARSE_DIR / "package.json").write_text(
            json.dumps({"name": "parse-bench", "private": True, "type": "module"})
        )
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"parse-server@{PARSE_VERSION}",
             # the Express major Parse itself depends on: its router's internals are shared
             # and router 2.2 (Parse 9.10's batch endpoint answers 500 on router 2.3: its
             # Layer no longer fills ``params`` the way Parse's PromiseRouter reads them)
             "express@5.2.1", "router@2.2.0"],
            cwd=PARSE_DIR,
            check=True,
        )
        (PARSE_DIR / ".installed-router-2.2").touch()
    (PARSE_DIR / "main.mjs").write_text(PARSE_MAIN)
    return PARSE_DIR


def empty_parse_database(url: str) -> None:
    engine = create_engine(url.replace("postgres://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def parse_server(database_uri: str, workers: int) -> Iterator[tuple[str, int]]:
    folder = install_parse()
    port = free_port()
    process = subprocess.Popen(
        ["node", "main.mjs"],
        cwd=folder,
        env=os.environ | {"PORT": str(port), "WORKERS": str(workers), "DATABASE_URI": database_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/parse/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("Parse Server did not start")
        time.sleep(0.2)
    try:
        yield base_url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- requests ----------------------------------------------------------------------------------


def request(method: str, path: str, headers: dict[str, str], body: Any) -> bytes:
    payload = json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head += f"Content-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


class Target:
    """The calls of one server, as request bytes, and how to read its answers."""

    name: str

    def register(self, n: int) -> bytes: ...
    def registered_id(self, body: bytes) -> str: ...
    def update(self, installation: str, n: int) -> bytes: ...
    def personalize(self, installation: str, n: int) -> bytes: ...
    def person_update(self, installation: str, n: int) -> bytes: ...
    def event(self, installation: str, n: int, count: int) -> bytes: ...
    def event_ok(self, status: int, body: bytes, count: int) -> bool: ...


class AudienceTarget(Target):
    name = "audience"

    def __init__(self, base_url: str) -> None:
        admin = {"Authorization": f"App {ADMIN_KEY}"}
        with httpx.Client(base_url=base_url, timeout=30) as client:
            app = client.post("/v1/apps", json={"name": "Bench"}, headers=admin)
            app.raise_for_status()
            client.post(
                "/v1/event-definitions",
                json={"id": "purchase", "properties": {"amount": "number", "sku": "string"}},
                headers=admin,
            ).raise_for_status()
        self.auth = {"Authorization": f"App {app.json()['applicationCode']}"}

    def register(self, n: int) -> bytes:
        body = {
            "platform": "Android",
            "osVersion": "14",
            "deviceModel": "Pixel 8",
            "applicationVersion": "1.0.0",
            "pushServiceType": "Firebase",
            "pushServiceToken": f"token-{n}-{uuid.uuid4().hex}",
        }
        return request("POST", "/v1/installations", self.auth, body)

    def registered_id(self, body: bytes) -> str:
        return str(json.loads(body)["pushRegistrationId"])

    def update(self, installation: str, n: int) -> bytes:
        body = {"applicationVersion": f"1.0.{n}"}
        return request("PATCH", f"/v1/installations/{installation}", self.auth, body)

    def personalize(self, installation: str, n: int) -> bytes:
        body = {"userIdentity": {"externalUserId": f"user-{n}-{installation[:8]}"}}
        return request(
            "POST", f"/v1/installations/{installation}/personalize", self.auth, body
        )

    def person_update(self, installation: str, n: int) -> bytes:
        body = {"firstName": f"Ann {n}", "lastName": f"Lee {n % 97}"}
        return request("PATCH", f"/v1/installations/{installation}/person", self.auth, body)

    def event(self, installation: str, n: int, count: int) -> bytes:
        events = [
            {
                "definitionId": "purchase",
                "eventId": f"{n}-{i}-{uuid.uuid4().hex[:12]}",
                "properties": {"amount": n % 1000 + 0.5, "sku": f"SKU-{n % 97}"},
            }
            for i in range(count)
        ]
        return request(
            "POST", f"/v1/installations/{installation}/events", self.auth, {"events": events}
        )

    def event_ok(self, status: int, body: bytes, count: int) -> bool:
        return status == 200 and json.loads(body)["accepted"] == count


class ParseTarget(Target):
    name = "parse"
    auth = {"X-Parse-Application-Id": "bench"}

    def __init__(self, base_url: str, database_uri: str) -> None:
        self.persons: dict[str, str] = {}
        # The schema Parse creates on first write, then the indexes its users add.
        with httpx.Client(base_url=base_url, timeout=30, headers=self.auth) as client:
            client.post("/parse/installations", json=self._installation(0)).raise_for_status()
            client.post("/parse/classes/Event", json=self._event(0, 0)).raise_for_status()
            client.post("/parse/classes/Person", json={"firstName": "x"}).raise_for_status()
        engine = create_engine(database_uri.replace("postgres://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(text('CREATE INDEX ON "_Installation" ("installationId")'))
            conn.execute(text('CREATE INDEX ON "_Installation" ("deviceToken")'))
        engine.dispose()
        self.base_url = base_url

    def _installation(self, n: int) -> dict[str, Any]:
        return {
            "deviceType": "android",
            "installationId": str(uuid.uuid4()),
            "deviceToken": f"token-{n}-{uuid.uuid4().hex}",
            "pushType": "gcm",
            "appVersion": "1.0.0",
            "localeIdentifier": "en-GB",
        }

    def _event(self, n: int, i: int) -> dict[str, Any]:
        return {
            "name": "purchase",
            "eventId": f"{n}-{i}-{uuid.uuid4().hex[:12]}",
            "amount": n % 1000 + 0.5,
            "sku": f"SKU-{n % 97}",
        }

    def register(self, n: int) -> bytes:
        return request("POST", "/parse/installations", self.auth, self._installation(n))

    def registered_id(self, body: bytes) -> str:
        return str(json.loads(body)["objectId"])

    def update(self, installation: str, n: int) -> bytes:
        return request(
            "PUT", f"/parse/installations/{installation}", self.auth, {"appVersion": f"1.0.{n}"}
        )

    def personalize(self, installation: str, n: int) -> bytes:
        body = {"userId": f"user-{n}-{installation}"}
        return request("PUT", f"/parse/installations/{installation}", self.auth, body)

    def prepare_persons(self, installations: list[str]) -> None:
        """One Person object per installation, made before the timed phase (50 a batch)."""
        with httpx.Client(base_url=self.base_url, timeout=60, headers=self.auth) as client:
            for offset in range(0, len(installations), 50):
                chunk = installations[offset : offset + 50]
                answer = client.post(
                    "/parse/batch",
                    json={
                        "requests": [
                            {"method": "POST", "path": "/parse/classes/Person",
                             "body": {"firstName": "new"}}
                            for _ in chunk
                        ]
                    },
                )
                answer.raise_for_status()
                for installation, result in zip(chunk, answer.json(), strict=True):
                    self.persons[installation] = result["success"]["objectId"]

    def person_update(self, installation: str, n: int) -> bytes:
        body = {"firstName": f"Ann {n}", "lastName": f"Lee {n % 97}"}
        path = f"/parse/classes/Person/{self.persons[installation]}"
        return request("PUT", path, self.auth, body)

    def event(self, installation: str, n: int, count: int) -> bytes:
        if count == 1:
            body = self._event(n, 0) | {"installationId": installation}
            return request("POST", "/parse/classes/Event", self.auth, body)
        creates = [
            {
                "method": "POST",
                "path": "/parse/classes/Event",
                "body": self._event(n, i) | {"installationId": installation},
            }
            for i in range(count)
        ]
        return request("POST", "/parse/batch", self.auth, {"requests": creates})

    def event_ok(self, status: int, body: bytes, count: int) -> bool:
        if status not in (200, 201):
            return False
        if count == 1:
            return True
        return all("success" in one for one in json.loads(body))


# --- the load ----------------------------------------------------------------------------------


async def drive(
    base_url: str,
    pid: int,
    connections: int,
    seconds: float,
    next_request: Callable[[], bytes | None],
    ok: Callable[[int, bytes], bool],
) -> dict[str, Any]:
    """``connections`` keep-alive connections sending ``next_request()`` until ``seconds`` pass
    or it answers None; request rate, latency percentiles, errors and server CPU."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_connection(index: int) -> None:
        nonlocal errors
        await asyncio.sleep(index * 0.01)  # staggered, so both server workers get connections
        connection = await Connection.open(host, int(port))
        try:
            while time.perf_counter() < deadline and (payload := next_request()) is not None:
                started = time.perf_counter()
                status, body = await connection.send(payload)
                latencies.append(time.perf_counter() - started)
                if not ok(status, body):
                    errors += 1
        finally:
            connection.close()

    cpu = _tree_cpu_s(pid)
    started = time.perf_counter()
    await asyncio.gather(*(one_connection(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    cpu = _tree_cpu_s(pid) - cpu
    latencies.sort()
    count = len(latencies)
    return {
        "per_s": round(count / elapsed, 1),
        "p50_ms": round(1000 * latencies[count // 2], 2) if count else None,
        "p99_ms": round(1000 * latencies[int(count * 0.99)], 2) if count else None,
        "errors": errors,
        "cpu_ms": round(1000 * cpu / count, 3) if count else None,
        "requests": count,
    }


async def measure(target: Target, base_url: str, pid: int, args: argparse.Namespace) -> dict:
    counter = itertools.count()
    results: dict[str, Any] = {}
    registered: list[str] = []
    sampler = RssSampler(pid)
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))

    def registering(status: int, body: bytes) -> bool:
        if status in (200, 201):
            registered.append(target.registered_id(body))
            return True
        return False

    def on(each: Callable[[str, int], bytes], pool: list[str], once: bool = False):
        source = iter(pool) if once else itertools.cycle(pool)

        def next_request() -> bytes | None:
            installation = next(source, None)
            return None if installation is None else each(installation, next(counter))

        return next_request

    def status_ok(status: int, _body: bytes) -> bool:
        return status in (200, 201)

    # warm-up: connections, pools, code paths
    await drive(base_url, pid, 4, 1.0, lambda: target.register(next(counter)), registering)
    registered.clear()
    results["register"] = await drive(
        base_url, pid, args.connections, args.seconds,
        lambda: target.register(next(counter)), registering,
    )
    installations = list(registered)
    async def run(op: str, connections: int, next_request, ok) -> None:
        if op not in args.only:
            results[op] = dict(NOT_RUN)
            return
        results[op] = await drive(base_url, pid, connections, args.seconds, next_request, ok)

    await run("update", args.connections, on(target.update, installations), status_ok)
    # each installation personalized once, with a new user: never the idempotent repeat
    await run("personalize", args.connections, on(target.personalize, installations, once=True),
              status_ok)
    personalized = installations[: results["personalize"]["requests"]]
    if isinstance(target, ParseTarget) and personalized:
        target.prepare_persons(personalized)
    await run("person_update", args.connections, on(target.person_update, personalized),
              status_ok)
    await run("event", args.connections, on(lambda i, n: target.event(i, n, 1), installations),
              lambda status, body: target.event_ok(status, body, 1))
    await run("batch", args.batch_connections,
              on(lambda i, n: target.event(i, n, 100), installations),
              lambda status, body: target.event_ok(status, body, 100))
    stop.set()
    await sampling
    results["rss_mb"] = round(sampler.peak, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True,
                        help="PostgreSQL for Audience: postgresql+psycopg://… (emptied first)")
    parser.add_argument("--parse-database-url", required=True,
                        help="PostgreSQL for Parse: postgres://… (emptied first)")
    parser.add_argument("--audience-database-url",
                        help="run Audience on this instead (e.g. 'sqlite' for a new file)")
    parser.add_argument("--workers", type=int, default=2, help="Audience worker processes")
    parser.add_argument("--parse-workers", type=int, default=1, help="Parse cluster processes")
    parser.add_argument("--seconds", type=float, default=20.0, help="per operation")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-connections", type=int, default=8)
    parser.add_argument("--only", type=lambda v: v.split(","), default=list(OPERATIONS),
                        help="these operations only (register always runs: the others need "
                        "its installations), e.g. --only personalize,person_update")
    parser.add_argument("--audience-only", action="store_true",
                        help="skip Parse (while iterating on Audience; ratios are then null)")
    args = parser.parse_args()
    if not shutil.which("node"):
        sys.exit("node and npm are needed (Debian: apt-get install nodejs npm)")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    if args.audience_only:
        parse = {op: dict(NOT_RUN) for op in OPERATIONS} | {"rss_mb": None}
    else:
        empty_parse_database(args.parse_database_url)
        with parse_server(args.parse_database_url, args.parse_workers) as (base_url, pid):
            target = ParseTarget(base_url, args.parse_database_url)
            parse = asyncio.run(measure(target, base_url, pid, args))
        print(json.dumps({"parse": parse}), flush=True)

    audience_url = args.audience_database_url or args.database_url
    audience_url = fresh_database(None if audience_url == "sqlite" else audience_url, "peers")
    quiet = {"AUDIENCE_LOG_LEVEL": "WARNING"}
    with server(audience_url, ADMIN_KEY, workers=args.workers, env=quiet) as (base_url, pid):
        ours = asyncio.run(measure(AudienceTarget(base_url), base_url, pid, args))
    print(json.dumps({"audience": ours}), flush=True)

    line: dict[str, Any] = {
        "backend": backend_of(audience_url),
        "workers": args.workers,
        "parse_workers": args.parse_workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "server_rss_mb": ours["rss_mb"],
        "parse_rss_mb": parse["rss_mb"],
    }
    for op in OPERATIONS:
        a, p = ours[op], parse[op]
        line[f"{op}_per_s"] = a["per_s"]
        line[f"parse_{op}_per_s"] = p["per_s"]
        line[f"{op}_ratio"] = round(a["per_s"] / p["per_s"], 2) if p["per_s"] else None
        for figure in ("p50_ms", "p99_ms", "errors", "cpu_ms"):
            line[f"{op}_{figure}"] = a[figure]
            line[f"parse_{op}_{figure}"] = p[figure]
    print(json.dumps(line))


if __name__ == "__main__":
    main()
