"""Cursor pagination shared by every list: ``{"items": [...], "nextCursor": "…" | null}``."""

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from audience.errors import validation_error

Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=512)]
DEFAULT_LIMIT = 50
T = TypeVar("T")


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The sort key a cursor carries, or ``None`` for the first page; 400 if tampered with."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        key = None
    if not isinstance(key, list) or len(key) != size:
        raise validation_error("Invalid cursor", "cursor")
    return key


def decode_after(cursor: str | None, key_type: type = str) -> Any:
    """The single sort key of a list ordered by one column (ids, names), or ``None``; a key of
    another type than the column's is a tampered cursor (400), not a database error."""
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not isinstance(key[0], key_type) or isinstance(key[0], bool):
        raise validation_error("Invalid cursor", "cursor")
    return key[0]


def page(
    rows: Sequence[T],
    limit: int,
    key_of: Callable[[T], list[Any]],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """Build a page from up to ``limit + 1`` fetched rows (the extra one only says "more")."""
    shown = rows[:limit]
    more = len(rows) > limit and bool(shown)
    return {
        "items": [render(row) for row in shown],
        "nextCursor": encode_cursor(key_of(shown[-1])) if more else None,
    }


def page_in_memory(
    rows: Sequence[T],
    key: Callable[[T], str],
    cursor: str | None,
    limit: int,
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """A page of a short list already in memory (a person's devices), ordered by ``key``."""
    after = decode_after(cursor)
    ordered = sorted(rows, key=key)
    shown = [row for row in ordered if after is None or key(row) > after]
    return page(shown[: limit + 1], limit, lambda row: [key(row)], render)
