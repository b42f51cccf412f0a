"""``AdminClient``: the server API (API key) with typed answers and paging iterators."""

from collections.abc import Iterator
from types import TracebackType
from typing import Any, cast

import httpx

from audience.client.models import (
    ApiKey,
    Application,
    Event,
    Installation,
    Page,
    Person,
    Segment,
    Target,
)
from audience.client.transport import RetryPolicy, Transport

PAGE_SIZE = 500


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the ones left out; booleans as the API spells them."""
    return {
        k: (str(v).lower() if isinstance(v, bool) else v)
        for k, v in values.items()
        if v is not None
    }


class AdminClient:
    """One API key against one server. Lists are iterators that follow ``nextCursor``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._transport = Transport(base_url, api_key, http, retry)
        self._page_size = page_size

    def _call(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        return self._transport.request(method, path, json=json, params=_params(**params))

    def _pages(self, method: str, path: str, json: Any = None, **params: Any) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            page = cast(
                Page, self._call(method, path, json, cursor=cursor, limit=self._page_size, **params)
            )
            yield from page["items"]
            cursor = page["nextCursor"]
            if not cursor:
                return

    # --- applications and keys ---------------------------------------------------------------

    def create_app(self, name: str, require_user_jwt: bool = False) -> Application:
        """Answers the ``applicationCode`` and, this once, the ``jwtSecret``."""
        return cast(
            Application,
            self._call("POST", "/v1/apps", {"name": name, "requireUserJwt": require_user_jwt}),
        )

    def apps(self) -> Iterator[Application]:
        return self._pages("GET", "/v1/apps")

    def app(self, app_id: str) -> Application:
        return cast(Application, self._call("GET", f"/v1/apps/{app_id}"))

    def update_app(self, app_id: str, **fields: Any) -> Application:
        return cast(Application, self._call("PATCH", f"/v1/apps/{app_id}", fields))

    def rotate_jwt_secret(self, app_id: str) -> Application:
        return cast(Application, self._call("POST", f"/v1/apps/{app_id}/jwt-secret"))

    def create_api_key(self, name: str, scopes: list[str]) -> ApiKey:
        return cast(ApiKey, self._call("POST", "/v1/api-keys", {"name": name, "scopes": scopes}))

    def api_keys(self) -> Iterator[ApiKey]:
        return self._pages("GET", "/v1/api-keys")

    def revoke_api_key(self, key_id: str) -> None:
        self._call("DELETE", f"/v1/api-keys/{key_id}")

    # --- persons -----------------------------------------------------------------------------

    def create_person(self, **fields: Any) -> Person:
        return cast(Person, self._call("POST", "/v1/persons", fields))

    def persons(
        self,
        type: str | None = None,
        tag: str | None = None,
        external_user_id: str | None = None,
        updated_since: str | None = None,
    ) -> Iterator[Person]:
        return self._pages(
            "GET",
            "/v1/persons",
            type=type,
            tag=tag,
            externalUserId=external_user_id,
            updatedSince=updated_since,
        )

    def person(self, person_id: str) -> Person:
        return cast(Person, self._call("GET", f"/v1/persons/{person_id}"))

    def lookup_person(
        self,
        external_user_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> Person:
        """By exactly one identity; ``NotFoundError`` with ``PERSON_NOT_FOUND`` if none."""
        return cast(
            Person,
            self._call(
                "GET",
                "/v1/persons/lookup",
                externalUserId=external_user_id,
                email=email,
                phone=phone,
            ),
        )

    def update_person(self, person_id: str, **fields: Any) -> Person:
        return cast(Person, self._call("PATCH", f"/v1/persons/{person_id}", fields))

    def delete_person(self, person_id: str) -> None:
        self._call("DELETE", f"/v1/persons/{person_id}")

    def change_tags(
        self, person_id: str, add: list[str] | None = None, remove: list[str] | None = None
    ) -> Person:
        body = {"add": add or [], "remove": remove or []}
        return cast(Person, self._call("POST", f"/v1/persons/{person_id}/tags", body))

    def person_installations(
        self, person_id: str, include_uninstalled: bool = False
    ) -> list[Installation]:
        page = self._call(
            "GET", f"/v1/persons/{person_id}/installations", includeUninstalled=include_uninstalled
        )
        return cast(list[Installation], page["items"])

    def person_events(
        self,
        person_id: str,
        definition_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        push_registration_id: str | None = None,
    ) -> Iterator[Event]:
        """Newest first, merged-in persons' events included; ``since``/``until`` inclusive."""
        params = {"from": since, "to": until}
        return self._pages(
            "GET",
            f"/v1/persons/{person_id}/events",
            definitionId=definition_id,
            pushRegistrationId=push_registration_id,
            **params,
        )

    def record_event(
        self,
        person_id: str,
        definition_id: str,
        properties: dict[str, Any] | None = None,
        date: str | None = None,
        event_id: str | None = None,
    ) -> Event:
        body = {"definitionId": definition_id, "properties": properties or {}}
        if date:
            body["date"] = date
        if event_id:
            body["eventId"] = event_id
        return cast(Event, self._call("POST", f"/v1/persons/{person_id}/events", body))

    def person_changes(self, person_id: str) -> Iterator[dict[str, Any]]:
        return self._pages("GET", f"/v1/persons/{person_id}/changes")

    def export_person(self, person_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", f"/v1/persons/{person_id}/export"))

    def tags(self) -> Iterator[dict[str, Any]]:
        """``{"tag", "count"}`` by tag."""
        return self._pages("GET", "/v1/tags")

    # --- installations -----------------------------------------------------------------------

    def installation(self, push_registration_id: str) -> Installation:
        return cast(Installation, self._call("GET", f"/v1/installations/{push_registration_id}"))

    def uninstall(self, push_registration_id: str) -> None:
        """R4: e.g. when the push provider reports the token dead."""
        self._call("DELETE", f"/v1/installations/{push_registration_id}")

    # --- definitions -------------------------------------------------------------------------

    def define_attribute(
        self, name: str, type: str, scope: str = "person", description: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "type": type, "scope": scope, "description": description}
        return cast(dict[str, Any], self._call("POST", "/v1/attribute-definitions", body))

    def attribute_definitions(self, scope: str | None = None) -> Iterator[dict[str, Any]]:
        return self._pages("GET", "/v1/attribute-definitions", scope=scope)

    def define_event(
        self,
        definition_id: str,
        properties: dict[str, str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        body = {"id": definition_id, "properties": properties or {}, "description": description}
        return cast(dict[str, Any], self._call("POST", "/v1/event-definitions", body))

    def event_definitions(self, active: bool | None = None) -> Iterator[dict[str, Any]]:
        return self._pages("GET", "/v1/event-definitions", active=active)

    def update_event_definition(self, definition_id: str, **fields: Any) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._call("PATCH", f"/v1/event-definitions/{definition_id}", fields)
        )

    # --- segments and targeting --------------------------------------------------------------

    def create_segment(
        self, name: str, rule: dict[str, Any], description: str | None = None
    ) -> Segment:
        body = {"name": name, "rule": rule, "description": description}
        return cast(Segment, self._call("POST", "/v1/segments", body))

    def segments(self) -> Iterator[Segment]:
        return self._pages("GET", "/v1/segments")

    def segment(self, segment_id: str) -> Segment:
        return cast(Segment, self._call("GET", f"/v1/segments/{segment_id}"))

    def update_segment(self, segment_id: str, **fields: Any) -> Segment:
        return cast(Segment, self._call("PATCH", f"/v1/segments/{segment_id}", fields))

    def delete_segment(self, segment_id: str) -> None:
        self._call("DELETE", f"/v1/segments/{segment_id}")

    def segment_count(self, segment_id: str) -> int:
        return int(self._call("GET", f"/v1/segments/{segment_id}/count")["count"])

    def segment_members(self, segment_id: str) -> Iterator[dict[str, Any]]:
        return self._pages("GET", f"/v1/segments/{segment_id}/members")

    def preview_segment(self, rule: dict[str, Any]) -> dict[str, Any]:
        """``{"count", "sample"}`` without saving the rule."""
        return cast(dict[str, Any], self._call("POST", "/v1/segments/preview", {"rule": rule}))

    def resolve(
        self,
        segment_id: str | None = None,
        rule: dict[str, Any] | None = None,
        application_code: str | None = None,
        platform: str | None = None,
        primary_device_only: bool = False,
        push_registration_enabled_only: bool = False,
        notifications_enabled_only: bool = False,
    ) -> Iterator[Target]:
        """Deliverable installations of a segment or rule, page by page."""
        body = {
            "segmentId": segment_id,
            "rule": rule,
            "applicationCode": application_code,
            "platform": platform,
            "primaryDeviceOnly": primary_device_only,
            "pushRegistrationEnabledOnly": push_registration_enabled_only,
            "notificationsEnabledOnly": notifications_enabled_only,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return self._pages("POST", "/v1/audiences/resolve", body)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
