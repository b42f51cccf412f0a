"""The single error shape of SPEC §6: ``{"error": {"code", "message", "field"}}``."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An error answered to the client with a machine code; raised anywhere below a handler."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def validation_error(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message, field)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


# Custom pydantic error types that are themselves SPEC error codes (raised with
# ``PydanticCustomError(code, message)`` in validators) keep their code instead of becoming
# VALIDATION_ERROR.
SPECIFIC_VALIDATION_CODES = frozenset(
    {
        "PHONE_INVALID",
        "EMAIL_INVALID",
        "INVALID_CUSTOM_ATTRIBUTE",
        "USER_IDENTITY_INVALID",
        "INVALID_EVENT",
        "INVALID_RULE",
    }
)

_STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic reports union and function-validator branches as extra loc parts; drop them.
    parts = [p for p in parts if not p.startswith("function-") and "[" not in p]
    return ".".join(parts) or None


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    error = error_from_validation(exc.errors())
    return error_response(error.status, error.code, error.message, error.field)


def error_from_validation(errors: Sequence[Any]) -> ApiError:
    """The first of pydantic's errors as the ApiError a request body would answer (also used
    where rows are validated outside a request, e.g. imports)."""
    first = errors[0] if errors else {"loc": (), "msg": "Invalid request", "type": "invalid"}
    field = _field_of(tuple(first.get("loc", ())))
    err_type = str(first.get("type", ""))
    message = str(first.get("msg", "Invalid request"))
    if err_type in SPECIFIC_VALIDATION_CODES:
        return ApiError(400, err_type, message, field)
    if err_type == "json_invalid":
        return ApiError(400, "VALIDATION_ERROR", "Request body is not valid JSON", None)
    if err_type == "extra_forbidden":
        message = f"Unknown field '{field}'"
    elif err_type == "missing":
        message = f"Field '{field}' is required"
    else:
        message = f"{field}: {message}" if field else message
    return ApiError(400, "VALIDATION_ERROR", message, field)


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
        return error_response(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return error_response(500, "INTERNAL_ERROR", "Internal server error")
