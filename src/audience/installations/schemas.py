"""Request bodies for installations: every system field, all optional on update."""

from typing import Annotated, Any, Literal

from pydantic import Field

from audience.models import ApiModel, ResponseModel, Timestamp

Text128 = Annotated[str, Field(max_length=128)]
Platform = Literal["Android", "iOS"]
PushServiceType = Literal["Firebase", "APNS", "HMS"]
# BCP 47 language tag, loosely: a language subtag and optional region/script/variant subtags.
LanguageTag = Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", max_length=64)]
TimezoneOffset = Annotated[int, Field(ge=-1440, le=1440)]


class InstallationFields(ApiModel):
    """Fields an app may send; ``null`` clears a nullable one."""

    sdk_version: Text128 | None = None
    os_version: Text128 | None = None
    device_manufacturer: Text128 | None = None
    device_model: Text128 | None = None
    application_version: Text128 | None = None
    app_version: Text128 | None = None
    os_language: LanguageTag | None = None
    device_timezone_offset: TimezoneOffset | None = None
    device_name: Annotated[str, Field(max_length=255)] | None = None
    push_service_type: PushServiceType | None = None
    push_service_token: Annotated[str, Field(max_length=4096)] | None = None
    push_registration_enabled: bool | None = None
    registrations_enabled: bool | None = None
    notifications_enabled: bool | None = None
    geofencing_enabled: bool | None = None
    device_secure: bool | None = None
    is_primary_device: bool | None = None
    custom_attributes: dict[str, Any] | None = None


class InstallationCreate(InstallationFields):
    platform: Platform


class InstallationUpdate(InstallationFields):
    platform: Platform | None = None


# Columns that must not be cleared with null (they have a value on every installation).
NOT_NULLABLE = frozenset(
    {"platform", "push_registration_enabled", "registrations_enabled", "is_primary_device"}
)


# --- answers (documented in /openapi.json; see audience.models.answers) ----------------------


class Installation(ResponseModel):
    """An installation as the API shows it (docs/rules.md, Model); mobile lists omit
    ``pushServiceToken``."""

    push_registration_id: str
    # null in mobile answers for another application's devices (docs/security.md)
    application_code: str | None
    platform: Platform
    sdk_version: str | None
    os_version: str | None
    device_manufacturer: str | None
    device_model: str | None
    application_version: str | None
    app_version: str | None
    os_language: str | None
    device_timezone_offset: int | None
    device_name: str | None
    push_service_type: PushServiceType | None
    push_service_token: str | None = None
    push_registration_enabled: bool
    registrations_enabled: bool
    notifications_enabled: bool | None
    geofencing_enabled: bool | None
    device_secure: bool | None
    is_primary_device: bool
    custom_attributes: dict[str, Any]
    # null once the person was deleted (R10): the installation stays, uninstalled
    person_id: str | None
    created_at: Timestamp
    updated_at: Timestamp
    uninstalled_at: Timestamp | None


class InstallationSummary(ResponseModel):
    """A device as listed on its person."""

    push_registration_id: str
    # null in mobile answers for another application's devices (docs/security.md)
    application_code: str | None
    platform: Platform
    is_primary_device: bool
    device_model: str | None
    device_manufacturer: str | None
    os_version: str | None
    application_version: str | None
    created_at: Timestamp
    updated_at: Timestamp
