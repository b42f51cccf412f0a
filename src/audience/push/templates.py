"""Title and body templates: Jinja2 in a sandbox, over ``person`` and ``installation``.

Templates are compiled at create time so a syntax error is a 400 then, not a failed send
later. A missing value (an unset attribute, a typo in a name) renders empty, never fails, and
``None`` renders empty too: a message reads "Hi !" rather than "Hi None!".
"""

from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Row

from audience.clock import isoformat
from audience.errors import validation_error

_ENV = SandboxedEnvironment(
    undefined=ChainableUndefined,
    autoescape=False,
    finalize=lambda value: "" if value is None else value,
)
MAX_TEMPLATE_LENGTH = 4096


@dataclass(frozen=True)
class CompiledContent:
    title: Template
    body: Template
    # Whether rendering needs the person's and installation's data at all (a static text does
    # not: it is rendered once for the whole audience).
    personal: bool


def compile_content(title: str, body: str) -> CompiledContent:
    """Parse both templates; raises a 400 naming ``notification.title`` or ``.body``."""
    compiled: dict[str, Template] = {}
    personal = False
    for field, source in (("title", title), ("body", body)):
        if len(source) > MAX_TEMPLATE_LENGTH:
            raise validation_error(
                f"notification.{field} is longer than {MAX_TEMPLATE_LENGTH} characters",
                f"notification.{field}",
            )
        try:
            parsed = _ENV.parse(source)
            compiled[field] = _ENV.from_string(source)
        except TemplateSyntaxError as exc:
            raise validation_error(
                f"notification.{field} is not a valid template: {exc.message} (line {exc.lineno})",
                f"notification.{field}",
            ) from None
        except (RecursionError, MemoryError, ValueError):  # e.g. absurdly deep nesting
            raise validation_error(
                f"notification.{field} is not a valid template", f"notification.{field}"
            ) from None
        personal = personal or bool(meta.find_undeclared_variables(parsed))
    return CompiledContent(compiled["title"], compiled["body"], personal)


def render(compiled: CompiledContent, context: dict[str, Any]) -> tuple[str, str]:
    """The rendered title and body; a template failing at runtime (a sandbox refusal, a
    division by zero) renders empty rather than stopping the whole message."""
    return _render_one(compiled.title, context), _render_one(compiled.body, context)


def _render_one(template: Template, context: dict[str, Any]) -> str:
    try:
        return template.render(context)
    except Exception:  # the sandbox's SecurityError or any error inside the template
        return ""


def person_context(row: Row | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "id": row.id,
        "type": row.type,
        "externalUserId": row.external_user_id,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "middleName": row.middle_name,
        "gender": row.gender,
        "birthday": row.birthday,
        "customAttributes": dict(row.custom_attributes or {}),
        "createdAt": isoformat(row.created_at),
    }


def installation_context(row: Row | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "pushRegistrationId": row.push_registration_id,
        "platform": row.platform,
        "osLanguage": row.os_language,
        "osVersion": row.os_version,
        "applicationVersion": row.application_version,
        "appVersion": row.app_version,
        "deviceManufacturer": row.device_manufacturer,
        "deviceModel": row.device_model,
        "deviceName": row.device_name,
        "deviceTimezoneOffset": row.device_timezone_offset,
        "isPrimaryDevice": row.is_primary_device,
        "customAttributes": dict(row.custom_attributes or {}),
    }
