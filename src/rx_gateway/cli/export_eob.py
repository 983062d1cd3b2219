"""`rx-gateway export_eob` (issue 17): being written."""

from __future__ import annotations

import argparse

from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise RxGatewayError("this export is not available yet")
