"""Typed form inputs: HTML forms send strings; attribute values are typed by their definition."""

import json
from typing import Any

from starlette.datastructures import FormData

from audience.errors import ApiError, InvalidCustomAttribute


def invalid(name: str, message: str) -> ApiError:
    return InvalidCustomAttribute(f"{name}: {message}", name)


def text(form: FormData, name: str) -> str | None:
    """A trimmed text field; empty means "not set"."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def lines(form: FormData, name: str) -> list[str]:
    """One value per line or comma (emails, phones, tags)."""
    raw = text(form, name) or ""
    return [part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip()]


def attribute_value(name: str, type_: str, raw: str | None) -> Any:
    """The value of a typed input; an empty input deletes the value (``None``)."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if type_ == "number":
        try:
            number = float(raw)
        except ValueError:
            raise invalid(name, "not a number") from None
        return int(number) if number.is_integer() and "." not in raw and "e" not in raw else number
    if type_ == "boolean":
        if raw not in ("true", "false"):
            raise invalid(name, "choose true or false")
        return raw == "true"
    if type_ == "datetime" and len(raw) == 16:  # datetime-local: YYYY-MM-DDTHH:MM, taken as UTC
        return f"{raw}:00Z"
    if type_ == "list":
        try:
            return json.loads(raw)
        except ValueError:
            raise invalid(name, "not valid JSON") from None
    return raw


def input_value(type_: str, value: Any) -> str:
    """How a stored value is shown in its typed input."""
    if value is None:
        return ""
    if type_ == "boolean":
        return "true" if value else "false"
    if type_ == "datetime" and isinstance(value, str):
        return value[:16]
    if type_ == "list":
        return json.dumps(value)
    return str(value)
