"""The limits and refill groups: quantity and days supply per fill (76, 7X) and over a rolling
period (9G, AG), and refill too soon (79)."""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.checks import fail, fail_if
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.dur import clarification_name
from rx_gateway.domain.member import MemberState
from rx_gateway.domain.money import apply_basis_points
from rx_gateway.domain.reference import Drug, FormularyEntry, Plan
from rx_gateway.domain.rejects import Reject, RejectCode


def _quantity(thousandths: int) -> str:
    return f"{thousandths / 1000:g}"


def check_limits(
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
    fail_if("limits", rejects)


def check_refill(  # noqa: RET503 - fail() never returns
    request: ClaimRequest, plan: Plan, drug: Drug, state: MemberState
) -> int:
    """79 when the same molecule was filled and less than the plan's threshold of its days
    supply has passed, unless a 420-DK code the plan accepts overrides it (vacation supply,
    lost or stolen, therapy change ...), within its uses per member per plan year: then the
    code that did (kept with the claim, so the next claims count it); else 0."""
    service_date = request.service_date
    earliest = None
    for fill in state.fills:
        if fill.molecule != drug.molecule or fill.date_of_service > service_date:
            continue
        wait_days = apply_basis_points(fill.days_supply, plan.refill_too_soon_threshold_bp)
        allowed_from = fill.date_of_service + dt.timedelta(days=wait_days)
        if service_date < allowed_from and (earliest is None or allowed_from > earliest):
            earliest = allowed_from
    if earliest is None:
        return 0
    refused = []
    year = plan.plan_year_start(service_date)
    for code in request.submission_clarification_codes:
        if code not in plan.refill_overrides.allowed:
            refused.append(f"420-DK {code} ({clarification_name(code)}) is not accepted")
            continue
        limit = plan.refill_overrides.allowed[code]
        used = sum(
            1
            for f in state.fills
            if f.refill_override == code and year <= f.date_of_service <= service_date
        )
        if limit is None or used < limit:
            return code
        refused.append(
            f"420-DK {code} ({clarification_name(code)}) used {used} of {limit} times"
            " this plan year"
        )
    fail(
        "refill",
        [
            Reject(
                RejectCode.REFILL_TOO_SOON,
                f"Refill too soon: next fill on or after {earliest.isoformat()}"
                + (f"; {'; '.join(refused)}" if refused else ""),
            )
        ],
    )
