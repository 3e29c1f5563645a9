"""Webhook URL policy (SSRF guard) and signing. A target must be http(s) and every address
its host resolves to must be globally routable (`ipaddress` `is_global`, after unwrapping
the IPv6 forms that carry an IPv4 address: IPv4-mapped, 6to4 `2002::/16`, Teredo, NAT64
`64:ff9b::/96` and `64:ff9b:1::/48`), unless `TFLOW_ALLOW_PRIVATE_WEBHOOKS` or
`TFLOW_WEBHOOK_ALLOWED_HOSTS` say otherwise. The delivery connects to the very address
that was checked (`Pinned`): no window for DNS rebinding between check and connect."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: NAT64 prefixes whose last 32 bits are an IPv4 address (RFC 6052, RFC 8215).
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: Special-purpose blocks older Pythons' `is_global` tables miss (IANA IPv4 special-purpose
#: registry: 192.0.0.0/24 IETF protocol assignments).
NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"),)


class WebhookRefused(ValueError):
    """The webhook URL is not acceptable; the message says why."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, Teredo client, NAT64), or None."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable and unicast, and so is any IPv4 address it wraps (IANA special-
    purpose registries, as `ipaddress.is_global` encodes them: 100.64.0.0/10 shared
    address space, 169.254/16 link-local and the cloud metadata addresses are not)."""
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and inner is not None and ip.ipv4_mapped is not None:
        return True  # ::ffff:a.b.c.d is a.b.c.d
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in NOT_GLOBAL)


@dataclass(frozen=True)
class Pinned:
    """A checked target: `url` with its host replaced by the checked address, the `Host`
    header and TLS server name of the original host (None when not pinned: allowed
    without a check)."""

    url: str
    host_header: str | None = None
    sni_hostname: str | None = None


def check_webhook_url(url: str, allow_private: bool = False, resolve: Callable[..., Any] = socket.getaddrinfo,
                      allowed_hosts: list[str] | tuple[str, ...] = ()) -> Pinned:
    """The pinned target of `url` if acceptable; raise `WebhookRefused` otherwise. Every
    address the host resolves to is checked (a name resolving to 127.0.0.1 is refused like
    the literal); the first is the one connected to."""
    if len(url) > 2048:
        raise WebhookRefused("webhook_url is longer than 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise WebhookRefused(f"webhook_url is not a URL: {e}") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("webhook_url must be an http(s) URL with a host")
    if allow_private or f"{parts.hostname}:{port}" in allowed_hosts:
        return Pinned(url)
    try:
        infos = resolve(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise WebhookRefused(f"webhook host {parts.hostname!r} does not resolve: {e}") from e
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise WebhookRefused(f"webhook host {parts.hostname!r} has no address")
    for ip in addresses:
        if not is_public(ip):
            raise WebhookRefused(f"webhook host {parts.hostname!r} resolves to {ip}, not a globally routable "
                                 "address (set TFLOW_ALLOW_PRIVATE_WEBHOOKS to allow)")
    ip = addresses[0]
    literal = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
    netloc = f"{literal}:{port}"
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return Pinned(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), host_header,
                  parts.hostname if parts.scheme == "https" else None)


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the key's secret."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
