"""A grpc.aio server interceptor that times every unary call by method and gRPC status code.

The gateway's servers apply its ``wrap`` once per method, when the method is registered
(grpc_api.registration), rather than running it as an interceptor on every call (see there
for what that saves).

The released Prometheus interceptors are for grpc's thread-pool server only, and
``grpc.aio.server()`` refuses anything that is not a ``grpc.aio.ServerInterceptor``. As an
interceptor it goes ahead of ErrorToStatusInterceptor in the chain, so that it sees the code
that one sets with ``context.abort``. Streaming calls (health Watch, reflection) pass through
untimed.

Applied at registration, the timing sits inside any per-call interceptor (OpenTelemetry's),
around the error mapping (status.ErrorToStatusInterceptor.wrap), so it records the code that
mapping answers with; a span's own start and end are not in its durations.

Calls grpc refuses itself (``maximum_concurrent_rpcs``: RESOURCE_EXHAUSTED) are answered in
grpc's core before any interceptor runs, so they are not in these numbers: the callers see them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio
from prometheus_client import Gauge, Histogram

from rx_gateway.observability.metrics import _metrics

Behaviour = Callable[[Any, aio.ServicerContext[Any, Any]], Awaitable[Any]]


class MetricsInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        metrics = _metrics()
        self._seconds: Histogram = metrics.rpc_seconds
        self._inflight: Gauge = metrics.inflight
        # method → its observer (code → histogram child): bounded, since only registered
        # methods get here
        self._observers: dict[str, Callable[[str, float], None]] = {}

    def _observer(self, method: str) -> Callable[[str, float], None]:
        observer = self._observers.get(method)
        if observer is None:
            observer = self._observers[method] = self._new_observer(method)
        return observer

    def _new_observer(self, method: str) -> Callable[[str, float], None]:
        children: dict[str, Histogram] = {}
        service, _, name = method.lstrip("/").rpartition("/")
        seconds = self._seconds

        def observe(code: str, elapsed_s: float) -> None:
            child = children.get(code)
            if child is None:
                child = children[code] = seconds.labels("unary", service, name, code)
            child.observe(elapsed_s)

        return observe

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # unknown method: grpc answers UNIMPLEMENTED
        return self.wrap(handler_call_details.method, handler)

    def wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """One method's handler, timed (a stream's as it is): what the interceptor does on
        every call, done once when the gateway registers the method."""
        if handler.unary_unary is None:
            return handler
        behaviour: Behaviour = handler.unary_unary  # type: ignore[assignment]
        observe = self._observer(method)
        inflight = self._inflight

        async def timed(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            inflight.inc()
            started = time.perf_counter()
            code = "OK"
            try:
                response = await behaviour(request, context)
            except asyncio.CancelledError:
                # the caller went away, or its deadline passed (grpc cancels the handler)
                left = context.time_remaining()
                code = "DEADLINE_EXCEEDED" if left is not None and left <= 0 else "CANCELLED"
                raise
            except BaseException:
                # context.abort sets the code before it raises; anything else is UNKNOWN
                code = _code_name(context.code(), "UNKNOWN")
                raise
            else:
                code = _code_name(context.code(), "OK")
                return response
            finally:
                inflight.dec()
                observe(code, time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(code: grpc.StatusCode | None, default: str) -> str:
    return default if code is None else code.name
