"""Webhook metrics on ``/metrics``: outcomes and attempts counted as they happen; the pending
deliveries and the age of the oldest one read from the database at scrape time."""

from collections.abc import Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from audience.clock import utcnow
from audience.db import Database
from audience.observability import SCRAPE_COLLECTORS
from audience.webhooks.queries import pending_stats

OUTCOMES = Counter(
    "audience_webhook_deliveries",
    "Webhook delivery outcomes: delivered, failed (for good), retried (an attempt failed)",
    ["outcome"],
)
ATTEMPTS = Counter(
    "audience_webhook_attempts",
    "Webhook HTTP attempts by answer class (2xx, 4xx, 5xx or error)",
    ["result"],
)


def delivery_gauges(db: Database) -> Iterable[Metric]:
    with db.read() as conn:
        count, oldest = pending_stats(conn)
    pending = GaugeMetricFamily(
        "audience_webhook_deliveries_pending", "Webhook deliveries not delivered nor failed yet"
    )
    pending.add_metric([], count)
    age = GaugeMetricFamily(
        "audience_webhook_oldest_pending_seconds", "Age of the oldest pending webhook delivery"
    )
    age.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
    return [pending, age]


SCRAPE_COLLECTORS.append(delivery_gauges)
