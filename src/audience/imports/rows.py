"""An import's rows between reading and storing: parsed (an NDJSON line's JSON), and their
errors and JSON as they cross between processes.

Plain data, no database and no web framework: the import's helper process
(``imports.helper``) parses and checks rows with this without loading the app.
"""

import json
from typing import Any

import orjson

from audience.error_codes import ApiError

# orjson reads an integer past 64 bits as a float; ``json`` as an int (which the API's checks
# refuse as out of range). Any float this large sends the line to ``json``.
_BIG = 2.0**63
_TRICKY = (float, dict, list)


def _may_differ(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return not -_BIG < value < _BIG
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    for item in value:  # noqa: SIM110 -- a loop, not a generator: once per NDJSON line
        if type(item) in _TRICKY and _may_differ(item):
            return True
    return False


def loads(line: str) -> Any:
    """``json.loads``, by orjson (a tenth of the time) where it reads the same: ``json`` reads
    what orjson refuses (NaN, 1e400, lone surrogates) and lines with a float past 64 bits
    (orjson's reading of a big integer), so a line means what it always meant."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)
    return json.loads(line) if _may_differ(value) else value


# A row: its number, and its fields (CSV: strings; NDJSON: JSON values), or the reason it
# could not be parsed at all.
ParsedRow = tuple[int, dict[str, Any] | None, str | None]
# A row as read, before JSON parsing: an NDJSON line stays text (the events import parses it
# where it checks it, possibly in its helper process); a CSV row is already split.
RawRow = tuple[int, str | dict[str, Any] | None, str | None]


def parse(row: RawRow) -> ParsedRow:
    number, fields, reason = row
    if not isinstance(fields, str):
        return number, fields, reason
    try:
        value = loads(fields)
    except ValueError:
        return number, None, "the line is not valid JSON"
    if not isinstance(value, dict):
        return number, None, "the line is not a JSON object"
    return number, value, None


# A row's error as it crosses from the helper (an ``ApiError`` does not pickle): (row number,
# status, code, message, field).
RowError = tuple[int, int, str, str, str | None]


def row_error(number: int, exc: ApiError) -> RowError:
    return number, exc.status, exc.code, exc.message, exc.field


def json_text(value: Any) -> str:
    """JSON text by orjson (a tenth of ``json.dumps``); ``json`` for what orjson refuses
    (strings with lone surrogates)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)
