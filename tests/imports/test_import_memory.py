"""An events import's memory does not grow with the file (docs/performance.md, Events import
memory: a 5M-event import grew the server past 1.3 GB). The upload is checked for lone
surrogates line by line, never held whole; and a batch's SQLite page cache
(``imports.events.BATCH_CACHE_KIB``) is given back to the OS when the batch ends, whichever
worker thread ran it (glibc keeps what a thread frees in that thread's malloc arena)."""

import asyncio
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from audience import memory
from audience.db import Database, make_engine, sqlite_page_cache
from audience.imports.events import BATCH_CACHE_KIB
from audience.limits import InputGuard
from tests.helpers import Api, assert_error

STATUS = Path("/proc/self/status")
needs_glibc = pytest.mark.skipif(
    not STATUS.exists() or memory._trim is None, reason="resident memory of glibc on Linux"
)

PAGES = 6000  # one row a page: about 24 MB of cache for a batch that reads them all


def _rss_mb() -> float:
    for line in STATUS.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def big_db(tmp_path: Path) -> Iterator[Database]:
    """A SQLite database of PAGES pages (whatever the backend under test: the page cache is
    SQLite's)."""
    db = Database(make_engine(f"sqlite:///{tmp_path / 'pages.db'}", pool_size=2))
    with db.write() as conn:
        driver: Any = conn.connection.driver_connection
        driver.execute("CREATE TABLE pages (body BLOB)")
        driver.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO pages SELECT randomblob(3000) FROM n",
            (PAGES,),
        )
    yield db
    db.close()


def _batch(db: Database, kept: list[bytes]) -> None:
    """What an import batch does to the cache: fills it, in one write transaction, and keeps
    something allocated meanwhile (as the batch read ahead is), above the cache in the arena:
    the cache freed is then not at the arena's top, which glibc would trim by itself."""
    with db.write() as conn, sqlite_page_cache(conn, BATCH_CACHE_KIB):
        driver: Any = conn.connection.driver_connection
        (size,) = driver.execute("SELECT sum(length(body)) FROM pages").fetchone()
        assert size == PAGES * 3000
        kept.append(bytes(4000))


@needs_glibc
def test_batches_on_many_threads_keep_resident_memory_flat(big_db: Database) -> None:
    threads = [ThreadPoolExecutor(1) for _ in range(6)]  # alive: each keeps its arena
    kept: list[bytes] = []
    try:
        threads[0].submit(_batch, big_db, kept).result()
        first = _rss_mb()
        growth = []
        for _round in range(2):
            for thread in threads:
                thread.submit(_batch, big_db, kept).result()
                growth.append(_rss_mb() - first)
    finally:
        for thread in threads:
            thread.shutdown()
    # Kept, the six caches of ~24 MB would be ~120 MB on top of the first.
    assert max(growth) < 12, [round(mb) for mb in growth]


def test_an_upload_is_checked_for_lone_surrogates_without_being_held() -> None:
    """The input guard checks a streamed import line by line as it arrives: holding the body
    to check it whole at the end grew the server by the size of the file (1.3 GB at 5M
    events). Surrogate pairs cut between two pieces of the body are still pairs."""
    pair = b'"\\ud83d\\ude00", '
    line = b'{"externalUserId": "u", "definitionId": "e", "properties": {"s": [%s"%s"]}}\n' % (
        pair,
        b"x" * 300,
    )
    body = line * (3 * 2**20 // len(line))
    pieces = [body[start : start + 65_537] for start in range(0, len(body), 65_537)]

    async def app(_scope: Scope, receive: Receive, _send: Send) -> None:
        while (await receive()).get("more_body"):
            pass

    async def receive() -> Message:
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    async def send(_message: Message) -> None:
        raise AssertionError("the guard answered")

    guard = InputGuard(app, max_bytes=2**20, unlimited_paths=("/v1/imports",))
    scope = {"type": "http", "path": "/v1/imports", "headers": [], "query_string": b""}
    tracemalloc.start()
    try:
        asyncio.run(guard(scope, receive, send))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not pieces
    assert peak < 2**20, peak  # a piece or two in flight, not the 3 MB body


def test_a_lone_surrogate_in_an_upload_still_refuses_it(api: Api) -> None:
    body = '{"externalUserId": "u", "definitionId": "e", "properties": {"s": "\\ud83d"}}\n' * 3
    params = {"kind": "events", "format": "ndjson"}
    response = api.client.post("/v1/imports", params=params, content=body, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR")
