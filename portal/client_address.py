"""The client's address, for rate limits, the activity log and the access log.

    from portal.client_address import client_address
    ip = client_address(request.META)   # "198.51.100.7", or None when unknown

gunicorn's ASGI worker puts the TCP peer in REMOTE_ADDR (its FORWARDED_ALLOW_IPS decides
the scheme only). Behind a load balancer that peer is the load balancer, so every visitor
would share its address. The proxies the operator trusts (TRUSTED_PROXIES, addresses or
networks) append the address they saw to X-Forwarded-For, so the client is read from
the right: starting from the peer, while the address at hand is a trusted proxy, take
the next entry from the right, at most TRUSTED_PROXY_HOPS of them. The result is the
right-most address no trusted proxy vouches for. Whatever stands to its left was written
by the client and is never read, and a client that connects directly (an untrusted
peer) is its peer address, whatever headers it sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(meta: Mapping[str, Any]) -> str | None:
    """The client's address from a Django request's META (or gunicorn's access-log
    environ, which carries the same REMOTE_ADDR and HTTP_X_FORWARDED_FOR)."""
    address = parse_address(str(meta.get("REMOTE_ADDR") or ""))
    if address is None:
        return None
    trusted = trusted_networks(tuple(settings.TRUSTED_PROXIES))
    # Django joins repeated headers with commas; blank entries carry no address.
    forwarded = [
        entry for entry in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if entry.strip()
    ]
    for _hop in range(settings.TRUSTED_PROXY_HOPS):
        if not forwarded or not any(address in network for network in trusted):
            break
        reported = parse_address(forwarded.pop())
        if reported is None:  # not an address: keep the last one a trusted party gave
            break
        address = reported
    return str(address)


def parse_address(text: str) -> Address | None:
    """An IP address as peers and proxies write it, with or without a port
    ("192.0.2.1:443", "[2001:db8::1]:443"); an IPv4-mapped IPv6 address reads as IPv4."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """TRUSTED_PROXIES as networks (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)
