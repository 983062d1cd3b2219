"""OpenTelemetry traces, with the optional extra (``pip install 'rx-gateway[otel]'``).

``RX_GATEWAY_OTEL=1`` turns them on: a SERVER span per gRPC call (health checks left out), a
CLIENT span per asyncpg call, and whatever ``span(name)`` opens in between (the adjudication).
Spans go to an OTLP collector by default, configured by the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_TRACES_SAMPLER`` ...); ``OTEL_TRACES_EXPORTER=console`` prints them, ``none`` drops them.

Claims carry PHI. Query parameters are never captured (``capture_parameters=False``; the SQL
text is, and the gateway never inlines a value into it), and our own spans take bounded codes
as attributes only. Without the extra, or before ``configure``, ``span`` is a shared no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rx_gateway.domain.errors import RxGatewayError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from grpc import aio

__all__ = [
    "EXPORTERS",
    "MISSING_EXTRA",
    "batch_tracing",
    "configure",
    "enabled",
    "server_interceptor",
    "shutdown",
    "span",
]

EXPORTERS = ("otlp", "console", "none")
MISSING_EXTRA = (
    "RX_GATEWAY_OTEL=1 needs the otel extra: pip install 'rx-gateway[otel]'"
    " (from a checkout: pip install -e '.[otel]')"
    " (opentelemetry-sdk and the grpc and asyncpg instrumentations)"
)
SERVICE_NAME = "rx-gateway"
FLUSH_ON_SHUTDOWN_S = 2.0  # the longest a stop waits for the last spans' export

log = logging.getLogger(__name__)
AttributeValue = str | int | float | bool

_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()


@dataclass
class _Tracing:
    provider: Any  # opentelemetry.sdk.trace.TracerProvider
    tracer: Any  # opentelemetry.trace.Tracer
    interceptor: Any  # grpc.aio.ServerInterceptor


class _State:
    active: _Tracing | None = None


_state = _State()


def enabled() -> bool:
    return _state.active is not None


@contextlib.contextmanager
def _spanned(tracer: Any, name: str, **options: Any) -> Iterator[Any]:
    """A span of ours: a failure inside it is its status, named by the exception's type only.
    OpenTelemetry's default records the exception's text and traceback, and a chained database
    error's text may carry its DETAIL (a row's values: PHI)."""
    from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415 - the otel extra

    with tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False, **options
    ) as current:
        try:
            yield current
        except Exception as error:
            current.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> AbstractContextManager[object]:
    """A span around a block, child of the current one (the RPC's): ``with span("adjudicate"):``.
    Attributes are bounded codes only (transaction code, 112-AN status, reject count, plan id),
    never a cardholder, a name, a date of birth or an Rx number. A no-op when tracing is off."""
    active = _state.active
    if active is None:
        return _NO_SPAN
    return _spanned(active.tracer, name, attributes=attributes)


class _BatchTracing:
    """The spans of batched database round trips (adapters.postgres.batching.BatchTracing):
    each claim's wait ("db read" or "db write", in the claim's trace) and each round trip ("db
    read batch", "db write batch", with its size) over the database calls it makes. A round
    trip of one claim is the child of that claim's wait; a round trip several claims share is
    a root span linked to each one's wait, so that no claim's trace holds another's calls."""

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer

    @contextlib.contextmanager
    def wait(self, kind: str) -> Iterator[object]:
        with _spanned(self._tracer, f"db {kind}") as waiting:
            yield waiting.get_span_context()

    def round_trip(self, kind: str, waits: Sequence[object]) -> AbstractContextManager[object]:
        from opentelemetry import context, trace  # noqa: PLC0415 - the otel extra

        attributes = {"rx.batch.size": len(waits)}
        if len(waits) == 1:  # the child of its one claim's wait
            parent = trace.set_span_in_context(trace.NonRecordingSpan(waits[0]))  # type: ignore[arg-type]
            links = []
        else:  # a root: it is every one of its claims'
            parent = context.Context()
            links = [trace.Link(wait) for wait in waits]  # type: ignore[arg-type]
        return _spanned(
            self._tracer, f"db {kind} batch", context=parent, links=links, attributes=attributes
        )


def batch_tracing() -> _BatchTracing | None:
    """The batches' spans once ``configure`` ran, else None (batching then makes no span and
    pays nothing for them)."""
    active = _state.active
    return None if active is None else _BatchTracing(active.tracer)


def server_interceptor() -> aio.ServerInterceptor | None:  # type: ignore[type-arg]
    """The OpenTelemetry grpc.aio server interceptor once ``configure`` ran, else None."""
    active = _state.active
    return None if active is None else active.interceptor


def quiet() -> AbstractContextManager[object]:
    """Within it the instrumented libraries make no spans: a connection's warm-up (a hundred
    statements prepared, each a root span of its own) is the gateway's, not a call's."""
    if _state.active is None:
        return contextlib.nullcontext()
    from opentelemetry.instrumentation.utils import (  # type: ignore[import-untyped,import-not-found,unused-ignore] # noqa: PLC0415
        suppress_instrumentation,
    )

    return suppress_instrumentation()  # type: ignore[no-any-return,unused-ignore]


def configure(exporter: str = "otlp", *, span_exporter: Any = None) -> None:
    """Start tracing in this process (a second call keeps the first configuration).

    ``exporter`` is one of EXPORTERS; a test passes its own ``span_exporter`` (for example the
    SDK's InMemorySpanExporter), sent each span as it ends. Raises RxGatewayError naming the
    extra when the OpenTelemetry packages are not installed."""
    if _state.active is not None:
        return
    try:
        from opentelemetry.instrumentation.asyncpg import (  # type: ignore[import-untyped,import-not-found,unused-ignore] # noqa: PLC0415
            AsyncPGInstrumentor,
        )
        from opentelemetry.instrumentation.grpc import (  # type: ignore[import-untyped,import-not-found,unused-ignore] # noqa: PLC0415
            aio_server_interceptor,
            filters,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        raise RxGatewayError(MISSING_EXTRA) from None
    if exporter not in EXPORTERS:
        msg = f"OTEL_TRACES_EXPORTER: {exporter!r} is not one of {', '.join(EXPORTERS)}"
        raise RxGatewayError(msg)
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, name the service instead
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )
        except ImportError:
            raise RxGatewayError(MISSING_EXTRA) from None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # IMPORTANT: capture_parameters stays False: the parameters are member IDs, dates of birth
    # and Rx numbers.
    AsyncPGInstrumentor(capture_parameters=False).instrument(  # type: ignore[no-untyped-call,unused-ignore]
        tracer_provider=provider
    )
    interceptor = aio_server_interceptor(  # type: ignore[no-untyped-call,unused-ignore]
        tracer_provider=provider, filter_=filters.negate(filters.health_check())
    )
    _state.active = _Tracing(provider, provider.get_tracer("rx_gateway"), interceptor)


def shutdown() -> None:
    """Flush the spans still buffered and stop tracing (the asyncpg wrappers come off)."""
    active = _state.active
    if active is None:
        return
    _state.active = None
    from opentelemetry.instrumentation.asyncpg import (  # type: ignore[import-untyped,import-not-found,unused-ignore] # noqa: PLC0415
        AsyncPGInstrumentor,
    )

    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call,unused-ignore]
    # the last spans' export waits on the collector (OTLP: 10 s and retries when it does not
    # answer), and a stop must fit a supervisor's grace (Docker: 10 s, the drain took 5):
    # flushed in a daemon thread, waited for FLUSH_ON_SHUTDOWN_S at most
    flushing = threading.Thread(target=active.provider.shutdown, daemon=True)
    flushing.start()
    flushing.join(FLUSH_ON_SHUTDOWN_S)
    if flushing.is_alive():
        log.warning(
            "traces not flushed on shutdown: the exporter did not finish in time"
            " (is the collector reachable?)",
            extra={"waited_s": FLUSH_ON_SHUTDOWN_S},
        )
