"""The imports' helper process (docs/decisions.md, Imports): while the worker's thread stores
one batch, the helper parses and checks the next (``event_checks.check_with_snapshot``,
``person_checks.check_rows``), so an import uses two cores where it has them.

One helper per server process, started by the first import that has a second batch
(never for a one-batch file) and stopped once no import holds it: an idle server keeps no
extra process (nor its memory). A helper that dies makes its batch checked in the writer,
as without one. Spawned, not forked: a fork of a threaded server may inherit held locks.
"""

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from audience.memory import paused_gc

T = TypeVar("T")

_lock = threading.RLock()  # reentrant: __del__ may run anywhere, even under it
_pool: ProcessPoolExecutor | None = None
_holders = 0


def available() -> bool:
    """A helper only pays on a machine with a second core for it."""
    return (os.cpu_count() or 1) >= 2


def _with_gc_paused(check: Callable[..., T], *args: Any) -> T:
    """In the helper: the check with the cyclic GC paused, as the writer pauses it for a batch
    (``memory.paused_gc``: a batch's rows are many small containers that live until its
    end, and each collection walked them all — the persons check took twice as long)."""
    with paused_gc():
        return check(*args)


class Helper:
    """A hold on the process-wide helper; ``close()`` (or losing the last reference, when an
    import's kept state is dropped) lets it go."""

    def __init__(self) -> None:
        global _pool, _holders
        with _lock:
            if _pool is None:
                _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            _holders += 1
            self._pool: ProcessPoolExecutor | None = _pool

    def submit(self, check: Callable[..., T], *args: Any) -> Future[T] | None:
        """``check(*args)`` (a module-level function, and picklable arguments: they cross to
        the helper) started in the helper; None if the helper is gone."""
        if self._pool is None:
            return None
        try:
            return self._pool.submit(_with_gc_paused, check, *args)
        except (BrokenProcessPool, RuntimeError):
            self.drop()
            return None

    def drop(self) -> None:
        """After the helper failed: later imports start a new one; this hold checks in the
        writer from now on."""
        global _pool
        with _lock:
            if _pool is self._pool:
                _pool = None
        self.close()

    def close(self, wait: bool = False) -> None:
        """Let go; the last hold stops the process (``wait``: until it has exited, so an
        import is done only once its helper's memory is given back)."""
        global _pool, _holders
        pool, self._pool = self._pool, None
        if pool is None:
            return
        with _lock:
            _holders -= 1
            if pool is _pool and _holders > 0:
                return
            if pool is _pool:
                _pool = None
        pool.shutdown(wait=wait, cancel_futures=True)

    def __del__(self) -> None:
        self.close()
