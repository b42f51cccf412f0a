"""Typed errors of the client SDK; each carries the server's machine code (docs/api.md, Errors).

Callers can match on the class (``except ConflictError``) or on ``error.code``
(``"USER_MERGE_INTERRUPTED"``), whichever reads better at the call site.
"""

from typing import Any

NETWORK_ERROR = "NETWORK_ERROR"
DEPERSONALIZATION_IN_PROGRESS = "DEPERSONALIZATION_IN_PROGRESS"


class AudienceError(Exception):
    """Base of every error the SDK raises."""

    def __init__(
        self, code: str, message: str, status: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.field = field


class NetworkError(AudienceError):
    """The server could not be reached (or kept failing) after every retry."""

    def __init__(self, message: str) -> None:
        super().__init__(NETWORK_ERROR, message)


class DepersonalizationInProgress(AudienceError):
    """A depersonalize is pending (offline); user calls wait until the server confirms it."""

    def __init__(self) -> None:
        super().__init__(
            DEPERSONALIZATION_IN_PROGRESS,
            "A depersonalization is pending; retry once it has reached the server",
        )


class ApiError(AudienceError):
    """The server answered with an error body."""


class BadRequestError(ApiError):
    """400: VALIDATION_ERROR, INVALID_EVENT, PHONE_INVALID, USER_IDENTITY_INVALID, ..."""


class UnauthorizedError(ApiError):
    """401: wrong credential or user JWT."""


class ForbiddenError(ApiError):
    """403: the credential may not use this endpoint."""


class NotFoundError(ApiError):
    """404: NO_REGISTRATION, PERSON_NOT_FOUND, NOT_FOUND."""


class ConflictError(ApiError):
    """409: USER_MERGE_INTERRUPTED, PERSONALIZATION_IMPOSSIBLE, AMBIGUOUS_..., *_EXISTS."""


class GoneError(ApiError):
    """410: INSTALLATION_UNINSTALLED."""


class RateLimitedError(ApiError):
    """429, after every retry."""


class ServerError(ApiError):
    """5xx, after every retry."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    429: RateLimitedError,
}


def error_from_response(status: int, body: Any) -> ApiError:
    """The typed error for a non-2xx answer; a body without the error shape still gets a code."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or f"HTTP_{status}")
    message = str(error.get("message") or f"HTTP status {status}")
    field = error.get("field")
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(code, message, status, field if isinstance(field, str) else None)
