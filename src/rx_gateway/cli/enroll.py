"""`rx-gateway enroll` (issue 17): being written."""

from __future__ import annotations

from pathlib import Path

from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError


async def run(settings: Settings, file: Path | None, *, report: bool) -> int:
    raise RxGatewayError("enroll is not available yet")
