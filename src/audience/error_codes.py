"""Error codes as data: ``ApiError``, one class per code (docs/errors.md is generated from
them), and pydantic's validation errors shaped as the API answers them.

No web framework and no database here: code that only checks data (an import's helper
process, ``imports.helper``) raises and shapes these errors without loading FastAPI.
``audience.errors`` re-exports all of it beside the HTTP handlers.
"""

from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    """An error answered to the client with a machine code; raised anywhere below a handler.

    Each code has its own subclass below (status, code and default message in one place), so
    callers raise ``PersonNotFound(...)`` and catch by class. ``ApiError(status, code,
    message)`` still works for a code not yet given a class.
    """

    status: int = 500
    code: str = "INTERNAL_ERROR"
    default_message: str = "Internal server error"
    # For docs/errors.md: when a client sees this code.
    meaning: str = ""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


ERROR_CLASSES: dict[str, type["CodedError"]] = {}


class CodedError(ApiError):
    """An error whose status and code are fixed by its class: ``raise PersonNotFound(msg)``."""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        assert cls.code not in ERROR_CLASSES, f"two classes for {cls.code}"
        ERROR_CLASSES[cls.code] = cls

    def __init__(self, message: str | None = None, field: str | None = None) -> None:
        super().__init__(self.status, self.code, message or self.default_message, field)


class InternalError(CodedError):
    meaning = "An unexpected failure on the server; the request may be retried."


# --- 400 ----------------------------------------------------------------------------------------
class ValidationFailed(CodedError):
    status, code, default_message = 400, "VALIDATION_ERROR", "Invalid request"
    meaning = (
        "The request is malformed: unknown field or query parameter, wrong type, value out of "
        "range or too long, invalid cursor. `field` names the culprit. Never 422."
    )


class PhoneInvalid(CodedError):
    status, code, default_message = 400, "PHONE_INVALID", "Invalid phone number"
    meaning = "A phone number cannot be read as an E.164 number."


class EmailInvalid(CodedError):
    status, code, default_message = 400, "EMAIL_INVALID", "Invalid email"
    meaning = "An email address is not valid."


class InvalidCustomAttribute(CodedError):
    status, code, default_message = 400, "INVALID_CUSTOM_ATTRIBUTE", "Invalid custom attribute"
    meaning = (
        "A custom attribute is not defined for this scope, has a value of the wrong type, or a "
        "profile would hold more than 200."
    )


class UserIdentityInvalid(CodedError):
    status, code = 400, "USER_IDENTITY_INVALID"
    default_message = "A person needs externalUserId, a phone or an email"
    meaning = "Personalize (R2 step 0) or person creation without any identity."


class InvalidEvent(CodedError):
    status, code, default_message = 400, "INVALID_EVENT", "Invalid event"
    meaning = (
        "An event names an unknown or inactive definition, or its properties do not match "
        "the definition (R8). `field` names the event's index in the batch."
    )


class InvalidRule(CodedError):
    status, code, default_message = 400, "INVALID_RULE", "Invalid segment rule"
    meaning = "A segment rule cannot be parsed."


# --- 401 / 403 ----------------------------------------------------------------------------------
class Unauthorized(CodedError):
    status, code, default_message = 401, "UNAUTHORIZED", "Not authenticated"
    meaning = (
        "Missing or unknown credential (`Authorization: App <key or code>`), or a missing or "
        "invalid user JWT where the application requires one."
    )


class Forbidden(CodedError):
    status, code, default_message = 403, "FORBIDDEN", "Not allowed"
    meaning = "The credential is valid but not for this API (mobile vs server) or lacks a scope."


# --- 404 ----------------------------------------------------------------------------------------
class NotFound(CodedError):
    status, code, default_message = 404, "NOT_FOUND", "Not found"
    meaning = "No such application, API key, definition or segment (or no such path)."


class NoRegistration(CodedError):
    status, code, default_message = 404, "NO_REGISTRATION", "No such installation"
    meaning = (
        "Unknown pushRegistrationId, or one that belongs to another application or person "
        "(reported alike, so nothing leaks)."
    )


class PersonNotFound(CodedError):
    status, code, default_message = 404, "PERSON_NOT_FOUND", "No such person"
    meaning = "No person has this id (merged-away ids resolve to the survivor), or no lookup match."


class MethodNotAllowed(CodedError):
    status, code, default_message = 405, "METHOD_NOT_ALLOWED", "Method not allowed"
    meaning = "The path exists but not with this HTTP method."


# --- 409 ----------------------------------------------------------------------------------------
class Conflict(CodedError):
    status, code, default_message = 409, "CONFLICT", "Conflict"
    meaning = "A generic conflict with the current state."


class ApiKeyExists(CodedError):
    status, code, default_message = 409, "API_KEY_EXISTS", "An API key with this name exists"
    meaning = "API key names are unique."


class DefinitionExists(CodedError):
    status, code, default_message = 409, "DEFINITION_EXISTS", "Already defined"
    meaning = "An attribute or event definition with this name or id exists."


class DefinitionInUse(CodedError):
    status, code, default_message = 409, "DEFINITION_IN_USE", "Used by a segment"
    meaning = "An event property a saved segment filters on cannot change type or go away."


class UserMergeInterrupted(CodedError):
    status, code = 409, "USER_MERGE_INTERRUPTED"
    default_message = "An identity in the request belongs to another person"
    meaning = (
        "An identity value is owned by another person, or the person found has another "
        "externalUserId (R2 step 2, person PATCH); nothing changed."
    )


class AmbiguousPersonalizeCandidates(CodedError):
    status, code = 409, "AMBIGUOUS_PERSONALIZE_CANDIDATES"
    default_message = "The identities in userIdentity belong to more than one person"
    meaning = "The identities given belong to more than one person (R2 step 1); nothing changed."


class PersonalizationImpossible(CodedError):
    status, code = 409, "PERSONALIZATION_IMPOSSIBLE"
    default_message = (
        "The installation is personalized with another person; "
        "depersonalize it first or use forceDepersonalize"
    )
    meaning = (
        "The installation belongs to another identified person and `forceDepersonalize` was "
        "not given (R2 step 3)."
    )


# --- 410 and above ------------------------------------------------------------------------------
class Gone(CodedError):
    status, code, default_message = 410, "GONE", "Gone"
    meaning = "The resource existed and is gone."


class InstallationUninstalled(CodedError):
    status, code, default_message = 410, "INSTALLATION_UNINSTALLED", "Installation is uninstalled"
    meaning = "A mobile call for an installation uninstalled by the server API (R4)."


class PayloadTooLarge(CodedError):
    status, code, default_message = 413, "PAYLOAD_TOO_LARGE", "Request body too large"
    meaning = "The request body is over `AUDIENCE_MAX_BODY_BYTES`."


class UnsupportedMediaType(CodedError):
    status, code, default_message = 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"
    meaning = "The body is not JSON."


class TooManyRequests(CodedError):
    status, code, default_message = 429, "TOO_MANY_REQUESTS", "Too many requests"
    meaning = "Generic rate limit from the HTTP layer; retry later."


# --- codes of later features (hardening, identity, segments, webhooks, flows, push, bulk) ------
def _coded(name: str, status: int, code: str, message: str, meaning: str) -> type[CodedError]:
    return type(
        name,
        (CodedError,),
        {
            "status": status,
            "code": code,
            "default_message": message,
            "meaning": meaning,
        },
    )


IdentityBlocked = _coded(
    "IdentityBlocked",
    400,
    "IDENTITY_BLOCKED",
    "This identity value is blocked",
    "An identity value is a placeholder named in `AUDIENCE_BLOCKED_IDENTITIES` (docs/identity.md).",
)
WebhookUrlForbidden = _coded(
    "WebhookUrlForbidden",
    400,
    "WEBHOOK_URL_FORBIDDEN",
    "Webhook URL not allowed",
    "A webhook URL resolves to a loopback, private or link-local address (docs/webhooks.md).",
)
UserJwtRequired = _coded(
    "UserJwtRequired",
    401,
    "USER_JWT_REQUIRED",
    "A valid X-User-Token is required",
    "A mobile call reads or changes a protected person without a valid user JWT "
    "(docs/security.md).",
)
IdentityNotVerified = _coded(
    "IdentityNotVerified",
    403,
    "IDENTITY_NOT_VERIFIED",
    "Identity not verified",
    "A `requireUserJwt` personalize names a phone or email of a person the token's `sub` is not.",
)
MergeNotFound = _coded(
    "MergeNotFound", 404, "MERGE_NOT_FOUND", "No such merge", "No merge has this `mergeId`."
)
WebhookNotFound = _coded(
    "WebhookNotFound",
    404,
    "WEBHOOK_NOT_FOUND",
    "No such webhook endpoint",
    "No webhook endpoint has this id.",
)
DeliveryNotFound = _coded(
    "DeliveryNotFound",
    404,
    "DELIVERY_NOT_FOUND",
    "No such delivery",
    "No delivery of this webhook endpoint has this id.",
)
FlowNotFound = _coded("FlowNotFound", 404, "FLOW_NOT_FOUND", "No such flow", "No flow has this id.")
ImportNotFound = _coded(
    "ImportNotFound", 404, "IMPORT_NOT_FOUND", "No such import", "No import job has this id."
)
MessageNotFound = _coded(
    "MessageNotFound", 404, "MESSAGE_NOT_FOUND", "No such message", "No push message has this id."
)
MergeNotUndoable = _coded(
    "MergeNotUndoable",
    409,
    "MERGE_NOT_UNDOABLE",
    "This merge cannot be undone",
    "The merge was undone already, or a person it joined was deleted (docs/identity.md).",
)
SegmentBuilding = _coded(
    "SegmentBuilding",
    409,
    "SEGMENT_BUILDING",
    "The segment is still building",
    "A segment's members are listed once its membership is built; counts work meanwhile.",
)
SecretKeyRequired = _coded(
    "SecretKeyRequired",
    409,
    "SECRET_KEY_REQUIRED",
    "AUDIENCE_SECRET_KEY is not set",
    "Push credentials are stored encrypted, which needs `AUDIENCE_SECRET_KEY` (docs/push.md).",
)
MessageNotCancelable = _coded(
    "MessageNotCancelable",
    409,
    "MESSAGE_NOT_CANCELABLE",
    "Message already sent",
    "A push message that is done cannot be canceled.",
)
RateLimited = _coded(
    "RateLimited",
    429,
    "RATE_LIMITED",
    "Too many requests",
    "Too many failed authentications from an address, or requests of a credential; "
    "see `Retry-After`.",
)
QueryTimeout = _coded(
    "QueryTimeout",
    503,
    "QUERY_TIMEOUT",
    "The query took too long",
    "A database statement ran past `AUDIENCE_STATEMENT_TIMEOUT_SECONDS`.",
)


def not_found(code: str, message: str) -> ApiError:
    """A 404 with a feature's own code (its class above)."""
    return ERROR_CLASSES[code](message)


def error_codes_markdown() -> str:
    """docs/errors.md, generated from the classes above (``audience error-codes`` writes it;
    a test keeps the file equal to this)."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from src/audience/error_codes.py by "
        "`audience error-codes > docs/errors.md`;",
        "     edit the classes there, not this file. -->",
        "",
        'Every error answers `{"error": {"code", "message", "field"?}}` (docs/api.md, "Errors").',
        "",
        "| status | code | class | when |",
        "|---|---|---|---|",
    ]
    for cls in sorted(ERROR_CLASSES.values(), key=lambda cls: (cls.status, cls.code)):
        lines.append(f"| {cls.status} | `{cls.code}` | `{cls.__name__}` | {cls.meaning} |")
    return "\n".join(lines) + "\n"


def error_class(code: str) -> type[CodedError]:
    """The class of a code (e.g. one carried by a pydantic custom error)."""
    return ERROR_CLASSES[code]


def validation_error(message: str, field: str | None = None) -> ApiError:
    return ValidationFailed(message, field)


# Custom pydantic error types that are themselves API error codes (raised with
# ``PydanticCustomError(code, message)`` in validators) keep their code instead of becoming
# VALIDATION_ERROR.
SPECIFIC_VALIDATION_CODES = frozenset(
    cls.code
    for cls in (
        PhoneInvalid,
        EmailInvalid,
        InvalidCustomAttribute,
        UserIdentityInvalid,
        InvalidEvent,
        InvalidRule,
    )
)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic reports union and function-validator branches as extra loc parts; drop them.
    parts = [p for p in parts if not p.startswith("function-") and "[" not in p]
    return ".".join(parts) or None


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
