"""Python client SDK for Audience: ``MobileClient`` (one app install, as the native mobile SDKs
behave) and ``AdminClient`` (the server API). See docs/sdk.md."""

from audience.client.admin import AdminClient
from audience.client.errors import (
    ApiError,
    AudienceError,
    BadRequestError,
    ConflictError,
    DepersonalizationInProgress,
    ForbiddenError,
    GoneError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from audience.client.mobile import DepersonalizeResult, MobileClient
from audience.client.transport import RetryPolicy

__all__ = [
    "AdminClient",
    "ApiError",
    "AudienceError",
    "BadRequestError",
    "ConflictError",
    "DepersonalizationInProgress",
    "DepersonalizeResult",
    "ForbiddenError",
    "GoneError",
    "MobileClient",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "UnauthorizedError",
]
