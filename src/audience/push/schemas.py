"""Request and response bodies of the push API (docs/push.md)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from audience.models import ApiModel

MAX_IDS = 10_000
IdList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=MAX_IDS)
]
Text = Annotated[str, Field(max_length=4096)]


class FcmCredentialsBody(ApiModel):
    service_account: dict[str, Any]


class ApnsCredentialsBody(ApiModel):
    key_id: Annotated[str, Field(min_length=1, max_length=32)]
    team_id: Annotated[str, Field(min_length=1, max_length=32)]
    bundle_id: Annotated[str, Field(min_length=1, max_length=255)]
    private_key: Annotated[str, Field(min_length=1, max_length=8192)]
    environment: Literal["production", "sandbox"] = "production"


class Audience(ApiModel):
    segment_id: str | None = None
    person_ids: IdList | None = None
    external_user_ids: IdList | None = None
    push_registration_ids: IdList | None = None
    rule: dict[str, Any] | None = None
    platform: Literal["Android", "iOS"] | None = None
    primary_device_only: bool = False
    notifications_enabled_only: bool = False
    # Always applied to sends (§13); accepted so a resolve request's flags can be reused.
    push_registration_enabled_only: bool = True

    @model_validator(mode="after")
    def _one_selector(self) -> "Audience":
        chosen = [
            name
            for name in (
                "segment_id",
                "person_ids",
                "external_user_ids",
                "push_registration_ids",
                "rule",
            )
            if getattr(self, name) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one of segmentId, personIds, externalUserIds, "
                "pushRegistrationIds and rule"
            )
        return self


class Notification(ApiModel):
    title: Text
    body: Text


class MessageCreate(ApiModel):
    application_code: Annotated[str, Field(min_length=1, max_length=64)]
    audience: Audience
    notification: Notification
    data: dict[str, Any] | None = None
    ttl_seconds: Annotated[int, Field(ge=0, le=28 * 24 * 3600)] | None = None
    collapse_key: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    send_at: Annotated[datetime, Field(strict=False)] | None = None

    def to_fields(self) -> dict[str, Any]:
        """The camelCase dict the service works on (also what a flow's step passes)."""
        fields = self.model_dump(by_alias=True, exclude_none=True, exclude={"send_at"})
        fields["sendAt"] = self.send_at
        return fields


# Responses keep the wire's camelCase names as field names.


class FcmInfo(BaseModel):
    configured: bool
    projectId: str
    clientEmail: str
    updatedAt: str


class ApnsInfo(BaseModel):
    configured: bool
    keyId: str
    teamId: str
    bundleId: str
    environment: str
    updatedAt: str


class CredentialsSummary(BaseModel):
    fcm: FcmInfo | None
    apns: ApnsInfo | None


class MessageCreated(BaseModel):
    id: str
    status: str


class MessageCounts(BaseModel):
    targeted: int
    sent: int
    failed: int
    invalidTokens: int


class MessageOut(BaseModel):
    id: str
    status: Literal["queued", "sending", "done", "canceled"]
    applicationCode: str
    counts: MessageCounts
    createdAt: str
    sendAt: str | None
    audience: dict[str, Any] | None = None
    notification: dict[str, str] | None = None
    data: dict[str, Any] | None = None
    ttlSeconds: int | None = None
    collapseKey: str | None = None


class MessagePage(BaseModel):
    items: list[MessageOut]
    nextCursor: str | None


class DeliveryOut(BaseModel):
    pushRegistrationId: str
    personId: str | None
    status: Literal["pending", "sending", "sent", "failed", "invalid_token", "canceled"]
    attempts: int
    updatedAt: str
    error: str | None = None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    nextCursor: str | None
