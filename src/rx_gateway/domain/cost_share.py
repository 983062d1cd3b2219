"""What the member pays: deductible, copay or coinsurance, network differential, program cap,
out-of-pocket maximum and the DAW brand penalty.

Order of operations (shared/reference/ncpdp-d0.md section 5.5):
  1. deductible first (unless the tier or a program bypasses it);
  2. copay × days-supply band, or coinsurance clamped to its min/max, on what is left
     ("lesser of copay or cost": never more than the cost);
  3. + the standard-network differential (133-UJ) and the non-preferred product amount
     (135-UM/136-UN), each per 30 days like the copay;
  4. a program cap for the drug group (e.g. insulin $35 per month's supply, the plan's
     definition of a month: a 31-day fill is one month);
  5. the remaining out-of-pocket maximum, individual and family, caps all of the above;
  6. + the DAW 1/2 brand penalty (134-UK), which counts toward neither deductible nor OOP.
The member never pays more than the allowed amount.
"""

from __future__ import annotations

from dataclasses import dataclass

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.member import Accumulators
from rx_gateway.domain.money import BASIS_POINTS_PER_UNIT, apply_basis_points
from rx_gateway.domain.reference import CostShareKind, CostShareRule, Limits, Program


@dataclass(frozen=True, slots=True)
class ShareBreakdown:
    deductible_cents: int  # 517-FH
    copay_cents: int  # 518-FI
    coinsurance_cents: int  # 572-4U
    network_cents: int  # 133-UJ
    brand_penalty_cents: int  # 134-UK
    program_reduction_cents: int  # what a program cap took off the member's share
    non_preferred_cents: int = 0  # 135-UM (generic) or 136-UN (brand)

    @property
    def counted_toward_out_of_pocket_cents(self) -> int:
        return (
            self.deductible_cents
            + self.copay_cents
            + self.coinsurance_cents
            + self.network_cents
            + self.non_preferred_cents
        )

    @property
    def member_responsibility_cents(self) -> int:
        return self.counted_toward_out_of_pocket_cents + self.brand_penalty_cents


def remaining(limit_cents: int | None, met_cents: int) -> int | None:
    """What is left of a limit; None when there is no limit."""
    return None if limit_cents is None else max(0, limit_cents - met_cents)


def _lowest(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _reduce(amounts: list[int], excess: int) -> list[int]:
    """Take ``excess`` off the amounts, last one first (coinsurance before deductible)."""
    result = list(amounts)
    for index in range(len(result) - 1, -1, -1):
        take = min(result[index], excess)
        result[index] -= take
        excess -= take
    return result


def member_share(
    limits: Limits,
    rule: CostShareRule,
    *,
    months_supplied: int,
    cost_cents: int,
    brand_penalty_cents: int,
    days_supply: int,
    standard_network: bool,
    accumulators: Accumulators,
    program: Program | None,
) -> ShareBreakdown:
    """The member's share of ``cost_cents`` (the allowed amount, or the generic's under DAW)."""
    deductible_left = _lowest(
        remaining(limits.deductible_individual_cents, accumulators.deductible_individual_cents),
        remaining(limits.deductible_family_cents, accumulators.deductible_family_cents),
    )
    deductible_applies = rule.deductible_applies and (program is None or program.deductible_applies)
    deductible = min(cost_cents, deductible_left or 0) if deductible_applies else 0
    rest = cost_cents - deductible

    multiplier_bp = rule.band_multiplier_bp(days_supply) or BASIS_POINTS_PER_UNIT
    copay = coinsurance = 0
    if rest > 0 and rule.kind is CostShareKind.COPAY:
        copay = min(apply_basis_points(rule.copay_cents, multiplier_bp), rest)
    elif rest > 0:
        coinsurance = apply_basis_points(rest, rule.coinsurance_bp)
        coinsurance = max(coinsurance, rule.coinsurance_min_cents)
        if rule.coinsurance_max_cents is not None:
            coinsurance = min(coinsurance, rule.coinsurance_max_cents)
        coinsurance = min(coinsurance, rest)
    network = 0
    if standard_network and rest > 0:
        extra = apply_basis_points(rule.standard_network_extra_cents, multiplier_bp)
        network = min(extra, rest - copay - coinsurance)
    non_preferred = 0
    if rule.non_preferred_extra_cents and rest > 0:
        extra = apply_basis_points(rule.non_preferred_extra_cents, multiplier_bp)
        non_preferred = min(extra, rest - copay - coinsurance - network)

    # Caps take from the end of this list first: coinsurance and copay before the deductible.
    parts = [deductible, non_preferred, network, copay, coinsurance]
    program_reduction = 0
    if program is not None:
        cap = program.member_cap_per_30_days_cents * months_supplied
        program_reduction = max(0, sum(parts) - cap)
        parts = _reduce(parts, program_reduction)

    out_of_pocket_left = _lowest(
        remaining(
            limits.out_of_pocket_individual_cents, accumulators.out_of_pocket_individual_cents
        ),
        remaining(limits.out_of_pocket_family_cents, accumulators.out_of_pocket_family_cents),
    )
    if out_of_pocket_left is not None and sum(parts) > out_of_pocket_left:
        parts = _reduce(parts, sum(parts) - out_of_pocket_left)
    deductible, non_preferred, network, copay, coinsurance = parts

    share = ShareBreakdown(
        deductible_cents=deductible,
        copay_cents=copay,
        coinsurance_cents=coinsurance,
        network_cents=network,
        brand_penalty_cents=brand_penalty_cents,
        program_reduction_cents=program_reduction,
        non_preferred_cents=non_preferred,
    )
    if not 0 <= share.counted_toward_out_of_pocket_cents <= cost_cents:
        msg = "member share outside [0, cost]"
        raise InvariantViolation(msg)
    return share
