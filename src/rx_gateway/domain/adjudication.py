"""Adjudication: a claim, the reference snapshot and the member's state in; a decision out.

Pure and deterministic. Checks run in the groups of :data:`rejects.CHECK_GROUPS`; the first group
that fails decides the answer and reports every reject it found. A paid decision carries
everything the ledger must write: the response, the journal entry, purse and accumulator moves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rx_gateway.domain import claim as claim_rules
from rx_gateway.domain.claim import (
    ClaimRequest,
    EligibilityRequest,
    ReversalRequest,
    format_ccyymmdd,
    parse_ccyymmdd,
)
from rx_gateway.domain.cost_share import ShareBreakdown, member_share, remaining
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import AccumulatorMove, JournalEntry, PurseMove, claim_entry
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    Coverage,
    CoverageEndReason,
    MemberState,
)
from rx_gateway.domain.money import format_cents, round_half_up
from rx_gateway.domain.outcome import (
    AccumulatorView,
    ClaimResponse,
    PurseLine,
    ResponsePricing,
    ResponseStatus,
    rejected,
)
from rx_gateway.domain.pricing import Price, contract_ingredient, price_claim
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    CoverageLevel,
    Drug,
    FormularyEntry,
    FormularyStatus,
    Limits,
    Pharmacy,
    PharmacyNetwork,
    Plan,
    PurseRule,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject, RejectCode, ordered


@dataclass(frozen=True, slots=True)
class Paid:
    response: ClaimResponse
    entry: JournalEntry
    purse_moves: tuple[PurseMove, ...]
    accumulator_moves: tuple[AccumulatorMove, ...]
    member_id: str
    family_id: str
    molecule: str
    # The claim spends purses whose available balance counted allotments that are due but not
    # yet posted: the write must post them first (in the same transaction).
    releases_allotments: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    response: ClaimResponse
    member_id: str | None = None


Decision = Paid | Rejected


class _Stop(Exception):
    """A check group failed: carries its rejects out of the nested helpers."""

    def __init__(self, group: str, rejects: list[Reject]) -> None:
        super().__init__(group)
        self.group = group
        self.rejects = rejects


def _fail_if(group: str, rejects: list[Reject]) -> None:
    if rejects:
        raise _Stop(group, rejects)


def resolve_coverage(
    bin_number: str,
    pcn: str,
    group_id: str,
    date_of_service: dt.date,
    snapshot: ReferenceSnapshot,
    state: MemberState | None,
    person_code: str = "",
) -> tuple[Plan, Coverage]:
    """Plan (BIN/PCN) and eligibility groups: which coverage adjudicates this date of service."""
    plans = snapshot.plans_by_bin_pcn.get((bin_number, pcn))
    if not plans:
        code = RejectCode.MI_PCN if snapshot.known_bin(bin_number) else RejectCode.MI_BIN
        _fail_if("plan", [Reject(code, "BIN/PCN is not processed by this gateway")])
    assert plans is not None  # noqa: S101 - narrowed by _fail_if for the type checker
    if state is None:
        _fail_if(
            "eligibility",
            [Reject(RejectCode.NON_MATCHED_CARDHOLDER, "Cardholder ID and person code not found")],
        )
    assert state is not None  # noqa: S101
    if not group_id:
        _fail_if("eligibility", [Reject(RejectCode.MI_GROUP_ID, "Group ID (301-C1) is required")])
    plan_ids = {p.plan_id for p in plans}
    spans = [c for c in state.coverages if c.plan_id in plan_ids]
    if not spans:
        _fail_if(
            "eligibility",
            [Reject(RejectCode.PATIENT_NOT_COVERED, "No coverage under this BIN/PCN")],
        )
    active = [c for c in spans if c.covers(date_of_service)]
    if not active:
        ended = [c for c in spans if c.end is not None and c.end < date_of_service]
        if not ended:
            first = min(c.start for c in spans)
            reject = Reject(
                RejectCode.BEFORE_COVERAGE_EFFECTIVE,
                f"Coverage starts {first.isoformat()}",
            )
        else:
            last = max(ended, key=lambda c: c.end or dt.date.min)
            code = (
                RejectCode.AFTER_COVERAGE_TERMINATED
                if last.end_reason is CoverageEndReason.TERMINATED
                else RejectCode.AFTER_COVERAGE_EXPIRED
            )
            reject = Reject(code, f"Coverage ended {last.end}")
        _fail_if("eligibility", [reject])
    coverage = active[0]
    if coverage.group_id != group_id:
        _fail_if(
            "eligibility",
            [Reject(RejectCode.NON_MATCHED_GROUP, "Group ID does not match the member's coverage")],
        )
    plan = snapshot.plans[coverage.plan_id]
    if plan.person_code_required and not person_code:
        _fail_if(
            "eligibility",
            [
                Reject(
                    RejectCode.MI_PERSON_CODE, "Person code (303-C3) is missing: the plan needs it"
                )
            ],
        )
    return plan, coverage


def _product(
    request: ClaimRequest, plan: Plan, snapshot: ReferenceSnapshot, state: MemberState
) -> tuple[Drug, FormularyEntry]:
    drug = snapshot.drugs.get(request.product_id)
    if drug is None:
        _fail_if("product", [Reject(RejectCode.NON_MATCHED_PRODUCT, "NDC not in the drug file")])
    assert drug is not None  # noqa: S101
    entry = snapshot.formulary.get((plan.plan_id, drug.ndc))
    if entry is None or entry.status is FormularyStatus.NON_FORMULARY:
        _fail_if(
            "product",
            [
                Reject(
                    RejectCode.NOT_ON_FORMULARY,
                    f"{drug.name} is not on the plan's formulary"
                    + _alternative(snapshot, plan, drug),
                )
            ],
        )
    assert entry is not None  # noqa: S101
    if entry.status is FormularyStatus.EXCLUDED:
        _fail_if(
            "product",
            [Reject(RejectCode.PRODUCT_NOT_COVERED, f"{drug.name} is excluded from the benefit")],
        )
    _patient_edits(entry, drug, state, request.service_date)
    generic = snapshot.drugs.get(drug.generic_ndc) if drug.generic_ndc else None
    if generic is not None and request.dispense_as_written in plan.generic_required_daw_codes:
        _fail_if(
            "product",
            [
                Reject(
                    RejectCode.GENERIC_REQUIRED,
                    f"Generic required: dispense {generic.name} (NDC {generic.ndc})",
                )
            ],
        )
    authorized = any(
        pa.covers(
            drug.ndc, drug.drug_group, request.service_date, request.quantity_dispensed_thousandths
        )
        for pa in state.prior_authorizations
    )
    required = entry.step_therapy_molecule
    if required is not None and not authorized:
        since = request.service_date - dt.timedelta(days=STEP_THERAPY_LOOKBACK_DAYS)
        if not any(
            f.molecule == required and since <= f.date_of_service <= request.service_date
            for f in state.fills
        ):
            first = snapshot.first_line.get((plan.plan_id, required))
            offer = f" ({first.name}, NDC {first.ndc})" if first else ""
            _fail_if(
                "product",
                [
                    Reject(
                        RejectCode.STEP_THERAPY_REQUIRED,
                        f"Step therapy: {required}{offer} must be tried first,"
                        " or the prescriber requests an exception",
                    )
                ],
            )
    if entry.prior_authorization_required and not authorized:
        _fail_if(
            "product",
            [
                Reject(
                    RejectCode.PRIOR_AUTHORIZATION_REQUIRED,
                    f"Prior authorization required for {drug.name}: the prescriber requests it"
                    + (
                        f" at {plan.prior_authorization_contact}"
                        if plan.prior_authorization_contact
                        else " from the plan"
                    ),
                )
            ],
        )
    return drug, entry


def _filing(date_of_service: dt.date, plan: Plan, business_date: dt.date) -> None:
    """82 for a date of service in the future; 81 past the plan's timely-filing window."""
    if date_of_service > business_date:
        _fail_if(
            "filing",
            [Reject(RejectCode.CLAIM_POST_DATED, f"Date of service is after {business_date}")],
        )
    window = plan.timely_filing_days
    if window is not None and (business_date - date_of_service).days > window:
        _fail_if(
            "filing",
            [
                Reject(
                    RejectCode.CLAIM_TOO_OLD,
                    f"Claims must be filed within {window} days of the date of service",
                )
            ],
        )


STEP_THERAPY_LOOKBACK_DAYS = 365


def _alternative(snapshot: ReferenceSnapshot, plan: Plan, drug: Drug) -> str:
    """The preferred covered alternative in the same drug group, as message text."""
    other = snapshot.preferred_alternatives.get((plan.plan_id, drug.drug_group))
    if other is None or other.ndc == drug.ndc:
        return ""
    return f"; covered alternative: {other.name} (NDC {other.ndc})"


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years of age on a day."""
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - before_birthday


def _patient_edits(
    entry: FormularyEntry, drug: Drug, state: MemberState, date_of_service: dt.date
) -> None:
    """Age (60) and gender (61) edits of the formulary entry, reported together."""
    rejects = []
    age = age_on(state.member.date_of_birth, date_of_service)
    if (entry.age_min is not None and age < entry.age_min) or (
        entry.age_max is not None and age > entry.age_max
    ):
        rejects.append(
            Reject(
                RejectCode.NOT_COVERED_FOR_AGE,
                f"{drug.name} is covered for ages {entry.age_min or 0}-{entry.age_max or 'up'}",
            )
        )
    if entry.gender_code is not None and state.member.gender_code != entry.gender_code:
        rejects.append(
            Reject(
                RejectCode.NOT_COVERED_FOR_GENDER, f"{drug.name} is not covered for this patient"
            )
        )
    _fail_if("product", rejects)


# Pharmacies that may fill an extended supply (G9 elsewhere): mail order and 90-day retail.
EXTENDED_SUPPLY_PHARMACY_KINDS = frozenset({"mail", "retail90"})


def _network_rules(
    request: ClaimRequest, plan: Plan, pharmacy: Pharmacy, snapshot: ReferenceSnapshot
) -> None:
    """Specialty drugs at specialty pharmacies (G6); extended supplies at mail pharmacies (G9)."""
    rejects = []
    drug = snapshot.drugs.get(request.product_id)
    specialty = drug is not None and drug.is_specialty
    if plan.specialty_pharmacy_required and specialty and pharmacy.kind != "specialty":
        rejects.append(
            Reject(
                RejectCode.NOT_IN_SPECIALTY_NETWORK,
                "Specialty drug: fill at a specialty pharmacy in the plan's network",
            )
        )
    extended = plan.extended_supply_days_min
    extended_ok = pharmacy.kind in EXTENDED_SUPPLY_PHARMACY_KINDS
    if extended is not None and request.days_supply >= extended and not extended_ok:
        rejects.append(
            Reject(
                RejectCode.NOT_IN_90_DAY_NETWORK,
                f"{request.days_supply}-day supply only by mail or at a 90-day retail pharmacy;"
                " this pharmacy may fill"
                f" up to {extended - 1} days",
            )
        )
    _fail_if("network", rejects)


def _quantity(thousandths: int) -> str:
    return f"{thousandths / 1000:g}"


def _limits(
    request: ClaimRequest, plan: Plan, drug: Drug, entry: FormularyEntry, state: MemberState
) -> None:
    """Per-fill quantity (76) and days supply (7X); rolling-period quantity (9G) and days (AG)."""
    rejects = []
    quantity = request.quantity_dispensed_thousandths
    limit = entry.quantity_limit_thousandths
    approved = [
        pa.quantity_thousandths
        for pa in state.prior_authorizations
        if pa.quantity_thousandths is not None
        and pa.covers(drug.ndc, drug.drug_group, request.service_date, quantity)
    ]
    if limit is not None and approved:
        limit = max(limit, *approved)
    if limit is not None and quantity > limit:
        rejects.append(
            Reject(
                RejectCode.PLAN_LIMITATIONS_EXCEEDED,
                f"Quantity limit {_quantity(limit)} per fill; submitted {_quantity(quantity)}."
                f" Dispense up to {_quantity(limit)}, or the prescriber requests a"
                " quantity-limit override",
            )
        )
    if entry.period_days is not None:
        since = request.service_date - dt.timedelta(days=entry.period_days - 1)
        window = [
            f
            for f in state.fills
            if f.molecule == drug.molecule and since <= f.date_of_service <= request.service_date
        ]
        period_limit = entry.period_quantity_limit_thousandths
        filled = sum(f.quantity_thousandths for f in window)
        if period_limit is not None and filled + quantity > period_limit:
            rejects.append(
                Reject(
                    RejectCode.QUANTITY_EXCEEDS_MAXIMUM,
                    f"Quantity limit {_quantity(period_limit)} per {entry.period_days} days;"
                    f" {_quantity(filled)} already filled, submitted {_quantity(quantity)}."
                    f" Up to {_quantity(max(0, period_limit - filled))} may be dispensed now",
                )
            )
        days_limit = entry.period_days_supply_max
        supplied = sum(f.days_supply for f in window)
        if days_limit is not None and supplied + request.days_supply > days_limit:
            rejects.append(
                Reject(
                    RejectCode.DAYS_SUPPLY_LIMITATION,
                    f"{days_limit} days supply per {entry.period_days} days;"
                    f" {supplied} already supplied, submitted {request.days_supply}."
                    f" Up to {max(0, days_limit - supplied)} days may be dispensed now",
                )
            )
    days_max = min(entry.days_supply_max or plan.days_supply_max, plan.days_supply_max)
    rule = plan.tiers[entry.tier]
    if request.days_supply > days_max or rule.band_multiplier_bp(request.days_supply) is None:
        rejects.append(
            Reject(
                RejectCode.DAYS_SUPPLY_EXCEEDS_LIMIT,
                f"Days supply limit {days_max}; submitted {request.days_supply}",
            )
        )
    _fail_if("limits", rejects)


def _refill(request: ClaimRequest, plan: Plan, drug: Drug, state: MemberState) -> None:
    service_date = request.service_date
    earliest = None
    for fill in state.fills:
        if fill.molecule != drug.molecule or fill.date_of_service > service_date:
            continue
        wait_days = round_half_up(fill.days_supply * plan.refill_too_soon_threshold_bp, 10_000)
        allowed_from = fill.date_of_service + dt.timedelta(days=wait_days)
        if service_date < allowed_from and (earliest is None or allowed_from > earliest):
            earliest = allowed_from
    if earliest is not None:
        _fail_if(
            "refill",
            [
                Reject(
                    RejectCode.REFILL_TOO_SOON,
                    f"Refill too soon: next fill on or after {earliest.isoformat()}",
                )
            ],
        )


def accumulator_view(
    limits: Limits, level: CoverageLevel, plan_year_start: dt.date, acc: Accumulators
) -> AccumulatorView:
    def left(limit: int | None, met: int) -> int:
        return remaining(limit, met) or 0

    return AccumulatorView(
        plan_year=format_ccyymmdd(plan_year_start),
        deductible_individual_met_cents=acc.deductible_individual_cents,
        deductible_individual_remaining_cents=left(
            limits.deductible_individual_cents, acc.deductible_individual_cents
        ),
        deductible_family_met_cents=acc.deductible_family_cents,
        deductible_family_remaining_cents=left(
            limits.deductible_family_cents, acc.deductible_family_cents
        ),
        out_of_pocket_individual_met_cents=acc.out_of_pocket_individual_cents,
        out_of_pocket_individual_remaining_cents=left(
            limits.out_of_pocket_individual_cents, acc.out_of_pocket_individual_cents
        ),
        out_of_pocket_family_met_cents=acc.out_of_pocket_family_cents,
        out_of_pocket_family_remaining_cents=left(
            limits.out_of_pocket_family_cents, acc.out_of_pocket_family_cents
        ),
        coverage_level=level.value,
    )


def accumulated_deductible(limits: Limits, acc: Accumulators) -> int | None:
    """512-FC: what has been applied toward the deductible that applies to this member: the
    member's own when there is an individual deductible, else the family's (an aggregate
    family deductible); None when the plan has no deductible for this coverage."""
    if limits.deductible_individual_cents:
        return acc.deductible_individual_cents
    if limits.deductible_family_cents:
        return acc.deductible_family_cents
    return None


def remaining_deductible(limits: Limits, acc: Accumulators) -> int | None:
    """513-FD: the least of what is left of the deductibles that apply; None without one."""
    left = [
        value
        for limit, met in (
            (limits.deductible_individual_cents, acc.deductible_individual_cents),
            (limits.deductible_family_cents, acc.deductible_family_cents),
        )
        if limit
        for value in (max(0, limit - met),)
    ]
    return min(left) if left else None


def _spending_account_left(plan: Plan, state: MemberState, lines: list[PurseLine]) -> int | None:
    """128-UC: what the member's purses in their benefit stack hold after this claim, whether
    or not one paid; None when the member has no such purse."""
    kinds = {rule.kind for rule in plan.purse_rules_for(state.member.class_code)}
    spent = {line.purse_id: line.paid_cents for line in lines}
    held = [
        purse.balance_cents - spent.get(purse.purse_id, 0)
        for purse in state.purses
        if purse.kind in kinds
    ]
    return sum(held) if held else None


def _accumulator_moves(
    plan: Plan, plan_year_start: dt.date, state: MemberState, share: ShareBreakdown
) -> tuple[AccumulatorMove, ...]:
    member, family = state.member.member_id, state.member.family_id
    moves = []
    for kind, amount in (
        (AccumulatorKind.DEDUCTIBLE, share.deductible_cents),
        (AccumulatorKind.OUT_OF_POCKET, share.counted_toward_out_of_pocket_cents),
    ):
        if amount:
            for level, subject in (
                (AccumulatorLevel.INDIVIDUAL, member),
                (AccumulatorLevel.FAMILY, family),
            ):
                moves.append(
                    AccumulatorMove(level, subject, plan.plan_id, plan_year_start, kind, amount)
                )
    return tuple(moves)


def apply_moves(acc: Accumulators, moves: tuple[AccumulatorMove, ...]) -> Accumulators:
    values = {
        (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.DEDUCTIBLE): acc.deductible_individual_cents,
        (AccumulatorLevel.FAMILY, AccumulatorKind.DEDUCTIBLE): acc.deductible_family_cents,
        (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.OUT_OF_POCKET): (
            acc.out_of_pocket_individual_cents
        ),
        (AccumulatorLevel.FAMILY, AccumulatorKind.OUT_OF_POCKET): acc.out_of_pocket_family_cents,
    }
    for move in moves:
        values[(move.level, move.kind)] += move.amount_cents
    return Accumulators(
        deductible_individual_cents=values[
            (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.DEDUCTIBLE)
        ],
        deductible_family_cents=values[(AccumulatorLevel.FAMILY, AccumulatorKind.DEDUCTIBLE)],
        out_of_pocket_individual_cents=values[
            (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.OUT_OF_POCKET)
        ],
        out_of_pocket_family_cents=values[(AccumulatorLevel.FAMILY, AccumulatorKind.OUT_OF_POCKET)],
    )


def _period_room(
    rule: PurseRule, plan: Plan, state: MemberState, purse_id: str, day: dt.date
) -> tuple[int | None, str]:
    """What a purse may still pay in the period holding ``day`` (None: no cap), or 0 with why."""
    if not rule.has_period_rules:
        return None, ""
    start = plan.period_start(rule.period, day)
    spends = [
        s
        for s in state.purse_spends
        if s.purse_id == purse_id and plan.period_start(rule.period, s.date_of_service) == start
    ]
    if rule.fills_per_period_max is not None and len(spends) >= rule.fills_per_period_max:
        return 0, f"{rule.fills_per_period_max} fills per {rule.period.value} already paid"
    if rule.per_period_max_cents is None:
        return None, ""
    room = max(0, rule.per_period_max_cents - sum(s.paid_cents for s in spends))
    cap = format_cents(rule.per_period_max_cents)
    return room, f"{cap} per {rule.period.value}, {format_cents(room)} left"


def _route_purses(
    plan: Plan,
    tier: int,
    drug: Drug,
    state: MemberState,
    responsibility_cents: int,
    network: PharmacyNetwork,
    date_of_service: dt.date,
) -> tuple[list[PurseLine], list[str]]:
    """Spend the member's purses in the benefit stack of their class on their share."""
    lines: list[PurseLine] = []
    trace: list[str] = []
    left = responsibility_cents
    spent: dict[str, int] = {}
    for rule in plan.purse_rules_for(state.member.class_code):
        if left == 0:
            break
        refusal = rule.allows(tier, drug.drug_group, network)
        if refusal is not None:
            trace.append(f"purse {rule.kind}: {refusal}")
            continue
        for purse in state.purses:
            if purse.kind != rule.kind or left == 0:
                continue
            balance = purse.balance_cents - spent.get(purse.purse_id, 0)
            pay = min(left, balance)
            if rule.per_fill_max_cents is not None:
                pay = min(pay, rule.per_fill_max_cents)
            room, why = _period_room(rule, plan, state, purse.purse_id, date_of_service)
            if room is not None:
                pay = min(pay, room)
                trace.append(f"purse {purse.kind}: {why}")
            if pay <= 0:
                continue
            spent[purse.purse_id] = spent.get(purse.purse_id, 0) + pay
            left -= pay
            lines.append(PurseLine(purse.purse_id, purse.kind, pay, balance - pay))
            trace.append(f"purse {purse.kind}: paid {format_cents(pay)}")
    return lines, trace


def adjudicate(
    request: ClaimRequest,
    snapshot: ReferenceSnapshot,
    state: MemberState | None,
    *,
    authorization_number: str,
    internal_control_number: str,
    business_date: dt.date | None = None,
) -> Decision:
    """Decide one B1 claim. Never raises for a business reason: rejects are values.

    ``business_date`` is the processor's today (the service layer's clock): claims dated after
    it are post-dated (82), claims older than the plan's timely-filing window are too old (81).
    """
    trace: list[str] = []
    plan_id = ""
    try:
        _fail_if("syntax", claim_rules.validate_claim(request))
        service_date = request.service_date
        plan, coverage = resolve_coverage(
            request.bin,
            request.processor_control_number,
            request.group_id,
            service_date,
            snapshot,
            state,
            request.person_code,
        )
        assert state is not None  # noqa: S101 - resolve_coverage rejects a missing member
        plan_id = plan.plan_id
        trace.append(f"eligibility: {coverage.line_of_business} coverage under {plan.plan_id}")
        if business_date is not None:
            _filing(service_date, plan, business_date)
        pharmacy = snapshot.pharmacies.get(request.service_provider_id)
        if pharmacy is None:
            _fail_if("network", [Reject(RejectCode.NON_MATCHED_PHARMACY, "Pharmacy not found")])
        assert pharmacy is not None  # noqa: S101
        contract = plan.networks.get(pharmacy.network)
        if contract is None:
            _fail_if(
                "network",
                [Reject(RejectCode.NOT_CONTRACTED, "Pharmacy is not in the plan's network")],
            )
        assert contract is not None  # noqa: S101
        _network_rules(request, plan, pharmacy, snapshot)
        trace.append(f"network: {pharmacy.network.value} {pharmacy.kind} pharmacy")
        drug, entry = _product(request, plan, snapshot, state)
        trace.append(f"formulary: {drug.name} tier {entry.tier}")
        _limits(request, plan, drug, entry, state)
        _refill(request, plan, drug, state)
    except _Stop as stop:
        trace.append(f"rejected in {stop.group}: " + ",".join(r.code.value for r in stop.rejects))
        return Rejected(
            rejected(
                ordered(stop.rejects),
                prescription_reference_number=request.prescription_reference_number,
                reference_data_version=snapshot.version,
                plan_id=plan_id,
                rule_trace=tuple(trace),
            ),
            member_id=state.member.member_id if state else None,
        )
    price = price_claim(
        drug,
        request.quantity_dispensed_thousandths,
        contract,
        usual_and_customary_cents=request.usual_and_customary_charge_cents,
        gross_amount_due_cents=request.gross_amount_due_cents,
        ingredient_cost_submitted_cents=request.ingredient_cost_submitted_cents,
        dispensing_fee_submitted_cents=request.dispensing_fee_submitted_cents,
    )
    trace.append(f"pricing: allowed {format_cents(price.allowed_cents)} (522-FM {price.basis})")
    return _pay(
        request,
        snapshot,
        state,
        plan,
        drug,
        entry,
        price,
        pharmacy.network,
        coverage,
        trace,
        authorization_number=authorization_number,
        internal_control_number=internal_control_number,
    )


def _brand_penalty(
    request: ClaimRequest,
    plan: Plan,
    drug: Drug,
    snapshot: ReferenceSnapshot,
    price: Price,
    network: PharmacyNetwork,
) -> tuple[int, int | None]:
    """DAW 1/2 on a multi-source brand: (generic cost, generic tier), or (allowed, None)."""
    generic = snapshot.drugs.get(drug.generic_ndc) if drug.generic_ndc else None
    if (
        not drug.is_brand
        or generic is None
        or request.dispense_as_written not in (plan.daw_penalty_codes)
    ):
        return price.allowed_cents, None
    contract = plan.networks[network]
    ingredient, _ = contract_ingredient(generic, request.quantity_dispensed_thousandths, contract)
    generic_cost = min(ingredient + contract.dispensing_fee_cents, price.allowed_cents)
    generic_entry = snapshot.formulary.get((plan.plan_id, generic.ndc))
    return generic_cost, (generic_entry.tier if generic_entry else 1)


def _pay(
    request: ClaimRequest,
    snapshot: ReferenceSnapshot,
    state: MemberState,
    plan: Plan,
    drug: Drug,
    entry: FormularyEntry,
    price: Price,
    network: PharmacyNetwork,
    coverage: Coverage,
    trace: list[str],
    *,
    authorization_number: str,
    internal_control_number: str,
) -> Paid:
    plan_year_start = plan.plan_year_start(request.service_date)
    before = state.accumulators_for(plan.plan_id, plan_year_start)
    limits = plan.limits(coverage.level)
    cost, generic_tier = _brand_penalty(request, plan, drug, snapshot, price, network)
    tier = generic_tier if generic_tier is not None else entry.tier
    program = plan.program_for(drug.drug_group, network, is_brand=drug.is_brand)
    share = member_share(
        limits,
        plan.tiers[tier],
        months_supplied=plan.months_supplied(request.days_supply),
        cost_cents=cost,
        brand_penalty_cents=price.allowed_cents - cost,
        days_supply=request.days_supply,
        standard_network=network is PharmacyNetwork.STANDARD,
        accumulators=before,
        program=program,
    )
    if share.brand_penalty_cents:
        trace.append(f"DAW {request.dispense_as_written}: brand penalty (134-UK)")
    if program is not None:
        trace.append(f"program {program.program_id}: member cost capped")
    responsibility = share.member_responsibility_cents
    lines, purse_trace = _route_purses(
        plan, entry.tier, drug, state, responsibility, network, request.service_date
    )
    trace += purse_trace
    purse_paid = sum(line.paid_cents for line in lines)
    patient_pay = responsibility - purse_paid
    plan_paid = price.allowed_cents - responsibility
    moves = _accumulator_moves(plan, plan_year_start, state, share)
    after = apply_moves(before, moves)
    view = accumulator_view(limits, coverage.level, plan_year_start, after)
    pricing = ResponsePricing(
        patient_pay_amount_cents=patient_pay,
        ingredient_cost_paid_cents=price.ingredient_cost_paid_cents,
        dispensing_fee_paid_cents=price.dispensing_fee_paid_cents,
        total_amount_paid_cents=price.allowed_cents - patient_pay,
        basis_of_reimbursement_determination=price.basis,
        amount_applied_to_periodic_deductible_cents=share.deductible_cents,
        amount_of_copay_cents=share.copay_cents,
        amount_of_coinsurance_cents=share.coinsurance_cents,
        # the plans have no periodic benefit maximum: 520-FK and 514-FE are left out
        amount_exceeding_periodic_benefit_maximum_cents=None,
        accumulated_deductible_amount_cents=accumulated_deductible(limits, after),
        remaining_deductible_amount_cents=remaining_deductible(limits, after),
        remaining_benefit_amount_cents=None,
        amount_attributed_to_provider_network_selection_cents=share.network_cents,
        amount_attributed_to_product_selection_brand_cents=share.brand_penalty_cents,
        spending_account_amount_remaining_cents=_spending_account_left(plan, state, lines),
        health_plan_funded_assistance_amount_cents=-purse_paid,
        allowed_amount_cents=price.allowed_cents,
        plan_paid_cents=plan_paid,
        amount_attributed_to_non_preferred_formulary_cents=(
            0 if drug.is_brand else share.non_preferred_cents
        ),
        amount_attributed_to_brand_non_preferred_formulary_cents=(
            share.non_preferred_cents if drug.is_brand else 0
        ),
        benefit_stages=(
            benefit_stages(limits, plan.tiers[tier], before, price.allowed_cents, share)
            if plan.line_of_business == PART_D
            else ()
        ),
    )
    check_identities(pricing, lines)
    messages = []
    if program is not None and share.program_reduction_cents:
        messages.append(f"{program.program_id}: member cost capped")
    if share.brand_penalty_cents:
        messages.append(f"Brand penalty {format_cents(share.brand_penalty_cents)}: DAW brand")
    response = ClaimResponse(
        status=ResponseStatus.PAID,
        authorization_number=authorization_number,
        message=f"Paid. Collect {format_cents(patient_pay)} from the patient",
        additional_messages=tuple(messages),
        pricing=pricing,
        purses=tuple(lines),
        accumulators=view,
        internal_control_number=internal_control_number,
        plan_id=plan.plan_id,
        reference_data_version=snapshot.version,
        rule_trace=tuple(trace),
        prescription_reference_number=request.prescription_reference_number,
    )
    entry_out = claim_entry(
        plan_id=plan.plan_id,
        pharmacy_npi=request.service_provider_id,
        member_id=state.member.member_id,
        plan_paid_cents=plan_paid,
        purse_paid_cents={line.purse_id: line.paid_cents for line in lines},
        patient_pay_cents=patient_pay,
    )
    return Paid(
        response=response,
        entry=entry_out,
        purse_moves=tuple(PurseMove(line.purse_id, -line.paid_cents) for line in lines),
        accumulator_moves=moves,
        member_id=state.member.member_id,
        family_id=state.member.family_id,
        molecule=drug.molecule,
        releases_allotments=bool(lines)
        and any(p.balance_cents != p.posted_cents for p in state.purses),
    )


PART_D = "MEDICARE_PART_D"


def benefit_stages(
    limits: Limits,
    rule: CostShareRule,
    before: Accumulators,
    cost_cents: int,
    share: ShareBreakdown,
) -> tuple[tuple[str, int], ...]:
    """How a Part D claim's cost splits across 01 deductible, 02 initial and 04 catastrophic.

    A claim that reaches the out-of-pocket threshold is split where the member's coinsurance
    meets it: the cost up to that point is initial coverage, the rest catastrophic.
    """
    left = [
        value
        for value in (
            remaining(limits.out_of_pocket_individual_cents, before.out_of_pocket_individual_cents),
            remaining(limits.out_of_pocket_family_cents, before.out_of_pocket_family_cents),
        )
        if value is not None
    ]
    out_of_pocket_left = min(left) if left else None
    deductible = share.deductible_cents
    rest = cost_cents - deductible
    initial = rest
    if out_of_pocket_left == 0:
        initial = 0
    elif (
        out_of_pocket_left is not None
        and share.counted_toward_out_of_pocket_cents >= out_of_pocket_left
        and rule.kind is CostShareKind.COINSURANCE
        and rule.coinsurance_bp > 0
    ):
        coinsurance_left = (
            out_of_pocket_left - deductible - share.network_cents - share.non_preferred_cents
        )
        initial = min(rest, -(-coinsurance_left * 10_000 // rule.coinsurance_bp))
    stages = (("01", deductible), ("02", initial), ("04", rest - initial))
    return tuple((qualifier, amount) for qualifier, amount in stages if amount > 0)


def check_identities(
    pricing: ResponsePricing, lines: list[PurseLine] | tuple[PurseLine, ...]
) -> None:
    """The NCPDP identities every paid response must satisfy (raises on a bug)."""
    p = pricing
    components = (
        p.amount_applied_to_periodic_deductible_cents
        + p.amount_of_copay_cents
        + p.amount_of_coinsurance_cents
        + (p.amount_exceeding_periodic_benefit_maximum_cents or 0)
        + p.amount_attributed_to_provider_network_selection_cents
        + p.amount_attributed_to_product_selection_brand_cents
        + p.amount_attributed_to_non_preferred_formulary_cents
        + p.amount_attributed_to_brand_non_preferred_formulary_cents
        + p.health_plan_funded_assistance_amount_cents
    )
    purse_total = sum(line.paid_cents for line in lines)
    checks = (
        p.total_amount_paid_cents
        == p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents - p.patient_pay_amount_cents,
        p.patient_pay_amount_cents == components,
        p.plan_paid_cents + purse_total + p.patient_pay_amount_cents == p.allowed_amount_cents,
        p.health_plan_funded_assistance_amount_cents == -purse_total,
        0 <= p.patient_pay_amount_cents <= p.allowed_amount_cents,
        p.plan_paid_cents >= 0,
        not p.benefit_stages or sum(a for _, a in p.benefit_stages) == p.allowed_amount_cents,
    )
    if not all(checks):
        msg = f"NCPDP pricing identities do not hold: {pricing}"
        raise InvariantViolation(msg)


@dataclass(frozen=True, slots=True)
class Eligibility:
    response_status: ResponseStatus
    rejects: tuple[Reject, ...]
    plan: Plan | None = None
    coverage: Coverage | None = None
    accumulators: AccumulatorView | None = None


def check_eligibility(
    request: EligibilityRequest, snapshot: ReferenceSnapshot, state: MemberState | None
) -> Eligibility:
    """E1: the plan and eligibility groups only; approved (A) or rejected (R)."""
    try:
        _fail_if("syntax", claim_rules.validate_eligibility(request))
        service_date = parse_ccyymmdd(request.date_of_service)
        assert service_date is not None  # noqa: S101 - validated above
        born = parse_ccyymmdd(request.date_of_birth)
        if state is not None and born is not None and born != state.member.date_of_birth:
            state = None  # answered exactly as an unknown member: no oracle for birth dates
        plan, coverage = resolve_coverage(
            request.bin,
            request.processor_control_number,
            request.group_id,
            service_date,
            snapshot,
            state,
            request.person_code,
        )
    except _Stop as stop:
        return Eligibility(ResponseStatus.REJECTED, ordered(stop.rejects))
    assert state is not None  # noqa: S101
    year = plan.plan_year_start(service_date)
    view = accumulator_view(
        plan.limits(coverage.level),
        coverage.level,
        year,
        state.accumulators_for(plan.plan_id, year),
    )
    return Eligibility(ResponseStatus.APPROVED, (), plan, coverage, view)


@dataclass(frozen=True, slots=True)
class StoredClaim:
    """A paid claim as the ledger holds it, for reversal."""

    claim_id: int
    response: ClaimResponse
    entry: JournalEntry
    purse_moves: tuple[PurseMove, ...]
    accumulator_moves: tuple[AccumulatorMove, ...]
    product_id: str
    member_id: str
    family_id: str
    reversal_response: ClaimResponse | None
    accumulators_now: Accumulators
    cardholder_id: str = ""
    person_code: str = ""


@dataclass(frozen=True, slots=True)
class Reversal:
    response: ClaimResponse
    entry: JournalEntry
    purse_moves: tuple[PurseMove, ...]
    accumulator_moves: tuple[AccumulatorMove, ...]


def _reversal_member_mismatch(request: ReversalRequest, stored: StoredClaim) -> list[Reject]:
    """The B2's optional insurance segment, when sent, must name the claim's patient."""
    rejects = []
    if request.cardholder_id and request.cardholder_id != stored.cardholder_id:
        rejects.append(
            Reject(
                RejectCode.NON_MATCHED_CARDHOLDER,
                "Cardholder ID (302-C2) does not match the paid claim",
            )
        )
    elif request.person_code and request.person_code != stored.person_code:
        rejects.append(
            Reject(
                RejectCode.NON_MATCHED_PERSON_CODE,
                "Person code (303-C3) does not match the paid claim",
            )
        )
    return rejects


def reverse(
    request: ReversalRequest,
    stored: StoredClaim | None,
    plan: Plan | None,
    *,
    authorization_number: str,
) -> Reversal | ClaimResponse:
    """B2: a mirror of the paid claim, or an answer (reject, or S for a repeated reversal)."""
    syntax = claim_rules.validate_reversal(request)
    if syntax:
        return rejected(
            ordered(syntax), prescription_reference_number=request.prescription_reference_number
        )
    if stored is None or (request.product_id and request.product_id != stored.product_id):
        return rejected(
            (Reject(RejectCode.CLAIM_NOT_PAID, "No paid claim matches this reversal"),),
            prescription_reference_number=request.prescription_reference_number,
        )
    mismatch = _reversal_member_mismatch(request, stored)
    if mismatch:
        return rejected(
            tuple(mismatch), prescription_reference_number=request.prescription_reference_number
        )
    if stored.reversal_response is not None:
        return stored.reversal_response.as_status(ResponseStatus.DUPLICATE_OF_APPROVED)
    original = stored.response
    if original.pricing is None or plan is None:
        msg = "a paid claim must carry pricing and a known plan"
        raise InvariantViolation(msg)
    accumulator_moves = tuple(m.negated() for m in stored.accumulator_moves)
    after = apply_moves(stored.accumulators_now, accumulator_moves)
    year = parse_ccyymmdd(original.accumulators.plan_year) if original.accumulators else None
    if year is None or original.accumulators is None:
        msg = "a paid claim must carry its plan year"
        raise InvariantViolation(msg)
    level = CoverageLevel(original.accumulators.coverage_level)
    restored = tuple(
        PurseLine(
            line.purse_id,
            line.kind,
            -line.paid_cents,
            line.balance_remaining_cents + line.paid_cents,
        )
        for line in original.purses
    )
    response = ClaimResponse(
        status=ResponseStatus.APPROVED,
        authorization_number=authorization_number,
        message="Reversal accepted",
        pricing=original.pricing.negated(),
        purses=restored,
        accumulators=accumulator_view(plan.limits(level), level, year, after),
        internal_control_number=original.internal_control_number,
        plan_id=original.plan_id,
        reference_data_version=original.reference_data_version,
        rule_trace=("reversal: mirror of the original entry",),
        prescription_reference_number=original.prescription_reference_number,
    )
    return Reversal(
        response=response,
        entry=stored.entry.mirror(),
        purse_moves=tuple(PurseMove(m.purse_id, -m.amount_cents) for m in stored.purse_moves),
        accumulator_moves=accumulator_moves,
    )


@dataclass(frozen=True, slots=True)
class AccumulatorLine:
    kind: str
    level: str
    limit_cents: int | None
    met_cents: int

    @property
    def remaining_cents(self) -> int:
        return remaining(self.limit_cents, self.met_cents) or 0


@dataclass(frozen=True, slots=True)
class BenefitView:
    """What a member has on a date: the spans, the plan in force, its accumulators."""

    coverages: tuple[tuple[Coverage, bool], ...]
    plan: Plan | None
    plan_year_start: dt.date | None
    accumulators: tuple[AccumulatorLine, ...]


def benefit_view(state: MemberState, snapshot: ReferenceSnapshot, as_of: dt.date) -> BenefitView:
    """The member's coverage spans (flagged when in force), and for the plan in force every
    accumulator with its limit: deductible and out-of-pocket, individual and family."""
    spans = tuple((c, c.covers(as_of)) for c in state.coverages)
    active = next((c for c, in_force in spans if in_force and c.plan_id in snapshot.plans), None)
    if active is None:
        return BenefitView(spans, None, None, ())
    plan = snapshot.plans[active.plan_id]
    limits = plan.limits(active.level)
    year = plan.plan_year_start(as_of)
    met = state.accumulators_for(plan.plan_id, year)
    lines = (
        AccumulatorLine(
            "deductible",
            "individual",
            limits.deductible_individual_cents,
            met.deductible_individual_cents,
        ),
        AccumulatorLine(
            "deductible", "family", limits.deductible_family_cents, met.deductible_family_cents
        ),
        AccumulatorLine(
            "out_of_pocket",
            "individual",
            limits.out_of_pocket_individual_cents,
            met.out_of_pocket_individual_cents,
        ),
        AccumulatorLine(
            "out_of_pocket",
            "family",
            limits.out_of_pocket_family_cents,
            met.out_of_pocket_family_cents,
        ),
    )
    return BenefitView(spans, plan, year, lines)
