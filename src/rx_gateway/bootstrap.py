"""Wiring: the only module that imports every layer. Used by the CLI, the demo and the tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
from grpc import aio

from rx_gateway.adapters.files.loader import read_dataset
from rx_gateway.adapters.files.x12_834 import X12EnrollmentReader
from rx_gateway.adapters.postgres.admin import PostgresAdmin
from rx_gateway.adapters.postgres.citus import is_distributed
from rx_gateway.adapters.postgres.database import (
    EmbeddedPostgres,
    create_pool,
    init_connection,
    migrate,
    wait_for_database,
)
from rx_gateway.adapters.postgres.enrollment import PostgresEnrollment
from rx_gateway.adapters.postgres.eob import PostgresEob
from rx_gateway.adapters.postgres.errors import server_message
from rx_gateway.adapters.postgres.loading import REFERENCE_CHANNEL, known_keys, write_dataset
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.adapters.postgres.store import PostgresClaimStore, warming
from rx_gateway.config import PoolLimits, Settings
from rx_gateway.domain.errors import InsecureConfiguration, RxGatewayError
from rx_gateway.grpc_api.admin import AdminServer, AdminServicer
from rx_gateway.grpc_api.registration import Wrapper
from rx_gateway.grpc_api.security import SwitchTable, TlsFiles
from rx_gateway.grpc_api.server import GatewayServer
from rx_gateway.grpc_api.servicer import BenefitServicer
from rx_gateway.observability import metrics, tracing
from rx_gateway.observability.interceptor import MetricsInterceptor
from rx_gateway.service_layer.admin import AdminCredentials
from rx_gateway.service_layer.claims import ClaimProcessor, today_utc
from rx_gateway.service_layer.flow import Admission
from rx_gateway.service_layer.reference import ReferenceHolder
from rx_gateway.settlement_worker import WorkerCloser

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


# polls in a row that must fail before the database counts as unreachable (health NOT_SERVING)
UNREACHABLE_POLLS = 2


class ReferenceWatcher:
    """Keeps a gateway's reference snapshot current. A load NOTIFYs at once; this also reopens
    the LISTEN connection when it is lost (a database restart), and polls the stored version
    every ``poll_s`` seconds as a backstop for a notification missed while it was down."""

    def __init__(
        self,
        dsn: str,
        holder: ReferenceHolder,
        loader: PostgresReferenceLoader,
        poll_s: float,
        on_reachable: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        """``on_reachable(reachable)`` is told when UNREACHABLE_POLLS polls in a row found the
        database unreachable (one slow poll is not an outage), and when the first poll after
        that finds it again (health follows it: GatewayServer)."""
        self._on_reachable = on_reachable
        self._reachable = True
        self._failed_polls = 0
        self._dsn = dsn
        self._holder = holder
        self._loader = loader
        self._poll_s = poll_s
        self._listener: asyncpg.Connection | None = None
        self._reloads: set[asyncio.Task[object]] = set()
        self._task: asyncio.Task[None] | None = None

    def _reload(self, *_: object) -> None:
        task = asyncio.get_running_loop().create_task(self._holder.reload(self._loader))
        self._reloads.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._reloads.discard(task)
        metrics.set_reference_version(self._holder.snapshot.version)
        if not task.cancelled() and task.exception() is not None:
            log.warning("reference reload failed", extra={"error": type(task.exception()).__name__})

    async def _listen(self) -> None:
        listener = await asyncpg.connect(self._dsn, timeout=5.0)
        await listener.add_listener(REFERENCE_CHANNEL, self._reload)
        self._listener = listener

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._listen()
                    log.warning("reference listener reconnected")
                    self._reload()  # anything committed while it was down
                elif self._holder.is_behind(await self._loader.reference_data_version()):
                    log.warning("reference change caught up by polling")
                    self._reload()
            except (TimeoutError, OSError, asyncpg.PostgresError, RxGatewayError) as error:
                said = server_message(error) if isinstance(error, asyncpg.PostgresError) else error
                log.warning("reference watch: database unreachable", extra={"error": str(said)})
                await self._told(reachable=False)
            else:
                await self._told(reachable=True)

    async def _told(self, *, reachable: bool) -> None:
        self._failed_polls = 0 if reachable else self._failed_polls + 1
        if reachable is self._reachable or (
            not reachable and self._failed_polls < UNREACHABLE_POLLS
        ):
            return
        self._reachable = reachable
        if self._on_reachable is not None:
            await self._on_reachable(reachable)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._reloads):
            task.cancel()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()


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
    closer: WorkerCloser | None = None
    watcher: ReferenceWatcher | None = None
    metrics_listener: metrics.MetricsListener | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def admin_port(self) -> int | None:
        return self.admin.port if self.admin is not None else None

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.stop(self.settings.shutdown_grace_s)
        await self.server.stop(self.settings.shutdown_grace_s)
        await self.store.close_batches()
        if self.watcher is not None:
            await self.watcher.stop()
        await self.pool.close()
        if self.admin_pool is not None:
            await self.admin_pool.close()
        if self.closer is not None:
            self.closer.shutdown()
        if self.metrics_listener is not None:
            self.metrics_listener.close()
        if self.settings.otel_enabled:
            tracing.shutdown()


async def _open_pool(
    dsn: str,
    limits: PoolLimits,
    variable: str,
    warm: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    *,
    generic_plans: bool = False,
) -> asyncpg.Pool:
    """The pool, every connection SET ROLE to the configured role; one clear error when the
    role is missing or the login may not take it."""
    try:
        return await create_pool(dsn, limits, warm=warm, generic_plans=generic_plans)
    except asyncpg.TooManyConnectionsError:
        msg = (
            f"the database refused a connection: too many connections (this pool opens"
            f" {limits.size_min} at start, up to {limits.size_max}): lower"
            " RX_GATEWAY_DB_POOL_SIZE_MIN/RX_GATEWAY_DB_POOL_SIZE_MAX (and --workers), or raise"
            " the server's max_connections"
        )
        raise RxGatewayError(msg) from None
    except (asyncpg.InvalidParameterValueError, asyncpg.InsufficientPrivilegeError) as error:
        msg = (
            f"cannot use database role {limits.role!r} ({server_message(error)}): run"
            " `rx-gateway migrate` as a"
            f" login that may CREATEROLE and GRANT it to this login, or set {variable}"
        )
        raise InsecureConfiguration(msg) from None


async def _refuse_superuser(pool: asyncpg.Pool) -> None:
    """A gateway serving claims as a superuser could do anything to the ledger."""
    async with pool.acquire() as conn:
        role = await conn.fetchrow(
            "SELECT current_user AS name, rolsuper FROM pg_roles WHERE rolname = current_user"
        )
    if role is not None and role["rolsuper"]:
        msg = (
            f"refusing to serve claims as superuser {role['name']!r}: set RX_GATEWAY_DB_ROLE to"
            " the application role (rx_gateway_app, the default), or RX_GATEWAY_DEV_MODE=1"
        )
        raise InsecureConfiguration(msg)


def _metrics_listener(settings: Settings) -> metrics.MetricsListener | None:
    """The Prometheus listener, when RX_GATEWAY_METRICS_LISTEN is set (over TLS when the
    gateway has a certificate); under --workers the workers have none (the parent listens)."""
    if settings.metrics_listen_address is None:
        return None
    listener = metrics.start_metrics_listener(
        settings.metrics_listen_address,
        multiprocess_dir=settings.metrics_multiprocess_dir,
        cert_file=settings.tls_cert_file,
        key_file=settings.tls_key_file,
    )
    log.info("metrics listening", extra={"port": listener.port})
    return listener


def _wrappers(settings: Settings) -> list[Wrapper]:
    """Around each method's error mapping, once: RPC metrics when anything reads them."""
    if settings.metrics_listen_address is not None or settings.metrics_multiprocess_dir:
        return [MetricsInterceptor()]
    return []


def _interceptors() -> list[aio.ServerInterceptor]:  # type: ignore[type-arg]
    """Around everything, on every call: traces, when on (a span from each call's metadata)."""
    traced = tracing.server_interceptor()
    return [] if traced is None else [traced]


def tls_files(settings: Settings) -> TlsFiles | None:
    """The configured certificate, key and client CA, checked (InvalidRequest naming the
    setting when the TLS library cannot use them), or None without TLS."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    tls = TlsFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
    tls.check()
    return tls


async def build_app(settings: Settings, dsn: str, *, start: bool = True) -> App:
    """Migrate, open the pool, load the reference snapshot, and (optionally) start serving.
    Refuses an insecure configuration unless development mode is explicit. When a step fails
    (a busy port, a missing role), what the earlier steps opened is closed again."""
    async with contextlib.AsyncExitStack() as undo:
        app = await _build_app(settings, dsn, start, undo)
        undo.pop_all()  # built: App.stop closes it all from now on
    return app


async def _build_app(
    settings: Settings, dsn: str, start: bool, undo: contextlib.AsyncExitStack
) -> App:
    problem = settings.security_problem()
    if problem is not None:
        raise InsecureConfiguration(problem)
    if settings.otel_enabled:
        tracing.configure(settings.otel_traces_exporter)
        undo.callback(tracing.shutdown)
    tls = tls_files(settings)  # checked first: a bad file is named, not a port
    metrics_listener = _metrics_listener(settings)  # then a busy port fails before any work
    if metrics_listener is not None:
        undo.callback(metrics_listener.close)
    switches = (
        SwitchTable.from_file(settings.switches_file, settings.trusted_fronts)
        if settings.switches_file
        else None
    )
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    made: list[PostgresClaimStore] = []  # the store, once it exists: it warms new connections
    warm = warming(lambda: made[0] if made else None)

    async def quiet_warm(connection: asyncpg.Connection) -> None:
        with tracing.quiet():  # a warm-up's statements are no call's spans
            await warm(connection)

    pool = await _open_pool(
        dsn,
        settings.pool,
        "RX_GATEWAY_DB_ROLE",
        quiet_warm,
        generic_plans=True,  # the claim path's statements: planned once per connection
    )
    undo.push_async_callback(pool.close)
    if not settings.dev_mode:
        await _refuse_superuser(pool)
    store = PostgresClaimStore(
        pool,
        acquire_timeout_s=settings.pool.acquire_timeout_s,
        on_acquired=metrics.record_pool_wait,
    )
    metrics.watch_pool(pool)
    with tracing.quiet():
        await store.warm(settings.pool.size_min)
    made.append(store)
    undo.push_async_callback(store.close_batches)
    if settings.batching and not await is_distributed(pool):
        store.start_batching(on_batch=metrics.record_batch, tracing=tracing.batch_tracing())
    loader = PostgresReferenceLoader(pool, acquire_timeout_s=settings.pool.acquire_timeout_s)
    reference = ReferenceHolder(await loader.load_snapshot())
    metrics.set_reference_version(reference.snapshot.version)
    if not reference.snapshot.plans:
        # still serves: a later `load` reaches this gateway without a restart (NOTIFY)
        log.warning("no plans loaded: every claim is rejected 01 until `rx-gateway load DIR`")
    pinned = settings.business_date
    processor = ClaimProcessor(
        store,
        reference,
        retry=settings.conflict_retry,
        business_date=today_utc if pinned is None else lambda: pinned,
        admission=Admission(on_refused=metrics.record_refused),
        span=tracing.span,
    )
    server = GatewayServer(
        processor,
        listen_address=settings.listen_address,
        concurrent_rpcs_max=settings.grpc_concurrent_rpcs_max,
        message_bytes_max=settings.grpc_message_bytes_max,
        connection_limits=(
            settings.grpc_streams_per_connection_max,
            settings.grpc_connection_age_s,
        ),
        reuse_port=settings.reuse_port,
        benefits=BenefitServicer(store, reference, switches),
        credentials=tls.server_credentials(require_client_certificate=switches is not None)
        if tls
        else None,
        switches=switches,
        interceptors=_interceptors(),
        wrappers=_wrappers(settings),
    )
    undo.push_async_callback(server.stop, 0)
    app = App(settings, pool, store, reference, processor, server)
    app.metrics_listener = metrics_listener
    if settings.admin_tokens:
        # its own small pool, as the operator's login: the application role may not change
        # members, coverage or authorizations
        admin_limits = replace(settings.pool, role=settings.admin_db_role, size_min=1, size_max=2)
        app.admin_pool = await _open_pool(dsn, admin_limits, "RX_GATEWAY_ADMIN_DB_ROLE")
        undo.push_async_callback(app.admin_pool.close)
        app.closer = WorkerCloser(
            dsn, admin_limits, settings.settlement_dir, settings.business_date
        )
        undo.callback(app.closer.shutdown)
        app.admin = AdminServer(
            AdminServicer(
                PostgresAdmin(app.admin_pool, acquire_timeout_s=admin_limits.acquire_timeout_s),
                AdminCredentials(settings.admin_tokens),
                PostgresSettlement(app.admin_pool),
                reference,
                app.closer,
                eob=PostgresEob(app.admin_pool, acquire_timeout_s=admin_limits.acquire_timeout_s),
                enrollment_reader=X12EnrollmentReader(),
                enrollment_store=PostgresEnrollment(
                    app.admin_pool, acquire_timeout_s=admin_limits.acquire_timeout_s
                ),
            ),
            listen_address=settings.admin_listen_address,
            credentials=tls.server_credentials(require_client_certificate=False) if tls else None,
        )
        undo.push_async_callback(app.admin.stop, 0)
    app.watcher = ReferenceWatcher(
        dsn, reference, loader, settings.reference_poll_s, on_reachable=server.database_reachable
    )
    await app.watcher.start()
    undo.push_async_callback(app.watcher.stop)
    if start:
        await server.start()
        if app.admin is not None:
            await app.admin.start()
    return app
