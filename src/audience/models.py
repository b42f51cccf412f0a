"""Base classes for request bodies and documented answers: camelCase on the wire; request
bodies refuse unknown fields and take strict types."""

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A request body. ``strict`` so ``"1"`` is not a number and ``1`` not a boolean."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, strict=True
    )

    def sent(self) -> dict[str, object]:
        """Only the fields the client sent (snake_case), for merge-style updates."""
        return self.model_dump(include=self.model_fields_set)


Name = Annotated[str, Field(min_length=1, max_length=255)]


class ResponseModel(BaseModel):
    """An answer's documented shape. Handlers keep returning plain dicts (see ``answers``):
    these models describe them in ``/openapi.json`` and the test suite checks every answer
    against them, so a field added to a handler without its model fails a test."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An ISO 8601 UTC time with ``Z``, as ``clock.isoformat`` writes it."""

T = TypeVar("T")


class Page(ResponseModel, Generic[T]):
    """Every list: ``{"items": [...], "nextCursor": "…" | null}`` (see ``pagination.page``)."""

    items: list[T]
    next_cursor: str | None


class Count(ResponseModel):
    count: int


# The runtime type of every documented answer: a plain dict, serialised as before (no model
# validation on the request path); its schema comes from the model given to ``answers``.
_PlainJson = Annotated[Any, WithJsonSchema({})]


def answers(model: Any, status: int = 200, also: tuple[int, ...] = ()) -> dict[str, Any]:
    """Route keyword arguments declaring ``model`` as the answer's schema for ``status`` (and
    the statuses in ``also``) without re-validating what the handler returns: documentation at
    no cost per request (measured: docs/decisions.md, "Typed answers")."""
    return {
        "response_model": _PlainJson,
        "status_code": status,
        "responses": {code: {"model": model} for code in (status, *also)},
    }
