"""Client address resolution and anonymisation: pure functions over strings."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _packed(value: str) -> tuple[socket.AddressFamily, bytes] | None:
    """An address as the C parser reads it (`ipaddress` parses text in Python, several times
    slower, and this runs for every request): bare, `v4:port`, `[v6]:port`, quoted."""
    value = value.strip().strip('"')
    if value.startswith("["):  # [v6]:port
        value, closed, _ = value[1:].partition("]")
        if not closed:
            return None
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, value)
        except OSError:
            continue
        if family == socket.AF_INET6 and packed.startswith(V4_MAPPED):
            return socket.AF_INET, packed[12:]
        return family, packed
    return None


def parse_ip(value: str) -> IPAddress | None:
    parsed = _packed(value)
    if parsed is None:
        return None
    family, packed = parsed
    return (
        ipaddress.IPv4Address(packed) if family == socket.AF_INET else ipaddress.IPv6Address(packed)
    )


def forwarded_chain(header: str, lines: Sequence[str]) -> list[str]:
    """The addresses the proxies appended, nearest last, from every line of the one header
    they write (`x-forwarded-for` or RFC 7239 `forwarded`), joined in order: a proxy that
    appends a line of its own (HAProxy's `option forwardfor`) is the nearest hop."""
    elements = [part.strip() for line in lines for part in line.split(",") if part.strip()]
    if header == "x-forwarded-for":
        return elements
    chain = []
    for element in elements:
        hop = "unknown"  # an element without `for=` hides its hop: the walk stops there
        for pair in element.split(";"):
            key, _, value = pair.strip().partition("=")
            if key.strip().lower() == "for" and value.strip():
                hop = value.strip()
        chain.append(hop)
    return chain


class TrustedProxies:
    """The proxies whose forwarding headers are believed, as integers per address family."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.networks: dict[int, list[tuple[int, int]]] = {socket.AF_INET: [], socket.AF_INET6: []}
        for network in networks:
            family = socket.AF_INET if network.version == 4 else socket.AF_INET6
            self.networks[family].append((int(network.network_address), int(network.netmask)))

    def trusts(self, family: int, packed: bytes) -> bool:
        value = int.from_bytes(packed)
        return any(value & mask == net for net, mask in self.networks[family])

    def client_ip(self, peer: str | None, chain: Sequence[str]) -> str:
        """Walk the forwarding chain from the nearest hop while hops are trusted proxies.

        The first untrusted address is the client; anything it claims about earlier hops is
        ignored, so a client cannot spoof its address through a trusted proxy either.
        """
        if not chain and peer is not None and "." in peer and ":" not in peer:
            # Most requests: no forwarding header, an IPv4 peer. inet_pton accepts only the
            # canonical dotted quad, which is then already the answer.
            try:
                socket.inet_pton(socket.AF_INET, peer)
            except OSError:
                pass  # not canonical: parsed below
            else:
                return peer
        current = _packed(peer) if peer else None
        if current is None:
            return "unknown"
        if self.trusts(*current):
            for hop in reversed(chain):
                parsed = _packed(hop)
                if parsed is None:
                    break  # garbage ("unknown", obfuscated ids): stop at the last good address
                current = parsed
                if not self.trusts(*current):
                    break
        return socket.inet_ntop(*current)


def resolve_client_ip(peer: str | None, chain: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """`TrustedProxies(trusted).client_ip(peer, chain)`, for one-off use."""
    return TrustedProxies(trusted).client_ip(peer, chain)


def anonymize_ip(address: str) -> str:
    """IPv4 truncated to /24 and IPv6 to /48, the common GDPR-friendly granularity."""
    parsed = parse_ip(address)
    if parsed is None:
        return address
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)
