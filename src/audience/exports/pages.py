"""A persons export's pages: their id ranges found one after another, then made by the
database up to ``threads`` at a time, and handed on in order (docs/decisions.md).

A page's range is one short statement on the primary key's index (``queries.page_bound``);
making the page — the database's work, most of an export's time — needs nothing of the
page before it, so on a machine with two cores two pages are made at once (SQLite runs a
statement without Python's GIL; PostgreSQL in its own process). The threads live only as
long as the download: a client that goes away stops them after the pages in hand.
"""

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from audience.db import Database
from audience.exports import queries

# (after id, up to id or None for all that follow) -> the page's bytes
MakePage = Callable[[str, str | None], bytes]


def ranges(db: Database, segment_id: str | None, size: int) -> Iterator[tuple[str, str | None]]:
    """The export's pages as id ranges (after, up to]: ``size`` persons each, the last open."""
    after = ""
    while True:
        with db.read() as conn:
            upto = queries.page_bound(conn, after, segment_id, size)
        yield after, upto
        if upto is None:
            return
        after = upto


def made(pages: Iterator[tuple[str, str | None]], make: MakePage, threads: int) -> Iterator[bytes]:
    """Each page's bytes, in order, made by up to ``threads`` threads at once (one: here)."""
    if threads <= 1:
        for after, upto in pages:
            yield make(after, upto)
        return
    pending: deque[Future[bytes]] = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="export-page") as pool:
        try:
            for after, upto in pages:
                pending.append(pool.submit(make, after, upto))
                if len(pending) >= threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
