"""Server API for identity operations (docs/identity.md): merge history, operator merge, undo."""

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy import Connection

from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.clock import utcnow
from audience.models import ApiModel
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, page
from audience.persons import merge_journal, queries, service
from audience.persons.audit import Audit
from audience.persons.operator_merge import DryRun, operator_merge
from audience.persons.routes import write_identities
from audience.persons.undo import undo_merge

router = APIRouter(tags=["identity"])


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class MergeRequest(ApiModel):
    person_ids: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(min_length=2, max_length=2)
    ]
    dry_run: bool = False


class Conflict(Answer):
    field: str
    kept: Any
    dropped: Any


class MergeAnswer(Answer):
    survivor: dict[str, Any]
    merged_person_id: str
    merge_id: str | None
    conflicts: list[Conflict]
    dry_run: bool


class UndoAnswer(Answer):
    survivor: dict[str, Any]
    restored: dict[str, Any]


class MergeItem(Answer):
    merge_id: str
    survivor_id: str
    merged_person_id: str
    kind: str
    created_at: str
    undone_at: str | None


class MergeList(Answer):
    items: list[MergeItem]
    next_cursor: str | None


@router.post("/v1/persons/merge", response_model=MergeAnswer, response_model_by_alias=True)
def merge_two_persons(body: MergeRequest, key: WriteKey, db: Db) -> dict[str, Any]:
    """The earlier created person survives; ``dryRun`` answers the same and changes nothing."""
    first, second = body.person_ids

    def work(conn: Connection) -> dict[str, Any]:
        return operator_merge(conn, first, second, body.dry_run, Audit(key.source, utcnow()))

    try:
        return write_identities(db, work)
    except DryRun as preview:
        return preview.answer


@router.get(
    "/v1/persons/{person_id}/merges", response_model=MergeList, response_model_by_alias=True
)
def person_merges(
    person_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Merges this profile took part in, as survivor or as merged person, newest first."""
    before = decode_after(cursor, int)
    with db.read() as conn:
        resolved = service.live_person_id(conn, person_id)
        ids = queries.profile_ids(conn, resolved)
        rows = merge_journal.list_for(conn, ids, before, limit)
    return page(rows, limit, lambda row: [row.id], merge_journal.merge_to_api)


@router.post("/v1/merges/{merge_id}/undo", response_model=UndoAnswer, response_model_by_alias=True)
def undo(merge_id: str, key: WriteKey, db: Db) -> dict[str, Any]:
    def work(conn: Connection) -> dict[str, Any]:
        holder_id, restored_id = undo_merge(conn, merge_id, Audit(key.source, utcnow()))
        return {
            "survivor": service.person_to_api(conn, service.get_person(conn, holder_id)),
            "restored": service.person_to_api(conn, service.get_person(conn, restored_id)),
        }

    return write_identities(db, work)
