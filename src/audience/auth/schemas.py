"""Answers of ``/v1/api-keys`` (see ``audience.models.answers``)."""

from typing import Literal

from audience.models import ResponseModel, Timestamp


class ApiKey(ResponseModel):
    id: str
    name: str
    scopes: list[Literal["read", "write", "admin"]]
    prefix: str
    created_at: Timestamp
    revoked_at: Timestamp | None


class CreatedApiKey(ApiKey):
    """The create answer: the only time the key itself is shown."""

    key: str
