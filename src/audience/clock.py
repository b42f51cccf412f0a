"""Time helpers: the server stores naive UTC datetimes truncated to milliseconds."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Current UTC time, naive, millisecond precision (so every stored time round-trips)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


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
