"""The ``audience`` command end to end, on its own SQLite file (or the CI PostgreSQL)."""

import json
from pathlib import Path

import httpx
import pytest

from tests.server import run_cli, running_server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"AUDIENCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def test_migrate_then_create_app_and_key(env: dict[str, str]) -> None:
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "migrated" in first.stdout
    assert "up to date" in run_cli("migrate", env=env).stdout
    app = run_cli("apps", "create", "Shop", "--require-user-jwt", env=env)
    assert app.returncode == 0, app.stderr
    created = json.loads(app.stdout)
    assert created["name"] == "Shop" and created["jwtSecret"] and created["requireUserJwt"]
    key = run_cli("api-keys", "create", "ops", "--scope", "read", "--scope", "write", env=env)
    assert key.returncode == 0, key.stderr
    assert json.loads(key.stdout)["scopes"] == ["read", "write"]
    bad = run_cli("api-keys", "create", "x", "--scope", "root", env=env)
    assert bad.returncode != 0


@pytest.mark.slow
def test_serve_migrates_a_new_database_and_bootstraps_the_admin_key(env: dict[str, str]) -> None:
    admin = "ak_test-bootstrap-admin-key"
    with running_server(env | {"AUDIENCE_ADMIN_KEY": admin}) as base_url:
        headers = {"Authorization": f"App {admin}"}
        created = httpx.post(f"{base_url}/v1/apps", json={"name": "Shop"}, headers=headers)
        assert created.status_code == 201
        code = created.json()["applicationCode"]
        registered = httpx.post(
            f"{base_url}/v1/installations",
            json={"platform": "iOS"},
            headers={"Authorization": f"App {code}"},
        )
        assert registered.status_code == 201
        assert registered.json()["applicationCode"] == code


@pytest.mark.parametrize("admin", ["secret", "ak_", "ak_two words"])
def test_serve_refuses_an_admin_key_that_could_never_authenticate(
    env: dict[str, str], admin: str
) -> None:
    """Tried as a new user would (``AUDIENCE_ADMIN_KEY=secret``): a one-line reason at start,
    not a server that then answers 401 to every request."""
    result = run_cli("serve", "--port", "1", env=env | {"AUDIENCE_ADMIN_KEY": admin})
    assert result.returncode == 2
    assert result.stderr.startswith("error: AUDIENCE_ADMIN_KEY must")
    assert len(result.stderr.strip().splitlines()) == 1


def test_segments_refresh_command(env: dict[str, str]) -> None:
    result = run_cli("segments", "refresh", env=env)
    assert result.returncode == 0, result.stderr
    assert "refreshed 0 segments" in result.stdout


def test_worker_command_runs_once_or_until_terminated(env: dict[str, str]) -> None:
    import os
    import subprocess
    import time

    from tests.server import AUDIENCE

    once = run_cli("worker", "--once", env=env)
    assert once.returncode == 0, once.stderr
    process = subprocess.Popen(
        [AUDIENCE, "worker"], env=os.environ | env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    while "worker started" not in (line := process.stderr.readline()):
        assert line, "the worker exited before it started"
    time.sleep(0.5)
    assert process.poll() is None  # it keeps running
    process.terminate()
    _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
