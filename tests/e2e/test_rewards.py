"""Rewards for lower-cost choices over a real gRPC channel: COMM-HRA-2026's MAIL90-MAINT pays
$10 into the member's HRA for a maintenance drug filled for 90 days by mail, twice a plan year.
The reward lands in the purse in the claim's own write (its own balanced entry), the cap holds,
a reversal takes the reward back and gives the count back, and the ledger verifies.

Members are active members 1460-1494 on COMM-HRA-2026 (a range no other test bills for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.verify import run_checks, verify_ledger
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb

PROGRAM, REWARD_CENTS = "MAIL90-MAINT", 1_000


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in active_members(dataset[0])[1460:1495] if m["plan_id"] == "COMM-HRA-2026"]


async def _rewarded_member(
    conn: asyncpg.Connection, members: list[dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """The first member of the range covered all 2026 whose family has an HRA: (member, purse)."""
    for member in members:
        row = await conn.fetchrow(
            "SELECT pu.purse_id FROM member m"
            " JOIN coverage c ON c.family_id = m.family_id AND c.member_id = m.member_id"
            " JOIN purse pu ON pu.family_id = m.family_id AND pu.kind = 'HRA'"
            " WHERE m.member_id = $1 AND c.plan_id = 'COMM-HRA-2026'"
            " AND c.start_date <= '2026-01-01' AND c.end_date IS NULL",
            member["member_id"],
        )
        if row is not None:
            return member, row["purse_id"]
    raise AssertionError("no member of the range has an HRA")


async def _posted(conn: asyncpg.Connection, purse_id: str) -> int:
    value = await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
    return int(value)


def _hra_paid(response: pb.ClaimResponse) -> int:
    return sum(line.paid_cents for line in response.purses if line.kind == "HRA")


async def test_a_mail_90_day_fill_earns_a_reward_capped_per_year_and_reversed(
    client: GatewayClient,
    fixtures: dict[str, Any],
    conn: asyncpg.Connection,
    members: list[dict[str, Any]],
    rx_number: Any,
) -> None:
    member, purse_id = await _rewarded_member(conn, members)
    drug = fixtures["drugs"]["generic_copay"]  # a cardiovascular generic: a maintenance group
    assert drug["drug_group"] == "cardiovascular"

    def fill(day: str, pharmacy: str = "mail", days: int = 90) -> pb.ClaimRequest:
        return claim_request(
            fixtures,
            member,
            drug,
            pharmacy=fixtures["pharmacies"][pharmacy],
            rx_number=rx_number(),
            date_of_service=day,
            quantity_thousandths=days * 1_000,
            days_supply=days,
        )

    async def submit(request: pb.ClaimRequest) -> tuple[pb.ClaimResponse, int]:
        before = await _posted(conn, purse_id)
        answer = await client.submit(request)
        assert answer.transaction_response_status == "P", (answer.rejects, answer.rule_trace)
        return answer, await _posted(conn, purse_id) - before

    # a 30-day retail fill is not the rewarded choice
    retail, moved = await submit(fill("20260115", "preferred", 30))
    assert list(retail.rewards) == []
    assert moved == -_hra_paid(retail)

    # priced first: the quote says what the claim would credit, and credits nothing (it said
    # "credited to your HRA")
    from tests.e2e.test_price_check import price_request

    before = await _posted(conn, purse_id)
    quote = await client.check_price(
        price_request(
            fixtures, member, drug, pharmacy=fixtures["pharmacies"]["mail"], day="20260301",
            quantity_thousandths=90_000, days_supply=90,
        )
    )  # fmt: skip
    assert (
        f"Reward {PROGRAM}: $10.00 would be credited to your HRA for this lower-cost choice"
        " when the claim is paid"
    ) in quote.quote.additional_messages
    assert not any("$10.00 credited" in m for m in quote.quote.additional_messages)
    assert await _posted(conn, purse_id) == before

    # the first 90-day mail fill of the year: $10 into the HRA in the claim's write
    first_request = fill("20260301")
    first, moved = await submit(first_request)
    assert [
        (r.program_id, r.purse_kind, r.amount_cents, r.plan_year, r.earned_this_year)
        for r in first.rewards
    ] == [(PROGRAM, "HRA", REWARD_CENTS, "20260101", 1)]
    assert f"Reward {PROGRAM}: $10.00 credited to your HRA for a lower-cost choice" in (
        first.additional_messages
    )
    assert moved == REWARD_CENTS - _hra_paid(first)
    entry = await conn.fetchrow(
        "SELECT e.kind, array_agg(p.account_key || ' ' || p.amount_cents ORDER BY p.amount_cents)"
        " AS postings FROM claim c JOIN claim_reward r USING (family_id, claim_id)"
        " JOIN journal_entry e ON e.family_id = r.family_id AND e.entry_id = r.entry_id"
        " JOIN posting p ON p.family_id = e.family_id AND p.entry_id = e.entry_id"
        " WHERE c.internal_control_number = $1 GROUP BY e.kind",
        first.internal_control_number,
    )
    employer = await conn.fetchval("SELECT employer_id FROM purse WHERE purse_id = $1", purse_id)
    assert entry["kind"] == "reward"
    assert entry["postings"] == [
        f"incentive_funding:{employer} -{REWARD_CENTS}",
        f"purse:{purse_id} {REWARD_CENTS}",
    ]

    # the second: the last one this plan year
    second_request = fill("20260601")
    second, moved = await submit(second_request)
    assert [(r.amount_cents, r.earned_this_year) for r in second.rewards] == [(REWARD_CENTS, 2)]
    assert moved == REWARD_CENTS - _hra_paid(second)

    # the third: paid, but capped
    third, moved = await submit(fill("20260901"))
    assert list(third.rewards) == []
    assert f"reward {PROGRAM}: 2 per plan year already earned" in third.rule_trace
    assert moved == -_hra_paid(third)

    # reversing the second takes its reward back and gives the count back
    before = await _posted(conn, purse_id)
    reversed_ = await client.reverse(reversal_for(second_request))
    assert reversed_.transaction_response_status == "A"
    assert [(r.program_id, r.amount_cents, r.earned_this_year) for r in reversed_.rewards] == [
        (PROGRAM, -REWARD_CENTS, 1)
    ]
    assert f"Reward {PROGRAM}: $10.00 taken back" in reversed_.additional_messages
    assert await _posted(conn, purse_id) - before == _hra_paid(second) - REWARD_CENTS
    # a repeated reversal answers the same and takes nothing more
    again = await client.reverse(reversal_for(second_request))
    assert again.transaction_response_status == "S"
    assert await _posted(conn, purse_id) - before == _hra_paid(second) - REWARD_CENTS

    # so the next 90-day mail fill this year earns one again
    fourth, moved = await submit(fill("20261115"))
    assert [(r.amount_cents, r.earned_this_year) for r in fourth.rewards] == [(REWARD_CENTS, 2)]
    assert moved == REWARD_CENTS - _hra_paid(fourth)

    live = await conn.fetchval(
        "SELECT count(*) FROM claim_reward r JOIN claim c USING (family_id, claim_id)"
        " WHERE c.member_id = $1 AND NOT EXISTS (SELECT 1 FROM claim_reversal x"
        " WHERE x.family_id = r.family_id AND x.claim_id = r.claim_id)",
        member["member_id"],
    )
    assert live == 2
    failed = [r for r in await verify_ledger(conn) if not r.passed]
    assert failed == []

    # a reward behind the ledger's back (no entry of its own, not in the response) is named
    check = "each claim's rewards are its response's, each credited by an entry of its own"
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(
            "INSERT INTO claim_reward (family_id, claim_id, program_id, member_id,"
            " plan_year_start, purse_id, amount_cents, entry_id)"
            " SELECT family_id, claim_id, $2, member_id, '2026-01-01', $3, 500, entry_id"
            " FROM claim WHERE internal_control_number = $1",
            third.internal_control_number,
            PROGRAM,
            purse_id,
        )
        problems = {r.name: r.problems for r in await run_checks(conn)}[check]
    finally:
        await tx.rollback()
    assert problems == (
        f"claim {third.internal_control_number}: {PROGRAM} credited 500 but the response says 0,"
        f" the entry {-_hra_paid(third)}",
    )


def _payload(family_id: str, version: int, member_id: str, key: str, **changes: Any) -> Any:
    """An rx_post_claim payload (as claim_ledger.py writes it), spending nothing."""
    return {
        "family_version": version,
        "claim_key": key,
        "request_hash": "h",
        "internal_control_number": key,
        "authorization_number": "1",
        "member_id": member_id,
        "plan_id": "COMM-HRA-2026",
        "service_provider_id": "N",
        "product_id": "00000000000",
        "molecule": "m",
        "date_of_service": "2026-11-01",
        "days_supply": 90,
        "quantity_thousandths": 90_000,
        "reference_data_version": "1",
        "response": {},
        "postings": [],
        "purse_moves": [],
        "releases_allotments": False,
        "accumulator_moves": [],
        "reward_moves": [],
        "actor": "test",
        "audit": {},
    } | changes


async def test_a_reversal_recovers_a_reward_already_spent_from_the_member(
    fixtures: dict[str, Any], conn: asyncpg.Connection, members: list[dict[str, Any]]
) -> None:
    """The member spent the reward before the rewarded claim was reversed: the purse gives back
    what it holds, the rest is owed by the member (reward_recovery), the mirror is exact and
    the purse ends at zero, never below. (The functions called directly, rolled back.)"""
    member, purse_id = await _rewarded_member(conn, members)
    family_id = await conn.fetchval(
        "SELECT family_id FROM member WHERE member_id = $1", member["member_id"]
    )
    payable = f"pharmacy_payable:{fixtures['pharmacies']['mail']}"
    await init_connection(conn)  # jsonb as Python values, as the gateway's connections

    async def post(key: str, **changes: Any) -> int:
        version = await conn.fetchval("SELECT version FROM family WHERE family_id = $1", family_id)
        payload = _payload(family_id, version, member["member_id"], key, **changes)
        result = await conn.fetchval("SELECT rx_post_claim($1, $2)", family_id, payload)
        assert result["outcome"] == "posted", result
        return int(result["claim_id"])

    tx = conn.transaction()
    await tx.start()
    try:
        rewarded = await post(
            "reward|probe|1",
            reward_moves=[
                {
                    "program_id": PROGRAM,
                    "purse_id": purse_id,
                    "amount": REWARD_CENTS,
                    "plan_year_start": "2026-01-01",
                }
            ],
        )
        held = await _posted(conn, purse_id)
        await post(  # the member spends everything the purse holds, the reward included
            "reward|probe|2",
            purse_moves=[{"purse_id": purse_id, "amount": -held}],
            postings=[
                {"account": f"purse:{purse_id}", "amount": -held},
                {"account": payable, "amount": held},
            ],
        )
        assert await _posted(conn, purse_id) == 0
        result = await conn.fetchval(
            "SELECT rx_post_reversal($1, $2)",
            family_id,
            {
                "claim_id": rewarded,
                "authorization_number": "R",
                "response": {},
                "actor": "t",
                "audit": {},
            },
        )
        assert result["outcome"] == "posted"
        assert await _posted(conn, purse_id) == 0
        recovery = await conn.fetch(
            "SELECT p.account_key, p.amount_cents FROM journal_entry e JOIN posting p"
            " ON p.family_id = e.family_id AND p.entry_id = e.entry_id"
            " WHERE e.family_id = $1 AND e.kind = 'reward_recovery' ORDER BY p.amount_cents",
            family_id,
        )
        assert [tuple(r) for r in recovery] == [
            (f"reward_recovery:{member['member_id']}", -REWARD_CENTS),
            (f"purse:{purse_id}", REWARD_CENTS),
        ]
        results = {r.name: r.problems for r in await run_checks(conn)}
    finally:
        await tx.rollback()
    for name in (
        "every journal entry sums to zero",
        "every posting names a known account",
        "every purse balance equals the sum of its postings",
        "every reversal mirrors its original",
    ):
        assert results[name] == (), name
