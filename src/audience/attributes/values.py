"""Typed checks of custom attribute values, shared by persons and installations
(docs/rules.md, Model).

Values are normalised on the way in (dates and datetimes to one canonical text form) so that
comparisons in segments and lookups work the same on SQLite and PostgreSQL. Plain checks of
data, no database (``attributes.service.apply_custom_attributes`` reads the definitions): an
import's helper process runs them without loading the app.
"""

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from audience.clock import isoformat, naive_utc
from audience.error_codes import ApiError, InvalidCustomAttribute

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
TYPES = ("string", "number", "boolean", "date", "datetime", "list")
MAX_STRING_LENGTH = 4096
MAX_ATTRIBUTES = 200
MAX_LIST_ITEMS = 100
MAX_INT = 2**63 - 1
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidValue(ValueError):
    """A value that does not fit its type; the message says why."""


def invalid_attribute(name: str, message: str) -> ApiError:
    return InvalidCustomAttribute(message, f"customAttributes.{name}")


def parse_date(value: Any) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise InvalidValue("expected a date as YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidValue("not a calendar date") from None
    return value


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 time with a zone (``Z`` or an offset), as naive UTC; no zone means UTC."""
    if not isinstance(value, str) or len(value) < 10 or len(value) > 40:
        raise InvalidValue("expected an ISO 8601 datetime")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue("expected an ISO 8601 datetime") from None
    if parsed.tzinfo is not None:
        try:
            parsed = naive_utc(parsed)
        except OverflowError:
            raise InvalidValue("datetime out of range") from None
    return parsed


def check_scalar(type_name: str, value: Any) -> Any:
    """The normalised value of a scalar type, or ``InvalidValue``."""
    if type_name == "string":
        if not isinstance(value, str):
            raise InvalidValue("expected a string")
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidValue(f"longer than {MAX_STRING_LENGTH} characters")
        return value
    if type_name == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue("expected a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValue("expected a finite number")
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise InvalidValue("number out of range")
        return value
    if type_name == "boolean":
        if not isinstance(value, bool):
            raise InvalidValue("expected a boolean")
        return value
    if type_name == "date":
        return parse_date(value)
    if type_name == "datetime":
        return isoformat(parse_datetime(value))
    raise InvalidValue(f"unknown type {type_name}")


def _check_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidValue("expected a list of objects")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidValue(f"more than {MAX_LIST_ITEMS} items")
    keys: set[str] | None = None
    for item in value:
        if not isinstance(item, dict) or not item:
            raise InvalidValue("every item must be a non-empty object")
        if keys is None:
            keys = set(item)
        elif set(item) != keys:
            raise InvalidValue("every item must have the same keys")
        for key, inner in item.items():
            if not re.match(NAME_PATTERN, key):
                raise InvalidValue(f"invalid key '{key}'")
            if isinstance(inner, dict | list):
                raise InvalidValue("items must be flat objects with scalar values")
            if isinstance(inner, str) and len(inner) > MAX_STRING_LENGTH:
                raise InvalidValue(f"longer than {MAX_STRING_LENGTH} characters")
            if isinstance(inner, float) and not math.isfinite(inner):
                raise InvalidValue("expected a finite number")
            if isinstance(inner, int) and not isinstance(inner, bool) and abs(inner) > MAX_INT:
                raise InvalidValue("number out of range")
    return value


def check_value(type_name: str, value: Any) -> Any:
    if type_name == "list":
        return _check_list(value)
    return check_scalar(type_name, value)


def merge_custom_attributes(
    types: Mapping[str, str], scope: str, current: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """``service.apply_custom_attributes`` with the definitions' types already read (a bulk import
    reads them once per batch)."""
    merged = dict(current)
    for name, value in changes.items():
        type_name = types.get(name)
        if type_name is None:
            raise invalid_attribute(name, f"Custom attribute '{name}' is not defined for {scope}s")
        if value is None:
            merged.pop(name, None)
            continue
        try:
            merged[name] = check_value(type_name, value)
        except InvalidValue as exc:
            raise invalid_attribute(name, f"Custom attribute '{name}': {exc}") from None
    if len(merged) > MAX_ATTRIBUTES:
        raise InvalidCustomAttribute(
            f"At most {MAX_ATTRIBUTES} custom attributes per profile",
            "customAttributes",
        )
    return merged
