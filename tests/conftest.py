"""Shared fixtures: a fresh PostgreSQL database per test session, loaded with synthetic data.

With RX_GATEWAY_DATABASE_URL set, tests create (and drop) a uniquely named database on that
server; otherwise they start an embedded PostgreSQL (pgserver) in a temporary directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import EmbeddedPostgres
from rx_gateway.bootstrap import App, Database, build_app
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import generate
from tests.support import TEST_SETTINGS


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server URL (any database on it)."""
    configured = os.environ.get("RX_GATEWAY_DATABASE_URL")
    if configured:
        yield configured
        return
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-test-"))
    embedded = EmbeddedPostgres(workdir / "pg")
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[Any]:
    """A factory of new empty databases on the server; all dropped at the end."""
    created: list[str] = []

    async def make() -> str:
        name = f"rxgw_test_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return _with_database(server_url, name)

    yield make
    admin = await asyncpg.connect(server_url)
    try:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("data")
    fixtures = generate(directory, members=2_000)
    return directory, fixtures


@pytest.fixture(scope="session")
def fixtures(dataset: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return dataset[1]


@pytest.fixture(scope="session")
def fresh_loaded_database(fresh_database: Any, dataset: tuple[Path, dict[str, Any]]) -> Any:
    """A factory of new databases, migrated and loaded with the synthetic data."""

    async def make() -> str:
        dsn: str = await fresh_database()
        database = Database(dsn)
        await database.migrate()
        await database.load(dataset[0])
        return dsn

    return make


@pytest.fixture(scope="session")
async def loaded_dsn(fresh_loaded_database: Any) -> str:
    """The session's shared loaded database."""
    dsn: str = await fresh_loaded_database()
    return dsn


@pytest.fixture(scope="session")
async def app(loaded_dsn: str) -> AsyncIterator[App]:
    settings = replace(TEST_SETTINGS)
    application = await build_app(settings, loaded_dsn)
    yield application
    await application.stop()


@pytest.fixture(scope="session")
async def client(app: App) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(f"127.0.0.1:{app.port}") as gateway_client:
        yield gateway_client


@pytest.fixture
async def conn(loaded_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(loaded_dsn)
    yield connection
    await connection.close()


_rx_counter = iter(range(500_000, 10**9))


@pytest.fixture
def rx_number() -> Any:
    """Fresh prescription numbers, so tests never collide on a claim key."""
    return lambda: next(_rx_counter)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
