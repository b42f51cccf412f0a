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
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
