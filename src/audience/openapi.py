"""``/openapi.json``: FastAPI's document, with the answers this API really gives.

FastAPI documents a 422 ``HTTPValidationError`` on every operation, but every error here is
400+ in the one shape of ``audience.errors.ErrorBody`` (docs/api.md, "Errors"). This replaces
the 422 with that shape: ``400`` on every operation (validation, unknown query parameters) and
``default`` for the other statuses an operation may answer (401, 403, 404, 409, 410, 413,
429, ...; docs/errors.md lists the codes).
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from audience.bare_routes import BODY_MODELS
from audience.errors import ErrorBody

_REF_TEMPLATE = "#/components/schemas/{model}"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_RESPONSE = {
    "description": "Error",
    "content": {"application/json": {"schema": _ERROR_REF}},
}
_UNUSED = ("HTTPValidationError", "ValidationError")


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in schema.get("paths", {}).values() for op in path.values()]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _UNUSED:
        components.pop(name, None)
    error_schema = ErrorBody.model_json_schema(ref_template=_REF_TEMPLATE)
    components.update(error_schema.pop("$defs", {}), ErrorBody=error_schema)
    for name, model in BODY_MODELS.items():
        body_schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
        for def_name, definition in body_schema.pop("$defs", {}).items():
            components.setdefault(def_name, definition)
        components.setdefault(name, body_schema)
    for operation in _operations(schema):
        responses = operation.setdefault("responses", {})
        responses.pop("422", None)
        for answer in responses.values():
            for content in answer.get("content", {}).values():
                found = content.get("schema", {})
                if "$ref" in found:  # FastAPI adds a generated title beside the reference
                    content["schema"] = {"$ref": found["$ref"]}
        responses.setdefault("400", _ERROR_RESPONSE)
        responses.setdefault("default", _ERROR_RESPONSE)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
