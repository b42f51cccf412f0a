import json
import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from audience.config import Settings
from audience.observability import JsonFormatter, access_log, configure_logging
from tests.helpers import Api


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-request-id"] != client.get("/healthz").headers["x-request-id"]


def test_one_json_log_line_per_request_without_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audience.access")
    caplog.clear()
    # (unknown query parameters answer 400, so the query carries a known one)
    api.client.get("/v1/apps?limit=5", headers=api.admin | {"X-Request-ID": "r1"})
    [record] = [r for r in caplog.records if r.name == "audience.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "request"
    assert line["requestId"] == "r1"
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["route"] == "/v1/apps" and line["path"] == "/v1/apps"
    assert api.admin_key not in json.dumps(line)
    assert "limit=5" not in json.dumps(line)


def test_metrics_in_prometheus_format(api: Api) -> None:
    api.client.get("/v1/apps", headers=api.admin)
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'audience_http_requests_total{method="GET",route="/v1/apps",status="200"}' in text
    assert "audience_http_request_duration_seconds_bucket" in text
    assert "audience_events_ingested_total" in text or "audience_events_ingested" in text


def test_log_level_setting_turns_the_access_log_off() -> None:
    root = logging.getLogger("audience")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        configure_logging(Settings(log_level="WARNING").log_level)
        assert not access_log.isEnabledFor(logging.INFO)
        assert access_log.isEnabledFor(logging.WARNING)
        configure_logging(Settings().log_level)
        assert access_log.isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], root.level, root.propagate = saved
    with pytest.raises(ValidationError):
        Settings(log_level="LOUD")  # type: ignore[arg-type]
