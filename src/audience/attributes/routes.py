"""``/v1/attribute-definitions``: define person- and installation-scope custom attributes."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, model_validator

from audience.attributes import queries, service
from audience.attributes.schemas import AttributeDefinition
from audience.attributes.service import definition_to_api
from audience.attributes.values import NAME_PATTERN
from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.models import ApiModel, Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, page

router = APIRouter(prefix="/v1/attribute-definitions", tags=["attribute-definitions"])

AttributeType = Literal["string", "number", "boolean", "date", "datetime", "list"]
Scope = Literal["person", "installation"]
Description = Annotated[str | None, Field(max_length=1000)]


class AttributeDefinitionCreate(ApiModel):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    type: AttributeType
    scope: Scope
    description: Description = None

    @model_validator(mode="after")
    def _list_is_person_scope(self) -> "AttributeDefinitionCreate":
        if self.type == "list" and self.scope != "person":
            raise ValueError("type 'list' is only allowed for person scope")
        return self


class AttributeDefinitionUpdate(ApiModel):
    description: Description = None


@router.post("", **answers(AttributeDefinition, 201))
def create_definition(body: AttributeDefinitionCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return definition_to_api(service.create_definition(conn, body.model_dump()))


@router.get("", **answers(Page[AttributeDefinition]))
def list_definitions(
    _key: ReadKey,
    db: Db,
    scope: Scope | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_definitions(conn, scope, after, limit)
    return page(rows, limit, lambda row: [row.name], definition_to_api)


@router.get("/{name}", **answers(AttributeDefinition))
def read_definition(name: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return definition_to_api(service.get_definition(conn, name))


@router.patch("/{name}", **answers(AttributeDefinition))
def update_definition(
    name: str, body: AttributeDefinitionUpdate, _key: WriteKey, db: Db
) -> dict[str, Any]:
    with db.write() as conn:
        if "description" in body.model_fields_set:
            return definition_to_api(service.update_description(conn, name, body.description))
        return definition_to_api(service.get_definition(conn, name))
