"""Request bodies for persons: flat person fields, identities, tags."""

from typing import Annotated, Any, Literal

from pydantic import Field

from audience.events.schemas import Event
from audience.installations.schemas import Installation, InstallationSummary
from audience.models import ApiModel, ResponseModel, Timestamp

Tag = Annotated[str, Field(pattern=r"^[^\s].{0,254}$")]
Tags = Annotated[list[Tag], Field(max_length=100)]
Birthday = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]


class PersonAttributes(ApiModel):
    """Standard and custom attributes (no identities): what ``userAttributes`` may carry."""

    first_name: Annotated[str, Field(max_length=255)] | None = None
    last_name: Annotated[str, Field(max_length=255)] | None = None
    middle_name: Annotated[str, Field(max_length=50)] | None = None
    gender: Literal["Male", "Female"] | None = None
    birthday: Birthday | None = None
    custom_attributes: dict[str, Any] | None = None


class PersonFields(PersonAttributes):
    """Every writable person field; identities are checked and normalised by the service."""

    external_user_id: str | None = None
    phones: Annotated[list[str], Field(max_length=100)] | None = None
    emails: Annotated[list[str], Field(max_length=100)] | None = None


class TagChanges(ApiModel):
    add: Tags = []
    remove: Tags = []


class PersonCreate(PersonFields):
    tags: Tags | None = None


class PersonUpdate(PersonFields):
    """PATCH: tags as a full list or as ``{"add": [...], "remove": [...]}``; ``asOf`` is when
    the change was made (fields changed on the server since are kept, docs/identity.md)."""

    tags: Tags | TagChanges | None = None
    as_of: Annotated[str, Field(max_length=40)] | None = None


class UserIdentity(ApiModel):
    external_user_id: str | None = None
    phones: Annotated[list[str], Field(max_length=100)] | None = None
    emails: Annotated[list[str], Field(max_length=100)] | None = None


class UserAttributes(PersonAttributes):
    tags: Tags | TagChanges | None = None


class PersonalizeRequest(ApiModel):
    user_identity: UserIdentity
    user_attributes: UserAttributes | None = None
    force_depersonalize: bool | None = None
    set_device_as_primary: bool | None = None


class PrimaryDevice(ApiModel):
    is_primary_device: bool


# --- answers (documented in /openapi.json; see audience.models.answers) ----------------------


class Person(ResponseModel):
    """A person as the API shows it (docs/rules.md, Model); ``installations`` lists its live
    devices."""

    id: str
    type: Literal["ANONYMOUS", "IDENTIFIED"]
    external_user_id: str | None
    phones: list[str]
    emails: list[str]
    first_name: str | None
    last_name: str | None
    middle_name: str | None
    gender: Literal["Male", "Female"] | None
    birthday: str | None
    tags: list[str]
    custom_attributes: dict[str, Any]
    installations: list[InstallationSummary]
    created_at: Timestamp
    updated_at: Timestamp
    # in PATCH answers that carried ``asOf``: the fields kept because they changed later
    ignored_fields: list[str] | None = None


class PersonTags(ResponseModel):
    tags: list[str]


class TagCount(ResponseModel):
    tag: str
    count: int


class Change(ResponseModel):
    """One audit record (R9): who changed which field of a person, from what to what."""

    id: str
    person_id: str
    changed_at: Timestamp
    source: str
    field: str
    old_value: Any
    new_value: Any


class PersonExport(ResponseModel):
    """Everything stored about a person (R10)."""

    person: Person
    merged_ids: list[str]
    installations: list[Installation]
    events: list[Event]
    changes: list[Change]
    exported_at: Timestamp
