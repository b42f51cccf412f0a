"""The periodic sweep run inside ``audience serve``: time windows move without any write."""

import asyncio
import contextlib
import logging

import anyio

from audience.db import Database
from audience.segments.membership import sweep_all

log = logging.getLogger("audience.segments")


def sweep_if_first(db: Database) -> bool:
    """Sweep unless another worker (or server) on this database is sweeping right now: every
    worker runs the timer, one at a time does the work. Answers whether it swept."""
    with db.exclusive("segment-sweep") as taken:
        if taken:
            sweep_all(db)
        return taken


async def sweep_forever(db: Database, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await anyio.to_thread.run_sync(sweep_if_first, db)
        except Exception:  # keep sweeping; one failed pass must not stop the server's sweeps
            log.exception("segment sweep failed")


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
