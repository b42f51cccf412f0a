"""``audience import`` / ``audience export`` end to end: straight against the database, and
against a running server whose embedded worker applies the import."""

import json
from pathlib import Path

import pytest

from tests.server import run_cli, running_server

ROWS = "externalUserId,emails,firstName,tags\nc1,c1@example.com,Cee,a;b\nc2,,Dee,\nc3,bad@,X,\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"AUDIENCE_DATABASE_URL": f"sqlite:///{tmp_path / 'bulk.db'}"}


def test_import_and_export_straight_against_the_database(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli("migrate", env=env).returncode == 0
    source = tmp_path / "people.csv"
    source.write_text(ROWS)
    done = run_cli("import", "persons", str(source), env=env)
    assert done.returncode == 0, done.stderr
    assert "done, 3 rows, 2 created, 0 updated, 1 failed" in done.stdout
    out = tmp_path / "out.ndjson"
    exported = run_cli("export", "persons", "--format", "ndjson", "-o", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    people = sorted((json.loads(line) for line in out.read_text().splitlines()), key=str)
    assert {p["externalUserId"]: p["tags"] for p in people} == {"c1": ["a", "b"], "c2": []}
    again = run_cli("import", "persons", str(out), env=env)
    assert "done, 2 rows, 0 created, 0 updated, 0 failed" in again.stdout, again.stdout


@pytest.mark.slow
def test_import_and_export_against_a_running_server(env: dict[str, str], tmp_path: Path) -> None:
    admin = "ak_bulk-cli-admin-key"
    source = tmp_path / "people.csv"
    source.write_text(ROWS)
    with running_server(env | {"AUDIENCE_ADMIN_KEY": admin}) as base_url:
        remote = ("--base-url", base_url, "--api-key", admin)
        done = run_cli("import", "persons", str(source), *remote, env=env)
        assert done.returncode == 0, done.stderr
        assert "done, 3 rows, 2 created, 0 updated, 1 failed" in done.stdout
        exported = run_cli("export", "persons", *remote, env=env)
        assert exported.returncode == 0, exported.stderr
        lines = exported.stdout.splitlines()
        assert lines[0].startswith("id,externalUserId,emails,phones,tags,")
        assert len(lines) == 3
