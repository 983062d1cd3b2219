"""The claim use cases: B1 submit, B2 reverse, E1 eligibility.

Each B1 is: one read of member state, the pure adjudication, one atomic write. When the write
finds that the member's family changed since the read (another claim, a reversal, funding), the
whole adjudication runs again on fresh state, a small bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from rx_gateway.domain.adjudication import Decision, Paid, adjudicate_checked
from rx_gateway.domain.claim import ClaimRequest, EligibilityRequest, ReversalRequest
from rx_gateway.domain.claim_record import request_to_record
from rx_gateway.domain.eligibility import Eligibility, check_eligibility_checked
from rx_gateway.domain.errors import ConcurrencyConflict, InvalidRequest, MemberNotFound
from rx_gateway.domain.member import (
    MemberState,
    PurseState,
    match_person_code,
    match_unknown_person_code,
    same_person_code,
)
from rx_gateway.domain.outcome import ClaimResponse, ResponseStatus, rejected
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.domain.rejects import Reject, RejectCode, ordered
from rx_gateway.domain.reversal import Reversal, StoredClaim, reverse_checked
from rx_gateway.domain.syntax import (
    validate_claim,
    validate_eligibility,
    validate_inquiry,
    validate_reversal,
)
from rx_gateway.domain.values import parse_ccyymmdd
from rx_gateway.domain.views import BenefitView, benefit_view
from rx_gateway.service_layer.flow import Admission, Turns
from rx_gateway.service_layer.ports import (
    ClaimSession,
    ClaimStore,
    MemberLookup,
    MemberReader,
    ReferenceSource,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def today_utc() -> dt.date:
    """The processor's business date: today in UTC."""
    return dt.datetime.now(dt.UTC).date()


def new_authorization_number() -> str:
    """503-F3: twelve random digits."""
    return f"{secrets.randbelow(10**12):012d}"


def new_internal_control_number() -> str:
    """993-A7: the gateway's claim reference (also what logs and audit rows carry)."""
    return secrets.token_hex(12).upper()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a claim whose family changed between its read and its write is adjudicated again:
    at most ``attempts_max`` times, waiting a jittered, doubling pause between attempts, and
    never past the caller's deadline (Settings holds the policy the gateway runs with)."""

    attempts_max: int = 6
    wait_initial_s: float = 0.001
    wait_max_s: float = 0.02


@dataclass(frozen=True, slots=True)
class EligibilityAnswer:
    eligibility: Eligibility
    purses: tuple[PurseState, ...]


def _duplicate_answer(request: ClaimRequest, existing: StoredClaim) -> ClaimResponse:
    if request.is_digest_of(existing.request_hash):
        return existing.response.as_status(ResponseStatus.DUPLICATE_OF_PAID)
    return rejected(
        (
            Reject(
                RejectCode.DUPLICATE_PAID_CLAIM,
                "A different claim was already paid under this Rx, fill and date: reverse it first",
            ),
        ),
        prescription_reference_number=request.prescription_reference_number,
    )


class _Abandoned(Exception):
    """A B3 leg did not succeed: roll back both and answer with this response."""

    def __init__(self, response: ClaimResponse, leg: str) -> None:
        super().__init__(leg)
        self.response = response
        self.leg = leg


class ClaimProcessor:
    def __init__(
        self,
        store: ClaimStore,
        reference: ReferenceSource,
        *,
        retry: RetryPolicy = RetryPolicy(),
        authorization_numbers: Callable[[], str] = new_authorization_number,
        control_numbers: Callable[[], str] = new_internal_control_number,
        business_date: Callable[[], dt.date] = today_utc,
        admission: Admission | None = None,
        span: Callable[[str], contextlib.AbstractContextManager[object]] = (
            lambda _name: contextlib.nullcontext()
        ),
    ) -> None:
        self._span = span  # tracing: a span around each adjudication (a no-op by default)
        self._business_date = business_date
        self.admission = admission if admission is not None else Admission()
        self._turns = Turns()
        self._store = store
        self._reference = reference
        self._retry = retry
        self._authorization_numbers = authorization_numbers
        self._control_numbers = control_numbers

    @property
    def reference(self) -> ReferenceSource:
        return self._reference

    @property
    def business_date(self) -> dt.date:
        """The processor's today: what a claim's timely-filing checks (81/82) compare with."""
        return self._business_date()

    def decide(
        self,
        request: ClaimRequest,
        snapshot: ReferenceSnapshot,
        state: MemberState | None,
        *,
        authorization_number: str,
        internal_control_number: str,
        prescriber_required: bool = True,
    ) -> Decision:
        """The claim's decision on a request that passed its syntax checks: the one call every
        B1 makes, and every price check (which posts nothing, and need not name a prescriber),
        on the processor's today."""
        return adjudicate_checked(
            request,
            snapshot,
            state,
            authorization_number=authorization_number,
            internal_control_number=internal_control_number,
            business_date=self._business_date(),
            prescriber_required=prescriber_required,
        )

    async def read_member(
        self, request: ClaimRequest, *, deadline: float | None = None
    ) -> MemberState | None:
        """The member read of a claim that will not be posted (a price check): the claim's
        statement, its person code matched as for a claim, no claim key (nothing to replay),
        admitted like a claim and bounded by its deadline. It reads; it writes nothing."""
        with self._admitted(deadline):
            async with self._store.session(deadline=deadline) as store:
                lookup = await _claim_lookup(store, request, "")
        return lookup.state

    def _admitted(self, deadline: float | None) -> contextlib.AbstractContextManager[None]:
        """Admitted now, or Overloaded (see flow.Admission)."""
        return self.admission.admitted(deadline, asyncio.get_running_loop().time())

    async def _with_retry(
        self, operation: Callable[[], Awaitable[T]], deadline: float | None = None
    ) -> T:
        """Run ``operation``; on a conflict run it again on fresh state, within the policy's
        attempts and the caller's deadline (no attempt starts that could not finish in time:
        the conflict is answered instead, ABORTED, retryable)."""
        wait = self._retry.wait_initial_s
        loop = asyncio.get_running_loop()
        for attempt in range(1, self._retry.attempts_max + 1):
            try:
                return await operation()
            except ConcurrencyConflict:
                pause = wait * (1 + random.random())
                if attempt == self._retry.attempts_max or (
                    deadline is not None and loop.time() + pause >= deadline
                ):
                    raise
                log.debug("conflict, retrying", extra={"attempt": attempt})
                await asyncio.sleep(pause)
                wait = min(wait * 2, self._retry.wait_max_s)
        raise AssertionError  # pragma: no cover - the loop returns or raises

    async def _syntax_reject(
        self,
        store: ClaimSession,
        action: str,
        syntax: list[Reject],
        prescription_reference_number: str,
    ) -> ClaimResponse:
        """M/I rejects: answered and audited without reading any member state."""
        with self._span("adjudicate") as span:
            response = rejected(
                ordered(syntax),
                prescription_reference_number=prescription_reference_number,
                reference_data_version=self._reference.snapshot.version,
            )
            _describe(span, action, response)
        await store.record_outcome(action, response, {"rejects": _codes(response)})
        return response

    async def submit(
        self, request: ClaimRequest, *, deadline: float | None = None
    ) -> ClaimResponse:
        """B1: adjudicate and, when paid, post in one atomic write. One pooled connection
        serves the claim's read and its write (or its audit row). ``deadline`` (the event
        loop's clock) bounds the database work: nothing starts after it."""
        return await self._one_claim(
            "B1",
            validate_claim(request),
            request.cardholder_id,
            request.prescription_reference_number,
            lambda store: self._submit_once(store, request),
            deadline,
        )

    async def _one_claim(
        self,
        action: str,
        syntax: list[Reject],
        cardholder_id: str,
        prescription_reference_number: str,
        once: Callable[[ClaimSession], Awaitable[ClaimResponse]],
        deadline: float | None,
        card_of: Callable[[ClaimSession], Awaitable[str]] | None = None,
    ) -> ClaimResponse:
        """A B1 or B2 admitted: its M/I rejects (audited, nothing read), or the transaction on
        its card's turn, run again on fresh state while the family keeps changing. A request
        that names no card (a B2 without 302-C2) finds it with ``card_of`` first, so that
        the card's claims still go one at a time."""
        with self._admitted(deadline):
            if syntax:
                async with self._store.session(deadline=deadline) as store:
                    return await self._syntax_reject(
                        store, action, syntax, prescription_reference_number
                    )
            if not cardholder_id and card_of is not None:
                async with self._store.session(deadline=deadline) as store:
                    cardholder_id = await card_of(store)
            async with (
                self._turns.turn(cardholder_id, deadline),
                self._store.session(deadline=deadline) as store,
            ):
                return await self._with_retry(lambda: once(store), deadline)

    async def _submit_once(self, store: ClaimSession, request: ClaimRequest) -> ClaimResponse:
        snapshot = self._reference.snapshot
        lookup = await _claim_lookup(store, request, request.key.as_text())
        family_id = lookup.state.member.family_id if lookup.state is not None else ""
        if lookup.existing is not None and not lookup.existing.reversed:
            return await _duplicate_recorded(store, "B1", request, lookup.existing, family_id)
        with self._span("adjudicate") as span:
            decision = self.decide(
                request,
                snapshot,
                lookup.state,
                authorization_number=self._authorization_numbers(),
                internal_control_number=self._control_numbers(),
            )
            _describe(span, "B1", decision.response)
        if not isinstance(decision, Paid):
            await store.record_outcome(
                "B1",
                decision.response,
                {
                    "rejects": _codes(decision.response),
                    "member_id": decision.member_id,
                    "plan_id": decision.response.plan_id,
                    "rule_trace": list(decision.response.rule_trace),
                    "reference_data_version": snapshot.version,
                    # the request as sent, for a replay of stored claims (rx-gateway simulate)
                    **(
                        {"request": request_to_record(request, self._business_date())}
                        if decision.member_id is not None
                        else {}
                    ),
                },
                family_id=family_id,
            )
            return decision.response
        assert lookup.state is not None  # noqa: S101 - a paid claim has a member
        existing = await store.post_claim(
            request, decision, family_version=lookup.state.family_version
        )
        if existing is not None:
            return _duplicate_answer(request, existing)
        log.info(
            "claim paid",
            extra={
                "internal_control_number": decision.response.internal_control_number,
                "plan_id": decision.response.plan_id,
            },
        )
        return decision.response

    async def reverse(
        self, request: ReversalRequest, *, deadline: float | None = None
    ) -> ClaimResponse:
        """B2: mirror the paid claim, restore accumulators and purses."""
        return await self._one_claim(
            "B2",
            validate_reversal(request),
            request.cardholder_id,
            request.prescription_reference_number,
            lambda store: self._reverse_once(store, request),
            deadline,
            card_of=lambda store: _card_of_claim(store, request),
        )

    async def _reverse_once(self, store: ClaimSession, request: ReversalRequest) -> ClaimResponse:
        """A B2 that passed its syntax checks (the caller checked them once)."""
        snapshot = self._reference.snapshot
        stored = await store.claim_for_reversal(
            request.key.as_text(), request.cardholder_id, request.person_code
        )
        plan = snapshot.plans.get(stored.response.plan_id) if stored else None
        if stored is not None:
            request = await _hinted_reversal(store, request, stored)
        with self._span("adjudicate") as span:
            outcome = reverse_checked(
                request, stored, plan, authorization_number=self._authorization_numbers()
            )
            _describe(span, "B2", outcome.response if isinstance(outcome, Reversal) else outcome)
        if not isinstance(outcome, Reversal):
            await store.record_outcome(
                "B2",
                outcome,
                {"rejects": _codes(outcome)},
                family_id=stored.family_id if stored is not None else "",
            )
            return outcome
        assert stored is not None  # noqa: S101 - a reversal needs its original
        repeated = await store.post_reversal(stored, outcome)
        if repeated is not None:
            return repeated.as_status(ResponseStatus.DUPLICATE_OF_APPROVED)
        return outcome.response

    async def rebill(
        self, reversal: ReversalRequest, claim: ClaimRequest, *, deadline: float | None = None
    ) -> ClaimResponse:
        """B3: reverse the paid claim and bill the new one in ONE database transaction. The
        answer is the new billing's; if either leg fails, nothing is written and the original
        stays paid (the answer then carries the failing leg's rejects)."""
        syntax = validate_reversal(reversal) + validate_claim(claim)
        with self._admitted(deadline):
            if syntax:
                async with self._store.session(deadline=deadline) as store:
                    return await self._syntax_reject(
                        store, "B3", syntax, claim.prescription_reference_number
                    )
            async with self._turns.turn(claim.cardholder_id, deadline):
                try:
                    return await self._with_retry(
                        lambda: self._rebill_once(reversal, claim, deadline), deadline
                    )
                except _Abandoned as abandoned:
                    response = abandoned.response
                    async with self._store.session(deadline=deadline) as store:
                        await store.record_outcome(
                            "B3", response, {"rejects": _codes(response), "leg": abandoned.leg}
                        )
                    return response

    async def _rebill_once(
        self, reversal: ReversalRequest, claim: ClaimRequest, deadline: float | None
    ) -> ClaimResponse:
        async with self._store.unit_of_work(deadline=deadline) as store:
            replay = await _rebilled_already(store, reversal, claim)
            if replay is not None:
                return replay
            reversed_ = await self._reverse_once(store, reversal)
            if reversed_.transaction_response_status not in (
                ResponseStatus.APPROVED,
                ResponseStatus.DUPLICATE_OF_APPROVED,
            ):
                raise _Abandoned(reversed_, "reversal")
            billed = await self._submit_once(store, claim)
            if billed.transaction_response_status is not ResponseStatus.PAID:
                raise _Abandoned(billed, "billing")
            return billed

    async def check_eligibility(
        self, request: EligibilityRequest, *, deadline: float | None = None
    ) -> EligibilityAnswer:
        """E1: coverage, plan, accumulators and purse balances on the date of service. A
        request that fails its syntax checks reads nothing."""
        snapshot = self._reference.snapshot
        syntax = validate_eligibility(request)
        if syntax:
            return EligibilityAnswer(Eligibility(ResponseStatus.REJECTED, ordered(syntax)), ())
        state: MemberState | None = None
        with self._admitted(deadline):
            lookup = await self._eligibility_read(request, deadline)
        state = lookup.state
        with self._span("adjudicate") as span:
            result = check_eligibility_checked(request, snapshot, state)
            _describe_codes(span, "E1", result.transaction_response_status, result.rejects)
        approved = result.transaction_response_status is ResponseStatus.APPROVED
        return EligibilityAnswer(result, state.purses if state and approved else ())

    async def _eligibility_read(
        self, request: EligibilityRequest, deadline: float | None
    ) -> MemberLookup:
        async with self._store.session(deadline=deadline) as store:
            return await _claim_lookup(store, request, "")


async def _rebilled_already(
    store: ClaimSession, reversal: ReversalRequest, claim: ClaimRequest
) -> ClaimResponse | None:
    """A B3 whose claim is the one paid under its key now (a retransmission of a B3 that
    committed, or a rebill of exactly what is paid) answers D with the paid claim's response,
    as a B1 retransmission does: reversing and billing again would pay a new claim, priced
    anew, on each retransmission. None: rebill."""
    if reversal.key != claim.key:
        return None
    lookup = await _claim_lookup(store, claim, claim.key.as_text())
    existing = lookup.existing
    if existing is None or existing.reversed or not claim.is_digest_of(existing.request_hash):
        return None
    family_id = lookup.state.member.family_id if lookup.state is not None else ""
    return await _duplicate_recorded(store, "B3", claim, existing, family_id)


async def _claim_lookup(
    store: MemberReader, request: ClaimRequest | EligibilityRequest, claim_key: str
) -> MemberLookup:
    """A claim's (or an E1's) member read (``claim_key`` the stored claim to look for; empty:
    none)."""
    return await _matched_member(
        store,
        request.cardholder_id,
        request.person_code,
        request.date_of_birth,
        request.gender_code,
        request.service_date,
        claim_key,
    )


async def _duplicate_recorded(
    store: ClaimSession,
    action: str,
    request: ClaimRequest,
    existing: StoredClaim,
    family_id: str,
) -> ClaimResponse:
    """A claim under a key already paid: D with the stored answer, or 83 (_duplicate_answer),
    audited as a duplicate of the stored claim; nothing else is written."""
    response = _duplicate_answer(request, existing)
    await store.record_outcome(
        action,
        response,
        {"duplicate_of": existing.response.internal_control_number},
        family_id=family_id,
    )
    return response


async def _card_of_claim(store: ClaimSession, request: ReversalRequest) -> str:
    """The card of the claim a B2 reverses ("" when there is none: the reversal then rejects
    on its own read)."""
    stored = await store.claim_for_reversal(request.key.as_text())
    return stored.cardholder_id if stored is not None else ""


@dataclass(frozen=True, slots=True)
class BenefitInquiry:
    """GetBenefits: a member's benefits on a date, asked for under one BIN/PCN."""

    bin: str
    processor_control_number: str
    cardholder_id: str
    person_code: str
    date_of_birth: str
    as_of_date: str


NOT_FOUND = "no member with this cardholder ID, person code and date of birth under this BIN/PCN"


def _inquiry_problem(inquiry: BenefitInquiry) -> InvalidRequest | None:
    """The first malformed field (checked before anything is read), or None."""
    problems = validate_inquiry(
        inquiry.bin, inquiry.processor_control_number, inquiry.cardholder_id, inquiry.person_code
    )
    if problems:
        field, reject = problems[0]
        return InvalidRequest(field, reject.message)
    for field, value in (
        ("as_of_date", inquiry.as_of_date),
        ("date_of_birth", inquiry.date_of_birth),
    ):
        if parse_ccyymmdd(value) is None:
            return InvalidRequest(field, "must be a date CCYYMMDD" if value else "is required")
    return None


async def member_benefits(
    store: ClaimStore,
    reference: ReferenceSource,
    inquiry: BenefitInquiry,
    *,
    deadline: float | None = None,
) -> tuple[BenefitView, tuple[PurseState, ...]]:
    """The benefit inquiry: one read of member state, then the pure view, scoped like a claim.
    Only coverage under a plan of the inquiry's BIN/PCN is shown (and only purses that plan's
    benefit stacks spend), and the date of birth must match. Otherwise NOT_FOUND, word for
    word as for a member who does not exist."""
    problem = _inquiry_problem(inquiry)
    if problem is not None:
        raise problem
    as_of = parse_ccyymmdd(inquiry.as_of_date)
    born = parse_ccyymmdd(inquiry.date_of_birth)
    assert as_of is not None  # noqa: S101 - checked above
    assert born is not None  # noqa: S101
    snapshot = reference.snapshot
    plans = snapshot.plans_by_bin_pcn.get((inquiry.bin, inquiry.processor_control_number), ())
    if not plans:
        raise MemberNotFound(NOT_FOUND)
    async with store.session(deadline=deadline) as session:
        lookup = await _matched_member(
            session,
            inquiry.cardholder_id,
            inquiry.person_code,
            inquiry.date_of_birth,
            0,
            as_of,
            "",
        )
    state = lookup.state
    plan_ids = {p.plan_id for p in plans}
    if state is None or state.member.date_of_birth != born:
        raise MemberNotFound(NOT_FOUND)
    coverages = tuple(c for c in state.coverages if c.plan_id in plan_ids)
    if not coverages:
        raise MemberNotFound(NOT_FOUND)
    kinds = {
        rule.kind
        for plan in plans
        for stack in (plan.purse_order, *plan.purse_order_by_class.values())
        for rule in stack
    }
    view = benefit_view(replace(state, coverages=coverages), snapshot, as_of)
    return view, tuple(p for p in state.purses if p.kind in kinds)


async def _matched_member(
    store: MemberReader,
    cardholder_id: str,
    person_code: str,
    date_of_birth: str,
    gender_code: int,
    date_of_service: dt.date,
    claim_key: str,
) -> MemberLookup:
    """The member read of a claim, eligibility check or inquiry: the person 303-C3 names, or
    (when it was left out) the person on the card that the date of birth and gender tell apart
    (nobody, when nobody or several match: the claim answers 52); ``claim_key`` the claim to
    look for (empty: none). A 303-C3 that nobody on the card has is a hint, matched by
    match_unknown_person_code (one or two more reads, only for such claims)."""
    if not person_code:
        people = await store.card_members(cardholder_id)
        person_code = match_person_code(people, parse_ccyymmdd(date_of_birth), gender_code) or ""
    lookup: MemberLookup = await store.member_state(
        cardholder_id, person_code, date_of_service, claim_key
    )
    if lookup.state is None and person_code:
        people = await store.card_members(cardholder_id)
        born = parse_ccyymmdd(date_of_birth)
        meant = match_unknown_person_code(people, person_code, born, gender_code)
        if meant is not None and meant != person_code:
            lookup = await store.member_state(cardholder_id, meant, date_of_service, claim_key)
    return lookup


async def _hinted_reversal(
    store: MemberReader, request: ReversalRequest, stored: StoredClaim
) -> ReversalRequest:
    """A B2's 303-C3 read as the claim's was (a hint): a code nobody on the claim's card has
    names no other patient, so it is taken as the claim's own, and a claim paid for the code
    its pharmacy sent (then matched by date of birth) is reversed with that same code. A
    code that is someone else's on the card still answers 53 (reverse_checked)."""
    if not request.person_code or same_person_code(request.person_code, stored.person_code):
        return request
    if request.cardholder_id and request.cardholder_id != stored.cardholder_id:
        return request  # 52 first, as reverse_checked says
    people = await store.card_members(stored.cardholder_id)
    if any(same_person_code(p.person_code, request.person_code) for p in people):
        return request
    return replace(request, person_code=stored.person_code)


def _describe(span: object, transaction: str, response: ClaimResponse) -> None:
    """The adjudication span's attributes from a claim response."""
    _describe_codes(
        span,
        transaction,
        response.transaction_response_status,
        response.rejects,
        response.plan_id,
    )


def _describe_codes(
    span: object,
    transaction: str,
    status: ResponseStatus,
    rejects: tuple[Reject, ...],
    plan_id: str = "",
) -> None:
    """The adjudication span's attributes, bounded codes only (never a cardholder, a name, a
    date of birth or an Rx number): nothing when tracing is off (the span is then None)."""
    set_attribute = getattr(span, "set_attribute", None)
    if set_attribute is None:
        return
    set_attribute("rx.transaction", transaction)
    set_attribute("rx.status", status.value)
    set_attribute("rx.reject_count", len(rejects))
    if rejects:
        set_attribute("rx.first_reject", rejects[0].code.value)
    if plan_id:
        set_attribute("rx.plan_id", plan_id)


def _codes(response: ClaimResponse) -> list[str]:
    return [r.code.value for r in response.rejects]
