"""Every gateway exception has a gRPC status; unknown ones become a generic INTERNAL."""

import grpc

from rx_gateway.domain.errors import ConcurrencyConflict, RxGatewayError, StorageUnavailable
from rx_gateway.grpc_api.status import STATUS_BY_ERROR, status_for


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def test_every_error_class_is_mapped() -> None:
    """Adding an exception without a status mapping fails here."""
    assert _all_subclasses(RxGatewayError) <= set(STATUS_BY_ERROR)


def test_details_never_leak_internals() -> None:
    """INTERNAL says 'internal error'; infrastructure errors say what the caller can do."""
    assert status_for(ValueError("secret detail")) == (grpc.StatusCode.INTERNAL, "internal error")
    code, detail = status_for(StorageUnavailable("OSError"))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert "retry" in detail
    assert status_for(ConcurrencyConflict("x"))[0] is grpc.StatusCode.ABORTED
