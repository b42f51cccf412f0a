"""Answers of the segment and audience endpoints (see ``audience.models.answers``)."""

from typing import Any, Literal

from audience.models import ResponseModel, Timestamp


class Segment(ResponseModel):
    id: str
    name: str
    description: str | None
    rule: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp
    size: int | None = None
    # "building" until the membership of a new or changed rule is stored (docs/decisions.md)
    status: Literal["building", "ready"]


class PersonSummary(ResponseModel):
    id: str
    type: str
    external_user_id: str | None
    first_name: str | None
    last_name: str | None
    created_at: Timestamp
    updated_at: Timestamp


class Member(PersonSummary):
    entered_at: Timestamp


class Preview(ResponseModel):
    count: int
    sample: list[PersonSummary]


class Target(ResponseModel):
    """A deliverable installation of an audience."""

    push_registration_id: str
    push_service_type: str | None
    push_service_token: str | None
    person_id: str
