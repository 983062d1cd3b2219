"""The ledger's guards and mirrors, pinned so a mutant of ledger.py cannot pass (issue 11).

Every expected value is written out by hand: nothing here is computed with the code under test.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import (
    AccumulatorMove,
    JournalEntry,
    Posting,
    claim_entry,
    employer_funding_account,
    entry_from_amounts,
    member_paid_account,
    pharmacy_collected_account,
    pharmacy_payable_account,
    plan_account,
    purse_account,
)
from rx_gateway.domain.member import AccumulatorKind, AccumulatorLevel

ZERO = r"^postings must be non-zero integer cents$"
UNBALANCED = r"^journal entry does not balance: \(Posting\(account='a', amount_cents="
TWICE = r"^an account appears twice in one entry$"


def entry(*pairs: tuple[str, Any]) -> JournalEntry:
    return JournalEntry(tuple(Posting(account, amount) for account, amount in pairs))


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        # a zero posting, even in an otherwise balanced entry
        ((("a", 100), ("b", -100), ("c", 0)), ZERO),
        ((("a", 0),), ZERO),
        # non-integer amounts that would still balance: floats, a bool (True == 1), a Decimal-ish
        ((("a", 1.0), ("b", -1.0)), ZERO),
        ((("a", 0.5), ("b", -0.5)), ZERO),
        ((("a", True), ("b", -1)), ZERO),
        ((("a", "1"), ("b", -1)), ZERO),
        # the zero check is on each posting, not only the first or the last
        ((("a", 0), ("b", 100), ("c", -100)), ZERO),
        ((("a", 100), ("b", 0), ("c", -100)), ZERO),
        # integers that do not sum to zero: 100 − 99 = 1
        ((("a", 100), ("b", -99)), UNBALANCED),
        ((("a", 1),), UNBALANCED),
        ((("a", -1),), UNBALANCED),
        # the same account twice, balanced: 100 − 60 − 40 = 0
        ((("a", 100), ("b", -60), ("b", -40)), TWICE),
        ((("a", 50), ("a", -50)), TWICE),
    ],
)
def test_journal_entry_refuses(pairs: tuple[tuple[str, Any], ...], message: str) -> None:
    with pytest.raises(InvariantViolation, match=message):
        entry(*pairs)


@pytest.mark.parametrize(
    "pairs",
    [
        (),  # an empty entry sums to zero
        (("a", 1), ("b", -1)),
        (("a", 100), ("b", -60), ("c", -40)),
        (("a", -2), ("b", 1), ("c", 1)),
    ],
)
def test_journal_entry_accepts_balanced_non_zero_integers(
    pairs: tuple[tuple[str, int], ...],
) -> None:
    made = entry(*pairs)
    assert [(p.account, p.amount_cents) for p in made.postings] == list(pairs)


def test_mirror_flips_every_sign_and_keeps_the_accounts() -> None:
    original = entry(("plan:P1", -700), ("purse:H", -300), ("pharmacy_payable:1", 1_000))
    assert original.mirror() == entry(
        ("plan:P1", 700), ("purse:H", 300), ("pharmacy_payable:1", -1_000)
    )
    assert original.mirror().mirror() == original


def test_entry_from_amounts_drops_zero_amounts_only() -> None:
    made = entry_from_amounts([("a", 0), ("b", 250), ("c", 0), ("d", -250), ("e", 0)])
    assert made == entry(("b", 250), ("d", -250))
    assert entry_from_amounts([]) == JournalEntry(())


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (plan_account, "plan:X9"),
        (purse_account, "purse:X9"),
        (employer_funding_account, "employer_funding:X9"),
        (pharmacy_payable_account, "pharmacy_payable:X9"),
        (member_paid_account, "member_paid:X9"),
        (pharmacy_collected_account, "pharmacy_collected:X9"),
    ],
)
def test_account_names(make: Any, expected: str) -> None:
    """The names are what PostgreSQL's account table and `verify` know."""
    assert make("X9") == expected


@pytest.mark.parametrize(
    ("plan_paid", "purses", "patient_pay", "expected"),
    [
        # allowed $100.00 = plan $60.00 + purses $15.00 + $5.00 + member $20.00:
        # plan −6000, purse:A −1500, purse:B −500 (sorted by purse ID), payable +(6000+1500+500)
        # = +8000, member −2000, collected +2000.
        (
            6_000,
            {"B": 500, "A": 1_500},
            2_000,
            [
                ("plan:P1", -6_000),
                ("purse:A", -1_500),
                ("purse:B", -500),
                ("pharmacy_payable:1000000001", 8_000),
                ("member_paid:M1", -2_000),
                ("pharmacy_collected:1000000001", 2_000),
            ],
        ),
        # the plan pays all $12.34: no purse, member pays nothing → the member postings go
        (
            1_234,
            {},
            0,
            [("plan:P1", -1_234), ("pharmacy_payable:1000000001", 1_234)],
        ),
        # the member pays all $9.99 (e.g. inside the deductible): no plan posting, no payable
        (
            0,
            {},
            999,
            [("member_paid:M1", -999), ("pharmacy_collected:1000000001", 999)],
        ),
        # a purse pays all $5.00: payable = 0 + 500
        (
            0,
            {"H": 500},
            0,
            [("purse:H", -500), ("pharmacy_payable:1000000001", 500)],
        ),
    ],
)
def test_claim_entry(
    plan_paid: int, purses: dict[str, int], patient_pay: int, expected: list[tuple[str, int]]
) -> None:
    made = claim_entry(
        plan_id="P1",
        service_provider_id="1000000001",
        member_id="M1",
        plan_paid_cents=plan_paid,
        purse_paid_cents=purses,
        patient_pay_cents=patient_pay,
    )
    assert [(p.account, p.amount_cents) for p in made.postings] == expected


@pytest.mark.parametrize(
    ("amount", "negated"), [(1_500, -1_500), (-1_500, 1_500), (1, -1), (-73_219, 73_219)]
)
def test_accumulator_move_negated_keeps_everything_but_the_sign(amount: int, negated: int) -> None:
    move = AccumulatorMove(
        AccumulatorLevel.FAMILY,
        "F7",
        "P9",
        dt.date(2026, 4, 1),
        AccumulatorKind.OUT_OF_POCKET,
        amount,
    )
    assert move.negated() == AccumulatorMove(
        AccumulatorLevel.FAMILY,
        "F7",
        "P9",
        dt.date(2026, 4, 1),
        AccumulatorKind.OUT_OF_POCKET,
        negated,
    )
    other = AccumulatorMove(
        AccumulatorLevel.INDIVIDUAL, "M2", "P8", dt.date(2025, 1, 1), AccumulatorKind.DEDUCTIBLE, 7
    )
    assert other.negated() == AccumulatorMove(
        AccumulatorLevel.INDIVIDUAL, "M2", "P8", dt.date(2025, 1, 1), AccumulatorKind.DEDUCTIBLE, -7
    )
    assert move.negated().negated() == move
