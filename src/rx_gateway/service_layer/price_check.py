"""CheckPrice: a price check with alternatives, read-only (see domain/price_check.py).

One member read (the claim's statement, admitted like a claim and bounded by the caller's
deadline), then the claim's own decision (:meth:`ClaimProcessor.decide`: adjudicate_checked on
the processor's business date, the call every B1 makes) on the fill asked about and on each
alternative, all on that one state. Nothing is written: no ledger entry, accumulator, purse
move, fill or audit row. The answers carry no authorization number (503-F3) or internal
control number (993-A7): nothing was authorized.
"""

from __future__ import annotations

from rx_gateway.domain.adjudication import Decision
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.price_check import (
    PriceCheck,
    PriceIndex,
    PriceInquiry,
    alternatives,
    asked_claim,
    asked_option,
    quote,
    ranked,
)
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.service_layer.claims import ClaimProcessor


class PriceChecker:
    """Price checks over a claim processor's store, reference data and business date."""

    def __init__(self, processor: ClaimProcessor) -> None:
        self._processor = processor
        # the index of the snapshot last seen: rebuilt when the snapshot is swapped
        self._index: tuple[ReferenceSnapshot, PriceIndex] | None = None

    def _index_of(self, snapshot: ReferenceSnapshot) -> PriceIndex:
        if self._index is None or self._index[0] is not snapshot:
            self._index = (snapshot, PriceIndex.of(snapshot))
        return self._index[1]

    async def check(self, inquiry: PriceInquiry, *, deadline: float | None = None) -> PriceCheck:
        """What the member would pay now for the fill asked about, and for its alternatives.
        InvalidRequest (naming the field) for a malformed inquiry, before anything is read; an
        unknown member or plan is an answer: the claim's rejects (52, 65 ...)."""
        snapshot = self._processor.reference.snapshot
        today = self._processor.business_date
        index = self._index_of(snapshot)
        asked = asked_option(asked_claim(inquiry, today=today, channels=index.channels), snapshot)
        state = await self._processor.read_member(asked.request, deadline=deadline)

        def decide(request: ClaimRequest) -> Decision:
            return self._processor.decide(
                request,
                snapshot,
                state,
                authorization_number="",
                internal_control_number="",
                prescriber_required=False,  # a quote of the benefit: the claim names one
            )

        first = quote(asked, decide(asked.request), snapshot, index)
        others = alternatives(asked, first.response.plan_id, snapshot, index)
        return PriceCheck(
            asked=first,
            alternatives=ranked(quote(o, decide(o.request), snapshot, index) for o in others),
            reference_data_version=snapshot.version,
        )
