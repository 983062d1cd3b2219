"""`serve` on a database that was never loaded says so at start-up, and keeps serving."""

from __future__ import annotations

import asyncio
import logging
import socket
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


@pytest.mark.parametrize("listener", ["claims", "admin"])
async def test_a_gateway_that_cannot_listen_closes_what_it_opened(
    loaded_dsn: str, listener: str
) -> None:
    """A busy claim or admin port fails start-up after the pools, the metrics listener and the
    settlement worker are open: each is closed again (no database connection left behind, the
    metrics port free), and the error names the address."""
    import asyncpg

    from rx_gateway.domain.errors import InvalidRequest

    async def connections(observer: asyncpg.Connection) -> int:
        count = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(count)

    with socket.socket() as holder, socket.socket() as metrics_probe:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = f"127.0.0.1:{holder.getsockname()[1]}"
        metrics_probe.bind(("127.0.0.1", 0))
        metrics_address = f"127.0.0.1:{metrics_probe.getsockname()[1]}"
        metrics_probe.close()
        settings = replace(
            TEST_SETTINGS,
            metrics_listen_address=metrics_address,
            admin_tokens=TEST_SETTINGS.admin_tokens if listener == "admin" else {},
            admin_listen_address=busy if listener == "admin" else "127.0.0.1:0",
            listen_address=busy if listener == "claims" else "127.0.0.1:0",
        )
        observer = await asyncpg.connect(loaded_dsn)
        try:
            before = await connections(observer)
            with pytest.raises(InvalidRequest, match=busy):
                await build_app(settings, loaded_dsn)
            for _ in range(50):  # a backend leaves pg_stat_activity a moment after its close
                if await connections(observer) <= before:
                    break
                await asyncio.sleep(0.1)
            assert await connections(observer) <= before
        finally:
            await observer.close()
    with socket.socket() as rebind:  # the metrics listener let its port go
        rebind.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        host, port = metrics_address.rsplit(":", 1)
        rebind.bind((host, int(port)))
