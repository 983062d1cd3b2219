"""A small typed client for internal callers, the demo, the benchmark and the tests.

    async with GatewayClient("127.0.0.1:50051") as client:
        response = await client.submit(request)          # rx_gateway.v1.claims_pb2.ClaimRequest
        if response.transaction_response_status == "P": ...

Rejections are ordinary responses (status "R" with reject codes); gRPC errors raise
``grpc.aio.AioRpcError`` with the status code (INVALID_ARGUMENT, UNAVAILABLE, ...).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import grpc
from grpc import aio

from rx_gateway.v1 import admin_pb2, admin_pb2_grpc
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT_S = 5.0


class _Channel:
    """One gRPC channel, TLS when credentials are given (see
    rx_gateway.grpc_api.security.client_credentials); closed on leaving ``async with``."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None) -> None:
        self._channel = (
            aio.insecure_channel(target)
            if credentials is None
            else aio.secure_channel(target, credentials)
        )

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class GatewayClient(_Channel):
    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        super().__init__(target, credentials)
        self._stub = pb_grpc.ClaimServiceStub(self._channel)
        self._benefits = pb_grpc.BenefitServiceStub(self._channel)
        self.timeout_s = timeout_s

    async def submit(
        self, request: pb.ClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        """B1 billing."""
        return await self._stub.Submit(request, timeout=timeout_s or self.timeout_s)

    async def reverse(
        self, request: pb.ReversalRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        """B2 reversal."""
        return await self._stub.Reverse(request, timeout=timeout_s or self.timeout_s)

    async def check_eligibility(
        self, request: pb.EligibilityRequest, *, timeout_s: float | None = None
    ) -> pb.EligibilityResponse:
        """E1 eligibility verification."""
        return await self._stub.CheckEligibility(request, timeout=timeout_s or self.timeout_s)

    async def check_price(
        self, request: pb.PriceCheckRequest, *, timeout_s: float | None = None
    ) -> pb.PriceCheckResponse:
        """A price check with alternatives (read-only: nothing is posted)."""
        return await self._stub.CheckPrice(request, timeout=timeout_s or self.timeout_s)

    async def transmit(self, data: bytes, *, timeout_s: float | None = None) -> bytes:
        """A raw NCPDP D.0 transmission in, the raw D.0 response out."""
        reply = await self._stub.Transmit(
            pb.RawTransmission(data=data), timeout=timeout_s or self.timeout_s
        )
        return reply.data

    async def get_benefits(
        self, request: pb.BenefitRequest, *, timeout_s: float | None = None
    ) -> pb.BenefitResponse:
        """Coverage, plan, purses and accumulators of a member on a date."""
        return await self._benefits.GetBenefits(request, timeout=timeout_s or self.timeout_s)


class AdminClient(_Channel):
    """The admin interface: every call carries the operator's bearer token.

    async with AdminClient("127.0.0.1:50052", token=...) as admin:
        await admin.fund_purse(admin_pb2.FundPurseRequest(...))
    """

    def __init__(
        self,
        target: str,
        *,
        token: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        super().__init__(target, credentials)
        self._stub = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self.timeout_s = timeout_s

    async def fund_purse(self, request: admin_pb2.FundPurseRequest) -> admin_pb2.AdminReply:
        return await self._stub.FundPurse(request, timeout=self.timeout_s, metadata=self._metadata)

    async def set_coverage(self, request: admin_pb2.CoverageChange) -> admin_pb2.AdminReply:
        return await self._stub.SetCoverage(
            request, timeout=self.timeout_s, metadata=self._metadata
        )

    async def set_other_coverage(
        self, request: admin_pb2.OtherCoverageChange
    ) -> admin_pb2.AdminReply:
        return await self._stub.SetOtherCoverage(
            request, timeout=self.timeout_s, metadata=self._metadata
        )

    async def grant_prior_authorization(
        self, request: admin_pb2.PriorAuthorizationGrant
    ) -> admin_pb2.AdminReply:
        return await self._stub.GrantPriorAuthorization(
            request, timeout=self.timeout_s, metadata=self._metadata
        )

    async def settle(self, through: str, *, timeout_s: float = 300.0) -> admin_pb2.CloseCyclesReply:
        """Close the pay cycles ending by ``through`` (CCYYMMDD): a close can take a while."""
        return await self._stub.Settle(
            admin_pb2.CloseCyclesRequest(through=through),
            timeout=timeout_s,
            metadata=self._metadata,
        )

    async def invoice(
        self, through: str, *, timeout_s: float = 300.0
    ) -> admin_pb2.CloseCyclesReply:
        """Close the billing cycles ending by ``through`` (CCYYMMDD)."""
        return await self._stub.Invoice(
            admin_pb2.CloseCyclesRequest(through=through),
            timeout=timeout_s,
            metadata=self._metadata,
        )

    async def balances(self, as_of: str = "") -> admin_pb2.BalancesReply:
        return await self._stub.GetBalances(
            admin_pb2.BalancesRequest(as_of=as_of), timeout=self.timeout_s, metadata=self._metadata
        )

    async def alerts(self, limit: int = 0) -> admin_pb2.AlertsReply:
        return await self._stub.ListAlerts(
            admin_pb2.AlertsRequest(limit=limit), timeout=self.timeout_s, metadata=self._metadata
        )

    async def export_eob(
        self, member_id: str, date_from: str = "", date_to: str = ""
    ) -> admin_pb2.ExportEobReply:
        request = admin_pb2.ExportEobRequest(
            member_id=member_id, date_from=date_from, date_to=date_to
        )
        return await self._stub.ExportEob(request, timeout=self.timeout_s, metadata=self._metadata)

    async def enroll(
        self, content: bytes, name: str = "", *, timeout_s: float = 300.0
    ) -> admin_pb2.EnrollReply:
        """Apply an 834 file (a large one takes a while to validate)."""
        return await self._stub.Enroll(
            admin_pb2.EnrollRequest(content=content, name=name),
            timeout=timeout_s,
            metadata=self._metadata,
        )

    async def acknowledge(
        self, content: bytes, name: str = "", *, timeout_s: float = 300.0
    ) -> admin_pb2.AcknowledgeReply:
        """An 834 file's 999, changing nothing."""
        return await self._stub.Acknowledge(
            admin_pb2.EnrollRequest(content=content, name=name),
            timeout=timeout_s,
            metadata=self._metadata,
        )


def reversal_for(claim: pb.ClaimRequest) -> pb.ReversalRequest:
    """The B2 that reverses a B1: same header and prescription fill."""
    return pb.ReversalRequest(
        header=claim.header,
        insurance=claim.insurance,
        claim=pb.ReversalClaim(
            prescription_reference_number=claim.claim.prescription_reference_number,
            fill_number=claim.claim.fill_number,
            product_id_qualifier=claim.claim.product_id_qualifier,
            product_id=claim.claim.product_id,
        ),
    )
