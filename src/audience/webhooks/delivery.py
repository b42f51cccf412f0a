"""Webhook deliveries, run by the worker: fan-out of published messages, then signed attempts.

A published outbox row (``webhooks.fanout``) becomes one delivery row per (message, endpoint)
and one ``webhooks.deliver`` outbox item each; that item is the delivery's durable timer: a
failed attempt answers the worker when to try again, which moves the item's due time. Every
attempt sends the stored body with the same ``webhook-id`` (at least once; receivers
de-duplicate by it). Attempts of one batch run concurrently, and an endpoint never holds more
than ``PER_ENDPOINT_IN_FLIGHT`` of a process's slots, so a slow one cannot stall the others.
"""

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from sqlalchemy import Row
from standardwebhooks import Webhook

from audience import outbox
from audience.clock import utcnow
from audience.db import Database
from audience.events.standard import event_api_form
from audience.ids import new_id
from audience.outbox import OutboxItem
from audience.webhooks import queries
from audience.webhooks.guard import resolves_to_forbidden_async
from audience.webhooks.metrics import ATTEMPTS, OUTCOMES
from audience.webhooks.publish import TOPIC_DELIVER, message_body

if TYPE_CHECKING:
    from audience.outbox import WorkerContext

log = logging.getLogger("audience.webhooks")

MAX_ATTEMPTS = 12  # 11 retries: 5 s x 3^n capped at a day, ≈ 2.6 days in all
MAX_DELAY = timedelta(days=1)
DISABLE_AFTER_FAILING = timedelta(days=5)
PER_ENDPOINT_IN_FLIGHT = 200
BUSY_DELAY = timedelta(seconds=1)
ERROR_LENGTH = 200
USER_AGENT = "Audience-Webhooks/1"

_in_flight: dict[str, int] = {}


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    """Back-off after ``attempts`` failed attempts: base x 3^(n-1), capped at a day, with
    jitter (0.8-1.2 below the cap, 1.0-1.2 at it, so the last waits stay ≥ a day)."""
    delay = base_seconds * 3 ** max(attempts - 1, 0)
    if delay >= MAX_DELAY.total_seconds():
        return MAX_DELAY * random.uniform(1.0, 1.2)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    try:
        delay = timedelta(seconds=max(float(value), 0))
    except ValueError:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        delay = at - now
    return min(max(delay, timedelta(seconds=1)), MAX_DELAY)


# Fan-out


async def fanout(ctx: "WorkerContext", items: list[OutboxItem]) -> Mapping[int, datetime]:
    await anyio.to_thread.run_sync(store_deliveries, ctx.db, items)
    return {}


def store_deliveries(db: Database, items: list[OutboxItem]) -> None:
    """One delivery per (message, endpoint still there) and its outbox item, in one
    transaction; run again after a crash, it finds its earlier rows and adds nothing. Events
    are read here (their ids travelled); one deleted since (with its person) is not sent."""
    now = utcnow()
    with db.write() as conn:
        wanted = {
            eid for item in items for ids in item.payload["endpoints"].values() for eid in ids
        }
        present = queries.find_endpoints(conn, sorted(wanted))
        stored = queries.find_events(
            conn, [pk for item in items for pk, _type in item.payload["events"]]
        )
        rows = []
        for item in items:
            payload = item.payload
            prefix, timestamp = payload["prefix"], payload["timestamp"]
            messages = [
                (f"msg_{prefix}{m['n']:x}", m["type"], m["data"]) for m in payload["messages"]
            ] + [
                (f"msg_{prefix}e{pk}", type_, event_api_form(pk, dict(stored[pk]._mapping)))
                for pk, type_ in payload["events"]
                if pk in stored
            ]
            for message_id, type_, data in messages:
                body = message_body(type_, timestamp, data)
                rows += [
                    {
                        "id": new_id(),
                        "endpoint_id": endpoint_id,
                        "message_id": message_id,
                        "type": type_,
                        "body": body,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for endpoint_id in payload["endpoints"][type_]
                    if endpoint_id in present
                ]
        fresh = queries.insert_deliveries(conn, rows)
        outbox.enqueue_many(conn, TOPIC_DELIVER, [{"deliveryId": d} for d in fresh], now)


# Attempts


@dataclass
class Attempt:
    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def deliver(ctx: "WorkerContext", items: list[OutboxItem]) -> Mapping[int, datetime]:
    """Attempt every claimed delivery, endpoint by endpoint concurrently; answers the items
    to try again and when."""
    ids = {item.id: str(item.payload["deliveryId"]) for item in items}
    deliveries, endpoints = await anyio.to_thread.run_sync(_load, ctx.db, list(ids.values()))
    retry: dict[int, datetime] = {}
    by_endpoint: dict[str, list[tuple[int, Row]]] = {}
    for item_id, delivery_id in ids.items():
        delivery = deliveries.get(delivery_id)
        if delivery is not None and delivery.status == "pending":
            by_endpoint.setdefault(delivery.endpoint_id, []).append((item_id, delivery))
    await asyncio.gather(
        *(
            _deliver_to(ctx, endpoints.get(endpoint_id), batch, retry)
            for endpoint_id, batch in by_endpoint.items()
        )
    )
    return retry


def _load(db: Database, delivery_ids: list[str]) -> tuple[dict[str, Row], dict[str, Row]]:
    with db.read() as conn:
        deliveries = queries.find_deliveries(conn, delivery_ids)
        endpoint_ids = sorted({row.endpoint_id for row in deliveries.values()})
        return deliveries, queries.find_endpoints(conn, endpoint_ids)


async def _deliver_to(
    ctx: "WorkerContext",
    endpoint: Row | None,
    batch: list[tuple[int, Row]],
    retry: dict[int, datetime],
) -> None:
    now = utcnow()
    if endpoint is None:  # deleted with its deliveries since
        return
    if not endpoint.enabled:
        refused = [_finished(d, "failed", None, "endpoint disabled", now) for _i, d in batch]
        await anyio.to_thread.run_sync(_save, ctx.db, endpoint.id, refused, None)
        return
    room = PER_ENDPOINT_IN_FLIGHT - _in_flight.get(endpoint.id, 0)
    for item_id, _delivery in batch[max(room, 0) :]:
        retry[item_id] = now + BUSY_DELAY * random.uniform(1, 2)
    batch = batch[: max(room, 0)]
    if not batch:
        return
    _in_flight[endpoint.id] = _in_flight.get(endpoint.id, 0) + len(batch)
    try:
        signer = Webhook(endpoint.secret)
        attempts = await asyncio.gather(
            *(_attempt(ctx, endpoint.url, signer, delivery) for _i, delivery in batch)
        )
    finally:
        _in_flight[endpoint.id] -= len(batch)
        if not _in_flight[endpoint.id]:
            del _in_flight[endpoint.id]
    now = utcnow()
    changes: list[dict[str, Any]] = []
    outcomes: set[str] = set()
    for (item_id, delivery), attempt in zip(batch, attempts, strict=True):
        ATTEMPTS.labels(_attempt_label(attempt)).inc()
        if attempt.delivered:
            outcomes.add("ok")
            changes.append(_finished(delivery, "delivered", attempt.status_code, None, now))
            continue
        outcomes.add("gone" if attempt.status_code == 410 else "failing")
        count = delivery.attempts + 1
        if attempt.status_code == 410 or count >= MAX_ATTEMPTS:
            changes.append(_finished(delivery, "failed", attempt.status_code, attempt.error, now))
            continue
        wait = retry_after(attempt.retry_after, now) or retry_delay(
            count, ctx.settings.webhook_retry_base_seconds
        )
        retry[item_id] = now + wait
        OUTCOMES.labels("retried").inc()
        changes.append(
            {
                "id": delivery.id,
                "attempts": count,
                "last_status_code": attempt.status_code,
                "last_error": attempt.error,
                "next_attempt_at": now + wait,
            }
        )
    # One success means the endpoint answers; a 410 means it is gone.
    endpoint_change = next(c for c in ("gone", "ok", "failing") if c in outcomes)
    await anyio.to_thread.run_sync(_save, ctx.db, endpoint.id, changes, endpoint_change)


def _attempt_label(attempt: Attempt) -> str:
    if attempt.status_code is None:
        return "error"
    return f"{attempt.status_code // 100}xx"


def _finished(
    delivery: Row, status: str, code: int | None, error: str | None, now: datetime
) -> dict[str, Any]:
    OUTCOMES.labels(status).inc()
    attempted = error != "endpoint disabled"
    return {
        "id": delivery.id,
        "status": status,
        "attempts": delivery.attempts + (1 if attempted else 0),
        "last_status_code": code if attempted else delivery.last_status_code,
        "last_error": error,
        "next_attempt_at": None,
        "delivered_at": now if status == "delivered" else None,
    }


async def _attempt(ctx: "WorkerContext", url: str, signer: Webhook, delivery: Row) -> Attempt:
    settings = ctx.settings
    host = httpx.URL(url).host
    if not settings.webhook_allow_private and await resolves_to_forbidden_async(host):
        return Attempt(error="address forbidden: the host resolves to a private address")
    now = utcnow()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.replace(tzinfo=UTC).timestamp())),
        "webhook-signature": signer.sign(delivery.message_id, now, delivery.body),
    }
    try:
        # The whole exchange, not each read, is bounded: a receiver trickling bytes is cut off.
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            async with ctx.http.stream(
                "POST", url, content=delivery.body.encode(), headers=headers
            ) as response:
                excerpt = b""
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= ERROR_LENGTH:
                        break
    except TimeoutError:
        return Attempt(error=f"no answer within {settings.webhook_timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return Attempt(error=f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH])
    if 200 <= response.status_code < 300:
        return Attempt(response.status_code)
    text = excerpt[:ERROR_LENGTH].decode("utf-8", "replace")
    return Attempt(
        response.status_code,
        f"HTTP {response.status_code}: {text}"[:ERROR_LENGTH],
        response.headers.get("retry-after"),
    )


def _save(
    db: Database, endpoint_id: str, changes: list[dict[str, Any]], endpoint_change: str | None
) -> None:
    """The attempts' results, and what they mean for the endpoint: a 410 disables it, and so
    does failing without a success for five days in a row."""
    now = utcnow()
    with db.write() as conn:
        queries.update_deliveries(conn, changes)
        if endpoint_change is None:
            return
        endpoint = queries.find_endpoint(conn, endpoint_id)
        if endpoint is None:
            return
        if endpoint_change == "ok":
            if endpoint.failing_since is not None:
                queries.update_endpoint(conn, endpoint_id, failing_since=None)
        elif endpoint_change == "gone":
            queries.update_endpoint(
                conn, endpoint_id, enabled=False, disabled_reason="gone", updated_at=now
            )
        elif endpoint.failing_since is None:
            queries.update_endpoint(conn, endpoint_id, failing_since=now)
        elif now - endpoint.failing_since >= DISABLE_AFTER_FAILING:
            queries.update_endpoint(
                conn, endpoint_id, enabled=False, disabled_reason="failing", updated_at=now
            )
            log.warning("webhook endpoint %s disabled after failing for 5 days", endpoint_id)
