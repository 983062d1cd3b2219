"""Money is integer cents; rates are integer basis points; unit prices are integer millicents.

There is exactly one rounding helper, :func:`divide` (``round_half_up`` is its common case).
Every fraction in the domain goes through it, so a cent is never lost or invented by an
accidental float or floor division.
"""

from __future__ import annotations

from enum import StrEnum

BASIS_POINTS_PER_UNIT = 10_000
MILLICENTS_PER_CENT = 1_000
THOUSANDTHS_PER_UNIT = 1_000


class Rounding(StrEnum):
    """How a division that does not come out even is rounded."""

    HALF_UP = "half_up"  # half away from zero: payments (a half cent is a cent)
    UP = "up"  # away from zero: the smallest amount that reaches a limit


def divide(numerator: int, denominator: int, rounding: Rounding = Rounding.HALF_UP) -> int:
    """The one rounding helper: divide two integers, rounding as ``rounding`` says."""
    if type(numerator) is not int or type(denominator) is not int:
        msg = "round_half_up takes ints only"
        raise TypeError(msg)
    if denominator <= 0:
        msg = f"denominator must be positive, got {denominator}"
        raise ValueError(msg)
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder and (rounding is Rounding.UP or remainder * 2 >= denominator):
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def round_half_up(numerator: int, denominator: int) -> int:
    """Divide two integers and round half away from zero (half-cents round up for payments)."""
    return divide(numerator, denominator, Rounding.HALF_UP)


def apply_basis_points(amount_cents: int, rate_bp: int) -> int:
    """``amount × rate`` where the rate is in basis points (2500 = 25%)."""
    return round_half_up(amount_cents * rate_bp, BASIS_POINTS_PER_UNIT)


def extended_cost_cents(
    quantity_thousandths: int, unit_price_millicents: int, rate_bp: int = BASIS_POINTS_PER_UNIT
) -> int:
    """Cost of a quantity (thousandths of a unit) at a unit price (thousandths of a cent),
    times a rate in basis points (a markup or a discount: 11000 = +10%, 8200 = AWP − 18%),
    rounded ONCE, at the end: rounding the extended price first and the rate again could be a
    cent off the exact amount (1 unit at AWP $12.34567, AWP − 18%: 1012.34494¢ is $10.12, not
    the $10.13 that $12.35 × 0.82 rounds to)."""
    return round_half_up(
        quantity_thousandths * unit_price_millicents * rate_bp,
        THOUSANDTHS_PER_UNIT * MILLICENTS_PER_CENT * BASIS_POINTS_PER_UNIT,
    )


def format_cents(amount_cents: int) -> str:
    """Render cents as dollars for people (never parsed back)."""
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(amount_cents), 100)
    return f"{sign}${whole:,}.{cents:02d}"
