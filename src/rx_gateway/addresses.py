"""Listen addresses as every listener takes them (the claim, admin and metrics ports): HOST:PORT.

Pure (the standard library and the domain's digits 0-9): the configuration, the CLI, the gRPC
edge and the metrics listener all read an address the same way."""

from __future__ import annotations

from rx_gateway.domain.values import is_digits

PORT_MAX = 65_535


def split_listen_address(address: str) -> tuple[str, int] | None:
    """HOST:PORT as (host, port): an IPv6 host in brackets ([::1]:9464, returned without
    them), a port of 0-65535 in digits 0-9 (0: any free port). None when the address is not
    that; the host may be empty (the caller says what is missing)."""
    host, colon, port = address.rpartition(":")
    if host.startswith("[") != host.endswith("]") or host == "[":
        return None
    if host.startswith("["):
        host = host[1:-1]
    if not colon or not is_digits(port) or int(port) > PORT_MAX:
        return None
    return host, int(port)
