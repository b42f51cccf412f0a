"""In-process persons import (issue 18): the import step straight on a fresh database, timed
by CPU (``time.process_time``) as well as by the wall clock, so a shared machine's load
counts less than in ``bulk.py``'s whole-server run. The import's helper process (which checks
the next batch while this one writes) is counted apart: ``helper_cpu_us_per_row``, from
``getrusage(RUSAGE_CHILDREN)`` once it has exited (start-up included); PostgreSQL's own CPU is
in neither.

    .venv/bin/python benchmarks/persons_import.py [--database-url URL] [--persons N]
        [--profile FILE]

Rows are ``bulk.py``'s (externalUserId, email, phone, 5 attributes, 2 tags). Prints one line
per 20,000 rows applied and, last, one JSON line. A PostgreSQL database given here is emptied
first. ``--profile`` writes a cProfile of the apply loop.
"""

import argparse
import cProfile
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database
from bulk import PERSON_HEADER, person_rows

from audience.attributes.service import create_definition
from audience.config import Settings
from audience.db import Database, make_engine
from audience.imports import queries, service
from audience.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--persons", type=int, default=40_000)
    parser.add_argument("--profile")
    args = parser.parse_args()
    url = fresh_database(args.database_url, "persons")
    upgrade(url)
    db = Database(make_engine(url, pool_size=2))
    settings = Settings(database_url=url)
    text = PERSON_HEADER + "".join(",".join(row) + "\n" for row in person_rows(args.persons))
    with db.write() as conn:
        create_definition(
            conn, {"name": "plan", "type": "string", "scope": "person", "description": None}
        )
        import_id = service.create_import(conn, "persons", "csv", False, "bench")
    with db.write() as conn:
        pieces = service.chunks_of(iter([text.encode()]))
        for seq, piece in enumerate(pieces):
            queries.insert_chunk(conn, import_id, seq, piece)
        service.finish_upload(conn, import_id)
    profiler = cProfile.Profile() if args.profile else None
    children0 = _children_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    mark_cpu, mark_wall, mark_rows = cpu0, wall0, 0
    if profiler:
        profiler.enable()
    while True:
        finished = service.run_step(db, settings, import_id, budget_seconds=2.0)
        with db.read() as conn:
            job = queries.find(conn, import_id)
        assert job is not None
        if job.rows - mark_rows >= 20_000 or finished:
            cpu, wall = time.process_time(), time.perf_counter()
            rows = job.rows - mark_rows
            if rows:
                print(
                    f"rows {mark_rows}-{job.rows}: {(cpu - mark_cpu) / rows * 1e6:.1f} µs CPU "
                    f"a row, {rows / (wall - mark_wall):,.0f} rows/s wall",
                    flush=True,
                )
            mark_cpu, mark_wall, mark_rows = cpu, wall, job.rows
        if finished:
            break
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    helper_cpu = _children_cpu() - children0  # the helper has exited: the job is done
    assert job.created == args.persons and job.failed == 0, job
    print(
        json.dumps(
            {
                "backend": backend_of(url),
                "persons": args.persons,
                "cpu_us_per_row": round(cpu / args.persons * 1e6, 1),
                "rows_per_cpu_s": round(args.persons / cpu),
                "helper_cpu_us_per_row": round(helper_cpu / args.persons * 1e6, 1),
                "rows_per_s": round(args.persons / wall),
            }
        ),
        flush=True,
    )
    db.engine.dispose()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
