"""A client generated from ``/openapi.json`` by a well-known generator (openapi-python-client)
works against the server: register -> personalize -> event -> person read, with typed answers.
Bounded: generation runs once, in a subprocess with a time limit, without formatting hooks."""

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.contract import watch
from tests.helpers import Api, auth

PACKAGE = "audience_generated_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture
def generated(client: TestClient, tmp_path: Path) -> Iterator[ModuleType]:
    (tmp_path / "openapi.json").write_text(json.dumps(client.get("/openapi.json").json()))
    (tmp_path / "config.json").write_text(json.dumps({"post_hooks": []}))
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--config",
            str(tmp_path / "config.json"),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # every schema understood
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def _client(generated: ModuleType, client: TestClient, credential: str) -> Any:
    """A generated client speaking to the test app with ``credential``."""
    http = TestClient(client.app, headers=auth(credential), raise_server_exceptions=False)
    watch(http, client.app)  # type: ignore[arg-type]
    return generated.AuthenticatedClient(base_url=str(http.base_url), token="-").set_httpx_client(
        http
    )


def _operation(generated: ModuleType, tag: str, name: str) -> Any:
    """The generated module of an operation, by tag folder and the start of its name."""
    folder = Path(generated.__file__).parent / "api" / tag
    (module,) = [path.stem for path in folder.glob(f"{name}_v1_*.py")]
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{module}")


def test_register_personalize_event_and_read_through_a_generated_client(
    generated: ModuleType, client: TestClient, api: Api, shop: dict[str, Any]
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    mobile = _client(generated, client, shop["applicationCode"])
    server = _client(generated, client, api.admin_key)

    installation = _operation(generated, "installations", "register_installation").sync(
        client=mobile,
        body=models.InstallationCreate(platform=models.InstallationCreatePlatform.IOS),
    )
    assert isinstance(installation, models.Installation), installation
    device = installation.push_registration_id

    person = _operation(generated, "mobile_persons", "personalize_installation").sync(
        device,
        client=mobile,
        body=models.PersonalizeRequest(
            user_identity=models.UserIdentity(external_user_id="ann", emails=["Ann@Example.com"])
        ),
    )
    assert isinstance(person, models.Person), person
    assert person.type_ == models.PersonType.IDENTIFIED

    batch_model = next(getattr(models, name) for name in dir(models) if name.endswith("EventBatch"))
    ingested = _operation(generated, "events", "ingest_events").sync(
        device, client=mobile, body=batch_model(events=[{"definitionId": "AppLaunch"}])
    )
    assert isinstance(ingested, models.IngestResult), ingested
    assert (ingested.accepted, ingested.duplicates, ingested.dropped) == (1, 0, 0)

    read = _operation(generated, "persons", "read_person").sync(person.id, client=server)
    assert isinstance(read, models.Person), read
    assert read.external_user_id == "ann" and read.emails == ["ann@example.com"]
    assert [item.push_registration_id for item in read.installations] == [device]

    missing = _operation(generated, "persons", "read_person").sync("nobody", client=server)
    assert isinstance(missing, models.ErrorBody)
    assert missing.error.code == "PERSON_NOT_FOUND"
