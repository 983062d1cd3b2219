"""Medicare Part D benefit stages (392-MU/393-MV/394-MW)."""

from __future__ import annotations

from rx_gateway.domain.cost_share import ShareBreakdown, remaining
from rx_gateway.domain.member import Accumulators
from rx_gateway.domain.money import BASIS_POINTS_PER_UNIT, Rounding, divide
from rx_gateway.domain.reference import CostShareKind, CostShareRule, Limits

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
        # the cost at which the coinsurance reaches what is left of the out-of-pocket limit
        initial = min(
            rest, divide(coinsurance_left * BASIS_POINTS_PER_UNIT, rule.coinsurance_bp, Rounding.UP)
        )
    stages = (("01", deductible), ("02", initial), ("04", rest - initial))
    return tuple((qualifier, amount) for qualifier, amount in stages if amount > 0)


def with_additional(
    stages: tuple[tuple[str, int], ...], additional_cents: int
) -> tuple[tuple[str, int], ...]:
    """394-MW allocates the whole claim: the sales tax and vaccine fee the plan allowed (558-AW,
    559-AX, 562-J1...) go with the claim's first stage, the drug's lower phase (where the PDE
    puts them), so that the stages add up to the allowed amount."""
    if not stages or not additional_cents:
        return stages
    (qualifier, amount), *rest = stages
    return ((qualifier, amount + additional_cents), *rest)
