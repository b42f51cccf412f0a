"""Shared pieces of the benchmark scripts: a real server process and small statistics."""

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

AUDIENCE = str(Path(sys.executable).parent / "audience")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(
    database_url: str,
    admin_key: str,
    workers: int = 1,
    sweep_seconds: float = 0,
    env: dict[str, str] | None = None,
    start_timeout: float = 240,
) -> Iterator[tuple[str, int]]:
    """``audience serve`` on a free port (segment sweep off unless ``sweep_seconds``; ``env``
    added to its environment); yields (base URL, pid)."""
    port = free_port()
    env = (
        os.environ
        | {
            "AUDIENCE_DATABASE_URL": database_url,
            "AUDIENCE_ADMIN_KEY": admin_key,
            "AUDIENCE_SEGMENT_SWEEP_SECONDS": str(sweep_seconds),
        }
        | (env or {})
    )
    process = subprocess.Popen(
        [AUDIENCE, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout  # a loaded machine starts slowly
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()  # never leave a half-started server behind
            process.wait(timeout=30)
            raise RuntimeError("server did not start")
        time.sleep(0.1)
    try:
        yield base_url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def percentile_ms(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return round(ordered[index] * 1000, 2)


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def fresh_database(url: str | None, name: str) -> str:
    """A new SQLite file in a temporary folder, or the given PostgreSQL database emptied."""
    if url is None:
        import tempfile

        return f"sqlite:///{tempfile.mkdtemp(prefix='audience-bench-')}/{name}.db"
    if not url.startswith("sqlite"):
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return url
