"""Provider clients behind one small interface: FCM HTTP v1, APNs (HTTP/2, token auth), log.

A provider turns one rendered message for one token into a :class:`SendResult`: sent, a dead
token (the installation is then uninstalled, R4), retry later (429, 5xx, network; with the
provider's ``Retry-After`` when it gave one), or failed for good.

Credentials cost round trips, so both are cached per process: the FCM OAuth2 access token
until shortly before it expires, the APNs provider JWT for 50 minutes (Apple refuses one older
than 60 and throttles refreshing more often than every 20).
"""

import asyncio
import email.utils
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx
import jwt

from audience.push.credentials import ApnsCredentials, FcmCredentials

log = logging.getLogger("audience.push")

Status = Literal["sent", "failed", "invalid_token", "retry"]
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# An access token is renewed this long before Google says it expires.
ACCESS_TOKEN_MARGIN_SECONDS = 60
APNS_TOKEN_LIFETIME_SECONDS = 50 * 60


@dataclass(frozen=True)
class Outgoing:
    token: str
    title: str
    body: str
    data: dict[str, str]
    ttl_seconds: int | None
    collapse_key: str | None


@dataclass(frozen=True)
class SendResult:
    status: Status
    error: str | None = None
    retry_after: float | None = None


SENT = SendResult("sent")


class Provider(Protocol):
    async def send(self, message: Outgoing) -> SendResult: ...


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds or an HTTP date; ``None`` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _retryable(response: httpx.Response, error: str) -> SendResult | None:
    if response.status_code == 429 or response.status_code >= 500:
        return SendResult("retry", error, retry_after_seconds(response))
    return None


# (client_email, token_uri) -> (access token, monotonic time it stops being used)
_fcm_tokens: dict[tuple[str, str], tuple[str, float]] = {}
# (team_id, key_id) -> (provider token, wall time it was issued)
_apns_tokens: dict[tuple[str, str], tuple[str, float]] = {}


class FcmProvider:
    """Firebase Cloud Messaging HTTP v1: ``POST /v1/projects/{id}/messages:send``."""

    def __init__(self, http: httpx.AsyncClient, credentials: FcmCredentials, base_url: str):
        self.http = http
        self.credentials = credentials
        self.url = f"{base_url.rstrip('/')}/v1/projects/{credentials.project_id}/messages:send"
        self._lock = asyncio.Lock()
        self._key = (credentials.client_email, credentials.token_uri)

    async def access_token(self) -> str:
        """The cached OAuth2 token, or a new one from the account's ``token_uri`` (JWT bearer
        grant, RFC 7523), fetched once however many sends wait for it."""
        cached = _fcm_tokens.get(self._key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self._lock:
            cached = _fcm_tokens.get(self._key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            now = int(time.time())
            claims = {
                "iss": self.credentials.client_email,
                "scope": FCM_SCOPE,
                "aud": self.credentials.token_uri,
                "iat": now,
                "exp": now + 3600,
            }
            headers = (
                {"kid": self.credentials.private_key_id}
                if self.credentials.private_key_id
                else None
            )
            assertion = jwt.encode(claims, self.credentials.private_key, "RS256", headers)
            response = await self.http.post(
                self.credentials.token_uri,
                data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": assertion,
                },
            )
            response.raise_for_status()
            answer = response.json()
            token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in", 3600)) - ACCESS_TOKEN_MARGIN_SECONDS
            _fcm_tokens[self._key] = (token, time.monotonic() + max(lifetime, 0.0))
            return token

    def payload(self, message: Outgoing) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token": message.token,
            "notification": {"title": message.title, "body": message.body},
        }
        if message.data:
            body["data"] = message.data
        android: dict[str, Any] = {}
        if message.ttl_seconds is not None:
            android["ttl"] = f"{message.ttl_seconds}s"
        if message.collapse_key:
            android["collapse_key"] = message.collapse_key
        if android:
            body["android"] = android
        return {"message": body}

    async def send(self, message: Outgoing) -> SendResult:
        try:
            token = await self.access_token()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            return SendResult("retry", f"FCM token exchange failed: {exc}")
        response = await self.http.post(
            self.url,
            json=self.payload(message),
            headers={"authorization": f"Bearer {token}"},
        )
        if response.status_code == 200:
            return SENT
        code, status = _fcm_error(response)
        error = f"FCM {response.status_code} {code or status or ''}".strip()
        if code == "UNREGISTERED":
            return SendResult("invalid_token", error)
        if response.status_code == 401:  # revoked or expired early: fetch a new one next time
            _fcm_tokens.pop(self._key, None)
            return SendResult("retry", error)
        return _retryable(response, error) or SendResult("failed", error)


def _fcm_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """The FCM ``errorCode`` (from the error details) and the Google RPC status."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return None, None
    code = None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = str(detail["errorCode"])
    return code, error.get("status")


class ApnsProvider:
    """Apple Push Notification service over HTTP/2 with an ES256 provider token."""

    def __init__(self, http: httpx.AsyncClient, credentials: ApnsCredentials, base_url: str):
        self.http = http
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self._key = (credentials.team_id, credentials.key_id)

    def provider_token(self) -> str:
        cached = _apns_tokens.get(self._key)
        now = time.time()
        if cached and now - cached[1] < APNS_TOKEN_LIFETIME_SECONDS:
            return cached[0]
        token = jwt.encode(
            {"iss": self.credentials.team_id, "iat": int(now)},
            self.credentials.private_key,
            "ES256",
            {"kid": self.credentials.key_id},
        )
        _apns_tokens[self._key] = (token, now)
        return token

    def payload(self, message: Outgoing) -> dict[str, Any]:
        return {
            **message.data,
            "aps": {"alert": {"title": message.title, "body": message.body}},
        }

    def headers(self, message: Outgoing) -> dict[str, str]:
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self.credentials.bundle_id,
            "apns-push-type": "alert",
            "apns-priority": "10",
        }
        if message.ttl_seconds is not None:
            headers["apns-expiration"] = str(int(time.time()) + message.ttl_seconds)
        if message.collapse_key:
            headers["apns-collapse-id"] = message.collapse_key
        return headers

    async def send(self, message: Outgoing) -> SendResult:
        response = await self.http.post(
            f"{self.base_url}/3/device/{message.token}",
            content=json.dumps(self.payload(message)).encode(),
            headers=self.headers(message),
        )
        if response.status_code == 200:
            return SENT
        try:
            reason = str(response.json().get("reason", ""))
        except (ValueError, AttributeError):
            reason = ""
        error = f"APNs {response.status_code} {reason}".strip()
        if response.status_code == 410 or reason in ("BadDeviceToken", "Unregistered"):
            return SendResult("invalid_token", error)
        if reason in ("ExpiredProviderToken", "InvalidProviderToken"):
            _apns_tokens.pop(self._key, None)
            return SendResult("retry", error)
        return _retryable(response, error) or SendResult("failed", error)


class LogProvider:
    """For development: logs what would be sent and reports it sent."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, message: Outgoing) -> SendResult:
        log.info(
            "push (log provider, %s) to %s…: %r / %r data=%r",
            self.name,
            message.token[:12],
            message.title,
            message.body,
            message.data,
        )
        return SENT


class MissingCredentials:
    """An installation whose provider has no credentials for its application."""

    def __init__(self, name: str) -> None:
        self.error = f"no {name} credentials for this application"

    async def send(self, message: Outgoing) -> SendResult:
        return SendResult("failed", self.error)
