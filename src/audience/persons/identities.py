"""Identity values: phones to E.164 (``phonenumbers``), emails NFKC-normalised, trimmed and
lower-cased; no identity holds control, zero-width or bidi-override characters
(docs/security.md), so values that look alike are one identity or refused, never two persons.

Plain checks of data, no database: an import's helper process runs them (``read_identity``)
without loading the app."""

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from audience.error_codes import ApiError, IdentityBlocked
from audience.persons.phones import quick_e164

MAX_EXTERNAL_USER_ID = 256
MAX_EMAIL = 255
MAX_VALUES = 100
# Pragmatic address check: one @, no spaces, a dot in the domain, no empty labels.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Placeholder values that name nobody (docs/identity.md), refused as identities.
DEFAULT_BLOCKED = "null,undefined,none,anonymous,unknown,0,-1"


def parse_blocked(text: str) -> frozenset[str]:
    """A comma-separated list, compared trimmed and case-insensitively."""
    return frozenset(value.strip().lower() for value in text.split(",") if value.strip())


_blocked = parse_blocked(DEFAULT_BLOCKED)


def block(values: frozenset[str]) -> None:
    """The blocked values, set at start from the settings (``guardrails.configure``; one set
    per process)."""
    global _blocked
    _blocked = values


def blocked() -> frozenset[str]:
    return _blocked


def is_blocked(value: object) -> bool:
    return isinstance(value, str) and (not value.strip() or value.strip().lower() in _blocked)


def check_not_blocked(fields: dict[str, Any], prefix: str = "") -> None:
    """400 IDENTITY_BLOCKED for an identity value that names nobody (``null``, ``0``, …)."""
    candidates = [("externalUserId", fields.get("external_user_id"))]
    for key in ("phones", "emails"):
        candidates += [(key, value) for value in fields.get(key) or []]
    for name, value in candidates:
        if value is not None and is_blocked(value):
            raise IdentityBlocked(f"{value!r} is not accepted as an identity", prefix + name)


def _invisible(text: str) -> bool:
    """Control (Cc) or format (Cf: zero-width, bidi overrides, soft hyphen, BOM) characters."""
    if text.isascii():  # ASCII has no format characters: only controls to look for (fast)
        return _ASCII_CONTROL.search(text) is not None
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def _refuse_invisible(text: str, field_name: str) -> None:
    if _invisible(text):
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            "Identities may not hold control, zero-width or bidi-override characters",
            field_name,
        )


def normalize_phone(raw: object, field_name: str = "phones") -> str:
    if not isinstance(raw, str) or len(raw) > 64:
        raise ApiError(400, "PHONE_INVALID", f"Invalid phone number {raw!r}", field_name)
    _refuse_invisible(raw, field_name)
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]  # the international call prefix most of the world dials
    if not text.startswith("+"):
        text = "+" + text  # numbers are stored and sent in international form
    known = quick_e164(text)  # the library's answer without its generic parsing
    if known is not None:
        if not known:
            raise ApiError(400, "PHONE_INVALID", f"Invalid phone number {raw!r}", field_name)
        return known
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ApiError(400, "PHONE_INVALID", f"Invalid phone number {raw!r}", field_name) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ApiError(400, "PHONE_INVALID", f"Invalid phone number {raw!r}", field_name)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalize_email(raw: object, field_name: str = "emails") -> str:
    if not isinstance(raw, str):
        raise ApiError(400, "EMAIL_INVALID", f"Invalid email {raw!r}", field_name)
    _refuse_invisible(raw, field_name)
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(text) > MAX_EMAIL or not _EMAIL.match(text):
        raise ApiError(400, "EMAIL_INVALID", f"Invalid email {raw!r}", field_name)
    return text


def check_external_user_id(raw: object, field_name: str = "externalUserId") -> str:
    """Case-sensitive and otherwise kept as sent, so refused when it could hide a twin:
    leading or trailing spaces, invisible characters."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_EXTERNAL_USER_ID:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"externalUserId must be 1 to {MAX_EXTERNAL_USER_ID} characters",
            field_name,
        )
    if raw != raw.strip():
        raise ApiError(
            400, "VALIDATION_ERROR", "externalUserId has leading or trailing spaces", field_name
        )
    _refuse_invisible(raw, field_name)
    return raw


def normalize_phones(values: list[str], field_name: str = "phones") -> list[str]:
    if len(values) > MAX_VALUES:
        raise ApiError(400, "VALIDATION_ERROR", f"At most {MAX_VALUES} phones", field_name)
    return list(dict.fromkeys(normalize_phone(v, field_name) for v in values))


def normalize_emails(values: list[str], field_name: str = "emails") -> list[str]:
    if len(values) > MAX_VALUES:
        raise ApiError(400, "VALIDATION_ERROR", f"At most {MAX_VALUES} emails", field_name)
    return list(dict.fromkeys(normalize_email(v, field_name) for v in values))


@dataclass
class Identity:
    """A normalised set of identity values, as in a personalize request's ``userIdentity``."""

    external_user_id: str | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return self.external_user_id is None and not self.phones and not self.emails


def read_identity(fields: dict[str, Any], prefix: str = "") -> Identity:
    """Normalise the identity fields present in ``fields`` (absent ones stay None/empty)."""
    check_not_blocked(fields, prefix)
    ext = fields.get("external_user_id")
    return Identity(
        external_user_id=check_external_user_id(ext, f"{prefix}externalUserId")
        if ext is not None
        else None,
        phones=normalize_phones(fields.get("phones") or [], f"{prefix}phones"),
        emails=normalize_emails(fields.get("emails") or [], f"{prefix}emails"),
    )
