"""The bare mobile routes are matched ahead of the router, and route as the router would."""

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from audience.bare_routes import (
    BareDispatch,
    BareRoute,
    MobileJSONResponse,
    bare_route,
    bare_route_clashes,
)
from tests.helpers import Api

MOBILE_CALLS = {
    ("POST", "/v1/installations"),
    ("PATCH", "/v1/installations/{push_registration_id}"),
    ("POST", "/v1/installations/{push_registration_id}/events"),
    ("POST", "/v1/installations/{push_registration_id}/personalize"),
    ("PATCH", "/v1/installations/{push_registration_id}/person"),
}


async def _endpoint(request: Any) -> Any:
    raise AssertionError("never called")


def _bare(path: str, method: str = "PATCH") -> BareRoute:
    router = APIRouter()
    bare_route(router, method, path)(_endpoint)
    route = router.routes[-1]
    assert isinstance(route, BareRoute)
    return route


def test_the_mobile_calls_are_dispatched_ahead_of_the_router(client: TestClient) -> None:
    dispatch = client.app.router.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(dispatch, BareDispatch)
    assert {(m, route.path) for route, _, methods in dispatch.table for m in methods} == (
        MOBILE_CALLS
    )


def test_a_route_that_could_take_a_bare_route_request_is_a_clash() -> None:
    bare = _bare("/v1/installations/{push_registration_id}")
    literal = APIRouter()
    literal.add_api_route("/v1/installations/batch", _endpoint, methods=["PATCH", "GET"])
    other_method = APIRouter()
    other_method.add_api_route("/v1/installations/{id}", _endpoint, methods=["GET"])
    deeper = APIRouter()
    deeper.add_api_route("/v1/installations/{id}/events", _endpoint, methods=["PATCH"])
    assert bare_route_clashes([bare], literal.routes) == [
        "/v1/installations/{push_registration_id} and /v1/installations/batch"
    ]
    assert bare_route_clashes([bare], other_method.routes + deeper.routes + [bare]) == []
    typed = _bare("/v1/things/{number:int}")
    assert bare_route_clashes([typed], []) == [
        "/v1/things/{number:int}: a parameter that is not a plain string"
    ]


def test_dispatched_calls_answer_and_are_measured_as_the_router_would(
    api: Api, shop: dict[str, Any]
) -> None:
    installation = api.register(shop)
    path = f"/v1/installations/{installation['pushRegistrationId']}"
    updated = api.client.patch(path, json={"applicationVersion": "2.0"}, headers=api.mobile(shop))
    assert updated.status_code == 200
    assert updated.json()["applicationVersion"] == "2.0"
    # Another method on a bare route's path still goes to the router: the read, and 405.
    assert api.client.get(path, headers=api.mobile(shop)).status_code == 200
    assert api.client.put(path, json={}, headers=api.mobile(shop)).status_code == 405
    metrics = api.client.get("/metrics").text
    assert (
        'audience_http_requests_total{method="PATCH",'
        'route="/v1/installations/{push_registration_id}",status="200"}'
    ) in metrics


def test_a_root_path_leaves_the_call_to_the_router(api: Api, shop: dict[str, Any]) -> None:
    installation = api.register(shop)
    path = f"/v1/installations/{installation['pushRegistrationId']}"
    client = TestClient(api.client.app, root_path="/audience", raise_server_exceptions=False)
    updated = client.patch(path, json={"applicationVersion": "3.0"}, headers=api.mobile(shop))
    assert updated.status_code == 200
    assert updated.json()["applicationVersion"] == "3.0"


def test_mobile_answers_render_what_orjson_refuses_as_starlette_does() -> None:
    plain = {"name": "Zoë ✓", "n": 1.5, "list": [1, None, True]}
    assert json.loads(MobileJSONResponse(plain).body) == plain
    odd = {"big": 2**70, "name": "Zoë"}
    assert MobileJSONResponse(odd).body == JSONResponse(odd).body
