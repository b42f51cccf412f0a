"""The one home of background work: every outbox handler and every periodic job is listed here.

The worker runs inside each ``audience serve`` process by default (``AUDIENCE_EMBEDDED_WORKER``)
so the embedded setup stays one command, and alone as ``audience worker`` for deployments that
scale it separately. Any number of workers may run together: outbox items are leased (see
:mod:`audience.outbox`), and a periodic job runs in one process at a time under a lock across
processes (``Database.exclusive``), the others skipping that round.

A handler receives a batch of claimed items of its topic and answers which of them to try
again, and when; every other item is finished and deleted. A handler that raises has its whole
batch retried with back-off. Handlers run concurrently (bounded by ``worker_concurrency``
items in flight), so one slow topic or endpoint never stalls the others.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
from prometheus_client.core import GaugeMetricFamily, Metric

from audience import outbox
from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.events import observers
from audience.flows.engine import handle_steps
from audience.flows.triggers import STEP_TOPIC as FLOW_STEP
from audience.flows.triggers import capture as start_flow_runs
from audience.imports import service as imports
from audience.observability import SCRAPE_COLLECTORS
from audience.outbox import OutboxItem, WorkerContext
from audience.push import sender as push_sender
from audience.retention.service import job_interval, run_retention
from audience.segments.upkeep import build_pending, sweep_due
from audience.webhooks import delivery as webhook_delivery
from audience.webhooks.publish import TOPIC_DELIVER, TOPIC_FANOUT

log = logging.getLogger("audience.worker")


# A handler answers {item id: when to try again} for the items that are not finished.
Handler = Callable[[WorkerContext, list[OutboxItem]], Awaitable[Mapping[int, datetime]]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: Callable[[Settings], float]  # 0 or less: the job is off
    run: Callable[[Database, Settings], Any]


# Every outbox topic and its handler.
HANDLERS: dict[str, Handler] = {
    TOPIC_FANOUT: webhook_delivery.fanout,
    TOPIC_DELIVER: webhook_delivery.deliver,
    # A flow run's next step, now or when its wait ends (docs/flows.md).
    FLOW_STEP: handle_steps,
    # Push (docs/push.md): a message fans out into chunks of deliveries, each chunk is sent.
    push_sender.TOPIC_MESSAGE: push_sender.handle_messages,
    push_sender.TOPIC_SEND: push_sender.handle_sends,
    # Imports (docs/decisions.md, Imports): a stored upload applied in batches, resumable.
    imports.TOPIC: imports.handle,
}

# Every feature acting on stored events in the storing transaction (docs/worker.md).
EVENT_OBSERVERS = (start_flow_runs,)
for _observer in EVENT_OBSERVERS:
    observers.observe(_observer)

# Every periodic job.
PERIODIC: tuple[PeriodicJob, ...] = (
    # Segment builds a request left unfinished (docs/decisions.md, Segments).
    PeriodicJob(
        "segment-builds",
        lambda s: min(s.segment_sweep_seconds, 2.0),
        lambda db, _s: build_pending(db),
    ),
    # Time windows of segment rules move without any write: only persons whose window edge
    # passed are re-evaluated (the incremental sweep).
    PeriodicJob("segment-sweep", lambda s: s.segment_sweep_seconds, lambda db, _s: sweep_due(db)),
    # Old events removed; on PostgreSQL monthly partitions made ahead and dropped.
    PeriodicJob("event-retention", job_interval, run_retention),
    # SQLite's WAL copied into the database here rather than by a request's commit.
    PeriodicJob(
        "wal-checkpoint",
        lambda s: s.wal_checkpoint_seconds if s.database_url.startswith("sqlite") else 0,
        lambda db, _s: db.checkpoint_wal(),
    ),
)


def failure_backoff(attempts: int) -> timedelta:
    """Delay after a handler crashed on an item: 5 s, 10 s, 20 s … capped at an hour, jittered."""
    base = min(5 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def run_job_if_free(db: Database, settings: Settings, job: PeriodicJob) -> bool:
    """Run ``job`` unless another process on this database is running it right now; answers
    whether it ran. Every worker keeps the timer, one at a time does the work."""
    with db.exclusive(job.name) as taken:
        if taken:
            job.run(db, settings)
        return taken


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
        periodic: tuple[PeriodicJob, ...] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.handlers = dict(HANDLERS if handlers is None else handlers)
        self.periodic = PERIODIC if periodic is None else periodic
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Set when a handler finishes: what it enqueued (or the room it freed) is claimed at
        # once instead of after the poll interval.
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver and run periodic jobs until ``stop`` is set, then let in-flight work end."""
        async with self._context() as ctx:
            jobs = [
                asyncio.create_task(self._periodic(job, stop))
                for job in self.periodic
                if job.interval_seconds(self.settings) > 0
            ]
            try:
                await self._deliver_loop(ctx, stop)
            finally:
                for task in jobs:
                    task.cancel()
                await self._settle(timeout=self.settings.worker_shutdown_seconds)

    async def run_until_idle(self, timeout: float = 30, horizon: float = 1.0) -> None:
        """Handle every item due now, and what handling them makes due within ``horizon``
        seconds (a quick retry) — for tests and ``audience worker --once``."""
        async with self._context() as ctx:
            deadline = asyncio.get_running_loop().time() + timeout
            while asyncio.get_running_loop().time() < deadline:
                claimed = await self._claim_and_start(ctx)
                if not claimed and not self._tasks:
                    due = await anyio.to_thread.run_sync(
                        outbox.next_due, self.db, list(self.handlers)
                    )
                    wait = (due - utcnow()).total_seconds() if due is not None else None
                    if wait is None or wait > horizon:
                        return
                    await asyncio.sleep(max(wait, 0.01))
                    continue
                if not claimed:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            raise TimeoutError("outbox still busy after the timeout")

    @contextlib.asynccontextmanager
    async def _context(self) -> AsyncIterator[WorkerContext]:
        # Redirects are never followed: a webhook URL that redirects could reach what the
        # address check refused.
        # As many connections as items may be in flight: a slow receiver holding its
        # connections must not make other receivers' deliveries queue for the pool.
        limits = httpx.Limits(
            max_connections=self.settings.worker_concurrency, max_keepalive_connections=100
        )
        async with httpx.AsyncClient(
            timeout=self.settings.webhook_timeout_seconds, follow_redirects=False, limits=limits
        ) as http:
            yield WorkerContext(self.db, self.settings, http)

    async def _deliver_loop(self, ctx: WorkerContext, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                claimed = await self._claim_and_start(ctx)
            except Exception:  # a database hiccup must not end the worker
                log.exception("claiming outbox items failed")
                claimed = 0
            if not claimed:
                await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Wait for the poll interval, a finished handler, or the stop signal."""
        waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())}
        try:
            await asyncio.wait(
                waiters, timeout=self.settings.worker_poll_seconds, return_when="FIRST_COMPLETED"
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _claim_and_start(self, ctx: WorkerContext) -> int:
        capacity = self.settings.worker_concurrency - self._in_flight
        if capacity <= 0 or not self.handlers:
            return 0
        items = await anyio.to_thread.run_sync(
            outbox.claim,
            self.db,
            list(self.handlers),
            min(capacity, self.settings.worker_batch_size),
            self.settings.outbox_lease_seconds,
        )
        by_topic: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_topic.setdefault(item.topic, []).append(item)
        for topic, batch in by_topic.items():
            self._in_flight += len(batch)
            task = asyncio.create_task(self._handle(ctx, topic, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(items)

    async def _handle(self, ctx: WorkerContext, topic: str, items: list[OutboxItem]) -> None:
        try:
            try:
                retry_at = dict(await self.handlers[topic](ctx, items))
            except Exception:
                log.exception("outbox handler %s failed on %d items", topic, len(items))
                now = utcnow()
                retry_at = {item.id: now + failure_backoff(item.attempts) for item in items}
            done = [item.id for item in items if item.id not in retry_at]
            await anyio.to_thread.run_sync(outbox.acknowledge, self.db, done, retry_at)
        except Exception:  # unacknowledged items come back when their lease runs out
            log.exception("acknowledging outbox items of %s failed", topic)
        finally:
            self._in_flight -= len(items)
            self._wake.set()

    async def _periodic(self, job: PeriodicJob, stop: asyncio.Event) -> None:
        interval = job.interval_seconds(self.settings)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            try:
                await anyio.to_thread.run_sync(run_job_if_free, self.db, self.settings, job)
            except Exception:  # one failed round must not stop the job's later rounds
                log.exception("periodic job %s failed", job.name)

    async def _settle(self, timeout: float) -> None:
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:  # their items come back when the lease runs out
            task.cancel()


def queue_gauges(db: Database) -> Iterable[Metric]:
    """Outbox depth and the age of its oldest item, per topic (scraped from the database)."""
    with db.read() as conn:
        stats = outbox.pending_by_topic(conn)
    depth = GaugeMetricFamily("audience_outbox_items", "Outbox items waiting", labels=["topic"])
    age = GaugeMetricFamily(
        "audience_outbox_oldest_seconds", "Age of the oldest outbox item", labels=["topic"]
    )
    now = utcnow()
    for topic, (count, oldest) in sorted(stats.items()):
        depth.add_metric([topic], count)
        age.add_metric([topic], (now - oldest).total_seconds() if oldest else 0.0)
    return [depth, age]


SCRAPE_COLLECTORS.append(queue_gauges)


@contextlib.asynccontextmanager
async def embedded_worker(db: Database, settings: Settings) -> AsyncIterator[None]:
    """The worker as a task of the serving process (``audience serve``'s default)."""
    if not settings.embedded_worker:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(db, settings).run(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def drain(db: Database, settings: Settings, timeout: float = 30) -> None:
    """Handle every due outbox item now, from synchronous code (tests, ``worker --once``)."""
    asyncio.run(Worker(db, settings).run_until_idle(timeout))
