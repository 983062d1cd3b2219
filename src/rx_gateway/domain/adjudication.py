"""Adjudication: a claim, the reference snapshot and the member's state in; a decision out.

Pure and deterministic. Checks run in the groups of :data:`rejects.CHECK_GROUPS`; the first group
that fails decides the answer and reports every reject it found. A paid decision carries
everything the ledger must write: the response, the journal entry, purse and accumulator moves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from rx_gateway.domain import syntax as claim_rules
from rx_gateway.domain.accumulators import (
    accumulated_deductible,
    accumulator_moves,
    accumulator_view,
    apply_moves,
    remaining_deductible,
)
from rx_gateway.domain.checks import CheckFailed
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.cob import (
    BASIS_OTHER_PAYER_RESPONSIBILITY,
    check_cob,
    coordinate,
    member_paid,
)
from rx_gateway.domain.compound import check_compound, level_of_effort_fee, price_compound
from rx_gateway.domain.cost_share import member_share
from rx_gateway.domain.dur import DurConflict
from rx_gateway.domain.dur_review import review
from rx_gateway.domain.eligibility import check_filing, check_patient, resolve_coverage
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import AccumulatorMove, JournalEntry, PurseMove, claim_entry
from rx_gateway.domain.limits import check_limits, check_refill
from rx_gateway.domain.member import Coverage, MemberState
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.network import check_network
from rx_gateway.domain.other_payments import (
    DENIED_CODES,
    PATIENT_RESPONSIBILITY_ONLY,
    SECONDARY_CODES,
)
from rx_gateway.domain.outcome import (
    ClaimResponse,
    PurseLine,
    ResponsePricing,
    ResponseStatus,
    RewardLine,
    rejected,
)
from rx_gateway.domain.part_d import PART_D, benefit_stages, with_additional
from rx_gateway.domain.pricing import (
    BASIS_USUAL_AND_CUSTOMARY,
    SALES_TAX_PATIENT,
    Price,
    contract_ingredient,
    price_additional,
    price_claim,
)
from rx_gateway.domain.product import check_product
from rx_gateway.domain.purses import route_purses, spending_account_left
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    Pharmacy,
    PharmacyNetwork,
    Plan,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject, RejectCode, ordered
from rx_gateway.domain.rewards import earn_rewards, reward_message


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
    # The program whose cap applies to this fill, and what the cap took off the member's share
    # (a price check shows them; the response says it only in words).
    program_id: str = ""
    program_reduction_cents: int = 0
    # The processor's today the decision was made on (timely filing): kept with the claim so
    # that a replay of stored claims decides it on the same day.
    business_date: dt.date | None = None
    # Rewards for a lower-cost choice (domain/rewards.py): each credits a purse in the same
    # write, as its own balanced entry (the response carries them too)
    rewards: tuple[RewardLine, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    response: ClaimResponse
    member_id: str | None = None


Decision = Paid | Rejected


def adjudicate(
    request: ClaimRequest,
    snapshot: ReferenceSnapshot,
    state: MemberState | None,
    *,
    authorization_number: str,
    internal_control_number: str,
    business_date: dt.date | None = None,
) -> Decision:
    """Decide one B1 claim, its syntax checks first. Never raises for a business reason:
    rejects are values. (The claim path checks the syntax itself before it reads member state,
    and then calls :func:`adjudicate_checked`: each request is checked once.)"""
    syntax = claim_rules.validate_claim(request)
    if syntax:
        return Rejected(
            rejected(
                ordered(syntax),
                prescription_reference_number=request.prescription_reference_number,
                reference_data_version=snapshot.version,
                rule_trace=("rejected in syntax: " + ",".join(r.code.value for r in syntax),),
            )
        )
    return adjudicate_checked(
        request,
        snapshot,
        state,
        authorization_number=authorization_number,
        internal_control_number=internal_control_number,
        business_date=business_date,
    )


def adjudicate_checked(
    request: ClaimRequest,
    snapshot: ReferenceSnapshot,
    state: MemberState | None,
    *,
    authorization_number: str,
    internal_control_number: str,
    business_date: dt.date | None = None,
    prescriber_required: bool = True,
) -> Decision:
    """Decide one B1 claim that passed its syntax checks (:func:`claim.validate_claim`), the
    groups in the order of :data:`rejects.CHECK_GROUPS`.

    ``business_date`` is the processor's today (the service layer's clock): claims dated after
    it are post-dated (82), claims older than the plan's timely-filing window are too old (81).
    ``prescriber_required``: a Part D claim names its prescriber (25); a price check, which
    quotes the benefit and posts nothing, need not.
    """
    trace: list[str] = []
    plan_id = ""
    try:
        service_date = request.service_date
        plan, coverage, member_state = resolve_coverage(
            request.header.bin,
            request.header.processor_control_number,
            request.group_id,
            service_date,
            snapshot,
            state,
            request.person_code,
        )
        plan_id = plan.plan_id
        member_state = _without_this_dispensing(member_state, request, trace)
        check_patient(request.date_of_birth, request.gender_code, plan, member_state, service_date)
        trace.append(f"eligibility: {coverage.line_of_business} coverage under {plan.plan_id}")
        if business_date is not None:
            check_filing(service_date, plan, business_date)
        ahead = check_cob(request, plan, coverage, member_state, snapshot)
        if ahead or request.other_coverage_code:
            trace.append(
                f"COB: 308-C8 {request.other_coverage_code}"
                + (f", {len(ahead)} payer(s) before this plan" if ahead else "")
            )
        pharmacy, contract = check_network(
            request, plan, snapshot, prescriber_required=prescriber_required
        )
        trace.append(f"network: {pharmacy.network.value} {pharmacy.kind} pharmacy")
        compound = None
        if request.compound is not None:
            compound = check_compound(request, plan, snapshot, member_state)
            drug, entry = compound.drug, compound.entry
            trace.append(
                f"formulary: {drug.name}, {len(compound.ingredients)} covered, tier {entry.tier}"
                + "".join(
                    f"; ingredient {position} dropped (420-DK 8, {why.code.value})"
                    for position, why in compound.dropped
                )
            )
        else:
            drug, entry = check_product(request, plan, snapshot, member_state)
            trace.append(f"formulary: {drug.name} tier {entry.tier}")
        check_limits(request, plan, drug, entry, member_state)
        override = check_refill(request, plan, drug, member_state)
        if override:
            trace.append(f"refill too soon overridden by 420-DK {override}")
        conflicts = review(
            request,
            plan,
            drug,
            snapshot,
            member_state,
            refill_overridden=bool(override),
            # every known ingredient of a compound is taken, a dropped (unpaid) one too
            ingredients=tuple(
                known
                for i in (request.compound.ingredients if request.compound else ())
                if (known := snapshot.drugs.get(i.product_id)) is not None
            ),
        )
        if conflicts:
            trace.append("DUR: " + ",".join(c.reason.value for c in conflicts) + " reported")
    except CheckFailed as stop:
        trace.append(f"rejected in {stop.group}: " + ",".join(r.code.value for r in stop.rejects))
        response = rejected(
            ordered(stop.rejects),
            prescription_reference_number=request.prescription_reference_number,
            reference_data_version=snapshot.version,
            plan_id=plan_id,
            rule_trace=tuple(trace),
        )
        if stop.dur_conflicts or stop.other_payers:
            response = replace(
                response, dur_conflicts=stop.dur_conflicts, other_payers=stop.other_payers
            )
        return Rejected(response, member_id=state.member.member_id if state else None)
    ingredients: tuple[tuple[str, int], ...] = ()
    if compound is not None:
        price, ingredients = price_compound(
            request, compound, contract, level_of_effort_fee(request, plan), trace
        )
    else:
        price = price_claim(
            drug,
            request.quantity_dispensed_thousandths,
            contract,
            usual_and_customary_cents=request.usual_and_customary_charge_cents,
            gross_amount_due_cents=request.drug_gross_amount_due_cents,
            ingredient_cost_submitted_cents=request.ingredient_cost_submitted_cents,
            dispensing_fee_submitted_cents=request.dispensing_fee_submitted_cents,
        )
    trace.append(f"pricing: allowed {format_cents(price.allowed_cents)} (522-FM {price.basis})")
    ceiling = plan.claim_cost_max_cents
    if ceiling is not None and price.allowed_cents > ceiling:
        reject = Reject(
            RejectCode.COST_EXCEEDS_MAXIMUM,
            f"Cost {format_cents(price.allowed_cents)} is above the plan's"
            f" {format_cents(ceiling)} per claim: check quantity and cost, or call the help desk",
        )
        return _rejected_after_checks(
            request,
            snapshot,
            plan_id,
            trace,
            ("pricing", reject, f"claim_cost_max_cents {format_cents(ceiling)}"),
            member_state.member.member_id,
        )
    decision = _pay(
        request,
        snapshot,
        member_state,
        plan,
        drug,
        entry,
        price,
        pharmacy.network,
        coverage,
        trace,
        authorization_number=authorization_number,
        internal_control_number=internal_control_number,
        decided=(override, conflicts),
        dropped=compound.dropped if compound is not None else (),
    )
    if ingredients and isinstance(decision, Paid):
        response = replace(decision.response, compound_ingredients=ingredients)
        decision = replace(decision, response=response)
    if plan.rewards and isinstance(decision, Paid):
        decision = _with_rewards(decision, request, plan, drug, entry.tier, pharmacy, member_state)
    if business_date is not None and isinstance(decision, Paid):
        decision = replace(decision, business_date=business_date)
    return decision


def _with_rewards(
    paid: Paid,
    request: ClaimRequest,
    plan: Plan,
    drug: Drug,
    tier: int,
    pharmacy: Pharmacy,
    state: MemberState,
) -> Paid:
    """The paid claim with the rewards its fill earns: in the response (a message each and
    the rewards field) and in the decision the write posts."""
    rewards, trace = earn_rewards(
        plan,
        drug,
        tier,
        pharmacy.kind,
        pharmacy.network,
        request.days_supply,
        request.service_date,
        state,
    )
    response = replace(
        paid.response,
        additional_messages=paid.response.additional_messages
        + tuple(reward_message(line) for line in rewards),
        rule_trace=paid.response.rule_trace + tuple(trace),
        rewards=rewards,
    )
    return replace(paid, response=response, rewards=rewards)


def _without_this_dispensing(
    state: MemberState, request: ClaimRequest, trace: list[str]
) -> MemberState:
    """The member's prior fills, less this very dispensing when the claim says another payer
    was billed for it (308-C8 2-6 or 8) and this gateway holds that payer's claim (same
    pharmacy, Rx, fill and date): it is not a prior fill, so it is neither a refill too soon
    nor a DUR conflict nor counted twice in a period limit. A claim that says no other payer
    was billed keeps it: the same dispensing paid twice as primary is a refill too soon."""
    if request.other_coverage_code not in SECONDARY_CODES | DENIED_CODES:
        return state  # a claim that says no other payer was billed: every fill counts
    this = f"{request.prescription_reference_number}|{request.fill_number}"
    fills = tuple(
        f
        for f in state.fills
        if not (
            f.prescription == this
            and f.date_of_service == request.service_date
            and f.service_provider_id == request.header.service_provider_id
        )
    )
    if len(fills) == len(state.fills):
        return state
    trace.append("fills: this dispensing, billed to another payer, is not a prior fill")
    return replace(state, fills=fills)


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
    decided: tuple[int, tuple[DurConflict, ...]] = (0, ()),
    dropped: tuple[tuple[int, Reject], ...] = (),
) -> Decision:
    """The payment: cost share, purses, accumulators, the response and the entry. ``decided``
    is what the refill and DUR groups found: the 420-DK override used, the conflicts reported."""
    plan_year_start = plan.plan_year_start(request.service_date)
    before = state.accumulators_for(plan.plan_id, plan_year_start)
    limits = plan.limits(coverage.level)
    cost, generic_tier = _brand_penalty(request, plan, drug, snapshot, price, network)
    tier = generic_tier if generic_tier is not None else entry.tier
    program = plan.program_for(drug.drug_group, network, is_brand=drug.is_brand, tier=entry.tier)
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
        capped = "member cost capped" if share.program_reduction_cents else "under the cap"
        trace.append(f"program {program.program_id}: {capped}")
    extra = price_additional(request.additional_amounts, plan.networks[network], price)
    patient_tax = extra.taxes_cents if plan.networks[network].sales_tax == SALES_TAX_PATIENT else 0
    if extra.total_cents:
        trace.append(
            f"additional amounts: {format_cents(extra.total_cents)} allowed"
            + (f", {format_cents(patient_tax)} sales tax to the patient" if patient_tax else "")
        )
    allowed = price.allowed_cents + extra.total_cents
    stages = (
        with_additional(
            benefit_stages(limits, plan.tiers[tier], before, price.allowed_cents, share),
            extra.total_cents,
        )
        if plan.line_of_business == PART_D
        else ()
    )
    coordination = coordinate(
        plan.cob_method,
        request.other_coverage_code,
        request.other_payments,
        allowed_cents=allowed,
        member_alone_cents=share.member_responsibility_cents + patient_tax,
    )
    if isinstance(coordination, Reject):
        return _rejected_after_checks(
            request,
            snapshot,
            plan.plan_id,
            trace,
            ("cob", coordination, ""),
            state.member.member_id,
        )
    recognized = coordination.other_payer_amount_recognized_cents
    if request.other_coverage_code in SECONDARY_CODES:
        share, patient_tax = member_paid(share, patient_tax, coordination.member_cents)
        trace.append(
            f"COB ({plan.cob_method.value}): {format_cents(recognized)} paid before this plan"
            f" (566-J5), {format_cents(coordination.member_cents)} left to the member"
        )
    responsibility = coordination.member_cents
    lines, purse_trace = route_purses(
        plan, entry.tier, drug, state, responsibility, network, request.service_date
    )
    trace += purse_trace
    purse_paid = sum(line.paid_cents for line in lines)
    patient_pay = responsibility - purse_paid
    plan_paid = allowed - responsibility - recognized
    # Part D: TrOOP counts what the member (and TrOOP-eligible payers) paid; what an employer
    # purse paid is a group health plan's payment (PLRO) and does not count
    moves = accumulator_moves(
        plan,
        plan_year_start,
        state,
        share,
        not_out_of_pocket_cents=purse_paid if plan.line_of_business == PART_D else 0,
    )
    after = apply_moves(before, moves)
    view = accumulator_view(limits, coverage.level, plan_year_start, after)
    pricing = ResponsePricing(
        patient_pay_amount_cents=patient_pay,
        ingredient_cost_paid_cents=price.ingredient_cost_paid_cents,
        dispensing_fee_paid_cents=price.dispensing_fee_paid_cents,
        total_amount_paid_cents=allowed - patient_pay - recognized,
        basis_of_reimbursement_determination=(
            BASIS_OTHER_PAYER_RESPONSIBILITY
            if request.other_coverage_code == PATIENT_RESPONSIBILITY_ONLY
            else price.basis
        ),
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
        spending_account_amount_remaining_cents=spending_account_left(plan, state, lines),
        health_plan_funded_assistance_amount_cents=-purse_paid,
        allowed_amount_cents=allowed,
        plan_paid_cents=plan_paid,
        amount_attributed_to_non_preferred_formulary_cents=(
            0 if drug.is_brand else share.non_preferred_cents
        ),
        amount_attributed_to_brand_non_preferred_formulary_cents=(
            share.non_preferred_cents if drug.is_brand else 0
        ),
        benefit_stages=stages,
        flat_sales_tax_amount_paid_cents=extra.flat_sales_tax_cents,
        percentage_sales_tax_amount_paid_cents=extra.percentage_sales_tax_cents,
        percentage_sales_tax_rate_paid=extra.percentage_sales_tax_rate,
        percentage_sales_tax_basis_paid=extra.percentage_sales_tax_basis,
        incentive_amount_paid_cents=extra.incentive_cents,
        other_amounts_paid=tuple((o.qualifier, o.amount_cents) for o in extra.other_amounts),
        sales_tax_exempt_indicator=extra.tax_exempt_indicator,
        amount_attributed_to_sales_tax_cents=patient_tax,
        patient_sales_tax_amount_cents=patient_tax,
        plan_sales_tax_amount_cents=extra.taxes_cents - patient_tax,
        other_payer_amount_recognized_cents=recognized,
    )
    check_identities(pricing, lines)
    messages = []
    if program is not None and share.program_reduction_cents:
        messages.append(f"{program.program_id}: member cost capped")
    if share.brand_penalty_cents:
        messages.append(f"Brand penalty {format_cents(share.brand_penalty_cents)}: DAW brand")
    if price.basis == BASIS_USUAL_AND_CUSTOMARY:
        messages.append("Paid at the usual and customary charge (522-FM 04)")
    if recognized:
        messages.append(
            f"Paid as secondary: the other payers are taken to have covered"
            f" {format_cents(recognized)} (566-J5)"
        )
    messages += [
        f"Ingredient {position} not paid (420-DK 8): {why.message}" for position, why in dropped
    ]
    response = ClaimResponse(
        transaction_response_status=ResponseStatus.PAID,
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
        dur_conflicts=decided[1],
        refill_override=decided[0],
        prescriber_id=request.prescriber_id,
        dispense_as_written=request.dispense_as_written,
        number_of_refills_authorized=request.number_of_refills_authorized,
        other_coverage_code=request.other_coverage_code,
    )
    entry_out = claim_entry(
        plan_id=plan.plan_id,
        service_provider_id=request.header.service_provider_id,
        member_id=state.member.member_id,
        plan_paid_cents=plan_paid,
        purse_paid_cents={line.purse_id: line.paid_cents for line in lines},
        patient_pay_cents=patient_pay,
        other_payer_cents=recognized,
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
        and any(p.available_cents != p.posted_cents for p in state.purses),
        program_id=program.program_id if program is not None else "",
        program_reduction_cents=share.program_reduction_cents,
    )


def _rejected_after_checks(
    request: ClaimRequest,
    snapshot: ReferenceSnapshot,
    plan_id: str,
    trace: list[str],
    why: tuple[str, Reject, str],
    member_id: str,
) -> Rejected:
    """A claim that passed every check group and is rejected once priced (78 above the plan's
    maximum, 74 when the other payer paid enough): ``why`` is the step, its one reject and
    what the rule trace adds in parentheses ("" for nothing)."""
    step, reject, note = why
    trace.append(f"rejected in {step}: {reject.code.value}" + (f" ({note})" if note else ""))
    return Rejected(
        rejected(
            (reject,),
            prescription_reference_number=request.prescription_reference_number,
            reference_data_version=snapshot.version,
            plan_id=plan_id,
            rule_trace=tuple(trace),
        ),
        member_id=member_id,
    )


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
        + p.amount_attributed_to_sales_tax_cents
        + p.health_plan_funded_assistance_amount_cents
    )
    purse_total = sum(line.paid_cents for line in lines)
    checks = (
        p.total_amount_paid_cents
        == p.ingredient_cost_paid_cents
        + p.dispensing_fee_paid_cents
        + p.additional_paid_cents
        - p.patient_pay_amount_cents
        - p.other_payer_amount_recognized_cents,
        p.allowed_amount_cents
        == p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents + p.additional_paid_cents,
        p.patient_pay_amount_cents == components,
        p.plan_paid_cents
        + purse_total
        + p.patient_pay_amount_cents
        + p.other_payer_amount_recognized_cents
        == p.allowed_amount_cents,
        0 <= p.other_payer_amount_recognized_cents <= p.allowed_amount_cents,
        p.health_plan_funded_assistance_amount_cents == -purse_total,
        0 <= p.patient_pay_amount_cents <= p.allowed_amount_cents,
        p.plan_paid_cents >= 0,
        not p.benefit_stages or sum(a for _, a in p.benefit_stages) == p.allowed_amount_cents,
    )
    if not all(checks):
        msg = f"NCPDP pricing identities do not hold: {pricing}"
        raise InvariantViolation(msg)
