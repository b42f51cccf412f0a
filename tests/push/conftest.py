"""Push tests run against local fake providers (tests/push/fakes.py), never the internet."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from audience.config import Settings
from audience.push import providers
from tests.push.fakes import FakeProviders, Keys, Servers, make_certificates

SECRET_KEY = "test-secret-key-of-at-least-32-characters"


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def servers(keys: Keys, certificates: tuple[Path, Path, Path]) -> Iterator[Servers]:
    _ca, cert, key = certificates
    running = Servers(FakeProviders(keys), cert, key)
    running.app.token_uri = f"{running.http_url}/token"
    running.start()
    yield running
    running.stop()


@pytest.fixture
def fake(servers: Servers) -> Iterator[FakeProviders]:
    servers.app.reset()
    providers._fcm_tokens.clear()
    providers._apns_tokens.clear()
    yield servers.app


@pytest.fixture
def settings(
    database_url: str, servers: Servers, certificates: tuple[Path, Path, Path]
) -> Settings:
    return Settings(
        database_url=database_url,
        max_body_bytes=1024 * 1024,
        segment_sweep_seconds=0,
        embedded_worker=False,
        secret_key=SECRET_KEY,
        fcm_url=servers.http_url,
        apns_url=servers.tls_url,
        apns_sandbox_url=servers.tls_url,
        push_ca_file=str(certificates[0]),
    )
