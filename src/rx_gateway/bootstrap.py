"""Wiring: the only module that imports every layer. Used by the CLI, the demo and the tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg

from rx_gateway.adapters.files.loader import read_dataset
from rx_gateway.adapters.postgres.admin import PostgresAdmin
from rx_gateway.adapters.postgres.database import (
    EmbeddedPostgres,
    create_pool,
    init_connection,
    migrate,
    wait_for_database,
)
from rx_gateway.adapters.postgres.loading import REFERENCE_CHANNEL, known_keys, write_dataset
from rx_gateway.adapters.postgres.store import PostgresClaimStore
from rx_gateway.config import Settings
from rx_gateway.domain.errors import InsecureConfiguration
from rx_gateway.grpc_api.admin import AdminServer, AdminServicer
from rx_gateway.grpc_api.security import SwitchTable, TlsFiles
from rx_gateway.grpc_api.server import GatewayServer
from rx_gateway.grpc_api.servicer import BenefitServicer
from rx_gateway.service_layer.admin import AdminCredentials
from rx_gateway.service_layer.claims import ClaimProcessor
from rx_gateway.service_layer.reference import ReferenceHolder

log = logging.getLogger(__name__)


@dataclass
class Database:
    """A reachable PostgreSQL: the configured one, or an embedded one we started."""

    dsn: str
    embedded: EmbeddedPostgres | None = None

    @classmethod
    async def open(cls, settings: Settings) -> Database:
        if settings.database_url:
            await wait_for_database(settings.database_url, settings.database_start_timeout_s)
            return cls(settings.database_url)
        embedded = EmbeddedPostgres(settings.data_dir.resolve() / "pg")
        dsn = await asyncio.to_thread(embedded.start)
        await wait_for_database(dsn, settings.database_start_timeout_s)
        return cls(dsn, embedded)

    async def migrate(self) -> list[str]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    async def load(self, directory: Path, *, actor: str = "loader") -> dict[str, int]:
        """Validate every file first, then write all of it in one transaction."""
        conn = await asyncpg.connect(self.dsn)
        try:
            await init_connection(conn)
            dataset = read_dataset(directory, known=await known_keys(conn))
            return await write_dataset(conn, dataset, actor=actor, source=str(directory))
        finally:
            await conn.close()

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


@dataclass
class App:
    settings: Settings
    pool: asyncpg.Pool
    store: PostgresClaimStore
    reference: ReferenceHolder
    processor: ClaimProcessor
    server: GatewayServer
    admin: AdminServer | None = None
    admin_pool: asyncpg.Pool | None = None
    _listener: asyncpg.Connection | None = None
    _reloads: set[asyncio.Task[object]] = field(default_factory=set)

    @property
    def port(self) -> int:
        return self.server.port

    def _on_reference_change(self, *_: object) -> None:
        task = asyncio.get_running_loop().create_task(self.reference.reload(self.store))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def listen_for_changes(self, dsn: str) -> None:
        """Swap in a new reference snapshot whenever a load commits (LISTEN/NOTIFY)."""
        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener(REFERENCE_CHANNEL, self._on_reference_change)

    @property
    def admin_port(self) -> int | None:
        return self.admin.port if self.admin is not None else None

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.stop(self.settings.shutdown_grace_s)
        await self.server.stop(self.settings.shutdown_grace_s)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        for task in list(self._reloads):
            task.cancel()
        await self.pool.close()
        if self.admin_pool is not None:
            await self.admin_pool.close()


async def build_app(settings: Settings, dsn: str, *, start: bool = True) -> App:
    """Migrate, open the pool, load the reference snapshot, and (optionally) start serving.
    Refuses an insecure configuration unless development mode is explicit."""
    problem = settings.security_problem()
    if problem is not None:
        raise InsecureConfiguration(problem)
    tls = (
        TlsFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
        if settings.tls_cert_file is not None and settings.tls_key_file is not None
        else None
    )
    switches = SwitchTable.from_file(settings.switches_file) if settings.switches_file else None
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(dsn, settings.pool)
    store = PostgresClaimStore(pool, acquire_timeout_s=settings.pool.acquire_timeout_s)
    await store.warm(settings.pool.size_min)
    reference = ReferenceHolder(await store.load_snapshot())
    pinned = settings.business_date
    processor = (
        ClaimProcessor(store, reference, business_date=lambda: pinned)
        if pinned is not None
        else ClaimProcessor(store, reference)
    )
    server = GatewayServer(
        processor,
        listen_address=settings.listen_address,
        concurrent_rpcs_max=settings.grpc_concurrent_rpcs_max,
        message_bytes_max=settings.grpc_message_bytes_max,
        reuse_port=settings.reuse_port,
        benefits=BenefitServicer(store, reference, switches),
        credentials=tls.server_credentials(require_client_certificate=switches is not None)
        if tls
        else None,
        switches=switches,
    )
    app = App(settings, pool, store, reference, processor, server)
    if settings.admin_tokens:
        # its own small pool, as the operator's login: the application role may not change
        # members, coverage or authorizations
        admin_limits = replace(settings.pool, role=None, size_min=1, size_max=2)
        app.admin_pool = await create_pool(dsn, admin_limits)
        app.admin = AdminServer(
            AdminServicer(
                PostgresAdmin(app.admin_pool, acquire_timeout_s=admin_limits.acquire_timeout_s),
                AdminCredentials(settings.admin_tokens),
            ),
            listen_address=settings.admin_listen_address,
            credentials=tls.server_credentials(require_client_certificate=False) if tls else None,
        )
    await app.listen_for_changes(dsn)
    if start:
        await server.start()
        if app.admin is not None:
            await app.admin.start()
    return app
