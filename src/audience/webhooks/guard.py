"""The SSRF guard (docs/webhooks.md): a webhook may not reach loopback, private or link-local hosts.

Checked when an endpoint is saved and again before every attempt (a name can resolve
elsewhere later). Redirects are never followed (the worker's HTTP client), so a public URL
cannot bounce a delivery to an internal one.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from audience.errors import ApiError, validation_error

MAX_URL_LENGTH = 2048


def check_url_shape(url: str) -> str:
    """An absolute http(s) URL with a host, else 400 ``VALIDATION_ERROR``; answers the host."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError:
        raise validation_error("url is not a valid URL", "url") from None
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise validation_error("url must be an absolute http(s) URL", "url")
    if port == 0 or any(ch.isspace() for ch in url):
        raise validation_error("url is not a valid URL", "url")
    return parts.hostname


def forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


def _addresses(infos: list[tuple[object, ...]]) -> set[str]:
    return {str(info[4][0]) for info in infos}  # type: ignore[index]


def resolves_to_forbidden(host: str) -> bool:
    """Whether any address ``host`` resolves to is forbidden. A name that does not resolve
    now is let through: its deliveries are checked again, attempt by attempt."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return any(forbidden_address(address) for address in _addresses(list(infos)))


async def resolves_to_forbidden_async(host: str) -> bool:
    """The same check for the worker; an IP literal costs no lookup."""
    try:
        return forbidden_address(host)
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return any(forbidden_address(address) for address in _addresses(list(infos)))


def check_url(url: str, allow_private: bool) -> None:
    """docs/webhooks.md: http(s) only; a host resolving to a private address → 400
    ``WEBHOOK_URL_FORBIDDEN`` unless ``AUDIENCE_WEBHOOK_ALLOW_PRIVATE`` is on."""
    host = check_url_shape(url)
    if not allow_private and resolves_to_forbidden(host):
        raise ApiError(
            400,
            "WEBHOOK_URL_FORBIDDEN",
            "url resolves to a loopback, private or link-local address",
            "url",
        )
