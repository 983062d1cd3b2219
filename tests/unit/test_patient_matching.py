"""Patient matching on a claim (issue 15): 304-C4 and 305-C5 against the member, the newborn
window, 462-EV against the PAs on file, 403-D3 against 415-DF, the prescriber NPI check digit."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.member import PriorAuthorization
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.domain.syntax import npi_check_digit_ok
from tests.unit.domain_fixtures import PLAN, SNAPSHOT, SPECIALTY, claim, state

# The fixture member: born 1980-01-01, gender 1.


def _decide(request: Any, member_state: Any = None, snapshot: Any = SNAPSHOT) -> Paid | Rejected:
    return adjudicate(
        request,
        snapshot,
        member_state or state(),
        authorization_number="A",
        internal_control_number="I",
    )


def _codes(decision: Paid | Rejected) -> list[str]:
    return [r.code.value for r in decision.response.rejects]


@pytest.mark.parametrize(
    ("patient", "codes"),
    [
        ({}, []),
        ({"date_of_birth": "19800101", "gender_code": 1}, []),
        ({"gender_code": 0}, []),  # not specified: nothing to match
        ({"date_of_birth": "19800102"}, ["09"]),
        ({"gender_code": 2}, ["10"]),
        ({"date_of_birth": "19810101", "gender_code": 2}, ["09", "10"]),
    ],
)
def test_date_of_birth_and_gender_must_be_the_members(
    patient: dict[str, Any], codes: list[str]
) -> None:
    assert _codes(_decide(claim(**patient))) == codes


def test_a_newborn_on_a_parents_card_is_not_matched_within_the_plans_window() -> None:
    """Born 10 days before the date of service (2026-11-02), billed on the parent's card."""
    newborn = claim(date_of_birth="20261023", gender_code=2)
    assert _codes(_decide(newborn)) == ["09", "10"]  # the plan allows no window
    snapshot = ReferenceSnapshot.build(
        "7",
        [replace(PLAN, newborn_match_days=30)],
        list(SNAPSHOT.drugs.values()),
        list(SNAPSHOT.formulary.values()),
        list(SNAPSHOT.pharmacies.values()),
    )
    assert isinstance(_decide(newborn, snapshot=snapshot), Paid)
    too_old = claim(date_of_birth="20250101", gender_code=2)
    assert _codes(_decide(too_old, snapshot=snapshot)) == ["09", "10"]


PA = PriorAuthorization(
    SPECIALTY.ndc, None, dt.date(2026, 1, 1), dt.date(2026, 12, 31), "PA1", 20_000
)


@pytest.mark.parametrize(
    ("number", "quantity", "codes", "says"),
    [
        ("", 10_000, [], ""),  # any PA on file that covers the fill
        ("00000000000", 10_000, [], ""),  # zeros: none sent
        ("PA1", 10_000, [], ""),
        ("PA9", 10_000, ["EV"], "not on file"),
        ("PA1", 30_000, ["EV"], "up to 20 units a fill"),
    ],
)
def test_a_prior_authorization_number_must_name_the_pa_that_covers_the_fill(
    number: str, quantity: int, codes: list[str], says: str
) -> None:
    request = claim(
        SPECIALTY,
        prior_authorization_number=number,
        quantity_dispensed_thousandths=quantity,
        service_provider_id="1000000001",
    )
    decision = _decide(request, state(prior_authorizations=(PA,), purses=()))
    assert _codes(decision)[: len(codes)] == codes
    if says:
        assert says in decision.response.rejects[0].message


@pytest.mark.parametrize(
    ("npi", "valid"),
    [
        ("1234567893", True),  # the CMS example
        ("1417930843", True),
        ("1999999992", True),
        ("1234567890", False),
        ("1999999999", False),
        ("123456789", False),
        ("12345678a3", False),
    ],
)
def test_the_npi_check_digit(npi: str, valid: bool) -> None:
    assert npi_check_digit_ok(npi) is valid
