import gc
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audience.app import create_app_from_env
from audience.config import get_settings
from tests.helpers import assert_error


def test_healthz_answers_ok_with_the_backend(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in ("sqlite", "postgresql")


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/installations" in spec["paths"]
    assert "/v1/apps" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_unknown_route_answers_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "NOT_FOUND")


def test_wrong_method_answers_the_error_shape(client: TestClient) -> None:
    assert_error(client.put("/healthz"), 405, "METHOD_NOT_ALLOWED")


def test_oversized_body_is_refused_with_413(client: TestClient, api: object) -> None:
    big = "x" * (1024 * 1024 + 10)
    response = client.post(
        "/v1/installations",
        content=f'{{"platform":"Android","deviceName":"{big}"}}',
        headers={"Authorization": "App whatever", "Content-Type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_oversized_chunked_body_is_refused_with_413(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(300):
            yield b"x" * 4096

    response = client.post(
        "/v1/installations",
        content=chunks(),
        headers={"Authorization": "App whatever", "Content-Type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_the_server_factory_freezes_what_it_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each server worker's startup objects are kept out of full cycle collections."""
    monkeypatch.setenv("AUDIENCE_DATABASE_URL", f"sqlite:///{tmp_path / 'frozen.db'}")
    get_settings.cache_clear()
    root = logging.getLogger("audience")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        before = gc.get_freeze_count()
        app = create_app_from_env()
        app.state.db.close()
        assert app.state.settings.database_url.endswith("frozen.db")
        assert gc.get_freeze_count() > before + 50_000
    finally:
        gc.unfreeze()
        get_settings.cache_clear()
        root.handlers[:], root.level, root.propagate = saved
