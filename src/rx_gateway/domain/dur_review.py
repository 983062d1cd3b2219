"""The DUR group: the claim against the member's fill history, as the plan's DUR policy says.

Three conflicts (439-E4): an early refill (ER: the same molecule again before the plan's early
refill share of its days supply has passed; the refill-too-soon 79 comes earlier still), a
therapeutic duplication (TD: another molecule of the same therapeutic class whose days supply
has not run out), and a drug-drug interaction (DD: a molecule the plan lists as interacting,
its days supply not run out). A conflict the plan rejects is a hard edit: 88 with the conflict
in the response (segment 24), unless the claim carries a DUR/PPS occurrence whose reason,
professional service and result are a trio the plan accepts for it (the pharmacist's
intervention). A conflict the plan only warns about is paid, reported in the response.
"""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.checks import fail
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.dur import (
    DurAction,
    DurConflict,
    DurReason,
    Significance,
)
from rx_gateway.domain.member import Fill, MemberState
from rx_gateway.domain.money import apply_basis_points
from rx_gateway.domain.reference import Drug, Plan, ReferenceSnapshot
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.values import format_ccyymmdd

YOUR_PHARMACY, OTHER_PHARMACY = "1", "4"  # 529-FT
PRESCRIBER_UNKNOWN, SAME_PRESCRIBER, OTHER_PRESCRIBER = "0", "1", "2"  # 533-FX


def _conflict(
    reason: DurReason, significance: Significance, fill: Fill, request: ClaimRequest, text: str
) -> DurConflict:
    same_pharmacy = fill.service_provider_id == request.header.service_provider_id
    if not (fill.prescriber_id and request.prescriber_id):
        prescriber = PRESCRIBER_UNKNOWN
    else:
        same = fill.prescriber_id == request.prescriber_id
        prescriber = SAME_PRESCRIBER if same else OTHER_PRESCRIBER
    return DurConflict(
        reason=reason,
        significance=significance,
        other_pharmacy=YOUR_PHARMACY if same_pharmacy else OTHER_PHARMACY,
        previous_fill_date=format_ccyymmdd(fill.date_of_service),
        previous_fill_quantity_thousandths=fill.quantity_thousandths,
        other_prescriber=prescriber,
        text=text[:30],  # 544-FY is x(30)
    )


def _active(fill: Fill, day: dt.date) -> bool:
    """The fill's days supply has not run out on ``day``."""
    return fill.date_of_service <= day < fill.date_of_service + dt.timedelta(days=fill.days_supply)


def find_conflicts(
    request: ClaimRequest,
    plan: Plan,
    drug: Drug,
    snapshot: ReferenceSnapshot,
    state: MemberState,
    *,
    refill_overridden: bool,
    ingredients: tuple[Drug, ...] = (),
) -> list[DurConflict]:
    """Every conflict the plan looks for, the newest previous fill first for each. A
    compound's other ingredients (``ingredients``, ``drug`` the one it is billed as; an
    ingredient not paid under 420-DK 8 is in it all the same) are checked for duplications
    and interactions too: the patient takes each (an early refill is the compound's own, by
    the molecule its fills are kept under)."""
    policy = plan.dur
    day = request.service_date
    fills = sorted(
        (f for f in state.fills if f.date_of_service <= day),
        key=lambda f: f.date_of_service,
        reverse=True,
    )
    conflicts: list[DurConflict] = []
    if policy.early_refill is not DurAction.OFF and not refill_overridden:
        for fill in fills:
            wait = apply_basis_points(fill.days_supply, policy.early_refill_threshold_bp)
            if fill.molecule == drug.molecule and day < fill.date_of_service + dt.timedelta(
                days=wait
            ):
                conflicts.append(
                    _conflict(
                        DurReason.EARLY_REFILL,
                        Significance.MODERATE,
                        fill,
                        request,
                        f"Early refill of {drug.molecule}",
                    )
                )
                break
    taken = [drug, *(d for d in ingredients if d.molecule != drug.molecule)]
    molecules = {d.molecule for d in taken}
    seen: set[tuple[DurReason, str, str]] = set()  # one conflict per reason, fill and text

    def report(reason: DurReason, significance: Significance, fill: Fill, text: str) -> None:
        key = (reason, fill.product_id + fill.date_of_service.isoformat(), text)
        if key not in seen:
            seen.add(key)
            conflicts.append(_conflict(reason, significance, fill, request, text))

    if policy.therapeutic_duplication is not DurAction.OFF:
        for this in taken:
            if not this.therapeutic_class:
                continue
            for fill in fills:
                other = snapshot.drugs.get(fill.product_id)
                if (
                    other is not None
                    and other.molecule not in molecules
                    and other.therapeutic_class == this.therapeutic_class
                    and _active(fill, day)
                ):
                    text = f"Duplicate {this.therapeutic_class}: {other.molecule}"
                    report(DurReason.THERAPEUTIC_DUPLICATION, Significance.MODERATE, fill, text)
                    break
    if policy.drug_interaction is not DurAction.OFF:
        for this in taken:
            for fill in fills:
                interaction = snapshot.interactions.get(frozenset((fill.molecule, this.molecule)))
                if (
                    interaction is not None
                    and fill.molecule != this.molecule
                    and _active(fill, day)
                ):
                    report(
                        DurReason.DRUG_DRUG_INTERACTION,
                        interaction.significance,
                        fill,
                        interaction.text,
                    )
    return conflicts


def review(
    request: ClaimRequest,
    plan: Plan,
    drug: Drug,
    snapshot: ReferenceSnapshot,
    state: MemberState,
    *,
    refill_overridden: bool = False,
    ingredients: tuple[Drug, ...] = (),
) -> tuple[DurConflict, ...]:
    """The conflicts a paid claim reports (warnings, and hard edits the pharmacist
    overrode); 88 with every conflict when a hard edit is not overridden."""
    conflicts = find_conflicts(
        request,
        plan,
        drug,
        snapshot,
        state,
        refill_overridden=refill_overridden,
        ingredients=ingredients,
    )
    trios = {(s.reason, s.professional_service, s.result) for s in request.dur_services}
    open_edits = [
        c
        for c in conflicts
        if plan.dur.action(c.reason) is DurAction.REJECT
        and not any(
            (c.reason.value, service, result) in plan.dur.overrides
            for reason, service, result in trios
            if reason == c.reason.value
        )
    ]
    if open_edits:
        reasons = ", ".join(sorted({c.reason.value for c in open_edits}))
        fail(
            "dur",
            [
                Reject(
                    RejectCode.DUR_REJECT,
                    f"DUR {reasons}: see the DUR response; a pharmacist's professional service"
                    " and result the plan accepts (segment 08) override it",
                )
            ],
            tuple(conflicts),
        )
    return tuple(conflicts)
