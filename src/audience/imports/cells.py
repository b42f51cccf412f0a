"""Turn a row of a file into the JSON body the API would take for the same data.

CSV cells are text: lists (``emails``, ``phones``, ``tags``) are ``;``-separated, and typed
values (``custom.<name>``, ``properties.<name>``) are read by the type their definition gives
(numbers, ``true``/``false``, JSON for lists). An empty cell means "not given". NDJSON rows
already carry JSON values, and may nest ``customAttributes``/``properties`` as objects.
Columns that exports write but an import cannot set (ids, timestamps) are ignored.
"""

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audience.error_codes import ApiError

LIST_COLUMNS = frozenset({"emails", "phones", "tags"})
_INTEGER = re.compile(r"^-?\d+$")
_PARSED_TYPES = frozenset({"number", "boolean", "list"})
_NOTHING: frozenset[str] = frozenset()


def split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


def typed_cell(type_name: str | None, text: str, error: ApiError) -> Any:
    """A CSV cell read as ``type_name``; an unknown name stays text (the API names it)."""
    try:
        if type_name == "number":
            return int(text) if _INTEGER.match(text) else float(text)
        if type_name == "boolean":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(text)
            return lowered == "true"
        if type_name == "list":
            return json.loads(text)
    except ValueError:
        raise error from None
    return text


@dataclass(frozen=True)
class Columns:
    """Where each column of a header goes: worked out once per header, not once per cell
    (a CSV file's rows all share one; an NDJSON file's rows mostly a few)."""

    plain: tuple[tuple[str, bool], ...]  # (column, is a list column), in the row's order
    dotted: tuple[tuple[str, str], ...]  # (column, name after the prefix), in the row's order


@functools.lru_cache(maxsize=256)
def _plan(
    columns: tuple[str, ...], ignored: frozenset[str], prefix: str, nested_key: str
) -> Columns:
    plain = tuple(
        (column, column in LIST_COLUMNS)
        for column in columns
        if column not in ignored and not column.startswith(prefix) and column != nested_key
    )
    dotted = tuple((c, c[len(prefix) :]) for c in columns if c.startswith(prefix))
    return Columns(plain, dotted)


def nest(
    row: Mapping[str, Any],
    prefix: str,
    nested_key: str,
    types: Mapping[str, str],
    is_csv: bool,
    error_for: Any,
) -> dict[str, Any] | None:
    """Dotted ``prefix.<name>`` cells (and a nested object) as one object, typed for CSV."""
    values: dict[str, Any] = {}
    nested = row.get(nested_key)
    if nested is not None:
        if not isinstance(nested, dict):
            raise ApiError(400, "VALIDATION_ERROR", f"{nested_key} must be an object", nested_key)
        values.update(nested)
    for column, name in _plan(tuple(row), _NOTHING, prefix, nested_key).dotted:
        value = row[column]
        if is_csv:
            if value == "":
                continue
            type_name = types.get(name)
            if type_name in _PARSED_TYPES:  # other cells stay text (no error to prepare)
                value = typed_cell(type_name, value, error_for(name, value))
        values[name] = value
    return values or None


def plain_fields(
    row: Mapping[str, Any], ignored: frozenset[str], prefix: str, nested_key: str, is_csv: bool
) -> dict[str, Any]:
    """The row's other columns, with empty CSV cells dropped and lists split."""
    body: dict[str, Any] = {}
    for column, is_list in _plan(tuple(row), ignored, prefix, nested_key).plain:
        value = row[column]
        if is_csv and value == "":
            continue
        body[column] = split_list(value) if is_list else value
    return body
