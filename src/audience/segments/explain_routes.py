"""``GET /v1/segments/{id}/explain?personId=`` (docs/identity.md)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from audience.auth.dependencies import Db, ReadKey
from audience.persons.service import get_person
from audience.segments import service
from audience.segments.explain import Explainer

router = APIRouter(tags=["segments"])


class Explanation(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    segment_id: str
    person_id: str
    member: bool
    rule: dict[str, Any]


@router.get(
    "/v1/segments/{segment_id}/explain", response_model=Explanation, response_model_by_alias=True
)
def explain_segment(
    segment_id: str,
    _key: ReadKey,
    db: Db,
    person_id: Annotated[str, Query(alias="personId", max_length=64)],
) -> dict[str, Any]:
    """The segment's rule with ``matched`` on every node and ``actual`` on every condition;
    ``member`` is the verdict of the whole rule, as stored membership has it."""
    with db.read() as conn:
        segment = service.get_segment(conn, segment_id)
        person = get_person(conn, person_id)
        tree = Explainer(conn, person).explain(segment.rule, service.parse(conn, segment.rule))
    return {"segmentId": segment.id, "personId": person.id, "member": tree["matched"], "rule": tree}
