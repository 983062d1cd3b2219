"""`serve` on a database that was never loaded says so at start-up, and keeps serving."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.bootstrap import Database, build_app
from tests.support import TEST_SETTINGS


async def test_serving_with_no_plans_warns_and_still_serves(
    fresh_database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Every claim would be rejected 01: a WARNING names the fix (`rx-gateway load DIR`)."""
    dsn = await fresh_database()
    await Database(dsn).migrate()
    with caplog.at_level(logging.WARNING, logger="rx_gateway.bootstrap"):
        app = await build_app(replace(TEST_SETTINGS, admin_tokens={}), dsn)
    try:
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "rx_gateway.bootstrap"
        ]
        assert any("no plans loaded" in m and "rx-gateway load DIR" in m for m in warnings)
        assert app.port > 0  # serving all the same
    finally:
        await app.stop()


async def test_serving_a_loaded_database_does_not_warn(
    loaded_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rx_gateway.bootstrap"):
        app = await build_app(replace(TEST_SETTINGS, admin_tokens={}), loaded_dsn)
    try:
        assert not [r for r in caplog.records if "no plans loaded" in r.getMessage()]
    finally:
        await app.stop()
