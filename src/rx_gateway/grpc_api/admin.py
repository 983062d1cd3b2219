"""The admin interface: its own gRPC server, every call authenticated by a bearer token."""

from __future__ import annotations

import logging
from typing import Any

import grpc
from grpc import aio

from rx_gateway.grpc_api.security import listen
from rx_gateway.grpc_api.status import ErrorToStatusInterceptor
from rx_gateway.service_layer import admin
from rx_gateway.service_layer.ports import AdminStore
from rx_gateway.v1 import admin_pb2 as pb
from rx_gateway.v1 import admin_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
Context = aio.ServicerContext[Any, Any]


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(self, store: AdminStore, credentials: admin.AdminCredentials) -> None:
        self._store = store
        self._credentials = credentials

    def _operator(self, context: Context) -> str:
        metadata = dict(context.invocation_metadata() or ())
        value = metadata.get("authorization")
        return self._credentials.operator(value if isinstance(value, str) else None)

    async def FundPurse(self, request: pb.FundPurseRequest, context: Context) -> pb.AdminReply:
        actor = self._operator(context)
        funding = admin.purse_funding(
            request.funding_id,
            request.purse_id,
            request.amount_cents,
            request.available_on,
            request.memo,
        )
        applied = await self._store.fund_purse(funding, actor=actor)
        when = f"from {funding.available_on}" if funding.available_on else "now"
        detail = f"{'funded' if applied else 'already applied'} ({when})"
        log.info("admin change", extra={"action": "fund_purse", "actor": actor})
        return pb.AdminReply(applied=applied, actor=actor, detail=detail)

    async def SetCoverage(self, request: pb.CoverageChange, context: Context) -> pb.AdminReply:
        actor = self._operator(context)
        change = admin.coverage_change(
            request.member_id,
            request.plan_id,
            request.group_id,
            request.start_date,
            request.end_date,
            request.end_reason,
            request.line_of_business,
            request.coverage_level,
        )
        applied = await self._store.set_coverage(change, actor=actor)
        log.info("admin change", extra={"action": "set_coverage", "actor": actor})
        return pb.AdminReply(applied=applied, actor=actor, detail="coverage span recorded")

    async def GrantPriorAuthorization(
        self, request: pb.PriorAuthorizationGrant, context: Context
    ) -> pb.AdminReply:
        actor = self._operator(context)
        grant = admin.authorization_grant(
            request.pa_number,
            request.member_id,
            request.ndc,
            request.drug_group,
            request.start_date,
            request.end_date,
            request.quantity_thousandths,
        )
        applied = await self._store.grant_prior_authorization(grant, actor=actor)
        log.info("admin change", extra={"action": "grant_prior_authorization", "actor": actor})
        return pb.AdminReply(applied=applied, actor=actor, detail="prior authorization recorded")


class AdminServer:
    """The admin listener: separate from the claim port, so it can be bound to a private
    interface and firewalled on its own."""

    def __init__(
        self,
        servicer: AdminServicer,
        *,
        listen_address: str,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.server = aio.server(interceptors=[ErrorToStatusInterceptor()])
        pb_grpc.add_AdminServiceServicer_to_server(servicer, self.server)
        self.port = listen(self.server, listen_address, credentials)

    async def start(self) -> None:
        await self.server.start()
        log.info("admin interface serving", extra={"port": self.port})

    async def stop(self, grace_s: float) -> None:
        await self.server.stop(grace_s)
