"""In-process CPU cost of the bulk paths (issue 18): the events import (``run_step``) and the
persons export (the export service, and the same through the ASGI app), on a fresh database.

On a shared machine wall time says little; this measures ``time.process_time`` per row (this
process only: on PostgreSQL the server's own CPU is not counted, so the wall rate is shown too;
the events import's helper process is counted apart, ``events_helper_cpu_us_per_row``).

    .venv/bin/python benchmarks/bulk_cpu.py [--database-url URL] [--persons N] [--events N]

Persons are written straight with the persons import's bulk writers (their import is not what
is measured here); events come from the same NDJSON as ``bulk.py``. A PostgreSQL database given
here is emptied first.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database
from bulk import person_rows, write_events_ndjson

from audience import migrate
from audience.config import get_settings
from audience.db import Database, make_engine
from audience.exports import service as exports
from audience.ids import new_time_ordered_id
from audience.imports import queries, service
from audience.tables import attribute_definitions, event_definitions


def seed(db: Database, count: int, ordered_ids: bool = False) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with db.write() as conn:
        conn.execute(
            attribute_definitions.insert().values(
                name="plan", type="string", scope="person", created_at=now, updated_at=now
            )
        )
        conn.execute(
            event_definitions.insert().values(
                id="purchase",
                properties={"amount": "number", "sku": "string"},
                active=True,
                created_at=now,
                updated_at=now,
            )
        )
    batch: list[list[str]] = []
    for row in person_rows(count):
        batch.append(row)
        if len(batch) == 10_000:
            _write_persons(db, batch, now, ordered_ids)
            batch = []
    if batch:
        _write_persons(db, batch, now, ordered_ids)


def _write_persons(db: Database, batch: list[list[str]], now: datetime, ordered: bool) -> None:
    persons, identities, tags = [], [], []
    for ext, email, phone, first, last, gender, birthday, plan, tag_cell in batch:
        pid = new_time_ordered_id() if ordered else str(uuid.uuid4())
        custom = json.dumps({"plan": plan})
        persons.append(
            (pid, "IDENTIFIED", ext, first, last, None, gender, birthday, custom, now, now)
        )
        identities += [("email", email, pid, now), ("phone", phone, pid, now)]
        tags += [(pid, tag) for tag in tag_cell.split(";")]
    with db.write() as conn:
        queries.insert_persons(conn, persons)
        queries.insert_identities(conn, identities)
        queries.insert_tags(conn, tags)


def import_events(db: Database, path: Path, batch_size: int) -> dict[str, Any]:
    settings = get_settings().model_copy(update={"import_batch_size": batch_size})
    with db.write() as conn:
        import_id = service.create_import(conn, "events", "ndjson", False, "bench")
    with path.open("rb") as handle, db.write() as conn:
        for seq, piece in enumerate(service.chunks_of(iter(lambda: handle.read(1 << 20), b""))):
            queries.insert_chunk(conn, import_id, seq, piece)
    with db.write() as conn:
        queries.update_import(conn, import_id, uploaded=True)
    cpu, wall = time.process_time(), time.perf_counter()
    steps: list[float] = []  # CPU seconds of each batch (a step of budget 0 is one batch)
    helpers: dict[int, float] = {}  # the import's helper processes: CPU seconds by pid
    while True:
        step = time.process_time()
        finished = service.run_step(db, settings, import_id, budget_seconds=0)
        steps.append(time.process_time() - step)
        for child in multiprocessing.active_children():
            helpers[child.pid or 0] = max(helpers.get(child.pid or 0, 0.0), _cpu_of(child.pid))
        if finished:
            break
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    with db.read() as conn:
        job = queries.find(conn, import_id)
    assert job is not None
    full = sorted(steps[:-1]) or steps  # the last step only finishes the job
    return {
        "rows": int(job.rows),
        "created": int(job.created),
        "cpu_s": cpu,
        "wall_s": wall,
        "batch_cpu_median_s": statistics.median(full),
        "batch_cpu_min_s": full[0],
        "batch_size": batch_size,
        "helper_cpu_s": sum(helpers.values()),
    }


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) of a live child process, from /proc (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def export_persons(db: Database, file_format: str, threads: int = 1) -> dict[str, Any]:
    """The export consumed here; CPU time is this process's, all its threads included."""
    cpu, wall = time.process_time(), time.perf_counter()
    lines = size = 0
    extra = [threads] if threads != 1 else []  # the code before fourth pass takes no threads
    for chunk in exports.persons_export(db, file_format, None, *extra):
        lines += chunk.count("\n") if isinstance(chunk, str) else chunk.count(b"\n")
        size += len(chunk)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"lines": lines, "bytes": size, "cpu_s": cpu, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--persons", type=int, default=40_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--format", default="csv")
    parser.add_argument("--profile", help="write a cProfile of the measured steps here")
    parser.add_argument(
        "--ordered-ids",
        action="store_true",
        help="seed persons with time-ordered ids, as the persons import gives them",
    )
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="only the export, --repeat times, of the persons already in --database-url "
        "(kept as it is; --persons is then how many it holds)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="pages made at once (export)")
    args = parser.parse_args()
    if args.export_only:
        export_only(args)
        return
    url = fresh_database(args.database_url, "bulk_cpu")
    migrate.upgrade(url)
    db = Database(make_engine(url, pool_size=2))
    started = time.perf_counter()
    seed(db, args.persons, args.ordered_ids)
    print(f"seeded {args.persons} persons in {time.perf_counter() - started:.1f} s", flush=True)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    result: dict[str, Any] = {"backend": backend_of(url), "persons": args.persons}
    if args.events:
        folder = Path(tempfile.mkdtemp(prefix="audience-bulk-cpu-"))
        path = folder / "events.ndjson"
        write_events_ndjson(path, args.events, args.persons)
        batch = args.batch_size or get_settings().import_batch_size
        run = import_events(db, path, batch)
        path.unlink()
        result["events"] = run["rows"]
        result["events_created"] = run["created"]
        result["events_cpu_us_per_row"] = round(run["cpu_s"] / run["rows"] * 1e6, 1)
        result["events_per_s_wall"] = round(run["rows"] / run["wall_s"])
        # Per-batch figures resist the load of a shared machine better than the total.
        per_row = 1e6 / run["batch_size"]
        result["events_cpu_us_per_row_median"] = round(run["batch_cpu_median_s"] * per_row, 1)
        result["events_cpu_us_per_row_min"] = round(run["batch_cpu_min_s"] * per_row, 1)
        # The helper process's CPU (a child: not in this process's time), sampled per batch.
        result["events_helper_cpu_us_per_row"] = round(run["helper_cpu_s"] / run["rows"] * 1e6, 1)
    run = export_persons(db, args.format, args.threads)
    result["export_format"] = args.format
    result["export_cpu_us_per_row"] = round(run["cpu_s"] / args.persons * 1e6, 2)
    result["export_per_s_wall"] = round(args.persons / run["wall_s"])
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    db.engine.dispose()
    print(json.dumps(result), flush=True)


def export_only(args: argparse.Namespace) -> None:
    """The export alone on an existing database: one JSON line a run, so the code before and
    after a change (``PYTHONPATH``) can be alternated on the same data in the same minutes."""
    if not args.database_url:
        raise SystemExit("--export-only needs --database-url")
    db = Database(make_engine(args.database_url, pool_size=2))
    for _ in range(args.repeat):
        run = export_persons(db, args.format, args.threads)
        rows = run["lines"] - (args.format == "csv")
        result = {
            "backend": backend_of(args.database_url),
            "persons": rows,
            "export_format": args.format,
            "threads": args.threads,
            "export_cpu_us_per_row": round(run["cpu_s"] / rows * 1e6, 2),
            "export_per_s_wall": round(rows / run["wall_s"]),
            "bytes": run["bytes"],
        }
        print(json.dumps(result), flush=True)
    db.engine.dispose()


if __name__ == "__main__":
    main()
