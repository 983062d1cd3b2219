"""Prometheus metrics: what the gateway counts, the listener a scraper reads, and a scrape parser.

The ``record_*`` functions are cheap enough for the claim path (a dictionary look-up and one or
two increments of an in-memory value, or of a memory-mapped file under ``--workers``) and safe to
call whether or not anything is listening: with no metrics listener their numbers are simply
never read. Metric objects are created on first use, so importing this module opens nothing.

Labels hold bounded codes only, never PHI: the NCPDP transaction code, the 112-AN status, the
511-FB reject code (anything outside the gateway's reject table is ``other``), the gRPC method
and status code, a batch kind and the reference-data version.

Several worker processes (``rx-gateway serve --workers N``) use prometheus_client's multiprocess
mode: the parent sets ``PROMETHEUS_MULTIPROC_DIR`` for the workers, each worker writes its values
to files there, and the parent's listener adds them up (``MultiProcessCollector``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from rx_gateway.addresses import bind_problem, split_listen_address
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.outcome import ResponseStatus
from rx_gateway.domain.rejects import RejectCode

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = [
    "MetricsListener",
    "forget_process",
    "record_batch",
    "record_claim",
    "record_pool_wait",
    "record_refused",
    "scrape",
    "set_reference_version",
    "start_metrics_listener",
    "watch_pool",
]

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"  # the label of any value outside a metric's known set
TRANSACTION_CODES = frozenset({"B1", "B2", "B3", "E1"})
RESPONSE_STATUSES = frozenset(status.value for status in ResponseStatus)
REJECT_CODES = frozenset(code.value for code in RejectCode)
BATCH_KINDS = frozenset({"read", "write"})
POOL_SAMPLE_INTERVAL_S = 1.0  # under --workers, how often a worker writes its pool gauge

# A claim takes 1-10 ms at the gateway; the switch gives up at about 5 s (ncpdp-d0.md S11).
RPC_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
# Waiting for a pooled connection: nothing when the pool has a free one, at most
# RX_GATEWAY_DB_ACQUIRE_TIMEOUT_S (2 s by default).
ACQUIRE_SECONDS_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
)  # fmt: skip
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class Pool(Protocol):
    """What ``watch_pool`` reads of an asyncpg pool."""

    def get_size(self) -> int: ...

    def get_idle_size(self) -> int: ...


class _Metrics:
    """Every metric the gateway exports, and the label children already looked up (so the hot
    path skips prometheus_client's ``labels()``; the keys are bounded, like the labels)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_VARIABLE))
        self.rpc_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the call's arrival at the handler to its answer, by method and gRPC code",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            buckets=RPC_SECONDS_BUCKETS,
        )
        self.inflight = Gauge(
            "rxgw_inflight_requests",
            "Calls inside a handler now (refused or queued calls are not in it)",
            multiprocess_mode="livesum",
        )
        self.refused = Counter(
            "rxgw_refused_requests_total",
            "Calls refused by admission control (RESOURCE_EXHAUSTED) before any work",
        )
        self.claims = Counter(
            "rxgw_claims_total",
            "Transactions answered, by NCPDP transaction code and 112-AN status",
            ["txn", "status"],
        )
        self.rejects = Counter(
            "rxgw_rejects_total", "511-FB reject codes answered, by code", ["reject_code"]
        )
        self.pool_connections = Gauge(
            "rxgw_db_pool_connections",
            "Claim pool connections by state (in_use: lent to a claim or a batch)",
            ["state"],
            multiprocess_mode="livesum",
        )
        self.acquire_seconds = Histogram(
            "rxgw_db_acquire_seconds",
            "Wait for a pooled database connection",
            buckets=ACQUIRE_SECONDS_BUCKETS,
        )
        self.batch_size = Histogram(
            "rxgw_db_batch_size",
            "Claims sharing one database round trip, by kind (read, write)",
            ["kind"],
            buckets=BATCH_SIZE_BUCKETS,
        )
        self.reference_version = Gauge(
            "rxgw_reference_data_version_info",
            "1 for the reference-data version this gateway adjudicates with",
            ["version"],
            multiprocess_mode="livemax",
        )
        self.worker_start = Gauge(
            "rxgw_worker_start_time_seconds",
            "Start time of each live gateway process (one series per worker under --workers)",
            multiprocess_mode="liveall",
        )
        self.worker_start.set(time.time())
        self.claim_children: dict[tuple[str, str], Counter] = {}
        self.reject_children: dict[str, Counter] = {}
        self.batch_children: dict[str, Histogram] = {}
        self.current_version: str | None = None
        self.pool_sampler: asyncio.Task[None] | None = None

    def claim_child(self, transaction: str, status: str) -> Counter:
        key = (
            transaction if transaction in TRANSACTION_CODES else OTHER,
            status if status in RESPONSE_STATUSES else OTHER,
        )
        child = self.claim_children.get(key)
        if child is None:
            child = self.claims.labels(*key)
            self.claim_children[key] = child
        return child

    def reject_child(self, code: str) -> Counter:
        label = code if code in REJECT_CODES else OTHER
        child = self.reject_children.get(label)
        if child is None:
            child = self.rejects.labels(label)
            self.reject_children[label] = child
        return child


@functools.cache
def _metrics() -> _Metrics:
    return _Metrics()


def record_claim(transaction: str, status: str, reject_codes: Sequence[str]) -> None:
    """One answered transaction: its NCPDP transaction code (B1, B2, B3, E1), its 112-AN status
    and its 511-FB reject codes (each counted once in ``rxgw_rejects_total``)."""
    metrics = _metrics()
    metrics.claim_child(transaction, status).inc()
    for code in reject_codes:
        child = metrics.reject_children.get(code)
        (child if child is not None else metrics.reject_child(code)).inc()


def record_batch(kind: str, size: int) -> None:
    """One database round trip shared by ``size`` claims; ``kind`` is "read" or "write"."""
    metrics = _metrics()
    child = metrics.batch_children.get(kind)
    if child is None:
        label = kind if kind in BATCH_KINDS else OTHER
        child = metrics.batch_size.labels(label)
        if label != OTHER:
            metrics.batch_children[kind] = child
    child.observe(size)


def record_pool_wait(seconds: float) -> None:
    """How long one acquire waited for a pooled connection."""
    _metrics().acquire_seconds.observe(seconds)


def record_refused() -> None:
    """A call refused by admission control (answered RESOURCE_EXHAUSTED before any work).

    grpc's own ``maximum_concurrent_rpcs`` refusals are answered inside grpc's core before any
    Python code or interceptor sees the call: they cannot be counted here."""
    _metrics().refused.inc()


def set_reference_version(version: str) -> None:
    """The reference-data version now adjudicated with: its series is 1, the previous one's is
    removed (or 0 under --workers, where prometheus_client cannot remove a series)."""
    metrics = _metrics()
    previous = metrics.current_version
    if version == previous:
        return
    metrics.reference_version.labels(version).set(1)
    if previous is not None:
        if metrics.multiprocess:
            metrics.reference_version.labels(previous).set(0)
        else:
            metrics.reference_version.remove(previous)
    metrics.current_version = version


def watch_pool(pool: Pool) -> None:
    """Export the pool's connections in use (size - idle) and idle. One process reads them at
    scrape time; under --workers (no callback gauges in multiprocess mode) each worker writes
    them every POOL_SAMPLE_INTERVAL_S from a task on the running event loop."""
    metrics = _metrics()
    in_use = metrics.pool_connections.labels("in_use")
    idle = metrics.pool_connections.labels("idle")

    def in_use_now() -> float:
        return float(pool.get_size() - pool.get_idle_size())

    def idle_now() -> float:
        return float(pool.get_idle_size())

    if not metrics.multiprocess:
        in_use.set_function(in_use_now)
        idle.set_function(idle_now)
        return

    def sample() -> None:
        in_use.set(in_use_now())
        idle.set(idle_now())

    if metrics.pool_sampler is not None:
        metrics.pool_sampler.cancel()
    sample()
    with contextlib.suppress(RuntimeError):  # no running loop: the one sample above
        metrics.pool_sampler = asyncio.get_running_loop().create_task(_sample_every(sample))


async def _sample_every(sample: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(POOL_SAMPLE_INTERVAL_S)
        sample()


# --- The listener ----------------------------------------------------------------------------


@dataclass
class MetricsListener:
    """The HTTP listener a Prometheus server scrapes (any path answers the metrics)."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)


def start_metrics_listener(
    address: str,
    *,
    multiprocess_dir: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> MetricsListener:
    """Serve the metrics on ``address`` (HOST:PORT; port 0 picks a free one) from a daemon
    thread, over TLS when given a certificate. With ``multiprocess_dir`` it serves the sum of
    the files the worker processes write there. An address that cannot be bound raises
    InvalidRequest(address, why), as the gRPC listeners do."""
    split = split_listen_address(address)
    if split is None or not split[0]:
        raise InvalidRequest(address, "not HOST:PORT")
    host, port = split
    registry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    # The *_created series double what is scraped and say nothing a dashboard here uses.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    tls = None
    if cert_file is not None and key_file is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.set_ciphers(METRICS_TLS12_CIPHERS)  # TLS 1.2 as the gRPC listeners: AEAD only
        tls.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    try:
        server = _metrics_server(host, port, registry, tls)
    except OSError as error:
        raise InvalidRequest(address, bind_problem(error, host, port)) from None
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return MetricsListener(server, thread)


# A connection has this long to finish its TLS handshake and send its request: an idle one is
# dropped, it never holds the listener (prometheus_client's own TLS server shakes hands in
# accept(), on its one serving thread: one idle connection stopped every scrape and shutdown).
METRICS_CONNECTION_TIMEOUT_S = 10.0
METRICS_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _metrics_server(
    host: str, port: int, registry: CollectorRegistry, tls: ssl.SSLContext | None
) -> WSGIServer:
    """prometheus_client's WSGI app on a thread-per-connection server whose TLS handshake runs
    in the connection's own thread, under a timeout."""
    from socketserver import ThreadingMixIn  # noqa: PLC0415
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer  # noqa: PLC0415

    family, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0][::4]

    class Handler(WSGIRequestHandler):
        timeout = METRICS_CONNECTION_TIMEOUT_S

        def log_message(self, format: str, *args: object) -> None:
            """No access log (the gateway's log is JSON)."""

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = family

        def handle_error(self, request: Any, client_address: Any) -> None:
            """A client that went quiet or away (timeout, reset): nothing to print (socketserver
            prints a traceback to stderr, which anyone able to connect could fill)."""

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            if tls is not None:  # in this connection's thread, bounded: never in accept()
                try:
                    request.settimeout(METRICS_CONNECTION_TIMEOUT_S)
                    request = tls.wrap_socket(request, server_side=True)
                except (OSError, ValueError):
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)

    server = Server((str(address[0]), port), Handler)
    server.set_app(make_wsgi_app(registry))
    return server


def forget_process(pid: int, multiprocess_dir: Path) -> None:
    """A worker exited: drop its live gauges (in-flight, pool, version) from the sums."""
    mark_process_dead(pid, str(multiprocess_dir))  # type: ignore[no-untyped-call]


# --- Reading a scrape ------------------------------------------------------------------------


def scrape(url: str, *, timeout_s: float = 5.0, ca_file: Path | None = None) -> dict[str, float]:
    """Every sample of a metrics endpoint, keyed as the text format writes it:
    ``name{label="value",...}`` with the labels sorted by name, or ``name`` alone.
    For example ``rxgw_claims_total{status="P",txn="B1"}`` or ``rxgw_inflight_requests``."""
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(url, "a metrics URL is http:// or https://")
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else None
    with urllib.request.urlopen(url, timeout=timeout_s, context=context) as response:  # noqa: S310 - scheme checked above
        text = response.read().decode("utf-8")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample_key(sample.name, sample.labels)] = float(sample.value)
    return samples


def sample_key(name: str, labels: dict[str, str]) -> str:
    """``name{a="1",b="2"}`` (labels sorted by name), as ``scrape`` keys its samples."""
    if not labels:
        return name
    escaped = (
        (key, value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"'))
        for key, value in sorted(labels.items())
    )
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in escaped) + "}"
