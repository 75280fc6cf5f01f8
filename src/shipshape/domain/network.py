"""Client address resolution and anonymisation: pure functions over strings."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> IPAddress | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # [v6]:port
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted)


def forwarded_for_chain(x_forwarded_for: str | None, forwarded: str | None) -> list[str]:
    """Addresses the proxies appended, nearest last. X-Forwarded-For wins over RFC 7239."""
    if x_forwarded_for:
        return [part.strip() for part in x_forwarded_for.split(",") if part.strip()]
    if forwarded:
        chain = []
        for element in forwarded.split(","):
            for pair in element.split(";"):
                key, _, value = pair.strip().partition("=")
                if key.lower() == "for" and value:
                    chain.append(value)
        return chain
    return []


def resolve_client_ip(
    peer: str | None,
    chain: Iterable[str],
    trusted: Sequence[IPNetwork],
) -> str:
    """Walk the forwarding chain from the nearest hop while hops are trusted proxies.

    The first untrusted address is the client; anything it claims about earlier hops is
    ignored, so a client cannot spoof its address through a trusted proxy either.
    """
    peer_ip = parse_ip(peer) if peer else None
    if peer_ip is None:
        return "unknown"
    current = peer_ip
    if not is_trusted(current, trusted):
        return str(current)
    for hop in reversed(list(chain)):
        hop_ip = parse_ip(hop)
        if hop_ip is None:
            break  # garbage ("unknown", obfuscated ids): stop at the last good address
        current = hop_ip
        if not is_trusted(current, trusted):
            break
    return str(current)


def anonymize_ip(address: str) -> str:
    """IPv4 truncated to /24 and IPv6 to /48, the common GDPR-friendly granularity."""
    parsed = parse_ip(address)
    if parsed is None:
        return address
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)
