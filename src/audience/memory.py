"""Handing memory that C code freed back to the operating system.

glibc's malloc keeps what is freed for reuse, in an arena per thread (up to eight per core):
a large buffer freed on one thread stays resident in that thread's arena while the next
one, on another thread, fills its own. Work that allocates much in C and frees it at once
(an events import batch's SQLite page cache) gives it back with ``release_freed_memory``, so
a process's resident memory does not grow with the number of threads that ran such work.
"""

import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None elsewhere (musl, macOS), where there is nothing to do."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_trim = _malloc_trim()


def release_freed_memory() -> None:
    """Return the free pages of every malloc arena to the OS (a few milliseconds at most)."""
    if _trim is not None:
        _trim(0)


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is checked and applied: a batch makes
    hundreds of thousands of small containers that live until its end, and each collection
    they trigger walks them all (a quarter of a batch's CPU). Reference counting still frees
    them; the collector runs again after the batch. Process-wide, but only for one batch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
