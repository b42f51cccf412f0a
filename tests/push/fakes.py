"""Local fake push providers: an OAuth2 token endpoint and FCM v1 over HTTP/1.1, and APNs over
HTTP/2 with TLS (hypercorn, a certificate signed by a CA made here). They check what the real
services check (signed assertions, bearer tokens, ES256 provider tokens, HTTP/2) and record
every request; tests script answers per device token."""

import asyncio
import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config

Answer = tuple[int, dict[str, Any], dict[str, str]]


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Keys:
    """A Google service account key and an APNs .p8 key, made once per test session."""

    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    http_version: str


class FakeProviders:
    """One ASGI app serving the token endpoint, FCM's messages:send and APNs' /3/device."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.reset()

    def reset(self) -> None:
        self.token_requests: list[dict[str, Any]] = []
        self.fcm: list[Recorded] = []
        self.apns: list[Recorded] = []
        self.issued: set[str] = set()
        self.expires_in = 3600
        # token -> answers to give, in order (then 200)
        self.script: dict[str, list[Answer]] = {}
        self.on_send: Callable[[str], None] | None = None
        self.delay = 0.0

    def forget_requests(self) -> None:
        """Forget what was sent, keep issued tokens (the server keeps its cache)."""
        self.token_requests.clear()
        self.fcm.clear()
        self.apns.clear()

    def answer_for(self, token: str) -> Answer | None:
        queue = self.script.get(token)
        return queue.pop(0) if queue else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the client gave up (timeout)
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        if path == "/token":
            status, body, extra = self.token(raw)
        elif path.startswith("/v1/projects/"):
            status, body, extra = await self.fcm_send(path, headers, raw, scope["http_version"])
        elif path.startswith("/3/device/"):
            status, body, extra = await self.apns_send(path, headers, raw, scope["http_version"])
        else:
            status, body, extra = 404, {}, {}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")]
                + [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def token(self, raw: bytes) -> Answer:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        self.token_requests.append(form)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}, {}
        try:
            claims = jwt.decode(
                form["assertion"],
                self.keys.rsa_key.public_key(),
                algorithms=["RS256"],
                audience=self.token_uri,
            )
        except (KeyError, jwt.PyJWTError) as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}, {}
        assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        token = f"ya29.fake-{len(self.issued) + 1}"
        self.issued.add(token)
        return 200, {"access_token": token, "expires_in": self.expires_in}, {}

    async def fcm_send(
        self, path: str, headers: dict[str, str], raw: bytes, version: str
    ) -> Answer:
        body = json.loads(raw)
        self.fcm.append(Recorded(path, headers, body, version))
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.issued:
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, {}
        return await self._answer(body["message"]["token"]) or (
            200,
            {"name": f"projects/demo/messages/{len(self.fcm)}"},
            {},
        )

    async def apns_send(
        self, path: str, headers: dict[str, str], raw: bytes, version: str
    ) -> Answer:
        self.apns.append(Recorded(path, headers, json.loads(raw), version))
        try:
            jwt.decode(
                headers.get("authorization", "").removeprefix("bearer "),
                self.keys.ec_key.public_key(),
                algorithms=["ES256"],
            )
        except jwt.PyJWTError:
            return 403, {"reason": "InvalidProviderToken"}, {}
        return await self._answer(path.removeprefix("/3/device/")) or (200, {}, {"apns-id": "x"})

    async def _answer(self, token: str) -> Answer | None:
        if self.on_send is not None:
            self.on_send(token)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer_for(token)

    token_uri = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Audience test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_text(pem(key))
    return paths


class Servers:
    """The fake app served twice in a background thread: plain HTTP/1.1 (token + FCM) and
    TLS with HTTP/2 (APNs)."""

    def __init__(self, app: FakeProviders, cert: Path, key: Path) -> None:
        self.app = app
        self.http_port = free_port()
        self.tls_port = free_port()
        self._cert, self._key = cert, key
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        for port in (self.http_port, self.tls_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        plain = Config()
        plain.bind = [f"127.0.0.1:{self.http_port}"]
        plain.loglevel = "WARNING"
        plain.backlog = 4096
        plain.keep_alive_timeout = 300  # a loaded machine must not see idle connections reset
        tls = Config()
        tls.bind = [f"127.0.0.1:{self.tls_port}"]
        tls.certfile = str(self._cert)
        tls.keyfile = str(self._key)
        tls.alpn_protocols = ["h2"]
        tls.loglevel = "WARNING"
        tls.backlog = 4096
        tls.keep_alive_timeout = 300
        await asyncio.gather(
            serve(self.app, plain, shutdown_trigger=self._stop.wait),  # type: ignore[arg-type]
            serve(self.app, tls, shutdown_trigger=self._stop.wait),  # type: ignore[arg-type]
        )
