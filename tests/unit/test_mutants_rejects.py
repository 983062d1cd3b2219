"""511-FB rejects: precedence, de-duplication and the NCPDP cap of five (issue 11).

Expected orders are written out from the RejectCode declaration order (the precedence), not
computed with rejects.ordered or REJECT_PRECEDENCE.
"""

from __future__ import annotations

import pytest

from rx_gateway.domain.rejects import REJECTS_PER_RESPONSE_MAX, Reject, RejectCode, ordered

R = RejectCode


def test_the_cap_is_five() -> None:
    """510-FA allows at most five 511-FB occurrences."""
    assert REJECTS_PER_RESPONSE_MAX == 5


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], []),
        ([R.MI_DAW], ["22"]),
        # declaration order: 01 BIN, 04 PCN, 07 cardholder, 15 DOS, 16 Rx, 19 days, 21 NDC
        ([R.MI_DAYS_SUPPLY, R.MI_BIN], ["01", "19"]),
        # exactly five: all kept, sorted
        (
            [R.MI_PRODUCT_ID, R.MI_DAYS_SUPPLY, R.MI_DATE_OF_SERVICE, R.MI_PCN, R.MI_BIN],
            ["01", "04", "15", "19", "21"],
        ),
        # six: the last by precedence (21) is dropped
        (
            [
                R.MI_PRODUCT_ID,
                R.MI_DAYS_SUPPLY,
                R.MI_PRESCRIPTION_NUMBER,
                R.MI_DATE_OF_SERVICE,
                R.MI_PCN,
                R.MI_BIN,
            ],
            ["01", "04", "15", "16", "19"],
        ),
        # seven, given in reverse precedence: the five earliest by precedence survive
        (
            [
                R.MI_PRODUCT_ID,
                R.MI_DAYS_SUPPLY,
                R.MI_PRESCRIPTION_NUMBER,
                R.MI_DATE_OF_SERVICE,
                R.MI_CARDHOLDER_ID,
                R.MI_PCN,
                R.MI_BIN,
            ],
            ["01", "04", "07", "15", "16"],
        ),
        # repeats are dropped before the cap: six entries, five distinct codes, all kept
        (
            [R.MI_BIN, R.MI_PCN, R.MI_BIN, R.MI_CARDHOLDER_ID, R.MI_DATE_OF_SERVICE, R.MI_DAW],
            ["01", "04", "07", "15", "22"],
        ),
        # eight entries, four distinct
        (
            [R.MI_DAW, R.MI_DAW, R.MI_BIN, R.MI_DAW, R.MI_BIN, R.GAD_FORMULA, R.MI_PCN, R.MI_PCN],
            ["01", "04", "22", "R9"],
        ),
        # precedence is the declaration order, not the code's text: 40 before 50 before 54,
        # but 7X (declared after 99) after 99, and MR after 8T
        (
            [R.NOT_ON_FORMULARY, R.UC_MUST_BE_POSITIVE, R.DAYS_SUPPLY_EXCEEDS_LIMIT],
            ["7X", "8T", "MR"],
        ),
        (
            [R.HOST_PROCESSING_ERROR, R.DAYS_SUPPLY_EXCEEDS_LIMIT, R.NON_MATCHED_PRODUCT],
            ["54", "99", "7X"],
        ),
        ([R.MI_SOFTWARE_VENDOR_ID, R.MI_SERVICE_PROVIDER_ID, R.MI_PCN], ["04", "AK", "05"]),
    ],
)
def test_ordered(given: list[RejectCode], expected: list[str]) -> None:
    got = ordered([Reject(code) for code in given])
    assert [r.code.value for r in got] == expected
    assert isinstance(got, tuple)


def test_ordered_keeps_the_first_message_of_a_repeated_code() -> None:
    """Of two rejects with one code, the first given is kept (the sort is stable)."""
    got = ordered(
        [
            Reject(R.MI_PCN, "second by precedence"),
            Reject(R.MI_BIN, "first BIN"),
            Reject(R.MI_BIN, "second BIN"),
        ]
    )
    assert got == (Reject(R.MI_BIN, "first BIN"), Reject(R.MI_PCN, "second by precedence"))


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (R.MI_BIN, "M/I BIN Number"),
        (R.MI_BASIS_OF_COST, "M/I Basis Of Cost Determination"),
        (R.REFILL_TOO_SOON, "Refill Too Soon"),
        (R.GAD_FORMULA, "Value In Gross Amount Due Does Not Follow Pricing Formulae"),
    ],
)
def test_reject_text_is_the_ncpdp_description(code: RejectCode, text: str) -> None:
    assert Reject(code, "anything").text == text
    assert Reject(code).message == ""
