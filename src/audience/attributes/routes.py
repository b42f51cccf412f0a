"""``/v1/attribute-definitions``: define person- and installation-scope custom attributes."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, model_validator
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from audience.attributes import queries
from audience.attributes.values import NAME_PATTERN
from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.clock import isoformat, utcnow
from audience.errors import ApiError
from audience.models import ApiModel
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


def definition_to_api(row: Row) -> dict[str, Any]:
    return {
        "name": row.name,
        "type": row.type,
        "scope": row.scope,
        "description": row.description,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def _not_found(name: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No attribute definition named '{name}'")


@router.post("", status_code=201)
def create_definition(body: AttributeDefinitionCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    now = utcnow()
    try:
        with db.write() as conn:
            queries.insert_definition(conn, **body.model_dump(), created_at=now, updated_at=now)
            row = queries.find(conn, body.name)
    except IntegrityError:
        raise ApiError(
            409, "DEFINITION_EXISTS", f"Attribute '{body.name}' is already defined", "name"
        ) from None
    assert row is not None
    return definition_to_api(row)


@router.get("")
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


@router.get("/{name}")
def read_definition(name: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        row = queries.find(conn, name)
    if row is None:
        raise _not_found(name)
    return definition_to_api(row)


@router.patch("/{name}")
def update_definition(
    name: str, body: AttributeDefinitionUpdate, _key: WriteKey, db: Db
) -> dict[str, Any]:
    with db.write() as conn:
        if queries.find(conn, name) is None:
            raise _not_found(name)
        if "description" in body.model_fields_set:
            queries.update_definition(conn, name, description=body.description, updated_at=utcnow())
        row = queries.find(conn, name)
    assert row is not None
    return definition_to_api(row)
