"""Push messages (docs/push.md): create (checked, queued in the outbox), read with counts,
deliveries, cancel; and :func:`send_to_person`, the entry point of a flow's ``sendPush`` step.

Creating a message writes the message and one outbox item due at ``sendAt`` in the same
transaction; the worker resolves the audience then (see :mod:`audience.push.sender`), so a
scheduled message reaches whoever matches at send time.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row

from audience import outbox
from audience.apps import queries as app_queries
from audience.clock import isoformat, to_naive_utc, utcnow
from audience.errors import ApiError, not_found, validation_error
from audience.ids import new_id
from audience.persons.queries import resolve_person_id
from audience.push import queries
from audience.push.templates import (
    compile_content,
    installation_context,
    person_context,
    render,
)
from audience.segments.compiler import compile_rule
from audience.segments.queries import resolve_installations
from audience.segments.service import get_segment, parse
from audience.tables import installations, persons

TOPIC_MESSAGE = "push.message"
TOPIC_SEND = "push.send"
SELECTORS = ("segmentId", "personIds", "externalUserIds", "pushRegistrationIds", "rule")
FLAGS = ("primaryDeviceOnly", "notificationsEnabledOnly", "platform")
COUNTED = ("sent", "failed", "invalid_token")


def message_not_found(message_id: str) -> ApiError:
    return not_found("NOT_FOUND", f"No message '{message_id}'")


def _application(conn: Connection, application_code: str) -> Row:
    app = app_queries.find_by_code(conn, application_code)
    if app is None:
        raise not_found("NOT_FOUND", f"No application with code '{application_code}'")
    return app


def check_audience(conn: Connection, audience: dict[str, Any]) -> None:
    """A segment that exists, or a rule that validates (400 naming what is wrong)."""
    if audience.get("segmentId") is not None:
        get_segment(conn, audience["segmentId"])
    elif audience.get("rule") is not None:
        parse(conn, audience["rule"])


def audience_filter(
    conn: Connection, audience: dict[str, Any]
) -> tuple[str | None, ColumnElement[bool] | None]:
    """The audience as what the resolve query takes: a segment id or a condition."""
    if audience.get("segmentId") is not None:
        return str(audience["segmentId"]), None
    if audience.get("rule") is not None:
        return None, compile_rule(parse(conn, audience["rule"]), utcnow())
    if audience.get("personIds") is not None:
        ids = [resolve_person_id(conn, pid) or pid for pid in audience["personIds"]]
        return None, persons.c.id.in_(ids)
    if audience.get("externalUserIds") is not None:
        return None, persons.c.external_user_id.in_(audience["externalUserIds"])
    return None, installations.c.push_registration_id.in_(audience["pushRegistrationIds"])


def create_message(conn: Connection, fields: dict[str, Any]) -> dict[str, Any]:
    """Check everything that can be checked now (application, audience, templates) and queue
    the message; answers ``{"id", "status": "queued"}``."""
    app = _application(conn, fields["applicationCode"])
    audience = fields["audience"]
    check_audience(conn, audience)
    notification = fields["notification"]
    compile_content(notification["title"], notification["body"])
    send_at = fields.get("sendAt")
    try:
        due = to_naive_utc(send_at) if isinstance(send_at, datetime) else None
    except OverflowError:
        raise validation_error("sendAt is out of range", "sendAt") from None
    now = utcnow()
    message_id = new_id()
    content = {
        "title": notification["title"],
        "body": notification["body"],
        "data": fields.get("data") or {},
        "ttlSeconds": fields.get("ttlSeconds"),
        "collapseKey": fields.get("collapseKey"),
    }
    queries.insert_message(
        conn,
        id=message_id,
        application_id=app.id,
        status="queued",
        audience=audience,
        content=content,
        send_at=due,
        targeted=0,
        created_at=now,
        updated_at=now,
    )
    outbox.enqueue(conn, TOPIC_MESSAGE, {"messageId": message_id}, at=due)
    return {"id": message_id, "status": "queued"}


def send_to_person(
    conn: Connection, application_code: str, person_id: str, content: dict[str, Any]
) -> str:
    """Send ``content`` (§13: ``notification``, ``data``, ``ttlSeconds``, ``collapseKey``) to
    one person's devices of an application, as a message of its own: the same templates,
    de-duplication, providers and dead-token handling as any message. Written in ``conn``'s
    transaction (a flow step's), so it is sent only if that commits. Answers the message id."""
    fields = {
        "applicationCode": application_code,
        "audience": {"personIds": [person_id]},
        **content,
    }
    return str(create_message(conn, fields)["id"])


def get_message(conn: Connection, message_id: str, for_update: bool = False) -> Row:
    row = queries.find_message(conn, message_id, for_update)
    if row is None:
        raise message_not_found(message_id)
    return row


def message_to_api(conn: Connection, row: Row, full: bool = True) -> dict[str, Any]:
    counts = queries.delivery_counts(conn, row.id)
    answer: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "applicationCode": row.application_code,
        "counts": {
            "targeted": row.targeted,
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "invalidTokens": counts.get("invalid_token", 0),
        },
        "createdAt": isoformat(row.created_at),
        "sendAt": isoformat(row.send_at),
    }
    if full:
        answer |= {
            "audience": row.audience,
            "notification": {"title": row.content["title"], "body": row.content["body"]},
            "data": row.content.get("data") or {},
            "ttlSeconds": row.content.get("ttlSeconds"),
            "collapseKey": row.content.get("collapseKey"),
        }
    return answer


def cancel_message(conn: Connection, message_id: str) -> dict[str, Any]:
    """Stop what is not sent yet; sends already handed to a provider cannot be called back.
    Canceling a canceled message is a no-op; a finished one answers 409."""
    row = get_message(conn, message_id, for_update=True)
    if row.status == "done":
        raise ApiError(409, "MESSAGE_NOT_CANCELABLE", "The message has already been sent")
    if row.status != "canceled":
        queries.set_message(conn, message_id, status="canceled")
        queries.cancel_pending(conn, message_id)
    return message_to_api(conn, get_message(conn, message_id))


def delivery_to_api(row: Row) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "pushRegistrationId": row.push_registration_id,
        "personId": row.person_id,
        "status": row.status,
        "attempts": row.attempts,
        "updatedAt": isoformat(row.updated_at),
    }
    if row.error:
        answer["error"] = row.error
    return answer


def sample_rendering(
    conn: Connection, application_code: str, segment_id: str, title: str, body: str
) -> dict[str, Any]:
    """What the console shows before sending: how many devices, and the title and body as the
    first member with a device would get them (400 if a template does not parse)."""
    app = _application(conn, application_code)
    get_segment(conn, segment_id)
    compiled = compile_content(title, body)
    count = queries.segment_audience_count(conn, segment_id, app.id)
    sample = resolve_installations(
        conn,
        segment_id=segment_id,
        condition=None,
        application_code=application_code,
        platform=None,
        push_registration_enabled_only=True,
        notifications_enabled_only=False,
        primary_device_only=False,
        after=None,
        limit=1,
    )[:1]
    rendered = None
    if sample:
        row = sample[0]
        person = queries.persons_by_id(conn, [row.person_id]).get(row.person_id)
        device = queries.installations_by_id(conn, [row.push_registration_id]).get(
            row.push_registration_id
        )
        context = {"person": person_context(person), "installation": installation_context(device)}
        rendered_title, rendered_body = render(compiled, context)
        rendered = {"personId": row.person_id, "title": rendered_title, "body": rendered_body}
    return {"count": count, "sample": rendered}
