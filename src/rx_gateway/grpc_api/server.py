"""The gRPC server: claim service, health checking, reflection, limits, graceful shutdown."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from rx_gateway.grpc_api.registration import HandlerWrapping, Wrapper, composed
from rx_gateway.grpc_api.security import SwitchTable, listen
from rx_gateway.grpc_api.servicer import BenefitServicer, ClaimServicer
from rx_gateway.grpc_api.status import ErrorToStatusInterceptor
from rx_gateway.service_layer.claims import ClaimProcessor
from rx_gateway.v1 import claims_pb2, claims_pb2_grpc

# a connection closed for its age keeps its calls in flight this long: past any claim's deadline
CONNECTION_GRACE_S = 30.0

log = logging.getLogger(__name__)

SERVICE_NAME = claims_pb2.DESCRIPTOR.services_by_name["ClaimService"].full_name
BENEFIT_SERVICE_NAME = claims_pb2.DESCRIPTOR.services_by_name["BenefitService"].full_name


class GatewayServer:
    def __init__(
        self,
        processor: ClaimProcessor,
        *,
        listen_address: str,
        concurrent_rpcs_max: int,
        message_bytes_max: int,
        connection_limits: tuple[int, float] = (100, 600.0),
        reuse_port: bool = False,
        benefits: BenefitServicer | None = None,
        credentials: grpc.ServerCredentials | None = None,
        switches: SwitchTable | None = None,
        interceptors: Sequence[aio.ServerInterceptor] = (),  # type: ignore[type-arg]
        wrappers: Sequence[Wrapper] = (),
    ) -> None:
        """``wrappers`` (the RPC metrics) wrap each method's handler around the error mapping,
        once, when the method is registered (registration.py): they see the code it answers
        with. ``interceptors`` (traces) run on every call, around both. ``connection_limits``:
        the streams one connection may hold at once, and the age (s) after which a connection
        is closed."""
        streams_max, age_s = connection_limits
        self._database_reachable = True  # what the reference watch last said
        self._started = self._stopping = False
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.server = aio.server(
            interceptors=list(interceptors) or None,
            maximum_concurrent_rpcs=concurrent_rpcs_max,
            options=[
                ("grpc.max_receive_message_length", message_bytes_max),
                ("grpc.max_send_message_length", message_bytes_max),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
                ("grpc.max_concurrent_streams", streams_max),
                ("grpc.max_connection_age_ms", int(age_s * 1000)),
                ("grpc.max_connection_age_grace_ms", int(CONNECTION_GRACE_S * 1000)),
            ],
        )
        registrar: Any = HandlerWrapping(
            self.server, composed([*wrappers, ErrorToStatusInterceptor()])
        )
        claims_pb2_grpc.add_ClaimServiceServicer_to_server(
            ClaimServicer(processor, switches), registrar
        )
        if benefits is not None:
            claims_pb2_grpc.add_BenefitServiceServicer_to_server(benefits, registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        # health answers for each service this server serves (and "" for the server), and
        # reflection lists them (reflection.enable_server_reflection, for an aio server)
        self._served = ("", SERVICE_NAME, *((BENEFIT_SERVICE_NAME,) if benefits else ()))
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
                (*self._served[1:], health.SERVICE_NAME, reflection.SERVICE_NAME)
            ),
            registrar,
        )
        self.port = listen(self.server, listen_address, credentials, shared=reuse_port)

    async def start(self) -> None:
        await self.server.start()
        self._started = True
        await self._set_health()
        log.info("gateway serving", extra={"port": self.port})

    async def _set_health(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self._database_reachable
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._served:
            await self.health.set(name, status)

    async def database_reachable(self, reachable: bool) -> None:
        """Health follows the claims database (the reference watch polls it): NOT_SERVING while
        it cannot be reached, so that a load balancer's health check takes this gateway out of
        rotation; SERVING again once it can. Before start, remembered for it; once
        shutting down, health stays NOT_SERVING."""
        self._database_reachable = reachable
        if not self._started or self._stopping:
            return
        await self._set_health()
        if reachable:
            log.warning("database reachable again: health SERVING")
        else:
            log.warning("database unreachable: health NOT_SERVING until it is back")

    async def stop(self, grace_s: float) -> None:
        """NOT_SERVING first (load balancers stop sending), then drain in-flight calls."""
        self._stopping = True
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        log.info("gateway stopped")
