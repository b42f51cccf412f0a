"""Time helpers: the server stores naive UTC datetimes truncated to milliseconds."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Current UTC time, naive, millisecond precision (so every stored time round-trips)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)


def naive_utc(value: datetime) -> datetime:
    """An aware time as naive UTC: ``value.astimezone(UTC).replace(tzinfo=None)`` (the same
    value, the same OverflowError out of range) by arithmetic, a fifth of the time on CPython
    3.11, whose ``datetime.replace`` parses its keywords slowly — a bulk import converts
    millions."""
    return _EPOCH + (value - _EPOCH_UTC)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = naive_utc(value)
    if value.microsecond % 1000:
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value  # already naive at millisecond precision (datetimes are immutable)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, millisecond precision."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # strftime("%Y") does not pad years before 1000; format every part explicitly.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )
