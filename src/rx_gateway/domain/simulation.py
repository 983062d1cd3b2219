"""Plan designs tested on real claims: stored claims replayed, in their original order, through
the adjudication core under another reference snapshot (the design), on an in-memory copy of
member state; the outcomes aggregated against what really happened.

Pure and deterministic: the standard library and the domain only, no I/O. The adapter
(``adapters/postgres/simulation.py``) reads the stored events and each family's starting point;
the command (``cli/simulate.py``) writes the report.

Where the copy of member state starts: each family's state *before its first stored claim*
(the stored accumulators, purse balances and allotments less every claim's and reversal's
moves: what the loader and the funding put there), and every stored event of the family is
replayed from there in order. Events whose date of service falls outside the simulated period
are replayed under the real design, so at the period's start the copy is exactly where the real
state was (the unchanged design reproduces every stored amount: the reproduction rate says so);
events inside it are replayed under the design. A reversal is replayed as a reversal: it undoes
whatever the replayed claim did (nothing when the replayed claim was rejected), so a claim that
was reversed in reality is reversed in the replay too, and both leave the totals.

What claims do not change (members, coverages, prior authorizations, other payers) is taken as
it is now: its own history is not replayed (a claim paid before a coverage was ended
retroactively replays as the 69 it would get now, and is counted as not reproduced).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from rx_gateway.domain.adjudication import Paid, adjudicate_checked
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.member import (
    AccumulatorLevel,
    Accumulators,
    Coverage,
    Fill,
    Member,
    MemberState,
    OtherCoverage,
    PriorAuthorization,
    PurseSpend,
    PurseState,
    RewardEarned,
)
from rx_gateway.domain.money import apply_basis_points
from rx_gateway.domain.outcome import ClaimResponse
from rx_gateway.domain.product import age_on
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.domain.values import parse_ccyymmdd

# (level, subject, plan, plan year start, kind): one accumulator
AccumulatorKey = tuple[str, str, str, dt.date, str]
# The windows of the hot-path member read (adapters/postgres/member_reader.py), kept here so
# that a replayed claim sees what the real one saw.
FILL_WINDOW_DAYS = 400
SPEND_WINDOW_DAYS = 400
ACCUMULATOR_WINDOW_DAYS = 366


@dataclass(frozen=True, slots=True)
class MemberBase:
    """What claims do not change about a member: who, coverages, PAs, other payers."""

    member: Member
    coverages: tuple[Coverage, ...] = ()
    prior_authorizations: tuple[PriorAuthorization, ...] = ()
    other_coverages: tuple[OtherCoverage, ...] = ()


@dataclass(frozen=True, slots=True)
class Household:
    """A family before its first stored claim: members, accumulators, purses (posted balance
    without claims and without allotments) and the purses' scheduled allotments."""

    family_id: str
    members: Mapping[str, MemberBase]
    accumulators: Mapping[AccumulatorKey, int] = field(default_factory=dict)
    purses: tuple[tuple[str, str, int], ...] = ()  # purse ID, kind, posted cents
    allotments: tuple[tuple[str, dt.date, int], ...] = ()  # purse ID, available on, cents


def with_purse_funding(
    households: Mapping[str, Household], scales_bp: Mapping[str, int]
) -> dict[str, Household]:
    """The households with the funding of each purse kind in ``scales_bp`` (kind → basis
    points: 15_000 funds half as much again, 0 funds nothing) scaled: the purse's starting
    balance and its scheduled allotments, each rounded with the one rounding helper."""
    if not scales_bp:
        return dict(households)
    scaled: dict[str, Household] = {}
    for family_id, household in households.items():
        kinds = {purse_id: kind for purse_id, kind, _ in household.purses}
        scaled[family_id] = replace(
            household,
            purses=tuple(
                (purse_id, kind, apply_basis_points(posted, scales_bp[kind]))
                if kind in scales_bp
                else (purse_id, kind, posted)
                for purse_id, kind, posted in household.purses
            ),
            allotments=tuple(
                (purse_id, on, apply_basis_points(cents, scales_bp[kinds[purse_id]]))
                if kinds.get(purse_id) in scales_bp
                else (purse_id, on, cents)
                for purse_id, on, cents in household.allotments
            ),
        )
    return scaled


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event, in its family's order: a claim decided (paid, or rejected with its
    member known) or a paid claim reversed (``reverses``: the claim's 993-A7)."""

    sequence: int
    family_id: str
    member_id: str
    internal_control_number: str
    request: ClaimRequest | None = None  # a claim's request (None for a reversal)
    business_date: dt.date | None = None
    authorization_number: str = ""
    real: ClaimResponse | None = None  # what was answered (a paid claim's stored response)
    real_rejects: tuple[str, ...] = ()  # a rejected claim's codes (its audit row)
    reversed_later: bool = False  # a paid claim reversed afterwards
    reverses: str = ""  # a reversal: the ICN of the claim it reversed

    @property
    def is_claim(self) -> bool:
        return self.request is not None

    @property
    def really_paid(self) -> bool:
        return self.real is not None


@dataclass(frozen=True, slots=True)
class Replayed:
    """One claim as replayed: its event and the replay's answer."""

    event: StoredEvent
    response: ClaimResponse
    paid: bool
    in_period: bool
    reversed_later: bool  # the replayed claim was undone by a replayed reversal


@dataclass
class _Family:
    household: Household
    accumulators: dict[AccumulatorKey, int]
    posted: dict[str, int]
    released: set[int]
    fills: dict[str, list[tuple[str, Fill]]]  # member → (ICN, fill)
    spends: list[tuple[str, PurseSpend]]  # (ICN, spend)
    rewards: dict[str, list[tuple[str, RewardEarned]]]  # member → (ICN, reward earned)
    paid: dict[str, Paid]  # ICN → the replay's paid decision

    @classmethod
    def starting(cls, household: Household) -> _Family:
        return cls(
            household,
            dict(household.accumulators),
            {purse_id: posted for purse_id, _, posted in household.purses},
            set(),
            {},
            [],
            {},
            {},
        )

    def state(self, member_id: str, date_of_service: dt.date) -> MemberState | None:
        base = self.household.members.get(member_id)
        if base is None:
            return None
        family_id = self.household.family_id
        folded: dict[tuple[str, dt.date], dict[str, int]] = {}
        for (level, subject, plan_id, year, kind), amount in self.accumulators.items():
            if not (
                (level == AccumulatorLevel.INDIVIDUAL.value and subject == member_id)
                or (level == AccumulatorLevel.FAMILY.value and subject == family_id)
            ):
                continue
            if not (0 <= (date_of_service - year).days <= ACCUMULATOR_WINDOW_DAYS):
                continue
            folded.setdefault((plan_id, year), {})[f"{kind}_{level}_cents"] = amount
        due: dict[str, int] = {}
        unreleased: dict[str, int] = {}
        pending: dict[str, int] = {}
        for position, (purse_id, available_on, amount) in enumerate(self.household.allotments):
            if available_on > date_of_service:
                pending[purse_id] = pending.get(purse_id, 0) + amount
            else:
                due[purse_id] = due.get(purse_id, 0) + amount
                if position not in self.released:
                    unreleased[purse_id] = unreleased.get(purse_id, 0) + amount
        purses = tuple(
            PurseState(
                purse_id,
                kind,
                available_cents=self.posted[purse_id] + due.get(purse_id, 0),
                posted_cents=(
                    self.posted[purse_id] + due.get(purse_id, 0) - unreleased.get(purse_id, 0)
                ),
                pending_cents=pending.get(purse_id, 0),
            )
            for purse_id, kind, _ in sorted(self.household.purses)
        )
        fills = tuple(
            f
            for _, f in self.fills.get(member_id, ())
            if 0 <= (date_of_service - f.date_of_service).days <= FILL_WINDOW_DAYS
        )
        spends = tuple(
            s
            for _, s in self.spends
            if abs((date_of_service - s.date_of_service).days) <= SPEND_WINDOW_DAYS
        )
        return MemberState(
            member=base.member,
            family_version=0,
            coverages=base.coverages,
            accumulators={key: Accumulators(**values) for key, values in folded.items()},
            purses=purses,
            fills=fills,
            prior_authorizations=base.prior_authorizations,
            purse_spends=spends,
            other_coverages=base.other_coverages,
            rewards=tuple(
                r
                for _, r in self.rewards.get(member_id, ())
                if 0 <= (date_of_service - r.plan_year_start).days <= ACCUMULATOR_WINDOW_DAYS
            ),
        )

    def post(self, event: StoredEvent, request: ClaimRequest, paid: Paid) -> None:
        icn = event.internal_control_number
        date_of_service = request.service_date
        self._move_accumulators(paid, 1)
        if paid.purse_moves and paid.releases_allotments:
            for position, (_, available_on, _) in enumerate(self.household.allotments):
                if available_on <= date_of_service:
                    self.released.add(position)
        for purse_move in paid.purse_moves:
            self.posted[purse_move.purse_id] = (
                self.posted.get(purse_move.purse_id, 0) + purse_move.amount_cents
            )
            if purse_move.amount_cents < 0:
                self.spends.append(
                    (
                        icn,
                        PurseSpend(purse_move.purse_id, date_of_service, -purse_move.amount_cents),
                    )
                )
        for line in paid.rewards:  # credited to the purse in the claim's write
            self.posted[line.purse_id] = self.posted.get(line.purse_id, 0) + line.amount_cents
            year = parse_ccyymmdd(line.plan_year_start)
            if year is not None:
                self.rewards.setdefault(paid.member_id, []).append(
                    (icn, RewardEarned(line.program_id, year, line.amount_cents))
                )
        response = paid.response
        fill = Fill(
            paid.molecule,
            date_of_service,
            request.days_supply,
            request.quantity_dispensed_thousandths,
            request.product_id,
            request.header.service_provider_id,
            response.prescriber_id,
            response.refill_override,
            f"{request.prescription_reference_number}|{request.fill_number}",
        )
        self.fills.setdefault(paid.member_id, []).append((icn, fill))
        self.paid[icn] = paid

    def _move_accumulators(self, paid: Paid, sign: int) -> None:
        """A replayed claim's accumulator moves applied (1) or undone (-1)."""
        for move in paid.accumulator_moves:
            key = (
                move.level.value,
                move.subject_id,
                move.plan_id,
                move.plan_year_start,
                move.kind.value,
            )
            self.accumulators[key] = self.accumulators.get(key, 0) + sign * move.amount_cents

    def reverse(self, icn: str) -> bool:
        paid = self.paid.pop(icn, None)
        if paid is None:
            return False
        self._move_accumulators(paid, -1)
        for purse_move in paid.purse_moves:
            self.posted[purse_move.purse_id] -= purse_move.amount_cents
        for line in paid.rewards:
            # a reward already spent is first recovered from the member (the ledger's
            # reward_recovery entry): the purse gives back what it has, never below zero
            self.posted[line.purse_id] = max(0, self.posted[line.purse_id] - line.amount_cents)
        earned = self.rewards.get(paid.member_id, [])
        self.rewards[paid.member_id] = [(i, r) for i, r in earned if i != icn]
        self.spends = [(i, s) for i, s in self.spends if i != icn]
        fills = self.fills.get(paid.member_id, [])
        self.fills[paid.member_id] = [(i, f) for i, f in fills if i != icn]
        return True


def replay(
    events: Iterable[StoredEvent],
    households: Mapping[str, Household],
    real: ReferenceSnapshot,
    design: ReferenceSnapshot,
    in_period: Callable[[StoredEvent], bool],
    transform: Callable[[StoredEvent], ClaimRequest | None] | None = None,
) -> list[Replayed]:
    """Every stored event in order, each family on its own copy of state: claims in the period
    decided under ``design``, the others under ``real``; reversals undo what the replay paid.
    The claims as replayed, in the order given (a reversed one marked).

    ``transform`` (pure; none: every claim as stored): the request a claim in the period is
    replayed with instead of its own (e.g. the generic for the brand), or None for a claim that
    is not made at all (left out of the answer; its reversal, if any, undoes nothing)."""
    families: dict[str, _Family] = {}
    out: list[Replayed] = []
    position: dict[str, int] = {}
    for event in events:
        family = families.get(event.family_id)
        if family is None:
            household = households.get(event.family_id)
            if household is None:
                continue
            family = families[event.family_id] = _Family.starting(household)
        if event.request is None:
            if family.reverse(event.reverses) and event.reverses in position:
                k = position[event.reverses]
                out[k] = replace(out[k], reversed_later=True)
            continue
        request = event.request
        inside = in_period(event)
        if inside and transform is not None:
            changed = transform(event)
            if changed is None:
                continue
            request = changed
        chosen = design if inside else real
        state = family.state(event.member_id, request.service_date)
        decision = adjudicate_checked(
            request,
            chosen,
            state,
            authorization_number=event.authorization_number,
            internal_control_number=event.internal_control_number,
            business_date=event.business_date,
            # a replay tests the plan design: claims stored before Part D claims had to name a
            # prescriber replay as they were paid
            prescriber_required=False,
        )
        if isinstance(decision, Paid):
            family.post(event, request, decision)
        position[event.internal_control_number] = len(out)
        out.append(
            Replayed(
                event,
                decision.response,
                isinstance(decision, Paid),
                inside,
                reversed_later=False,
            )
        )
    return out


def _comparable(response: ClaimResponse) -> ClaimResponse:
    """A response as a replay can reproduce it: without the reference data version, and with
    a remaining amount of no limit (None) as claims stored before 2026-12-01 kept it (0)."""
    view = response.accumulators
    if view is not None:
        view = replace(
            view,
            deductible_individual_remaining_cents=view.deductible_individual_remaining_cents or 0,
            deductible_family_remaining_cents=view.deductible_family_remaining_cents or 0,
            out_of_pocket_individual_remaining_cents=(
                view.out_of_pocket_individual_remaining_cents or 0
            ),
            out_of_pocket_family_remaining_cents=view.out_of_pocket_family_remaining_cents or 0,
        )
    return replace(response, reference_data_version="", accumulators=view)


def reproduces(replayed: Replayed) -> bool:
    """The replay answered what was answered: a paid claim's whole response (but the reference
    data version it names), a rejected claim's reject codes; and a reversal where there was."""
    event = replayed.event
    if replayed.reversed_later != event.reversed_later:
        return False
    if event.real is not None:
        return replayed.paid and _comparable(replayed.response) == _comparable(event.real)
    return not replayed.paid and (
        tuple(r.code.value for r in replayed.response.rejects) == event.real_rejects
    )


# ---------------------------------------------------------------------------------- the report


@dataclass
class Totals:
    """Money of the claims that stand (paid, not reversed), in cents."""

    claims: int = 0
    paid_claims: int = 0
    plan_paid_cents: int = 0
    member_paid_cents: int = 0
    purse_paid_cents: int = 0

    @property
    def sponsor_cost_cents(self) -> int:
        """What the sponsor funds: the plan's payment and what its purses paid."""
        return self.plan_paid_cents + self.purse_paid_cents

    def add(self, response: ClaimResponse | None) -> None:
        self.claims += 1
        if response is None or response.pricing is None:
            return
        self.paid_claims += 1
        self.plan_paid_cents += response.pricing.plan_paid_cents
        self.member_paid_cents += response.pricing.patient_pay_amount_cents
        self.purse_paid_cents += sum(line.paid_cents for line in response.purses)

    def as_dict(self) -> dict[str, int]:
        return {
            "claims": self.claims,
            "paid_claims": self.paid_claims,
            "plan_paid_cents": self.plan_paid_cents,
            "member_paid_cents": self.member_paid_cents,
            "purse_paid_cents": self.purse_paid_cents,
            "sponsor_cost_cents": self.sponsor_cost_cents,
        }


@dataclass
class Comparison:
    real: Totals = field(default_factory=Totals)
    simulated: Totals = field(default_factory=Totals)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"real": self.real.as_dict(), "simulated": self.simulated.as_dict()}


@dataclass(frozen=True, slots=True)
class Flip:
    internal_control_number: str
    member_id: str
    date_of_service: str
    product_id: str
    real: str  # "paid" or "rejected"
    simulated: str
    rejects: tuple[str, ...]  # the side that rejected: its codes


@dataclass
class Report:
    claims_replayed: int = 0
    reproduced: int = 0
    claims_in_period: int = 0
    overall: Comparison = field(default_factory=Comparison)
    by: dict[str, dict[str, Comparison]] = field(default_factory=dict)
    member_change_cents: dict[str, int] = field(default_factory=dict)
    flips: list[Flip] = field(default_factory=list)
    not_reproduced: list[str] = field(default_factory=list)  # 993-A7 of each, in order

    @property
    def reproduction_rate(self) -> float:
        return self.reproduced / self.claims_replayed if self.claims_replayed else 1.0


DIMENSIONS = ("month", "tier", "drug_group", "age_band", "line_of_business", "utilization_band")


def age_band(age: int) -> str:
    for upper, band in ((17, "0-17"), (25, "18-25"), (44, "26-44"), (64, "45-64")):
        if age <= upper:
            return band
    return "65+"


def utilization_band(claims: int) -> str:
    """A member's claims in the period, banded."""
    for upper, band in ((2, "1-2 claims"), (5, "3-5 claims"), (11, "6-11 claims")):
        if claims <= upper:
            return band
    return "12+ claims"


def _live(response: ClaimResponse | None, paid: bool, reversed_later: bool) -> ClaimResponse | None:
    return response if paid and not reversed_later else None


def _segments(
    event: StoredEvent, snapshot: ReferenceSnapshot, households: Mapping[str, Household]
) -> dict[str, str]:
    request = event.request
    assert request is not None  # noqa: S101 - claims only
    plan_id = event.real.plan_id if event.real is not None else ""
    base = households[event.family_id].members.get(event.member_id)
    coverage = None
    if base is not None:
        for c in base.coverages:
            if c.covers(request.service_date) and (not plan_id or c.plan_id == plan_id):
                coverage = c
                break
    if coverage is not None:
        plan_id = plan_id or coverage.plan_id
    drug = snapshot.drugs.get(request.product_id)
    entry = snapshot.formulary.get((plan_id, request.product_id))
    return {
        "month": request.service_date.strftime("%Y-%m"),
        "tier": str(entry.tier) if entry is not None else "not on formulary",
        "drug_group": drug.drug_group if drug is not None else "unknown",
        "age_band": (
            age_band(age_on(base.member.date_of_birth, request.service_date))
            if base is not None
            else "unknown"
        ),
        "line_of_business": coverage.line_of_business if coverage is not None else "unknown",
    }


def _status(paid: bool) -> str:
    return "paid" if paid else "rejected"


def compare(
    replayed: Iterable[Replayed],
    households: Mapping[str, Household],
    real: ReferenceSnapshot,
    design: ReferenceSnapshot,
    reproduction: Iterable[Replayed] = (),
) -> Report:
    """The design's replay against what really happened, over the claims in the period:
    totals, the same by each dimension (the tier and drug group as each side priced them
    belong to the real plan's formulary: a claim is counted under one key), the change in what
    each member paid, and the claims whose outcome flipped. ``reproduction``: the replay under
    the real design, whose share of exact answers is the reproduction rate."""
    report = Report(by={d: {} for d in DIMENSIONS})
    for r in reproduction:
        report.claims_replayed += 1
        if reproduces(r):
            report.reproduced += 1
        else:
            report.not_reproduced.append(r.event.internal_control_number)
    in_period = [r for r in replayed if r.in_period]
    use: dict[str, int] = {}
    for r in in_period:
        use[r.event.member_id] = use.get(r.event.member_id, 0) + 1
    for r in in_period:
        event = r.event
        report.claims_in_period += 1
        real_live = _live(event.real, event.really_paid, event.reversed_later)
        simulated_live = _live(r.response, r.paid, r.reversed_later)
        keys = _segments(event, real, households)
        keys["utilization_band"] = utilization_band(use[event.member_id])
        for comparison in (
            report.overall,
            *(report.by[d].setdefault(keys[d], Comparison()) for d in DIMENSIONS),
        ):
            comparison.real.add(real_live)
            comparison.simulated.add(simulated_live)
        change = _member_paid(simulated_live) - _member_paid(real_live)
        report.member_change_cents[event.member_id] = (
            report.member_change_cents.get(event.member_id, 0) + change
        )
        if r.paid != event.really_paid and not event.reversed_later:
            request = event.request
            assert request is not None  # noqa: S101 - claims only
            rejects = (
                tuple(x.code.value for x in r.response.rejects)
                if not r.paid
                else event.real_rejects
            )
            report.flips.append(
                Flip(
                    event.internal_control_number,
                    event.member_id,
                    request.header.date_of_service,
                    request.product_id,
                    _status(event.really_paid),
                    _status(r.paid),
                    rejects,
                )
            )
    return report


def _member_paid(response: ClaimResponse | None) -> int:
    if response is None or response.pricing is None:
        return 0
    return response.pricing.patient_pay_amount_cents


def most_affected(
    report: Report, count: int = 10
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The members whose pay rose most and fell most (member ID, change in cents)."""
    changes = sorted(report.member_change_cents.items(), key=lambda kv: (kv[1], kv[0]))
    up = [kv for kv in reversed(changes) if kv[1] > 0][:count]
    down = [kv for kv in changes if kv[1] < 0][:count]
    return up, down


def period_filter(start: dt.date | None, end: dt.date | None) -> Callable[[StoredEvent], bool]:
    """Is a claim in the period (by date of service, both ends included)?"""

    def inside(event: StoredEvent) -> bool:
        if event.request is None:
            return False
        day = event.request.service_date
        return (start is None or start <= day) and (end is None or day <= end)

    return inside
