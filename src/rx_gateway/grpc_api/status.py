"""Exceptions to gRPC status codes, in exactly one place.

Business rejects never reach here: they are successful responses with status R. What does:
malformed calls, infrastructure failures and bugs. Unknown exceptions become INTERNAL with a
generic message; the detail goes to the log (never PHI: the log carries the method name only).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from rx_gateway.domain.errors import (
    ConcurrencyConflict,
    DeadlineExceeded,
    DesignError,
    InsecureConfiguration,
    InvalidRequest,
    InvariantViolation,
    MemberNotFound,
    Overloaded,
    PermissionDenied,
    PreconditionFailed,
    ReferenceDataError,
    RxGatewayError,
    StorageUnavailable,
    Unauthenticated,
    UnknownReference,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[RxGatewayError], grpc.StatusCode] = {
    RxGatewayError: grpc.StatusCode.INTERNAL,
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    DesignError: grpc.StatusCode.INVALID_ARGUMENT,
    ConcurrencyConflict: grpc.StatusCode.ABORTED,
    StorageUnavailable: grpc.StatusCode.UNAVAILABLE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    InvariantViolation: grpc.StatusCode.INTERNAL,
    ReferenceDataError: grpc.StatusCode.FAILED_PRECONDITION,
    MemberNotFound: grpc.StatusCode.NOT_FOUND,
    UnknownReference: grpc.StatusCode.NOT_FOUND,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    InsecureConfiguration: grpc.StatusCode.FAILED_PRECONDITION,
    PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
}


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            code = STATUS_BY_ERROR[cls]
            detail = str(error) if code is not grpc.StatusCode.INTERNAL else "internal error"
            # Answers carry no internal detail (database messages name claim keys and purses):
            # the cause goes to the log.
            if isinstance(error, StorageUnavailable):
                detail = "claims database unavailable, retry the transmission"
            elif isinstance(error, ConcurrencyConflict):
                detail = "the member's state kept changing concurrently, retry the transmission"
            return code, detail
    return grpc.StatusCode.INTERNAL, "internal error"


class _Unreadable:
    """A request whose bytes are not the method's protobuf message (parsed by our wrapper of
    the method's deserializer, so the handler can answer INVALID_ARGUMENT instead of grpc's
    UNKNOWN with the parser's text and a traceback in the log)."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # any parser failure means the caller sent bad bytes
            return _Unreadable(type(error).__name__)

    return deserialize


class ErrorToStatusInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    """Every answer a status: the gateway's errors as their codes (status_for), anything else
    INTERNAL, unreadable request bytes INVALID_ARGUMENT. ``wrap`` does the work for one
    method's handler: the gateway's servers apply it once, when each method is registered
    (registration.HandlerWrapping); as an interceptor it runs on every call."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return self.wrap(handler_call_details.method, handler)

    @staticmethod
    def wrap(
        method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if handler.unary_unary is None:  # health Watch, reflection: unreadable bytes only
            return _streaming_guarded(handler, method)
        inner = handler.unary_unary

        async def guarded(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            if type(request) is _Unreadable:  # checked inline: every claim passes here
                await _refuse_unreadable(request, context, method)
            try:
                return await inner(request, context)  # type: ignore[arg-type]
            except RxGatewayError as error:
                code, detail = status_for(error)
                if code is grpc.StatusCode.INTERNAL:
                    log.exception("internal error", extra={"method": method})
                elif code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # refused by admission: counted (rxgw_refused_requests_total), not logged
                    # one line each, which under overload would cost what the refusal saves
                    log.debug("call refused", extra={"method": method})
                elif isinstance(error, StorageUnavailable):
                    # its text is the driver's error type or the server's primary message
                    # (never a DETAIL: see adapters/postgres/errors.server_message)
                    log.warning(
                        "call failed",
                        extra={"method": method, "status": code.name, "error": str(error)},
                    )
                else:
                    log.warning("call failed", extra={"method": method, "status": code.name})
                await context.abort(code, detail)
            except aio.AbortError:
                raise  # the servicer's own abort (health's NOT_FOUND): its status stands
            except Exception:
                log.exception("unexpected error", extra={"method": method})
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )


async def _refuse_unreadable(
    request: Any, context: aio.ServicerContext[Any, Any], method: str
) -> None:
    """INVALID_ARGUMENT for bytes that are not the method's message (see _Unreadable)."""
    if isinstance(request, _Unreadable):
        log.warning("unreadable request", extra={"method": method, "problem": request.problem})
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            "the request bytes are not a valid protobuf message for this method",
        )


def _streaming_guarded(
    handler: grpc.RpcMethodHandler[Any, Any], method: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A streaming method (grpc's own health Watch and reflection): its requests' bytes parsed
    by the tolerant deserializer and refused INVALID_ARGUMENT when unreadable (they were
    UNKNOWN with the parser's text, and a traceback in the log). Its other errors are its own."""

    async def one(request: Any, context: Any) -> Any:
        await _refuse_unreadable(request, context, method)
        return request

    async def each(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for request in requests:
            await _refuse_unreadable(request, context, method)
            yield request

    async def many(requests: AsyncIterator[Any], context: Any) -> Any:
        return each(requests, context)

    options = {
        "request_deserializer": _tolerant(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_prepared(handler.unary_stream, one), **options)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _prepared(handler.stream_stream, many), **options
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _prepared(handler.stream_unary, many), **options
        )
    return handler


def _prepared(
    inner: Callable[..., Any], prepare: Callable[[Any, Any], Awaitable[Any]]
) -> Callable[..., Any]:
    """``inner`` called with ``prepare``'s request (or request stream), in the form grpc.aio
    calls it in: an async generator of responses, or a coroutine (that may write them)."""
    if inspect.isasyncgenfunction(inner):

        async def responses(request: Any, context: Any) -> AsyncIterator[Any]:
            async for response in inner(await prepare(request, context), context):
                yield response

        return responses

    async def answer(request: Any, context: Any) -> Any:
        return await inner(await prepare(request, context), context)

    return answer
