"""What the service layer needs from storage, as Protocols the adapters satisfy."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from rx_gateway.domain.adjudication import Paid, Reversal, StoredClaim
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.member import CardMember, MemberState
from rx_gateway.domain.outcome import ClaimResponse
from rx_gateway.domain.reference import ReferenceSnapshot


@dataclass(frozen=True, slots=True)
class ExistingClaim:
    """The latest claim stored under a claim key."""

    claim_id: int
    request_hash: str
    response: ClaimResponse
    reversed: bool


@dataclass(frozen=True, slots=True)
class MemberLookup:
    state: MemberState | None
    existing: ExistingClaim | None


class ClaimStore(Protocol):
    async def card_members(self, cardholder_id: str) -> tuple[CardMember, ...]:
        """Everyone under a cardholder ID (patient matching without a person code)."""
        ...

    async def member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup: ...

    async def post_claim(
        self, request: ClaimRequest, paid: Paid, *, family_version: int
    ) -> ExistingClaim | None:
        """Write a paid claim atomically. None when posted; the stored claim on a duplicate."""
        ...

    async def record_outcome(
        self, action: str, response: ClaimResponse, detail: dict[str, object]
    ) -> None:
        """Audit an answer that wrote nothing else (a reject, a duplicate)."""
        ...

    async def claim_for_reversal(self, claim_key: str) -> StoredClaim | None: ...

    async def post_reversal(self, stored: StoredClaim, reversal: Reversal) -> ClaimResponse | None:
        """Write a reversal atomically. None when posted; the stored reversal on a repeat."""
        ...

    async def load_snapshot(self) -> ReferenceSnapshot: ...

    async def reference_version(self) -> str: ...

    def session(self) -> AbstractAsyncContextManager[ClaimStore]:
        """A store on one connection for the calls of one claim; each call still commits on
        its own (no transaction spans the adjudication between the read and the write)."""
        ...

    def unit_of_work(self) -> AbstractAsyncContextManager[ClaimStore]:
        """A store whose calls share one transaction: all commit, or (on an error) none."""
        ...


class ReferenceSource(Protocol):
    @property
    def snapshot(self) -> ReferenceSnapshot: ...
