"""Refill-too-soon overrides (420-DK) and DUR review (issue 15), table-driven on the domain
fixtures: the member filled 30 days of the generic on 2026-10-20; the date of service is
2026-11-02 (13 days later: a refill too soon under the plan's 80%)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.dur import (
    DurAction,
    DurPolicy,
    DurReason,
    DurService,
    Interaction,
    RefillOverrides,
    Significance,
)
from rx_gateway.domain.member import Fill
from rx_gateway.domain.reference import Drug, FormularyEntry, FormularyStatus, ReferenceSnapshot
from tests.unit.domain_fixtures import GENERIC, PLAN, SNAPSHOT, claim, state

PRIOR = Fill("mol-a", dt.date(2026, 10, 20), 30, 30_000, GENERIC.ndc, "1000000002", "1234567893")
SERTRA = Drug("00000000011", "sertra", "sertra", "mental", False, None, False,
              awp_unit_price_millicents=50_000, therapeutic_class="antidepressant")  # fmt: skip
ESCITA = Drug("00000000012", "escita", "escita", "mental", False, None, False,
              awp_unit_price_millicents=50_000, therapeutic_class="antidepressant")  # fmt: skip
WARF = Drug("00000000013", "warf", "warf", "anticoag", False, None, False,
            awp_unit_price_millicents=50_000)  # fmt: skip
CIPRO = Drug("00000000014", "cipro", "cipro", "infection", False, None, False,
             awp_unit_price_millicents=50_000)  # fmt: skip


def _snapshot(**plan_changes: Any) -> ReferenceSnapshot:
    extra = (SERTRA, ESCITA, WARF, CIPRO)
    return ReferenceSnapshot.build(
        "7",
        [replace(PLAN, **plan_changes)],
        [*SNAPSHOT.drugs.values(), *extra],
        [
            *SNAPSHOT.formulary.values(),
            *(FormularyEntry("P1", d.ndc, FormularyStatus.COVERED, 1) for d in extra),
        ],
        list(SNAPSHOT.pharmacies.values()),
        [Interaction("warf", "cipro", Significance.MAJOR, "Major: bleeding risk")],
    )


def _decide(request: Any, fills: tuple[Fill, ...], **plan_changes: Any) -> Paid | Rejected:
    return adjudicate(
        request,
        _snapshot(**plan_changes),
        state(fills=fills, purses=()),
        authorization_number="A",
        internal_control_number="I",
    )


OVERRIDES = RefillOverrides({3: 2, 4: 1, 5: None})


@pytest.mark.parametrize(
    ("codes", "used", "expected", "says"),
    [
        ((), (), "79", "next fill on or after 2026-11-13"),
        ((3,), (), "P", ""),  # vacation supply, first of two this plan year
        ((3,), (3, 3), "79", "420-DK 3 (vacation supply) used 2 of 2 times this plan year"),
        ((4,), (4,), "79", "420-DK 4 (lost or stolen) used 1 of 1 times"),
        ((5,), (5, 5, 5), "P", ""),  # therapy change: no limit
        ((7,), (), "79", "420-DK 7 (medically necessary) is not accepted"),
        ((7, 3), (), "P", ""),  # one accepted code is enough
    ],
)
def test_a_refill_too_soon_is_overridden_only_by_the_plans_codes(
    codes: tuple[int, ...], used: tuple[int, ...], expected: str, says: str
) -> None:
    earlier = tuple(
        replace(PRIOR, date_of_service=dt.date(2026, 3, 1 + i), refill_override=code)
        for i, code in enumerate(used)
    )
    decision = _decide(
        claim(submission_clarification_codes=codes),
        (PRIOR, *earlier),
        refill_overrides=OVERRIDES,
    )
    if expected == "P":
        assert isinstance(decision, Paid), decision.response.rejects
        assert decision.response.refill_override == next(c for c in codes if c in (3, 4, 5))
    else:
        assert [r.code.value for r in decision.response.rejects] == [expected]
        assert says in decision.response.rejects[0].message


DUR = DurPolicy(
    early_refill=DurAction.WARN,
    therapeutic_duplication=DurAction.REJECT,
    drug_interaction=DurAction.REJECT,
    overrides=frozenset({("TD", "M0", "1G"), ("DD", "M0", "1G")}),
)


def test_two_drugs_of_one_class_at_once_is_a_duplication_88_with_its_conflict() -> None:
    escita = Fill("escita", dt.date(2026, 10, 25), 30, 30_000, ESCITA.ndc, "1000000001", "")
    decision = _decide(claim(SERTRA), (escita,), dur=DUR)
    assert isinstance(decision, Rejected)
    assert [r.code.value for r in decision.response.rejects] == ["88"]
    (conflict,) = decision.response.dur_conflicts
    assert (conflict.reason, conflict.other_pharmacy, conflict.previous_fill_date) == (
        DurReason.THERAPEUTIC_DUPLICATION,
        "1",  # the same pharmacy
        "20261025",
    )
    assert conflict.previous_fill_quantity_thousandths == 30_000
    override = DurService("TD", "M0", "1G")
    paid = _decide(claim(SERTRA, dur_services=(override,)), (escita,), dur=DUR)
    assert isinstance(paid, Paid)
    assert [c.reason for c in paid.response.dur_conflicts] == [DurReason.THERAPEUTIC_DUPLICATION]
    wrong = _decide(claim(SERTRA, dur_services=(DurService("TD", "P0", "1B"),)), (escita,), dur=DUR)
    assert isinstance(wrong, Rejected)  # a trio the plan does not accept


def test_an_interaction_is_88_and_a_run_out_fill_is_none() -> None:
    warf = Fill("warf", dt.date(2026, 10, 25), 30, 30_000, WARF.ndc, "1000000009", "1234567893")
    decision = _decide(claim(CIPRO, prescriber_id="1417930843"), (warf,), dur=DUR)
    assert isinstance(decision, Rejected)
    (conflict,) = decision.response.dur_conflicts
    assert conflict.reason is DurReason.DRUG_DRUG_INTERACTION
    assert conflict.significance is Significance.MAJOR
    assert (conflict.other_pharmacy, conflict.other_prescriber) == ("4", "2")
    assert conflict.text == "Major: bleeding risk"
    ran_out = replace(warf, date_of_service=dt.date(2026, 9, 1))
    assert isinstance(_decide(claim(CIPRO), (ran_out,), dur=DUR), Paid)
    assert isinstance(_decide(claim(CIPRO), (warf,)), Paid)  # the plan checks nothing


def test_an_early_refill_past_79_is_a_warning_on_a_paid_claim() -> None:
    """Day 25 of a 30-day fill: past the 80% of 79, before the 90% of the early-refill DUR."""
    early = replace(PRIOR, date_of_service=dt.date(2026, 10, 8))
    decision = _decide(claim(), (early,), dur=DUR)
    assert isinstance(decision, Paid)
    assert [c.reason for c in decision.response.dur_conflicts] == [DurReason.EARLY_REFILL]
