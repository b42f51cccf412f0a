"""Turn a row of a file into the JSON body the API would take for the same data.

CSV cells are text: lists (``emails``, ``phones``, ``tags``) are ``;``-separated, and typed
values (``custom.<name>``, ``properties.<name>``) are read by the type their definition gives
(numbers, ``true``/``false``, JSON for lists). An empty cell means "not given". NDJSON rows
already carry JSON values, and may nest ``customAttributes``/``properties`` as objects.
Columns that exports write but an import cannot set (ids, timestamps) are ignored.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from audience.errors import ApiError

LIST_COLUMNS = frozenset({"emails", "phones", "tags"})
_INTEGER = re.compile(r"^-?\d+$")
_PARSED_TYPES = frozenset({"number", "boolean", "list"})


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
    for column, value in row.items():
        if not column.startswith(prefix):
            continue
        name = column[len(prefix) :]
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
    for column, value in row.items():
        if column in ignored or column.startswith(prefix) or column == nested_key:
            continue
        if is_csv and value == "":
            continue
        body[column] = split_list(value) if column in LIST_COLUMNS else value
    return body
