"""SQLite's memory statistics are off in a process that has imported ``audience.db``
(``audience.sqlite_library``): its allocations are no longer counted under the global lock."""

import subprocess
import sys

import pytest

from audience import sqlite_library

# Allocates a few MB inside SQLite, then prints how much SQLite counts as in use.
_COUNTED = """
import ctypes, sqlite3, sys
{setup}
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE t (v TEXT)")
conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(5000)])
library = ctypes.CDLL(sys.argv[1])
library.sqlite3_memory_used.restype = ctypes.c_int64
print(library.sqlite3_memory_used())
"""


pytestmark = pytest.mark.skipif(
    sqlite_library.mapped_library() is None, reason="this Python has SQLite built in"
)


def _statistics_off_flag(setup: str) -> str:
    """What ``audience.db`` says it did, in a fresh process after ``setup``."""
    code = f"import sqlite3\n{setup}\nfrom audience import db\n"
    code += "print(db.SQLITE_MEMORY_STATISTICS_OFF)"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _memory_counted(setup: str, library: str) -> int:
    code = _COUNTED.format(setup=setup)
    out = subprocess.run(
        [sys.executable, "-c", code, library], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_importing_the_database_module_stops_sqlite_counting_its_memory() -> None:
    library = sqlite_library.mapped_library()
    assert library is not None
    assert _memory_counted("", library) > 4_000_000
    assert _memory_counted("import audience.db", library) < 100_000
    assert _statistics_off_flag("") == "True"


def test_a_connection_opened_before_keeps_sqlite_as_it_is() -> None:
    """Shutting SQLite down under an open connection is undefined: then nothing is changed."""
    library = sqlite_library.mapped_library()
    assert library is not None
    opened_first = 'early = sqlite3.connect(":memory:")\nimport audience.db'
    assert _memory_counted(opened_first, library) > 4_000_000
    assert _statistics_off_flag('early = sqlite3.connect(":memory:")') == "False"
