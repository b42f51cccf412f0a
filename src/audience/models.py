"""Base classes for request bodies: camelCase on the wire, unknown fields refused, strict types."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
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
