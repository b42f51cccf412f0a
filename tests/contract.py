"""Every JSON answer the tests receive is checked against the schema ``/openapi.json``
declares for that operation and status (see ``audience.models.answers``): the documentation
cannot drift from the code without a test failing."""

import json
import re
from typing import Any

import httpx
import jsonschema_rs
from fastapi import FastAPI


class Contract:
    """The answers one app documents, by method, path template and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document.get("components", {})
        self.validators: dict[str, Any] = {}
        templates = sorted(document["paths"], key=lambda path: path.count("{"))  # literal first
        self.paths = [
            (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"), document["paths"][path])
            for path in templates
        ]

    def schema_for(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        """The declared JSON schema; ``None`` when the path is not part of the API."""
        for pattern, operations in self.paths:
            if pattern.match(path) and method.lower() in operations:
                responses = operations[method.lower()]["responses"]
                answer = responses.get(str(status)) or responses.get("default") or {}
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                assert schema, f"{method} {path} -> {status}: not documented in /openapi.json"
                return dict(schema)
        return None

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self.validators:
            document = schema | {"components": self.components}
            self.validators[key] = jsonschema_rs.validator_for(document)
        return self.validators[key]

    def check(self, response: httpx.Response) -> None:
        if response.status_code == 204 or response.status_code >= 500:
            return
        media = response.headers.get("content-type", "").split(";")[0]
        if media and media != "application/json":  # CSV and NDJSON streams (exports)
            return
        if "content-length" not in response.headers:  # streamed: reading it here would use it up
            return
        request = response.request
        schema = self.schema_for(request.method, request.url.path, response.status_code)
        if schema is None:
            return
        response.read()
        validator = self._validator(schema)
        errors = [
            f"{'/'.join(map(str, error.instance_path))}: {error.message}"
            for error in validator.iter_errors(response.json())
        ]
        where = f"{request.method} {request.url.path} -> {response.status_code}"
        assert not errors, f"{where}: answer does not match /openapi.json: {errors[:3]}"


_contracts: dict[str, Contract] = {}


def watch(client: httpx.Client, app: FastAPI) -> None:
    """Check every answer ``client`` receives from ``app`` against its documentation (built
    once per test session: every test's app serves the same document)."""
    if "app" not in _contracts:
        _contracts["app"] = Contract(app.openapi())
    client.event_hooks["response"].append(_contracts["app"].check)
