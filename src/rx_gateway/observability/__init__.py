"""What operators see: Prometheus metrics (metrics.py, interceptor.py) and optional
OpenTelemetry traces (tracing.py).

The claim path calls the functions below; each is cheap and safe whether or not a metrics
listener is configured. This package imports no adapter, no service layer and no gRPC edge
(pyproject [tool.importlinter]); importing it opens nothing and does not import grpc.
"""

from rx_gateway.observability.metrics import (
    record_batch,
    record_claim,
    record_pool_wait,
    record_refused,
    scrape,
    set_reference_version,
    watch_pool,
)

__all__ = [
    "record_batch",
    "record_claim",
    "record_pool_wait",
    "record_refused",
    "scrape",
    "set_reference_version",
    "watch_pool",
]
