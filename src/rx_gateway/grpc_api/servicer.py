"""The ClaimService: thin methods that translate, call one use case, translate back."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from rx_gateway.grpc_api import translate
from rx_gateway.grpc_api.security import SwitchTable
from rx_gateway.grpc_api.transmit import TransmitHandler, count_answer
from rx_gateway.service_layer.claims import ClaimProcessor, member_benefits
from rx_gateway.service_layer.ports import ClaimStore, ReferenceSource
from rx_gateway.service_layer.price_check import PriceChecker
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc

Context = aio.ServicerContext[Any, Any]


def deadline_of(context: Context) -> float | None:
    """The call's deadline on the event loop's clock (None when the caller set none): the
    database work of the call is bounded by it."""
    left = context.time_remaining()
    return None if left is None else asyncio.get_running_loop().time() + left


class ClaimServicer(pb_grpc.ClaimServiceServicer):
    """With a switch table (mutual TLS), each call's BIN/PCN must be one its switch may bill."""

    def __init__(self, processor: ClaimProcessor, switches: SwitchTable | None = None) -> None:
        self._processor = processor
        self._switches = switches
        self._transmit = TransmitHandler(processor, processor.reference)
        self._prices = PriceChecker(processor)

    def _authorize(self, context: Context, header: pb.Header) -> None:
        """As the claim reads them: trailing spaces are padding (translate removes them next),
        so a padded PCN is the switch's PCN here too."""
        if self._switches is not None:
            self._switches.check(
                self._switches.switch_of(context),
                header.bin.rstrip(" "),
                header.processor_control_number.rstrip(" "),
            )

    async def Submit(self, request: pb.ClaimRequest, context: Context) -> pb.ClaimResponse:
        self._authorize(context, request.header)
        response = await self._processor.submit(
            translate.claim_request_from_pb(request), deadline=deadline_of(context)
        )
        count_answer("B1", response)
        return translate.claim_response_to_pb(response)

    async def Reverse(self, request: pb.ReversalRequest, context: Context) -> pb.ClaimResponse:
        self._authorize(context, request.header)
        response = await self._processor.reverse(
            translate.reversal_request_from_pb(request), deadline=deadline_of(context)
        )
        count_answer("B2", response)
        return translate.claim_response_to_pb(response)

    async def Transmit(self, request: pb.RawTransmission, context: Context) -> pb.RawTransmission:
        def authorize(bin: str | None, pcn: str | None) -> None:
            if self._switches is None:
                return
            switch = self._switches.switch_of(context)
            if bin is None or pcn is None:
                self._switches.check_known(switch)
            else:
                self._switches.check(switch, bin, pcn)

        data = await self._transmit.handle(request.data, authorize, deadline=deadline_of(context))
        return pb.RawTransmission(data=data)

    async def CheckEligibility(
        self, request: pb.EligibilityRequest, context: Context
    ) -> pb.EligibilityResponse:
        self._authorize(context, request.header)
        answer = await self._processor.check_eligibility(
            translate.eligibility_request_from_pb(request), deadline=deadline_of(context)
        )
        count_answer("E1", answer.eligibility)
        return translate.eligibility_to_pb(answer.eligibility, answer.purses)

    async def CheckPrice(
        self, request: pb.PriceCheckRequest, context: Context
    ) -> pb.PriceCheckResponse:
        self._authorize(context, request.header)
        check = await self._prices.check(
            translate.price_inquiry_from_pb(request), deadline=deadline_of(context)
        )
        return translate.price_check_to_pb(check)


class BenefitServicer(pb_grpc.BenefitServiceServicer):
    def __init__(
        self, store: ClaimStore, reference: ReferenceSource, switches: SwitchTable | None = None
    ) -> None:
        self._store = store
        self._reference = reference
        self._switches = switches

    async def GetBenefits(self, request: pb.BenefitRequest, context: Context) -> pb.BenefitResponse:
        if self._switches is not None:
            self._switches.check(
                self._switches.switch_of(context),
                request.bin.rstrip(" "),
                request.processor_control_number.rstrip(" "),
            )
        view, purses = await member_benefits(
            self._store,
            self._reference,
            translate.benefit_inquiry_from_pb(request),
            deadline=deadline_of(context),
        )
        return translate.benefits_to_pb(view, purses)
