"""HTTP with retries: exponential back-off with full jitter on network errors, 5xx and 429.

One ``httpx.Client`` (a connection pool) can be shared by many SDK clients, which is how the
fleet simulator keeps thousands of simulated devices on a handful of TCP connections.
"""

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from audience.client.errors import NetworkError, error_from_response

USER_AGENT = "audience-python-sdk/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the n-th wait is uniform in [0, min(cap, base * 2**n)]."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        wait = random.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class Transport:
    """Sends one API call, retrying what is safe to retry, and answers the decoded JSON."""

    def __init__(
        self,
        base_url: str,
        credential: str,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = {"Authorization": f"App {credential}", "User-Agent": USER_AGENT}
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        attempts: int | None = None,
    ) -> Any:
        """The JSON answer (``None`` for 204); a typed ``ApiError`` for a final error answer,
        ``NetworkError`` when the server stayed unreachable."""
        tries = attempts or self.retry.attempts
        url = self.base_url + path
        sent_headers = self._auth | dict(headers or {})
        for attempt in range(tries):
            last = attempt == tries - 1
            try:
                response = self.http.request(
                    method, url, json=json, params=params, headers=sent_headers
                )
            except httpx.TransportError as exc:
                if last:
                    raise NetworkError(f"{method} {path}: {exc!r}") from exc
                self._sleep(self.retry.delay(attempt))
                continue
            if _retryable(response.status_code) and not last:
                self._sleep(self.retry.delay(attempt, _retry_after(response)))
                continue
            return _decode(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


def _decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        body = None
    else:
        try:
            body = response.json()
        except ValueError:
            body = None
    if response.status_code >= 400:
        raise error_from_response(response.status_code, body)
    return body
