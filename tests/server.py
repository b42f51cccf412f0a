"""Run the real ``audience`` command as a subprocess, for tests that need a live server."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

AUDIENCE = str(Path(sys.executable).parent / "audience")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUDIENCE, *args], env=os.environ | env, capture_output=True, text=True, timeout=60
    )


@contextmanager
def running_server(env: dict[str, str], workers: int = 1, port: int | None = None) -> Iterator[str]:
    """``audience serve`` on ``port`` (default: a free one); yields its base URL and stops it
    afterwards. A fixed port lets a test stop a server and start it again at the same URL."""
    port = port or free_port()
    # stderr goes to a file: an undrained pipe fills up and blocks a chatty server mid-request
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [AUDIENCE, "serve", "--port", str(port), "--workers", str(workers)],
            env=os.environ | env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base_url, process, stderr)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_up(
    base_url: str, process: subprocess.Popen[bytes], stderr: IO[bytes], seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr.seek(0)
            raise RuntimeError(f"server exited early: {stderr.read().decode()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start in time")


class ServerProcess:
    """An ``audience serve`` process that a test can start, kill hard and start again."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # a file, not a pipe: an undrained pipe fills up and blocks a chatty server
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())

    def start(self) -> None:
        self.process = subprocess.Popen(
            [AUDIENCE, "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=os.environ | self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            start_new_session=True,  # so kill() reaches the workers too
        )
        wait_until_up(self.base_url, self.process, self.stderr)

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, like a power cut."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.stderr.close()
