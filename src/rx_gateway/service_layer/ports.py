"""What the service layer needs from storage, as Protocols the adapters satisfy."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rx_gateway.domain.adjudication import Paid
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.eob import EobClaim, EobMember
from rx_gateway.domain.member import CardMember, MemberState
from rx_gateway.domain.outcome import ClaimResponse
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.domain.reversal import Reversal, StoredClaim

if TYPE_CHECKING:
    from rx_gateway.service_layer.admin import (
        AuthorizationGrant,
        CoverageChange,
        OtherCoverageChange,
        PurseFunding,
    )


@dataclass(frozen=True, slots=True)
class MemberLookup:
    state: MemberState | None
    existing: StoredClaim | None


class MemberReader(Protocol):
    """The member read: who is on a card, and everything a claim needs about one member."""

    async def card_members(self, cardholder_id: str) -> tuple[CardMember, ...]:
        """Everyone under a cardholder ID (patient matching without a person code)."""
        ...

    async def member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup: ...


class ClaimLedger(Protocol):
    """The claim ledger: each call one atomic write."""

    async def post_claim(
        self, request: ClaimRequest, paid: Paid, *, family_version: int
    ) -> StoredClaim | None:
        """Write a paid claim atomically. None when posted; the stored claim on a duplicate."""
        ...

    async def record_outcome(
        self,
        action: str,
        response: ClaimResponse,
        detail: dict[str, object],
        *,
        family_id: str = "",
    ) -> None:
        """Audit an answer that wrote nothing else (a reject, a duplicate); ``family_id`` ''
        when it concerns no known family."""
        ...

    async def claim_for_reversal(
        self, claim_key: str, cardholder_id: str = "", person_code: str = ""
    ) -> StoredClaim | None:
        """The latest claim under a key; the card the reversal names (if any) says where to
        look first."""
        ...

    async def post_reversal(self, stored: StoredClaim, reversal: Reversal) -> ClaimResponse | None:
        """Write a reversal atomically. None when posted; the stored reversal on a repeat."""
        ...


class ClaimSession(MemberReader, ClaimLedger, Protocol):
    """What one claim uses, on one connection."""


class ClaimStore(Protocol):
    """Where claims get their sessions. ``deadline`` is the caller's, on the event loop's clock:
    no statement starts after it, none waits past it (DeadlineExceeded)."""

    def session(self, *, deadline: float | None = None) -> AbstractAsyncContextManager[Any]:
        """One connection for the calls of one claim; each call still commits on its own (no
        transaction spans the adjudication between the read and the write). Enters as a
        ClaimSession."""
        ...

    def unit_of_work(self, *, deadline: float | None = None) -> AbstractAsyncContextManager[Any]:
        """One connection and one transaction: all its calls commit, or (on an error) none.
        Enters as a ClaimSession."""
        ...


class ReferenceLoader(Protocol):
    """The reference data as stored: the whole snapshot, or just its version (a cheap poll)."""

    async def load_snapshot(self) -> ReferenceSnapshot: ...

    async def reference_data_version(self) -> str: ...


class ReferenceSource(Protocol):
    @property
    def snapshot(self) -> ReferenceSnapshot: ...


class AdminStore(Protocol):
    """Admin changes, each one transaction with its audit row naming the operator."""

    async def fund_purse(self, funding: PurseFunding, *, actor: str) -> bool: ...
    async def set_coverage(self, change: CoverageChange, *, actor: str) -> bool: ...
    async def set_other_coverage(self, change: OtherCoverageChange, *, actor: str) -> bool: ...
    async def grant_prior_authorization(self, grant: AuthorizationGrant, *, actor: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class EobFacts:
    """A member and their claims in a date range, as their ExplanationOfBenefit file needs."""

    member: EobMember
    claims: tuple[EobClaim, ...]


class EobSource(Protocol):
    """The member's claims for their EOB file: one read, audited with the operator's name."""

    async def eob_facts(
        self,
        member_id: str,
        date_from: dt.date | None,
        date_to: dt.date | None,
        *,
        claims_max: int,
        actor: str,
    ) -> EobFacts:
        """UnknownReference for an unknown member; InvalidRequest for more than
        ``claims_max`` claims in the range (nothing read is returned, nothing audited)."""
        ...
