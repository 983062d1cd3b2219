"""A reversal answers the balances after it: its purse lines and 128-UC are what the member's
purses hold once it is posted, whatever was spent since its claim (both doors)."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import decode_response, encode
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import reversal_transmission

N = 20
DAY = "20260415"  # no other test fills these drugs for this member near it


def _fill(fixtures: dict[str, Any], drug: str, rx: int) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        fixtures["members"]["commercial_single"],
        fixtures["drugs"][drug],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=DAY,
    )


def _hra(response: pb.ClaimResponse) -> pb.PurseLine:
    (line,) = (p for p in response.purses if p.kind == "HRA")
    return line


async def _hra_available(client: GatewayClient, request: pb.ClaimRequest) -> int:
    """What E1 says the HRA has on the claims' date of service."""
    reply = await client.check_eligibility(
        pb.EligibilityRequest(header=request.header, insurance=request.insurance)
    )
    (purse,) = (p for p in reply.purses if p.kind == "HRA")
    return purse.available_cents


async def test_a_reversal_answers_the_purse_balance_after_it_not_its_claims(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """HRA at H; claim A takes a, claim B takes b; A reversed: the reversal gives a back and
    answers H - b (the purse line and 128-UC), as E1 says right after; through Reverse and
    through a D.0 B2 (its 128-UC). It answered H - a + a = H before, as if B had not paid."""
    a = _fill(fixtures, "generic_copay", rx_number())
    b = _fill(fixtures, "preferred_brand", rx_number())
    held = await _hra_available(client, a)
    paid_a = await client.submit(a)
    paid_b = await client.submit(b)
    assert (paid_a.transaction_response_status, paid_b.transaction_response_status) == ("P", "P")
    took_a, took_b = _hra(paid_a).paid_cents, _hra(paid_b).paid_cents
    assert took_a > 0 and took_b > 0, "both claims must draw on the HRA"
    assert _hra(paid_b).available_cents == held - took_a - took_b

    reversed_a = await client.reverse(reversal_for(a))
    assert reversed_a.transaction_response_status == "A"
    line = _hra(reversed_a)
    assert (line.paid_cents, line.available_cents) == (-took_a, held - took_b)
    assert reversed_a.pricing.spending_account_amount_remaining_cents == held - took_b
    assert await _hra_available(client, a) == held - took_b
    # 512-FC / 513-FD after the reversal too: B's, less what A applied to the deductible
    applied_a = paid_a.pricing.amount_applied_to_periodic_deductible_cents
    applied_b = paid_b.pricing.amount_applied_to_periodic_deductible_cents
    # A's own 512-FC (what the reversal answered before) differs from the one after it only when
    # B applied another amount to the deductible: the check below tells them apart
    assert applied_a != applied_b, (applied_a, applied_b)
    assert paid_b.pricing.HasField("accumulated_deductible_amount_cents")
    assert (
        reversed_a.pricing.accumulated_deductible_amount_cents,
        reversed_a.pricing.remaining_deductible_amount_cents,
    ) == (
        paid_b.pricing.accumulated_deductible_amount_cents - applied_a,
        paid_b.pricing.remaining_deductible_amount_cents + applied_a,
    )

    assert (await client.submit(a)).transaction_response_status == "P"  # A again, then a D.0 B2
    answer = decode_response(
        await client.transmit(encode(reversal_transmission([reversal_for(a)])))
    )
    pricing = next(s for s in answer.transactions[0] if s.segment_id == "23")
    status = next(s for s in answer.transactions[0] if s.segment_id == "21")
    assert status.get("AN") == "A"
    assert pricing.get("UC") == _signed_overpunch(held - took_b)
    assert (await client.reverse(reversal_for(b))).transaction_response_status == "A"
    assert await _hra_available(client, a) == held


def _signed_overpunch(cents: int) -> str:
    """D.0's s9(n)v99 as the reference writes it: the last digit overpunched ({ A-I for +0-9),
    written out by hand here, not with the gateway's encoder."""
    assert cents >= 0
    digits = str(cents)
    return digits[:-1] + "{ABCDEFGHI"[int(digits[-1])]


async def test_two_reversals_at_once_each_answer_the_balance_after_it(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Two claims on the HRA, then both reversed at once, sent without 302-C2 as many B2s are
    (so the card's claims are not taken one at a time: the two go into one batch, or to two
    gateways). Each answered the balance it read before the other's write (an outside
    tester's soak: an HRA line of 670.00 where 960.00 was held). The one written second
    answers all given back; the first, what is held once it alone is given back."""
    a = _fill(fixtures, "generic_copay", rx_number())
    b = _fill(fixtures, "preferred_brand", rx_number())
    held = await _hra_available(client, a)
    paid = [await client.submit(request) for request in (a, b)]
    assert [p.transaction_response_status for p in paid] == ["P", "P"]
    took = [_hra(p).paid_cents for p in paid]
    assert all(t > 0 for t in took)
    reversals = []
    for request in (a, b):
        reversal = reversal_for(request)
        reversal.ClearField("insurance")  # no cardholder: 402-D2/403-D3 and the header only
        reversals.append(reversal)
    answers = await asyncio.gather(*(client.reverse(r) for r in reversals))
    assert [r.transaction_response_status for r in answers] == ["A", "A"], answers
    available = [_hra(r).available_cents for r in answers]
    last = available.index(held)  # the reversal written second: everything is back
    first = 1 - last
    assert available[first] == held - took[last], (available, took, held)
    assert [r.pricing.spending_account_amount_remaining_cents for r in answers] == available
    assert await _hra_available(client, a) == held


async def test_many_reversals_of_one_card_at_once_without_302_c2_all_approved(
    client: GatewayClient,
    fixtures: dict[str, Any],
    dataset: tuple[Path, dict[str, Any]],
    rx_number: Any,
) -> None:
    """N paid claims of one member reversed all at once, without 302-C2: each reversal finds
    its card from the claim it reverses and takes that card's turn, so none reads a family
    version another is about to change. Before, they read one version together, each write
    after the first found it changed, and the last of them ran out of attempts (ABORTED,
    seen at N = 20) where a switch expects N approvals."""
    # a member no other test bills for: the last commercial one of active members 500-519
    # (test_coded_fields takes the first)
    member = [m for m in active_members(dataset[0])[500:520] if m["plan_id"] == "COMM-HRA-2026"][-1]
    drug = fixtures["drugs"]["preferred_brand"]
    start = datetime.date(2026, 1, 2)
    days = [(start + datetime.timedelta(days=17 * i)).strftime("%Y%m%d") for i in range(N)]
    # 17 days apart, half a month's supply each: no fill is too soon after the one before
    requests = [
        claim_request(
            fixtures,
            member,
            drug,
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service=day,
            quantity_thousandths=15_000,
            days_supply=15,
        )
        for day in days
    ]
    paid = [await client.submit(request) for request in requests]
    assert [p.transaction_response_status for p in paid] == ["P"] * N, paid
    reversals = []
    for request in requests:
        reversal = reversal_for(request)
        reversal.ClearField("insurance")
        reversals.append(reversal)
    answers = await asyncio.gather(*(client.reverse(r) for r in reversals))
    assert [r.transaction_response_status for r in answers] == ["A"] * N, answers
    # all given back: the same claims pay again, as new claims
    again = await client.submit(requests[0])
    assert again.transaction_response_status == "P"
    assert (await client.reverse(reversal_for(requests[0]))).transaction_response_status == "A"
