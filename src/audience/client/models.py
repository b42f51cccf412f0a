"""Shapes of the server's answers (see /openapi.json), for type checkers and readers.

Answers stay plain dicts (what the server sent, camelCase names), described by TypedDicts:
no field is lost if the server adds one, and nothing is copied on the hot paths.
"""

from typing import Any, TypedDict


class Page(TypedDict):
    items: list[dict[str, Any]]
    nextCursor: str | None


class Application(TypedDict, total=False):
    id: str
    name: str
    applicationCode: str
    requireUserJwt: bool
    jwtSecret: str
    createdAt: str


class ApiKey(TypedDict, total=False):
    id: str
    name: str
    scopes: list[str]
    key: str
    createdAt: str


class Installation(TypedDict, total=False):
    pushRegistrationId: str
    applicationCode: str
    platform: str
    personId: str
    isPrimaryDevice: bool
    pushServiceType: str | None
    pushServiceToken: str | None
    customAttributes: dict[str, Any]
    createdAt: str
    updatedAt: str
    uninstalledAt: str | None


class Person(TypedDict, total=False):
    id: str
    type: str
    externalUserId: str | None
    phones: list[str]
    emails: list[str]
    firstName: str | None
    lastName: str | None
    tags: list[str]
    customAttributes: dict[str, Any]
    installations: list[dict[str, Any]]
    createdAt: str
    updatedAt: str


class Event(TypedDict, total=False):
    id: str
    personId: str
    pushRegistrationId: str | None
    definitionId: str
    occurredAt: str
    receivedAt: str
    eventId: str | None
    properties: dict[str, Any]


class Segment(TypedDict, total=False):
    id: str
    name: str
    description: str | None
    rule: dict[str, Any]
    size: int


class Target(TypedDict):
    pushRegistrationId: str
    pushServiceType: str | None
    pushServiceToken: str | None
    personId: str
