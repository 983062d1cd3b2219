"""Exceptions to gRPC status codes, in exactly one place.

Business rejects never reach here: they are successful responses with status R. What does:
malformed calls, infrastructure failures and bugs. Unknown exceptions become INTERNAL with a
generic message; the detail goes to the log (never PHI: the log carries the method name only).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
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
    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method

        async def guarded(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            if isinstance(request, _Unreadable):
                log.warning(
                    "unreadable request", extra={"method": method, "problem": request.problem}
                )
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "the request bytes are not a valid protobuf message for this method",
                )
            try:
                return await inner(request, context)  # type: ignore[arg-type]
            except RxGatewayError as error:
                code, detail = status_for(error)
                if code is grpc.StatusCode.INTERNAL:
                    log.exception("internal error", extra={"method": method})
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
