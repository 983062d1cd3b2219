import pytest
from hypothesis import given
from hypothesis import strategies as st

from rx_gateway.domain.money import (
    apply_basis_points,
    extended_cost_cents,
    format_cents,
    round_half_up,
)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 10, 1), (4, 10, 0), (15, 10, 2), (-5, 10, -1), (-4, 10, 0), (0, 7, 0), (99, 100, 1)],
)
def test_round_half_up(numerator: int, denominator: int, expected: int) -> None:
    """Half a unit rounds away from zero; less than half rounds toward it."""
    assert round_half_up(numerator, denominator) == expected


def test_round_half_up_refuses_floats_and_bad_denominators() -> None:
    """Floats never enter money arithmetic."""
    with pytest.raises(TypeError):
        round_half_up(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        round_half_up(1, 0)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_round_half_up_is_within_half(numerator: int, denominator: int) -> None:
    """The rounded quotient is never more than half a unit from the exact one."""
    result = round_half_up(numerator, denominator)
    assert abs(result * denominator - numerator) * 2 <= denominator


def test_unit_prices_and_rates() -> None:
    """30.000 units at $1.23456 a unit is $37.04; 25% of $10.01 is $2.50."""
    assert extended_cost_cents(30_000, 123_456) == 3_704
    assert apply_basis_points(1_001, 2_500) == 250
    assert format_cents(-123_456) == "-$1,234.56"


def test_a_rate_is_applied_before_rounding() -> None:
    """An arm is rounded once: 1 unit at AWP $12.34567 less 18% is 1012.34494¢ = $10.12 (not
    $12.35 less 18% = $10.13); 450.500 units at NADAC 12.345¢ plus 10% is 6117.56475¢ = $61.18
    (not $55.61 plus 10% = $61.17). Worked by hand by an outside tester of the pricing arms."""
    assert extended_cost_cents(1_000, 1_234_567, 8_200) == 1_012
    assert extended_cost_cents(450_500, 12_345, 11_000) == 6_118
    assert extended_cost_cents(30_000, 123_456) == extended_cost_cents(30_000, 123_456, 10_000)
