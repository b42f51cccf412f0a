"""SQLite's process-wide memory statistics, turned off once before the first connection.

With ``SQLITE_CONFIG_MEMSTATUS`` on (the default of most builds), SQLite counts every
allocation under one process-wide mutex. Its string functions allocate per cell, so the
export's pages paid for that lock on every cell, and two threads making pages at once fought
over it (docs/performance.md, "Sixth pass"). SQLite's own list of recommended compile-time
options turns it off; nothing here reads the statistics (``sqlite3_memory_used``). Python's
``sqlite3`` module does not expose ``sqlite3_config``, so it is called through ``ctypes`` on the
library that module is linked to — only when that library is a shared object this process has
mapped (a Python whose ``_sqlite3`` has SQLite built in keeps the default).
"""

import ctypes
import sqlite3  # noqa: F401  (maps the library and initializes SQLite, as any connection would)

_SQLITE_OK = 0
_SQLITE_CONFIG_MEMSTATUS = 9


def mapped_library() -> str | None:
    """The path of the SQLite shared library this process has mapped, if any (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "/libsqlite3.so" in path:
                    return path
    except OSError:
        return None
    return None


def turn_off_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off; True if they are now off. SQLite only takes
    configuration while shut down, and shutting down is only allowed with no connection open:
    so this runs once, when ``audience.db`` is first imported, and does nothing if SQLite
    already holds memory (a connection opened earlier in the process, which the statistics,
    still on, show)."""
    path = mapped_library()
    if path is None:
        return False
    library = ctypes.CDLL(path)
    library.sqlite3_memory_used.restype = ctypes.c_int64
    if library.sqlite3_memory_used() != 0 or library.sqlite3_shutdown() != _SQLITE_OK:
        return False
    configured = library.sqlite3_config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == _SQLITE_OK
    return library.sqlite3_initialize() == _SQLITE_OK and configured
