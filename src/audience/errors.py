"""The single error shape (docs/api.md, Errors): ``{"error": {"code", "message", "field"}}``,
answered by the HTTP handlers installed here; the error classes, one per code, live in
``audience.error_codes`` (free of FastAPI, for code that only checks data) and are
re-exported here, the usual place to import them from."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from audience.error_codes import (
    ERROR_CLASSES,
    SPECIFIC_VALIDATION_CODES,
    AmbiguousPersonalizeCandidates,
    ApiError,
    ApiKeyExists,
    CodedError,
    Conflict,
    DefinitionExists,
    DefinitionInUse,
    DeliveryNotFound,
    EmailInvalid,
    FlowNotFound,
    Forbidden,
    Gone,
    IdentityBlocked,
    IdentityNotVerified,
    ImportNotFound,
    InstallationUninstalled,
    InternalError,
    InvalidCustomAttribute,
    InvalidEvent,
    InvalidRule,
    MergeNotFound,
    MergeNotUndoable,
    MessageNotCancelable,
    MessageNotFound,
    MethodNotAllowed,
    NoRegistration,
    NotFound,
    PayloadTooLarge,
    PersonalizationImpossible,
    PersonNotFound,
    PhoneInvalid,
    QueryTimeout,
    RateLimited,
    SecretKeyRequired,
    SegmentBuilding,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    UserIdentityInvalid,
    UserJwtRequired,
    UserMergeInterrupted,
    ValidationFailed,
    WebhookNotFound,
    WebhookUrlForbidden,
    error_body,
    error_class,
    error_codes_markdown,
    error_from_validation,
    not_found,
    validation_error,
)
from audience.models import ResponseModel

__all__ = [
    "ERROR_CLASSES",
    "SPECIFIC_VALIDATION_CODES",
    "AmbiguousPersonalizeCandidates",
    "ApiError",
    "ApiKeyExists",
    "CodedError",
    "Conflict",
    "DefinitionExists",
    "DefinitionInUse",
    "DeliveryNotFound",
    "EmailInvalid",
    "ErrorBody",
    "ErrorDetail",
    "FlowNotFound",
    "Forbidden",
    "Gone",
    "IdentityBlocked",
    "IdentityNotVerified",
    "ImportNotFound",
    "InstallationUninstalled",
    "InternalError",
    "InvalidCustomAttribute",
    "InvalidEvent",
    "InvalidRule",
    "MergeNotFound",
    "MergeNotUndoable",
    "MessageNotCancelable",
    "MessageNotFound",
    "MethodNotAllowed",
    "NoRegistration",
    "NotFound",
    "PayloadTooLarge",
    "PersonNotFound",
    "PersonalizationImpossible",
    "PhoneInvalid",
    "QueryTimeout",
    "RateLimited",
    "SecretKeyRequired",
    "SegmentBuilding",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "UserIdentityInvalid",
    "UserJwtRequired",
    "UserMergeInterrupted",
    "ValidationFailed",
    "WebhookNotFound",
    "WebhookUrlForbidden",
    "error_body",
    "error_class",
    "error_codes_markdown",
    "error_from_validation",
    "error_response",
    "install_error_handlers",
    "not_found",
    "validation_error",
]


class ErrorDetail(ResponseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(ResponseModel):
    """Every error answer: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


# The code of an error raised by the HTTP layer itself (unknown path, wrong method, ...).
_STATUS_CODES = {
    cls.status: cls.code
    for cls in (
        ValidationFailed,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        Gone,
        PayloadTooLarge,
        UnsupportedMediaType,
        TooManyRequests,
    )
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    error = error_from_validation(exc.errors())
    return error_response(error.status, error.code, error.message, error.field)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "ERROR")
        message = exc.detail if isinstance(exc.detail, str) else code
        return error_response(exc.status_code, code, message, getattr(exc, "field", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return error_response(500, InternalError.code, InternalError.default_message)
