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
