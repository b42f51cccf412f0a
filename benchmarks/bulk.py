"""Bulk benchmark (issue 18): imports and exports through the real server (``audience serve``
with its embedded worker) on a fresh database.

Measures, in one run:
  (a) persons imported per second from a CSV (externalUserId, email, phone, 5 attributes,
      2 tags), upload to ``done``, and the server's peak RSS meanwhile;
  (b) on PostgreSQL, a plain ``COPY`` of the same rows into copies of the same tables (same
      indexes) — ``copy_ratio`` = (a) / (b);
  (c) historical events imported per second (NDJSON, by externalUserId, with eventIds);
  (d) persons exported per second (CSV) and the server's peak RSS meanwhile.
The last line printed is one JSON object.

    .venv/bin/python benchmarks/bulk.py [--database-url URL] [--persons N] [--events N]

A PostgreSQL database given here is emptied first (its ``public`` schema is dropped).
"""

import argparse
import io
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, server
from ingest import _tree_pids

ADMIN_KEY = "ak_benchmark-admin-key"
PIECE = 1 << 20


class PeakRss:
    """The server's peak RSS (all its processes), sampled every 0.2 s in a thread, and each
    process's own peak (``by_process``: what grew)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.by_process: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0.0
            for pid in _tree_pids(self.pid):
                rss = _rss_mb(pid)
                total += rss
                name = f"{_role(pid)} {pid}"
                self.by_process[name] = max(self.by_process.get(name, 0.0), rss)
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def summary(self) -> str:
        return ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(self.by_process.items()))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def _role(pid: int) -> str:
    """What a server process is, from its command line."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return "gone"
    for marker, role in (
        ("resource_tracker", "resource-tracker"),
        ("multiprocessing", "helper"),
        ("uvicorn", "uvicorn"),
        ("serve", "audience-serve"),
    ):
        if marker in command:
            return role
    return "other"


def person_rows(count: int) -> Iterator[list[str]]:
    for i in range(count):
        yield [
            f"user-{i}",
            f"user{i}@example.com",
            f"+38591{i:07d}",
            f"First{i}",
            f"Last{i}",
            "Female" if i % 2 else "Male",
            f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
            ["gold", "silver", "bronze"][i % 3],
            f"t{i % 7};all",
        ]


PERSON_HEADER = "externalUserId,emails,phones,firstName,lastName,gender,birthday,custom.plan,tags\n"


def write_persons_csv(path: Path, count: int) -> None:
    with path.open("w") as out:
        out.write(PERSON_HEADER)
        for row in person_rows(count):
            out.write(",".join(row) + "\n")


def write_events_ndjson(path: Path, count: int, persons: int) -> None:
    with path.open("w") as out:
        for i in range(count):
            day = 1 + i % 28
            event = {
                "externalUserId": f"user-{i % persons}",
                "definitionId": "purchase",
                "eventId": f"ev-{i}",
                "occurredAt": f"2023-{1 + i % 12:02d}-{day:02d}T10:00:00Z",
                "properties": {"amount": i % 100, "sku": f"sku-{i % 50}"},
            }
            out.write(json.dumps(event) + "\n")


def pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            yield piece


class StepTimeout(Exception):
    """An import did not finish within ``--step-seconds``: its rate so far is reported."""


def run_import(
    client: httpx.Client, kind: str, path: Path, file_format: str, limit: float
) -> tuple[dict[str, Any], float, bool]:
    """Upload and wait for the job; answers (job, seconds, finished). Past ``limit`` seconds
    it stops waiting and answers the job as it stands (its rows so far give the rate)."""
    params = {"kind": kind, "format": file_format}
    started_at = time.perf_counter()
    started = client.post("/v1/imports", params=params, content=pieces(path))
    started.raise_for_status()
    # The upload (stored in chunks) is inside the measured time; shown apart.
    print(f"{kind} upload: {time.perf_counter() - started_at:.1f} s", flush=True)
    import_id = started.json()["id"]
    while True:
        job: dict[str, Any] = client.get(f"/v1/imports/{import_id}").json()
        elapsed = time.perf_counter() - started_at
        if job["status"] != "running":
            return job, elapsed, True
        if elapsed > limit:
            return job, elapsed, False
        time.sleep(0.2)


def copy_rate(url: str, count: int) -> float:
    """Rows/s of a plain COPY of the same persons into copies of the same three tables."""
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in ("persons", "person_identities", "person_tags"):
            cursor.execute(f"DROP TABLE IF EXISTS copy_{table}")
            cursor.execute(f"CREATE TABLE copy_{table} (LIKE {table} INCLUDING ALL)")
        raw.commit()
        persons, identities, tags = io.StringIO(), io.StringIO(), io.StringIO()
        now = "2026-01-01 00:00:00"
        for row in person_rows(count):
            ext, email, phone, first, last, gender, birthday, plan, tag_cell = row
            pid = str(uuid.uuid4())
            custom = json.dumps({"plan": plan})
            persons.write(
                f"{pid}\tIDENTIFIED\t{ext}\t{first}\t{last}\t\\N\t{gender}\t{birthday}\t"
                f"{custom}\t{now}\t{now}\n"
            )
            identities.write(f"email\t{email}\t{pid}\t{now}\nphone\t{phone}\t{pid}\t{now}\n")
            for tag in tag_cell.split(";"):
                tags.write(f"{pid}\t{tag}\n")
        started = time.perf_counter()
        columns = {
            "persons": "(id, type, external_user_id, first_name, last_name, middle_name, gender, "
            "birthday, custom_attributes, created_at, updated_at)",
            "person_identities": "(kind, value, person_id, created_at)",
            "person_tags": "(person_id, tag)",
        }
        for table, data in (
            ("persons", persons),
            ("person_identities", identities),
            ("person_tags", tags),
        ):
            with cursor.copy(f"COPY copy_{table} {columns[table]} FROM STDIN") as copy:
                copy.write(data.getvalue())
        raw.commit()
        elapsed = time.perf_counter() - started
        for table in ("persons", "person_identities", "person_tags"):
            cursor.execute(f"DROP TABLE copy_{table}")
        raw.commit()
        return count / elapsed
    finally:
        raw.close()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary dir")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=3600,
        help="stop waiting for an import after this long (its rate so far is reported, and "
        "the steps after it are skipped)",
    )
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="only step (d), on the persons already in --database-url (kept as it is)",
    )
    parser.add_argument("--export-format", default="csv", choices=["csv", "ndjson"])
    args = parser.parse_args()
    result: dict[str, Any] = {
        "backend": backend_of(args.database_url or "sqlite"),
        "persons": args.persons,
        "events": args.events,
        "import_persons_per_s": None,
        "copy_ratio": None,
        "copy_rows_per_s": None,
        "import_events_per_s": None,
        "export_persons_per_s": None,
        "export_rss_mb": None,
        "server_rss_mb": None,
        "export_format": args.export_format,
        "events_rss_mb": None,
        "complete": False,
    }
    try:
        measure(args, result)
        result["complete"] = True
    except StepTimeout as exc:
        print(f"stopped: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        result["error"] = "interrupted"
    except Exception as exc:  # the JSON line is printed whatever happened
        print(f"failed: {exc!r}", file=sys.stderr, flush=True)
        result["error"] = repr(exc)[:300]
    finally:
        print(json.dumps(result), flush=True)


def measure(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.export_only:
        if not args.database_url:
            raise SystemExit("--export-only needs --database-url")
        peaks: list[float] = []
        headers = {"Authorization": f"App {ADMIN_KEY}"}
        with (
            server(args.database_url, ADMIN_KEY, workers=args.workers) as (base_url, pid),
            httpx.Client(base_url=base_url, headers=headers, timeout=None) as client,
        ):
            export_step(client, pid, peaks, result)
        result["server_rss_mb"] = round(max(peaks))
        return
    url = fresh_database(args.database_url, "bulk")
    backend = backend_of(url)
    folder = Path(tempfile.mkdtemp(prefix="audience-bulk-"))
    persons_csv, events_ndjson = folder / "persons.csv", folder / "events.ndjson"
    write_persons_csv(persons_csv, args.persons)
    write_events_ndjson(events_ndjson, args.events, args.persons)
    args.persons_csv, args.events_ndjson = persons_csv, events_ndjson
    headers = {"Authorization": f"App {ADMIN_KEY}"}
    peaks: list[float] = []
    try:
        with server(url, ADMIN_KEY, workers=args.workers) as (base_url, pid):
            client = httpx.Client(base_url=base_url, headers=headers, timeout=None)
            try:
                steps(args, backend, url, client, pid, peaks, result)
            finally:
                client.close()
    finally:
        if peaks:
            result["server_rss_mb"] = round(max(peaks))
        for path in (persons_csv, events_ndjson):
            path.unlink(missing_ok=True)


def steps(
    args: argparse.Namespace,
    backend: str,
    url: str,
    client: httpx.Client,
    pid: int,
    peaks: list[float],
    result: dict[str, Any],
) -> None:
    client.post(
        "/v1/attribute-definitions", json={"name": "plan", "type": "string", "scope": "person"}
    ).raise_for_status()
    client.post(
        "/v1/event-definitions",
        json={"id": "purchase", "properties": {"amount": "number", "sku": "string"}},
    ).raise_for_status()

    with PeakRss(pid) as import_rss:
        job, seconds, finished = run_import(
            client, "persons", args.persons_csv, "csv", args.step_seconds
        )
    peaks.append(import_rss.peak)
    print(f"persons import ({seconds:.1f} s): {job}", flush=True)
    rate = (job["created"] if finished else job["rows"]) / seconds
    result["import_persons_per_s"] = round(rate)
    print(f"(a) {rate:,.0f} persons/s, peak RSS {import_rss.peak:.0f} MB", flush=True)
    print(f"    peak RSS by process: {import_rss.summary()}", flush=True)
    if not finished:
        raise StepTimeout(f"persons import unfinished after {seconds:.0f} s ({job['rows']} rows)")

    if backend == "postgresql":
        copy_per_s = copy_rate(url, args.persons)
        result["copy_rows_per_s"] = round(copy_per_s)
        result["copy_ratio"] = round(rate / copy_per_s, 4)
        print(f"(b) COPY {copy_per_s:,.0f} rows/s, ratio {rate / copy_per_s:.3f}", flush=True)

    with PeakRss(pid) as events_rss:
        job, seconds, finished = run_import(
            client, "events", args.events_ndjson, "ndjson", args.step_seconds
        )
    peaks.append(events_rss.peak)
    print(f"events import ({seconds:.1f} s): {job}", flush=True)
    rate = (job["created"] if finished else job["rows"]) / seconds
    result["import_events_per_s"] = round(rate)
    result["events_rss_mb"] = round(events_rss.peak)
    print(f"(c) {rate:,.0f} events/s, peak RSS {events_rss.peak:.0f} MB", flush=True)
    print(f"    peak RSS by process: {events_rss.summary()}", flush=True)
    if not finished:
        raise StepTimeout(f"events import unfinished after {seconds:.0f} s ({job['rows']} rows)")

    export_step(client, pid, peaks, result)


def export_step(client: httpx.Client, pid: int, peaks: list[float], result: dict[str, Any]) -> None:
    file_format = result["export_format"]
    before = sum(_rss_mb(each) for each in _tree_pids(pid))
    print(f"    RSS before the export: {before:.0f} MB", flush=True)
    with PeakRss(pid) as export_rss:
        started = time.perf_counter()
        rows = -1 if file_format == "csv" else 0  # the header line
        params = {"format": file_format}
        with client.stream("GET", "/v1/exports/persons", params=params) as reply:
            reply.raise_for_status()
            # Line ends counted in the raw bytes (no cell of this data holds a line break):
            # decoding and splitting a million lines here cost the 2-core machine as much
            # CPU as a good part of the server's work it is measuring.
            for piece in reply.iter_bytes():
                rows += piece.count(b"\n")
        export_s = time.perf_counter() - started
    peaks.append(export_rss.peak)
    result["export_persons_per_s"] = round(rows / export_s)
    result["export_rss_mb"] = round(export_rss.peak)
    print(
        f"(d) {rows / export_s:,.0f} persons/s exported ({rows} rows), peak RSS "
        f"{export_rss.peak:.0f} MB",
        flush=True,
    )
    print(f"    peak RSS by process: {export_rss.summary()}", flush=True)


if __name__ == "__main__":
    main()
