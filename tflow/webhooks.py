"""Webhook URL policy (SSRF guard): http(s) only, and no loopback, private, link-local,
multicast or reserved destinations unless `TFLOW_ALLOW_PRIVATE_WEBHOOKS` is set."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


class WebhookRefused(ValueError):
    """The webhook URL is not acceptable; the message says why."""


def check_webhook_url(url: str, allow_private: bool = False, resolve: Callable[..., Any] = socket.getaddrinfo,
                      allowed_hosts: list[str] | tuple[str, ...] = ()) -> str:
    """Return `url` if acceptable; raise `WebhookRefused` otherwise. Every address the host
    resolves to is checked (a name resolving to 127.0.0.1 is refused like the literal)."""
    if len(url) > 2048:
        raise WebhookRefused("webhook_url is longer than 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("webhook_url must be an http(s) URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if allow_private or f"{parts.hostname}:{port}" in allowed_hosts:
        return url
    try:
        infos = resolve(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise WebhookRefused(f"webhook host {parts.hostname!r} does not resolve: {e}") from e
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved \
                or ip.is_unspecified:
            raise WebhookRefused(f"webhook host {parts.hostname!r} resolves to {ip}, a non-public address "
                                 "(set TFLOW_ALLOW_PRIVATE_WEBHOOKS to allow)")
    return url


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the key's secret."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
