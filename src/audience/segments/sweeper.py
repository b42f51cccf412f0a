"""The periodic segment upkeep run inside ``audience serve`` until the background worker
(``audience.worker``) registers ``upkeep.build_pending`` and ``upkeep.sweep_due`` as its
periodic jobs: builds left unfinished by a request, and time windows that moved."""

import asyncio
import contextlib
import logging
import time

import anyio

from audience.db import Database
from audience.segments.upkeep import build_pending, sweep_due

log = logging.getLogger("audience.segments")

# Unfinished builds are picked up this often (at most), whatever the sweep interval.
BUILD_POLL_SECONDS = 2.0


def sweep_if_first(db: Database, sweep: bool = True) -> bool:
    """Finish pending builds and (``sweep``) run the incremental sweep, unless another worker
    (or server) on this database is doing it right now: every worker runs the timer, one at a
    time does the work. Answers whether it ran."""
    with db.exclusive("segment-sweep") as taken:
        if taken:
            build_pending(db)
            if sweep:
                stats = sweep_due(db)
                if stats.checked:
                    log.info(
                        "segment sweep: %d re-checked, %d entered, %d left in %.2f s",
                        stats.checked,
                        stats.entered,
                        stats.left,
                        stats.seconds,
                    )
        return taken


async def sweep_forever(db: Database, interval_seconds: float) -> None:
    tick = min(interval_seconds, BUILD_POLL_SECONDS)
    last_sweep = time.monotonic()
    while True:
        await asyncio.sleep(tick)
        sweep = time.monotonic() - last_sweep >= interval_seconds - tick / 2
        try:
            await anyio.to_thread.run_sync(sweep_if_first, db, sweep)
        except Exception:  # keep sweeping; one failed pass must not stop the server's sweeps
            log.exception("segment upkeep failed")
        if sweep:
            last_sweep = time.monotonic()


@contextlib.asynccontextmanager
async def periodic_sweep(db: Database, interval_seconds: float):  # type: ignore[no-untyped-def]
    if interval_seconds <= 0:
        yield
        return
    task = asyncio.create_task(sweep_forever(db, interval_seconds))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
