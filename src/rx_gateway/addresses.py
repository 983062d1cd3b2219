"""Listen addresses as every listener takes them (the claim, admin and metrics ports): HOST:PORT.

Pure (the standard library and the domain's digits 0-9): the configuration, the CLI, the gRPC
edge and the metrics listener all read an address the same way."""

from __future__ import annotations

import errno
import socket

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


def bind_problem(error: OSError, host: str, port: int) -> str:
    """Why a listener could not bind HOST:PORT, in one line (every listener says it alike)."""
    if isinstance(error, socket.gaierror):
        return f"host {host!r} does not resolve ({error})"
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is already in use (another rx-gateway running?)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    if error.errno == errno.EACCES:
        return f"permission denied for port {port} (ports below 1024 need privileges)"
    return error.strerror or str(error)
