"""The outbox and the worker: work committed with a change is handled at least once, work of
a rolled-back change never; leases, retries, concurrency and isolation between topics."""

import asyncio
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from audience import outbox
from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database, make_engine
from audience.outbox import OutboxItem
from audience.tables import outbox as outbox_table
from audience.worker import Handler, Worker, WorkerContext


class Recorder:
    """A handler that records what it saw; ``retry`` items are asked back once."""

    def __init__(self, retry_first: bool = False, fail_first: bool = False) -> None:
        self.seen: list[tuple[int, dict[str, object], int]] = []
        self.retry_first = retry_first
        self.fail_first = fail_first

    async def __call__(
        self, _ctx: WorkerContext, items: list[OutboxItem]
    ) -> Mapping[int, datetime]:
        self.seen.extend((item.id, item.payload, item.attempts) for item in items)
        if self.fail_first and items[0].attempts == 1:
            raise RuntimeError("receiver down")
        if self.retry_first:
            return {item.id: utcnow() for item in items if item.attempts == 1}
        return {}


def run(db: Database, settings: Settings, handlers: Mapping[str, Handler]) -> None:
    asyncio.run(Worker(db, settings, handlers, periodic=()).run_until_idle(timeout=20))


def stored(db: Database) -> list[tuple[str, int]]:
    with db.read() as conn:
        rows = conn.execute(select(outbox_table.c.topic, outbox_table.c.attempts)).all()
    return [(topic, attempts) for topic, attempts in rows]


def test_committed_work_is_handled_once_and_removed(db: Database, settings: Settings) -> None:
    with db.write() as conn:
        outbox.enqueue(conn, "test.a", {"n": 1})
        outbox.enqueue_many(conn, "test.a", [{"n": 2}, {"n": 3}])
    recorder = Recorder()
    run(db, settings, {"test.a": recorder})
    assert sorted(payload["n"] for _id, payload, _a in recorder.seen) == [1, 2, 3]
    assert stored(db) == []


def test_work_of_a_rolled_back_change_is_never_handled(db: Database, settings: Settings) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        outbox.enqueue(conn, "test.a", {"n": 1})
        raise RuntimeError("the change fails after enqueueing")
    recorder = Recorder()
    run(db, settings, {"test.a": recorder})
    assert recorder.seen == []
    assert stored(db) == []


def test_asked_back_items_come_again_with_the_same_payload(
    db: Database, settings: Settings
) -> None:
    with db.write() as conn:
        outbox.enqueue(conn, "test.a", {"n": 1})
    recorder = Recorder(retry_first=True)
    run(db, settings, {"test.a": recorder})
    assert [(payload, attempts) for _id, payload, attempts in recorder.seen] == [
        ({"n": 1}, 1),
        ({"n": 1}, 2),
    ]
    assert len({item_id for item_id, _p, _a in recorder.seen}) == 1


def test_a_crashing_handler_has_its_items_retried_later(db: Database, settings: Settings) -> None:
    with db.write() as conn:
        outbox.enqueue(conn, "test.a", {"n": 1})
    recorder = Recorder(fail_first=True)
    run(db, settings, {"test.a": recorder})
    assert len(recorder.seen) == 1
    # back-off: not due again at once, but still stored with its attempt counted
    assert stored(db) == [("test.a", 1)]


def test_future_items_wait_for_their_time(db: Database, settings: Settings) -> None:
    with db.write() as conn:
        outbox.enqueue(conn, "test.a", {"n": 1}, at=utcnow() + timedelta(hours=1))
    recorder = Recorder()
    run(db, settings, {"test.a": recorder})
    assert recorder.seen == []


def test_a_lease_that_runs_out_gives_the_item_back(db: Database) -> None:
    """What happens when a worker dies holding an item: it is handled again (at least once)."""
    with db.write() as conn:
        outbox.enqueue(conn, "test.a", {"n": 1})
    first = outbox.claim(db, ["test.a"], 10, lease_seconds=1.5)
    assert [item.attempts for item in first] == [1]
    assert outbox.claim(db, ["test.a"], 10, lease_seconds=60) == []
    time.sleep(1.6)
    again = outbox.claim(db, ["test.a"], 10, lease_seconds=60)
    assert [(item.id, item.payload, item.attempts) for item in again] == [
        (first[0].id, {"n": 1}, 2)
    ]


def test_concurrent_claimers_never_share_an_item(db: Database, database_url: str) -> None:
    with db.write() as conn:
        outbox.enqueue_many(conn, "test.a", [{"n": n} for n in range(600)])
    others = [Database(make_engine(database_url)) for _ in range(3)]
    claimed: list[list[int]] = [[] for _ in others]

    def claimer(index: int) -> None:
        while batch := outbox.claim(others[index], ["test.a"], 25, lease_seconds=60):
            claimed[index].extend(item.id for item in batch)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(len(others))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()
    every = [item_id for ids in claimed for item_id in ids]
    assert len(every) == 600
    assert len(set(every)) == 600


def test_a_slow_topic_does_not_stall_another(db: Database, settings: Settings) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()

    async def slow(_ctx: WorkerContext, items: list[OutboxItem]) -> Mapping[int, datetime]:
        await asyncio.sleep(3)
        timings["slow"] = time.monotonic() - started
        return {}

    async def fast(_ctx: WorkerContext, items: list[OutboxItem]) -> Mapping[int, datetime]:
        timings["fast"] = time.monotonic() - started
        return {}

    with db.write() as conn:
        outbox.enqueue(conn, "test.slow", {})
        outbox.enqueue(conn, "test.fast", {}, at=utcnow() + timedelta(milliseconds=300))

    async def scenario() -> None:
        stop = asyncio.Event()
        worker = Worker(db, settings, {"test.slow": slow, "test.fast": fast}, periodic=())
        task = asyncio.create_task(worker.run(stop))
        while "slow" not in timings:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(scenario())
    assert timings["fast"] < 2, timings
    assert timings["slow"] >= 3
    assert stored(db) == []
