"""Answers of ``/v1/attribute-definitions`` (see ``audience.models.answers``)."""

from typing import Literal

from audience.models import ResponseModel, Timestamp


class AttributeDefinition(ResponseModel):
    name: str
    type: Literal["string", "number", "boolean", "date", "datetime", "list"]
    scope: Literal["person", "installation"]
    description: str | None
    created_at: Timestamp
    updated_at: Timestamp
