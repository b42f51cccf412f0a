"""``MobileClient``: one app install, behaving as the native mobile SDKs do.

- It registers on first start and keeps its ``pushRegistrationId`` in local storage, so a
  restart is the same installation; an installation the server no longer knows (404
  ``NO_REGISTRATION``) is registered again and re-personalized with the identity it holds.
- Custom events go to a durable queue and are sent in batches (by size and by time) with
  ``?validate=false``, each with a client ``eventId`` so retries never store one twice.
- ``depersonalize()`` clears the local user at once and stays *pending* until the server
  confirms it; meanwhile user calls fail fast with ``DEPERSONALIZATION_IN_PROGRESS``.

Lock order: ``_flush_lock`` (one sender of the queue) before ``_lock`` (one server call of
this installation at a time); ``_state_lock`` only guards local read-modify-writes.
"""

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from audience.client.errors import (
    AudienceError,
    DepersonalizationInProgress,
    GoneError,
    NetworkError,
    NotFoundError,
)
from audience.client.storage import Storage, storage_path
from audience.client.transport import RetryPolicy, Transport

logger = logging.getLogger("audience.client")

LAUNCH_INTERVAL = timedelta(seconds=30)
MAX_BATCH = 1000
APP_LAUNCH = "AppLaunch"

# local state keys
_INSTALLATION = "installation"
_REGISTRATION = "registration"
_IDENTITY = "identity"
_USER = "user"
_PENDING = "pendingDepersonalize"
_LAST_LAUNCH = "lastLaunchAt"
_USER_UPDATES = "queuedUserUpdates"


class DepersonalizeResult(StrEnum):
    SUCCESS = "SUCCESS"
    PENDING = "PENDING"


def isoformat(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` — the server's own format."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _merge_registration(old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """What to register with next time: the first data plus every saved change."""
    merged = old | {k: v for k, v in changes.items() if k != "customAttributes"}
    if "customAttributes" in changes:
        attributes = (old.get("customAttributes") or {}) | (changes["customAttributes"] or {})
        merged["customAttributes"] = {k: v for k, v in attributes.items() if v is not None}
    return {k: v for k, v in merged.items() if v is not None}


class MobileClient:
    """One installation of ``application_code`` whose state lives in ``storage_dir``.

    ``system_data`` holds the installation fields sent at registration (platform is
    required). ``flush_interval`` is the seconds between background sends of the event queue
    (``None``: no background thread; the queue is sent when it reaches ``batch_size``, on
    ``flush()`` and on ``close()``). ``user_token`` supplies the ``X-User-Token`` JWT for apps
    with ``requireUserJwt``. Pass ``http`` to share one connection pool between clients.
    """

    def __init__(
        self,
        base_url: str,
        application_code: str,
        storage_dir: str | Path,
        *,
        platform: str = "Android",
        system_data: dict[str, Any] | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = 100,
        flush_interval: float | None = 5.0,
        max_flush_backoff: float = 300.0,
        user_token: Callable[[], str | None] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        self._transport = Transport(base_url, application_code, http, retry)
        self._storage = Storage(storage_path(storage_dir, application_code))
        self._batch_size = batch_size
        self._user_token = user_token
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._closed = False
        if self._storage.get(_REGISTRATION) is None:
            self._storage.update({_REGISTRATION: {"platform": platform, **(system_data or {})}})
        try:
            self._ensure_registered()
        except NetworkError:
            logger.info("registration postponed: server unreachable")
        self._flusher: threading.Thread | None = None
        if flush_interval is not None:
            self._flusher = threading.Thread(
                target=self._flush_loop,
                args=(flush_interval, max_flush_backoff),
                name="audience-flush",
                daemon=True,
            )
            self._flusher.start()

    # --- local state -------------------------------------------------------------------------

    @property
    def push_registration_id(self) -> str | None:
        installation = self._storage.get(_INSTALLATION)
        return installation["pushRegistrationId"] if installation else None

    @property
    def installation(self) -> dict[str, Any] | None:
        """The installation as the server last answered it."""
        installation: dict[str, Any] | None = self._storage.get(_INSTALLATION)
        return installation

    @property
    def user(self) -> dict[str, Any] | None:
        """The personalized user as last answered; ``None`` when anonymous or logged out."""
        user: dict[str, Any] | None = self._storage.get(_USER)
        return user

    @property
    def pending_depersonalize(self) -> bool:
        return bool(self._storage.get(_PENDING))

    @property
    def queued_events(self) -> int:
        return self._storage.queued()

    def _check_not_pending(self) -> None:
        if self.pending_depersonalize:
            raise DepersonalizationInProgress

    def _store_user(self, user: dict[str, Any], identity: dict[str, Any] | None = None) -> None:
        """Keep the answer unless a logout happened meanwhile (the later call wins)."""
        with self._state_lock:
            if self._storage.get(_PENDING):
                return
            values: dict[str, Any] = {_USER: user}
            if identity is not None:
                values[_IDENTITY] = identity
            self._storage.update(values)

    # --- server calls ------------------------------------------------------------------------

    def _ensure_registered(self) -> str:
        with self._lock:
            installation = self._storage.get(_INSTALLATION)
            if installation:
                return str(installation["pushRegistrationId"])
            answer = self._transport.request(
                "POST", "/v1/installations", json=self._storage.get(_REGISTRATION)
            )
            self._storage.update({_INSTALLATION: answer})
            return str(answer["pushRegistrationId"])

    def _token_headers(self) -> dict[str, str] | None:
        token = self._user_token() if self._user_token else None
        return {"X-User-Token": token} if token else None

    def _mobile(
        self,
        method: str,
        suffix: str = "",
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        user: bool = False,
        recover: bool = True,
    ) -> Any:
        """A call on the own installation; a lost registration is recovered once."""
        with self._lock:
            registration_id = self._ensure_registered()
            try:
                return self._transport.request(
                    method,
                    f"/v1/installations/{registration_id}{suffix}",
                    json=json,
                    params=params,
                    headers=self._token_headers() if user else None,
                )
            except (NotFoundError, GoneError) as exc:
                if not recover or exc.code not in ("NO_REGISTRATION", "INSTALLATION_UNINSTALLED"):
                    raise
                if not self._recover(registration_id):
                    raise
            return self._mobile(method, suffix, json=json, params=params, user=user, recover=False)

    def _recover(self, registration_id: str) -> bool:
        """Register again if the server lost (404) or uninstalled (410) this installation.

        The error may be about another device in the path, so the own installation is read
        first. After a 404 the held identity is personalized again; after a 410 the local user
        is dropped (the server uninstalls the devices of a deleted person, R10).
        """
        try:
            self._transport.request("GET", f"/v1/installations/{registration_id}")
            return False
        except NotFoundError:
            forget_user = False
        except GoneError:
            forget_user = True
        logger.warning("installation %s lost on the server; registering again", registration_id)
        with self._state_lock:
            values: dict[str, Any] = {_INSTALLATION: None, _PENDING: None}
            if forget_user:
                values |= {_USER: None, _IDENTITY: None}
            self._storage.update(values)
        self._ensure_registered()
        identity = self._storage.get(_IDENTITY)
        if identity:
            person = self._mobile(
                "POST", "/personalize", json={"userIdentity": identity}, user=True, recover=False
            )
            self._store_user(person)
        return True

    # --- installation ------------------------------------------------------------------------

    def fetch_installation(self) -> dict[str, Any]:
        installation: dict[str, Any] = self._mobile("GET")
        self._storage.update({_INSTALLATION: installation})
        return installation

    def save_installation(self, fields: dict[str, Any]) -> dict[str, Any]:
        """PATCH own installation with the API's field names (``customAttributes`` merge)."""
        self._check_not_pending()
        installation: dict[str, Any] = self._mobile("PATCH", json=fields)
        with self._state_lock:
            registration = _merge_registration(self._storage.get(_REGISTRATION) or {}, fields)
            self._storage.update({_INSTALLATION: installation, _REGISTRATION: registration})
        return installation

    def set_as_primary(self, push_registration_id: str | None = None, primary: bool = True) -> Any:
        """Make this device (or another device of the same user) the primary one (R5)."""
        if push_registration_id in (None, self.push_registration_id):
            return self.save_installation({"isPrimaryDevice": primary})
        self._check_not_pending()
        return self._mobile(
            "PATCH",
            f"/person/installations/{push_registration_id}",
            json={"isPrimaryDevice": primary},
        )

    def installations_of_user(self) -> list[dict[str, Any]]:
        self._check_not_pending()
        items: list[dict[str, Any]] = self._mobile("GET", "/person/installations", user=True)[
            "items"
        ]
        return items

    def depersonalize_installation(self, push_registration_id: str) -> dict[str, Any]:
        """Log the user out of another of their devices (R3)."""
        self._check_not_pending()
        answer: dict[str, Any] = self._mobile(
            "POST", f"/person/installations/{push_registration_id}/depersonalize", user=True
        )
        return answer

    # --- user --------------------------------------------------------------------------------

    def personalize(
        self,
        identity: dict[str, Any],
        attributes: dict[str, Any] | None = None,
        force_depersonalize: bool = False,
        set_as_primary: bool = False,
    ) -> dict[str, Any]:
        """Link this installation to the person with ``identity`` (R2); answers the person."""
        self._check_not_pending()
        self._try_flush_events()  # events queued so far belong to the person before
        body: dict[str, Any] = {"userIdentity": identity}
        if attributes:
            body["userAttributes"] = attributes
        params = {}
        if force_depersonalize:
            params["forceDepersonalize"] = "true"
        if set_as_primary:
            params["setDeviceAsPrimary"] = "true"
        person: dict[str, Any] = self._mobile(
            "POST", "/personalize", json=body, params=params, user=True
        )
        self._store_user(person, identity)
        return person

    def fetch_user(self) -> dict[str, Any]:
        self._check_not_pending()
        person: dict[str, Any] = self._mobile("GET", "/person", user=True)
        self._store_user(person)
        return person

    def save_user(self, fields: dict[str, Any]) -> dict[str, Any]:
        """PATCH own person: standard attributes, ``customAttributes``, ``tags``."""
        self._check_not_pending()
        person: dict[str, Any] = self._mobile("PATCH", "/person", json=fields, user=True)
        self._store_user(person)
        return person

    def queue_user_update(self, fields: dict[str, Any]) -> None:
        """Keep a person update durably, stamped with the time it was made (``asOf``), and
        send it with the event queue: the server keeps any field changed after that time."""
        self._check_not_pending()
        with self._state_lock:
            queued = self._storage.get(_USER_UPDATES) or []
            queued.append({"fields": fields, "asOf": isoformat(datetime.now(UTC))})
            self._storage.update({_USER_UPDATES: queued})
        self._try_flush_events()

    @property
    def queued_user_updates(self) -> int:
        return len(self._storage.get(_USER_UPDATES) or [])

    def _send_user_updates(self) -> None:
        """Send queued person updates in order; one the server refuses (4xx) is dropped so
        it cannot block the others. The caller holds ``_flush_lock``."""
        while queued := self._storage.get(_USER_UPDATES):
            update = queued[0]
            body = {**update["fields"], "asOf": update["asOf"]}
            try:
                person = self._mobile("PATCH", "/person", json=body, user=True)
                self._store_user({k: v for k, v in person.items() if k != "ignoredFields"})
            except AudienceError as exc:
                if exc.status is None or not 400 <= exc.status < 500:
                    raise
                logger.warning("queued person update dropped by the server: %s", exc)
            with self._state_lock:
                left = (self._storage.get(_USER_UPDATES) or [])[1:]
                self._storage.update({_USER_UPDATES: left or None})

    def depersonalize(self) -> DepersonalizeResult:
        """Log out: local user data goes at once; the server call is retried until confirmed."""
        with self._state_lock:
            self._storage.update({_USER: None, _IDENTITY: None, _PENDING: True})
        try:
            self._complete_depersonalize()
        except NetworkError:
            self._wake.set()
            return DepersonalizeResult.PENDING
        return DepersonalizeResult.SUCCESS

    def _complete_depersonalize(self) -> None:
        with self._flush_lock:
            self._send_queued()  # events from before the logout go to the person logged out
            with self._lock:
                if not self._storage.get(_PENDING):
                    return
                installation = self._mobile("POST", "/depersonalize")
                with self._state_lock:
                    self._storage.update({_INSTALLATION: installation, _PENDING: None})

    # --- events ------------------------------------------------------------------------------

    def submit_event(
        self,
        definition_id: str,
        properties: dict[str, Any] | None = None,
        date: datetime | None = None,
    ) -> str:
        """Queue a custom event durably; answers its ``eventId``."""
        self._check_not_pending()
        return self._enqueue(definition_id, properties, date)

    def _enqueue(
        self, definition_id: str, properties: dict[str, Any] | None, date: datetime | None
    ) -> str:
        event = _event(definition_id, properties, date)
        # every full batch's worth triggers one send (not every event while offline)
        if self._storage.enqueue(event) % self._batch_size == 0:
            if self._flusher is not None:
                self._wake.set()
            else:
                self._try_flush_events()
        return str(event["eventId"])

    def submit_event_immediately(
        self,
        definition_id: str,
        properties: dict[str, Any] | None = None,
        date: datetime | None = None,
    ) -> dict[str, Any]:
        """Send one event now, validated; the server's error (e.g. ``INVALID_EVENT``) is raised."""
        self._check_not_pending()
        event = _event(definition_id, properties, date)
        answer: dict[str, Any] = self._mobile("POST", "/events", json={"events": [event]})
        return answer

    def app_launched(self, at: datetime | None = None) -> bool:
        """Queue an ``AppLaunch`` unless one was queued less than 30 s before (R7, also applied
        by the server); answers whether it was queued. Skipped while a logout is pending."""
        moment = at or datetime.now(UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # the server keeps milliseconds; compare what it will compare
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        with self._state_lock:
            if self._storage.get(_PENDING):
                return False
            last = self._storage.get(_LAST_LAUNCH)
            latest = moment
            if last is not None:
                previous = _parse(last)
                if timedelta(0) <= moment - previous <= LAUNCH_INTERVAL:
                    return False
                latest = max(previous, moment)
            self._storage.update({_LAST_LAUNCH: isoformat(latest)})
        self._enqueue(APP_LAUNCH, None, moment)
        return True

    def push_delivered(self, message_id: str, at: datetime | None = None) -> str:
        """Queue a ``PushDelivered`` for a push message (its ``messageId`` comes in the push's
        data); answers the event's ``eventId``."""
        self._check_not_pending()
        return self._enqueue("PushDelivered", {"messageId": message_id}, at)

    def push_opened(self, message_id: str, at: datetime | None = None) -> str:
        """Queue a ``PushOpened``: the user tapped the notification of ``message_id``."""
        self._check_not_pending()
        return self._enqueue("PushOpened", {"messageId": message_id}, at)

    def flush(self) -> None:
        """Send everything outstanding now: registration, queued events, a pending logout.
        Raises ``NetworkError`` if the server cannot be reached (nothing is lost)."""
        self._ensure_registered()
        with self._flush_lock:
            self._send_queued()
        if self.pending_depersonalize:
            self._complete_depersonalize()

    def _try_flush_events(self) -> None:
        try:
            with self._flush_lock:
                self._send_queued()
        except NetworkError:
            self._wake.set()
        except AudienceError as exc:
            logger.warning("event queue not sent: %s", exc)

    def _send_queued(self) -> None:
        """Send queued person updates, then the event queue in batches; the caller holds
        ``_flush_lock``."""
        self._send_user_updates()
        size = self._batch_size
        while batch := self._storage.peek(size):
            events = [event for _, event in batch]
            try:
                answer = self._mobile(
                    "POST", "/events", json={"events": events}, params={"validate": "false"}
                )
            except AudienceError as exc:
                if exc.status != 413:
                    raise
                if size == 1:  # one event larger than the server takes: it can never go
                    logger.warning("event %s too large, dropped", events[0].get("eventId"))
                    self._storage.remove(batch[-1][0])
                size = max(1, size // 2)
                continue
            for invalid in answer.get("invalid", []):
                logger.warning(
                    "event %s dropped by the server: %s %s",
                    events[invalid["index"]].get("eventId"),
                    invalid.get("code"),
                    invalid.get("reason"),
                )
            self._storage.remove(batch[-1][0])

    def _flush_loop(self, interval: float, max_backoff: float) -> None:
        """Background sender: every ``interval`` s, or at once when the queue is full; backs
        off exponentially (with jitter, in the transport) while the server is unreachable."""
        failures = 0
        while not self._stopping.is_set():
            wait = interval if failures == 0 else min(max_backoff, interval * 2**failures)
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping.is_set():
                return
            if not self._has_work():
                continue
            try:
                self.flush()
                failures = 0
            except AudienceError as exc:
                failures = min(failures + 1, 16)
                logger.info("background flush failed (%s); retrying later", exc.code)

    def _has_work(self) -> bool:
        return (
            self._storage.get(_INSTALLATION) is None
            or self._storage.queued() > 0
            or self.pending_depersonalize
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background sender and try a last flush; unsent events stay queued."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join()
        try:
            if self._has_work():
                self.flush()
        except AudienceError as exc:
            logger.warning("close: not everything was sent (%s); kept for next start", exc)
        finally:
            self._storage.close()
            self._transport.close()

    def __enter__(self) -> "MobileClient":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _event(
    definition_id: str, properties: dict[str, Any] | None, date: datetime | None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "definitionId": definition_id,
        "eventId": str(uuid.uuid4()),
        "date": isoformat(date or datetime.now(UTC)),
    }
    if properties:
        event["properties"] = properties
    return event
