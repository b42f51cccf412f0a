"""Input guards as pure ASGI middleware: a body size limit (413 before a large body is
buffered), no NUL characters anywhere (PostgreSQL cannot store them in text or JSONB, so
they are refused on every backend alike, before any handler runs), and no lone UTF-16
surrogates in JSON strings (``"\\ud800"`` parses in Python but no database can store it:
every string input path answers 400 instead of failing deep inside a write)."""

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audience.errors import error_body


class BodyTooLarge(HTTPException):
    """An HTTPException so FastAPI's body parsing re-raises it (as 413) instead of a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body exceeds {max_bytes} bytes")


class NulCharacter(HTTPException):
    def __init__(self) -> None:
        super().__init__(400, "NUL characters (\\u0000) are not allowed")


class LoneSurrogate(HTTPException):
    def __init__(self, field: str | None) -> None:
        where = f" ('{field}')" if field else ""
        super().__init__(400, f"A string{where} holds a lone UTF-16 surrogate")
        self.field = field


# A JSON ``\u0000`` escape: an odd number of backslashes before ``u0000``.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_TAIL = 64


# A JSON ``\\uXXXX`` escape of a surrogate, with the same odd-backslash rule.
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u(d[89a-f][0-9a-f]{2})", re.IGNORECASE)


def _may_hold_surrogate(data: bytes) -> bool:
    return b"\\ud" in data or b"\\uD" in data


def has_lone_surrogate_escape(body: bytes) -> bool:
    """Whether a JSON text escapes a surrogate that is not half of a high-low pair."""
    expected_low_at = -1
    for match in _SURROGATE_ESCAPE.finditer(body):
        unit = int(match.group(1), 16)
        escape_start = match.end() - 6
        if unit >= 0xDC00:  # low: must follow a high immediately
            if escape_start != expected_low_at:
                return True
            expected_low_at = -1
        else:  # high: a low must come next
            if expected_low_at != -1:
                return True
            expected_low_at = match.end()
    return expected_low_at != -1


def _field_with_surrogate(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a lone surrogate."""
    if isinstance(value, str):
        return path or None if _is_lone(value) else None
    if not isinstance(value, dict | list):
        return None  # numbers, booleans, null
    items: Any = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        name = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _is_lone(key):
            return name
        found = _field_with_surrogate(item, name)
        if found is not None:
            return found
    return None


def _is_lone(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def surrogate_field(body: bytes) -> str | None:
    """Name the field for the answer (only on the error path: it parses the body)."""
    try:
        return _field_with_surrogate(json.loads(body))
    except ValueError:
        return None


def _holds_nul_escape(data: bytes) -> bool:
    """A plain substring test first: the regex alone cost a tenth of a 100-event batch's CPU."""
    return (b"u0000" in data or b"U0000" in data) and _NUL_ESCAPE.search(data) is not None


class _LineScan:
    """Lone surrogate escapes in a body streamed to storage (an import's file), found without
    holding the body: an escape, or a pair of them, never spans a line break, so each line is
    checked once complete and only the unfinished last one is kept (a line at most, as the
    import's reader holds anyway). Holding the whole body to check it at the end grew the
    server by the size of the file: 1.3 GB for 5M events (docs/performance.md)."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def feed(self, chunk: bytes, last: bool) -> bool:
        """Answers whether the lines completed by ``chunk`` hold a lone surrogate escape."""
        self.pending += chunk
        end = len(self.pending) if last else self.pending.rfind(b"\n") + 1
        if end == 0:
            return False
        done = bytes(self.pending[:end])
        del self.pending[:end]
        return _may_hold_surrogate(done) and has_lone_surrogate_escape(done)


class InputGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, unlimited_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths whose bodies are streamed to storage, never held (bulk imports): no size limit.
        self.unlimited_paths = unlimited_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await self._reject(send, 400, "VALIDATION_ERROR", "NUL characters are not allowed")
            return
        streamed = scope.get("path") in self.unlimited_paths
        max_bytes = 2**62 if streamed else self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_large = int(value) > max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._reject_too_large(send)
                    return
        received = 0
        tail = b""
        response_started = False
        # A body that escapes a surrogate at all (emoji from ASCII-only JSON encoders) is
        # checked whole once complete: a pair may straddle two chunks.
        chunks: list[bytes] = []
        suspect = False
        lines = _LineScan() if streamed else None

        async def limited_receive() -> Message:
            nonlocal received, tail, suspect
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
                window = tail + chunk
                if b"\x00" in chunk or _holds_nul_escape(window):
                    raise NulCharacter()
                tail = window[-_TAIL:]
                if lines is not None:
                    if lines.feed(chunk, last=not message.get("more_body", False)):
                        raise LoneSurrogate(None)
                    return message
                chunks.append(chunk)
                suspect = suspect or _may_hold_surrogate(window)
                if suspect and not message.get("more_body", False):
                    body = b"".join(chunks)
                    if has_lone_surrogate_escape(body):
                        raise LoneSurrogate(surrogate_field(body))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._reject_too_large(send)

    async def _reject_too_large(self, send: Send) -> None:
        message = f"Request body exceeds {self.max_bytes} bytes"
        await self._reject(send, 413, "PAYLOAD_TOO_LARGE", message)

    async def _reject(self, send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
