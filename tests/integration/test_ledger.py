"""The ledger on real PostgreSQL: atomic posting, idempotency, reversal, concurrency, invariants."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request


def _claim(fixtures: dict[str, Any], member: dict[str, Any], drug: str, rx: int, **kw: Any) -> Any:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][drug],
        pharmacy=kw.pop("pharmacy", fixtures["pharmacies"]["preferred"]),
        rx_number=rx,
        date_of_service=kw.pop("dos", "20261103"),
        **kw,
    )


async def _balance(conn: asyncpg.Connection, account: str) -> int:
    return await conn.fetchval(
        "SELECT coalesce(sum(amount_cents), 0) FROM posting WHERE account_key = $1", account
    )


async def test_paid_claim_is_one_balanced_entry_matching_its_response(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Claim row, entry, postings, accumulators and audit land together and agree."""
    member = fixtures["members"]["commercial_family_head"]
    response = await client.submit(_claim(fixtures, member, "preferred_brand", rx_number()))
    assert response.transaction_response_status == "P"
    row = await conn.fetchrow(
        "SELECT claim_id, entry_id FROM claim WHERE internal_control_number = $1",
        response.internal_control_number,
    )
    postings = dict(
        await conn.fetch(
            "SELECT account_key, amount_cents FROM posting WHERE entry_id = $1", row["entry_id"]
        )
    )
    assert sum(postings.values()) == 0
    p = response.pricing
    assert postings.get(f"plan:{response.plan_id}", 0) == -p.plan_paid_cents
    npi = fixtures["pharmacies"]["preferred"]
    assert postings[f"pharmacy_payable:{npi}"] == p.total_amount_paid_cents
    assert postings.get(f"member_paid:{member['member_id']}", 0) == -p.patient_pay_amount_cents
    assert p.total_amount_paid_cents == (
        p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents - p.patient_pay_amount_cents
    )
    audit = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE internal_control_number = $1 AND action = 'B1'",
        response.internal_control_number,
    )
    assert audit == 1


async def test_duplicate_replays_and_changed_content_is_83(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Identical retransmission: D with the same authorization; different content: 83; no new entry."""
    request = _claim(fixtures, fixtures["members"]["commercial_single"], "generic", rx_number())
    first = await client.submit(request)
    assert first.transaction_response_status == "P"
    entries_before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    again = await client.submit(request)
    assert again.transaction_response_status == "D"
    assert again.authorization_number == first.authorization_number
    assert again.pricing == first.pricing
    request.claim.days_supply = 20
    changed = await client.submit(request)
    assert [r.code for r in changed.rejects] == ["83"]
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries_before


async def test_reversal_restores_purse_and_accumulators(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """B2 writes a mirror entry; the purse and accumulators return to where they were; rebill pays anew."""
    member = fixtures["members"]["commercial_single"]
    purse = f"purse:HRA-{member['family_id']}"
    balance_before = await conn.fetchval(
        "SELECT posted_cents FROM purse WHERE purse_id = $1", purse.removeprefix("purse:")
    )
    acc_before = await conn.fetch(
        "SELECT * FROM accumulator WHERE subject_id = $1 ORDER BY kind", member["member_id"]
    )
    request = _claim(fixtures, member, "preferred_brand", rx_number(), dos="20261104")
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P"
    reversal = await client.reverse(reversal_for(request))
    assert reversal.transaction_response_status == "A"
    assert (
        await conn.fetchval(
            "SELECT posted_cents FROM purse WHERE purse_id = $1", purse.removeprefix("purse:")
        )
        == balance_before
    )
    assert await _balance(conn, purse) == balance_before
    acc_after = await conn.fetch(
        "SELECT * FROM accumulator WHERE subject_id = $1 ORDER BY kind", member["member_id"]
    )

    def by_key(rows: list[Any]) -> dict[tuple[str, str], int]:
        return {
            (r["kind"], str(r["plan_year_start"])): r["amount_cents"]
            for r in rows
            if r["amount_cents"]
        }

    assert by_key(acc_after) == by_key(acc_before)
    mirrored = await conn.fetchval(
        "SELECT count(*) FROM journal_entry e JOIN claim c ON e.reverses_entry_id = c.entry_id"
        " WHERE c.internal_control_number = $1",
        paid.internal_control_number,
    )
    assert mirrored == 1
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "S"
    rebill = await client.submit(request)
    assert rebill.transaction_response_status == "P"
    assert rebill.authorization_number != paid.authorization_number


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


async def _load_family(
    dsn: str, directory: Path, family_id: str, size: int, funded_cents: int
) -> tuple[list[dict[str, Any]], str]:
    """A new commercial family of ``size`` members whose HRA holds exactly ``funded_cents``,
    written through the loader (members, coverage, purse and a balanced funding entry)."""
    from rx_gateway.bootstrap import Database

    purse_id = f"HRA-{family_id}"
    cardholder_id = f"RXG{family_id.replace('-', '')}"
    members = [
        {
            "member_id": f"M-{family_id}-{n}",
            "cardholder_id": cardholder_id,
            "person_code": f"{n:03d}",
            "family_id": family_id,
            "group_id": "EMP2-FT",
            "plan_id": "COMM-HRA-2026",
        }
        for n in range(1, size + 1)
    ]
    _write_csv(
        directory / "members.csv",
        [
            {
                "member_id": m["member_id"],
                "cardholder_id": m["cardholder_id"],
                "person_code": m["person_code"],
                "family_id": family_id,
                "employer_id": "EMP2",
                "class_code": "FT",
                "first_name": "Test",
                "last_name": f"Overdraw{n}",
                "date_of_birth": "1980-01-01",
                "gender_code": "1" if n % 2 else "2",
            }
            for n, m in enumerate(members, start=1)
        ],
    )
    _write_csv(
        directory / "coverages.csv",
        [
            {
                "member_id": m["member_id"],
                "plan_id": m["plan_id"],
                "group_id": m["group_id"],
                "start_date": "2026-01-01",
                "end_date": "",
                "end_reason": "",
                "line_of_business": "COMMERCIAL",
            }
            for m in members
        ],
    )
    _write_csv(
        directory / "purses.csv",
        [{"purse_id": purse_id, "family_id": family_id, "kind": "HRA", "employer_id": "EMP2"}],
    )
    _write_csv(
        directory / "funding.csv",
        [
            {
                "funding_id": f"FUND-{purse_id}",
                "purse_id": purse_id,
                "amount_cents": str(funded_cents),
                "memo": "below the family's demand",
                "available_on": "",
            }
        ],
    )
    await Database(dsn).load(directory)
    return members, purse_id


async def test_concurrent_claims_never_overdraw_the_purse(
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
    loaded_dsn: str,
    tmp_path: Path,
) -> None:
    """A new family of four whose HRA holds $100, less than the family's claims ask of it: every
    member sends three same-day fills at once. Exactly one each is paid (the others see it and
    get 79); the HRA runs dry (at least one claim gets less from it than its share) but never
    below zero, and what it paid is exactly what was funded minus what is left; deductibles
    move once."""
    funded = 10_000
    family_id = "F-OVERDRAW-1"
    family, purse_id = await _load_family(loaded_dsn, tmp_path, family_id, 4, funded)
    purse = f"purse:{purse_id}"
    assert (
        await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
        == funded
        == await _balance(conn, purse)
    )
    requests = [
        _claim(fixtures, member, "multi_source_brand", rx_number(), dos="20261120")
        for member in family
        for _ in range(3)
    ]
    responses = await asyncio.gather(*(client.submit(r) for r in requests))
    by_member: dict[str, list[str]] = {}
    for request, response in zip(requests, responses, strict=True):
        by_member.setdefault(request.insurance.person_code, []).append(
            response.transaction_response_status
        )
        if response.transaction_response_status == "R":
            assert [r.code for r in response.rejects] == ["79"]
    assert len(by_member) == 4
    assert all(sorted(statuses) == ["P", "R", "R"] for statuses in by_member.values())
    paid = [r for r in responses if r.transaction_response_status == "P"]

    # What each paid claim asked of the HRA (the member's share) and what the HRA paid.
    shares, from_purse = [], []
    for response in paid:
        p = response.pricing
        hra = -p.health_plan_funded_assistance_amount_cents
        assert hra == sum(line.paid_cents for line in response.purses)  # the family's one HRA
        assert all(line.kind == "HRA" for line in response.purses)
        assert all(line.available_cents >= 0 for line in response.purses)
        shares.append(p.patient_pay_amount_cents + hra)
        from_purse.append(hra)
    assert sum(shares) > funded  # the demand exceeds the purse: the test can drain it
    assert any(hra < share for hra, share in zip(from_purse, shares, strict=True))

    remaining = await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
    assert remaining == 0  # demand above the balance: the HRA pays until it is empty
    assert sum(from_purse) == funded - remaining
    assert await _balance(conn, purse) == remaining
    # The purse account's history: one funding entry, then one posting per claim it paid for,
    # and the running balance never went below zero.
    history = await conn.fetch(
        "SELECT e.kind, p.amount_cents FROM posting p JOIN journal_entry e USING (entry_id)"
        " WHERE p.account_key = $1 ORDER BY p.posting_id",
        purse,
    )
    assert (history[0]["kind"], history[0]["amount_cents"]) == ("funding", funded)
    claim_postings = sorted(-r["amount_cents"] for r in history[1:])
    assert all(r["kind"] == "claim" for r in history[1:])
    assert claim_postings == sorted(hra for hra in from_purse if hra)
    running = 0
    for row in history:
        running += row["amount_cents"]
        assert running >= 0
    spent = await conn.fetchval(
        "SELECT coalesce(sum(paid_cents), 0) FROM claim_purse_spend WHERE purse_id = $1", purse_id
    )
    assert spent == funded - remaining

    family_deductible = await conn.fetchval(
        "SELECT amount_cents FROM accumulator WHERE subject_id = $1 AND level = 'family'"
        " AND kind = 'deductible'",
        family_id,
    )
    assert family_deductible == sum(
        r.pricing.amount_applied_to_periodic_deductible_cents for r in paid
    )
    assert family_deductible <= 50_000
    moved = await conn.fetchval(
        "SELECT sum(amount_cents) FROM accumulator_move WHERE subject_id = $1 AND level = 'family'"
        " AND kind = 'deductible'",
        family_id,
    )
    assert moved == family_deductible


async def test_database_refuses_unbalanced_entries_and_history_edits(
    conn: asyncpg.Connection,
) -> None:
    """The second balance check, and append-only history, enforced by PostgreSQL itself: an
    unbalanced posting statement fails inside its transaction and leaves nothing behind (not its
    postings, not the entry written before it in the same transaction)."""

    async def left_behind(entry_id: int) -> tuple[int, int]:
        entries = await conn.fetchval(
            "SELECT count(*) FROM journal_entry WHERE entry_id = $1", entry_id
        )
        postings = await conn.fetchval("SELECT count(*) FROM posting WHERE entry_id = $1", entry_id)
        return entries, postings

    history = "SELECT (SELECT count(*) FROM journal_entry), (SELECT count(*) FROM posting)"
    before = tuple(await conn.fetchrow(history))
    async with conn.transaction():
        entry = await conn.fetchval(
            "INSERT INTO journal_entry (family_id, kind) VALUES ('F-TEST', 'funding') RETURNING entry_id"
        )
        assert await left_behind(entry) == (1, 0)  # the entry exists inside the transaction
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await conn.execute(
                "INSERT INTO posting (family_id, entry_id, account_key, amount_cents) VALUES ('F-TEST', $1, 'a', 5), ('F-TEST', $1, 'b', -4)",
                entry,
            )
    assert not conn.is_in_transaction()
    assert await left_behind(entry) == (0, 0)
    assert tuple(await conn.fetchrow(history)) == before

    # The control: the same statement balanced is accepted (then rolled back on purpose).
    transaction = conn.transaction()
    await transaction.start()
    try:
        balanced = await conn.fetchval(
            "INSERT INTO journal_entry (family_id, kind) VALUES ('F-TEST', 'funding') RETURNING entry_id"
        )
        await conn.execute(
            "INSERT INTO posting (family_id, entry_id, account_key, amount_cents) VALUES ('F-TEST', $1, 'a', 5), ('F-TEST', $1, 'b', -5)",
            balanced,
        )
        assert await left_behind(balanced) == (1, 2)
    finally:
        await transaction.rollback()
    assert await left_behind(balanced) == (0, 0)
    assert tuple(await conn.fetchrow(history)) == before
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("UPDATE posting SET amount_cents = amount_cents WHERE posting_id = 1")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("DELETE FROM audit_log")
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM (SELECT entry_id FROM posting GROUP BY entry_id HAVING sum(amount_cents) <> 0) x"
        )
        == 0
    )


async def test_reference_change_reaches_a_running_gateway(
    app: App, loaded_dsn: str, tmp_path: Any
) -> None:
    """A load commits, NOTIFY fires, and the running server swaps in the new snapshot."""
    from rx_gateway.bootstrap import Database

    before = app.reference.snapshot.version
    (tmp_path / "pharmacies.csv").write_text(
        "npi,name,network,kind\n1999999999,New Pharmacy,preferred,retail\n"
    )
    await Database(loaded_dsn).load(tmp_path)
    for _ in range(100):
        if app.reference.snapshot.version != before:
            break
        await asyncio.sleep(0.05)
    assert app.reference.snapshot.version != before
    assert "1999999999" in app.reference.snapshot.pharmacies
