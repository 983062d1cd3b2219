"""What `rx-gateway bench` was asked (its command-line options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    rates: tuple[int, ...] = ()
    seconds: float = 0.0  # per rate; 0: the mode's default
    workers: int = 1
    out: Path = Path("bench-results")
    members: int = 10_000
    floor_seconds: float = 0.0
    # HAProxy in front (deploy/haproxy/haproxy.cfg): its capacity and overload runs after the
    # gateway's own; at most front_inflight calls in the gateway, a call refused after waiting
    # front_queue_ms for a slot
    front: bool = False
    front_inflight: int = 16
    front_queue_ms: int = 20
