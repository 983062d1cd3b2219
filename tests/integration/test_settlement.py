"""Closing the money loop on a database of its own: pay cycles (835s), invoices, sponsor
payments, bank reconciliation. Claims go through a real gateway; every 835 is checked by an
independent X12 validator (pyx12) and its balancing by hand here, and the ledger is read back."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from rx_gateway.adapters.files.settlement_files import DirectoryFiles
from rx_gateway.adapters.postgres.database import create_pool, init_connection
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.bootstrap import App, build_app
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.domain.reference import Plan
from rx_gateway.domain.settlement.invoices import Receipt
from rx_gateway.domain.settlement.reconciliation import BankLine, Direction, ExceptionKind
from rx_gateway.service_layer import settlement
from rx_gateway.settlement_worker import WorkerCloser
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.tools.synthetic.dataset import active_members
from rx_gateway.v1 import admin_pb2 as admin_pb
from rx_gateway.v1 import admin_pb2_grpc
from tests.support import ADMIN_OPERATOR, ADMIN_TOKEN, BUSINESS_DATE, TEST_SETTINGS
from tests.support_x12 import x12_errors

TODAY = dt.datetime.now(dt.UTC).date()


def _this_week_end() -> dt.date:
    """The end of the current weekly period (periods end on Sunday)."""
    return TODAY + dt.timedelta(days=(6 - TODAY.weekday()) % 7)


@pytest.fixture(scope="module")
async def dsn(fresh_loaded_database: Any) -> str:
    value: str = await fresh_loaded_database()
    return value


@pytest.fixture(scope="module")
async def gateway(
    dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[App, GatewayClient]]:
    settings = replace(TEST_SETTINGS, settlement_dir=tmp_path_factory.mktemp("settlement"))
    application = await build_app(settings, dsn)
    async with GatewayClient(f"127.0.0.1:{application.port}") as gateway_client:
        yield application, gateway_client
    await application.stop()


@pytest.fixture(scope="module")
async def store(dsn: str) -> AsyncIterator[tuple[PostgresSettlement, list[Plan]]]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=init_connection)
    snapshot = await PostgresReferenceLoader(pool).load_snapshot()
    yield PostgresSettlement(pool), list(snapshot.plans.values())
    await pool.close()


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


_rx = iter(range(700_000, 10**9))


def _claim(fixtures: dict[str, Any], member: str, drug: str, pharmacy: str) -> Any:
    return claim_request(
        fixtures,
        fixtures["members"][member],
        fixtures["drugs"][drug],
        pharmacy=fixtures["pharmacies"][pharmacy],
        rx_number=next(_rx),
        date_of_service=f"{BUSINESS_DATE:%Y%m%d}",
    )


def _amount(text: str) -> int:
    """An X12 decimal as cents."""
    sign = -1 if text.startswith("-") else 1
    whole, _, part = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((part + "00")[:2]))


def check_835(text: str) -> None:
    """Valid X12 (pyx12), and the three balancing identities, read from the file itself."""
    assert x12_errors(text) == []
    segments = [s.split("*") for s in text.replace("\n", "").split("~") if s]
    bpr = next(s for s in segments if s[0] == "BPR")
    paid_total = plb_total = 0
    claim: dict[str, int] = {}
    claims = []
    for s in segments:
        if s[0] == "CLP":
            claim = {"charge": _amount(s[3]), "paid": _amount(s[4]), "cas": 0, "svc_paid": 0}
            claims.append(claim)
            paid_total += _amount(s[4])
        elif s[0] == "SVC":
            claim["svc_charge"] = _amount(s[2])
            claim["svc_paid"] += _amount(s[3])
        elif s[0] == "CAS":
            claim["cas"] += sum(_amount(s[i]) for i in range(3, len(s), 3))
        elif s[0] == "PLB":
            plb_total += sum(_amount(s[i]) for i in range(4, len(s), 2))
    for c in claims:
        assert c["svc_charge"] - c["cas"] == c["svc_paid"]  # service
        assert c["charge"] - c["cas"] == c["paid"] == c["svc_paid"]  # claim
    assert _amount(bpr[2]) == paid_total - plb_total  # payment


async def _settle(store: Any, out: Path, through: dt.date) -> list[settlement.Closed]:
    """Close through ``through`` as if it were that day (the tests walk through weeks; each
    close still takes what was received up to the moment it runs)."""
    pg, plans = store
    return await settlement.settle(pg, DirectoryFiles(out), plans, through, today=through)


async def test_a_pay_cycle_pays_every_claim_once_and_every_file_balances(
    gateway: Any, store: Any, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """Claims at a chain's stores and at independent ones, one reversed: each payee's 835
    validates and balances, the close moves exactly the payable of the claims it remitted,
    and closing the same cycle again writes the same files and nothing in the database."""
    _, client = gateway
    requests = [
        _claim(fixtures, "commercial_single", "generic", "preferred"),
        _claim(fixtures, "commercial_family_head", "preferred_brand", "preferred"),
        _claim(fixtures, "part_d", "generic", "standard"),
        _claim(fixtures, "hdhp_single", "generic", "preferred"),
    ]
    replies = [await client.submit(r) for r in requests]
    assert all(r.transaction_response_status == "P" for r in replies), [r.rejects for r in replies]
    assert (await client.reverse(reversal_for(requests[3]))).transaction_response_status == "A"
    closed = await _settle(store, tmp_path, _this_week_end())
    assert closed and closed[-1].closed_now
    remittances = [r for c in closed for r in c.remittances]
    for r in remittances:
        check_835(r.x12)
    expected = sum(r.pricing.total_amount_paid_cents for r in replies[:3])  # the 4th reversed
    assert sum(r.claims_paid_cents for r in remittances) == expected
    items = await db.fetchval("SELECT count(*) FROM remittance_item")
    assert items == 5  # four paid claims and one reversal, once each
    # the remitted claims' payable is cleared: pharmacy_payable nets to zero over both journals
    payable = await db.fetchval(
        "SELECT coalesce(sum(amount_cents), 0) FROM posting WHERE account_key LIKE"
        " 'pharmacy_payable:%'"
    ) + await db.fetchval(
        "SELECT coalesce(sum(amount_cents), 0) FROM settlement_posting WHERE account_key LIKE"
        " 'pharmacy_payable:%'"
    )
    assert payable == 0
    files = sorted(p.name for c in closed for p in c.paths)
    assert any(name.endswith(".835") for name in files)
    before = await db.fetchval("SELECT count(*) FROM settlement_posting")
    again = await _settle(store, tmp_path / "again", _this_week_end())
    assert not any(c.closed_now for c in again)
    assert [r.x12 for c in again for r in c.remittances] == [r.x12 for r in remittances]
    assert await db.fetchval("SELECT count(*) FROM settlement_posting") == before


async def test_a_reversal_after_its_cycle_closed_is_a_negative_line_next_cycle(
    gateway: Any, store: Any, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """The claim was remitted (CLP02 1); reversed after the close, it comes back as CLP02 22
    with negative amounts and REF*F8 to the original. Alone, it nets negative: nothing is paid,
    the balance is carried (PLB FB) and recovered from the payee's next claims."""
    _, client = gateway
    request = _claim(fixtures, "commercial_child", "generic", "standard")
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P"
    week = _this_week_end() + dt.timedelta(days=7)
    first = await _settle(store, tmp_path, week)
    npi = fixtures["pharmacies"]["standard"]
    assert any(r.payee_id == npi for c in first for r in c.remittances)
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    second = await _settle(store, tmp_path, week + dt.timedelta(days=7))
    mine = [r for c in second for r in c.remittances if r.payee_id == npi]
    assert len(mine) == 1
    x12 = mine[0].x12
    check_835(x12)
    icn = paid.internal_control_number
    assert re.search(rf"CLP\*[^~]*\*22\*-[^~]*\*{icn}R~", x12)
    assert f"REF*F8*{icn}~" in x12
    assert mine[0].payment_cents == 0 and mine[0].carried_out_cents > 0
    carried = mine[0].carried_out_cents
    # the carry out names its cycle, and the carry in below names the same cycle: a pharmacy
    # pairs the two (both said only CARRIED OUT / CARRIED IN)
    origin = mine[0].cycle_id
    assert "BPR*H*0*C*NON" in x12
    out = re.search(rf"\*FB:{re.escape(origin)}\*(-[0-9.]+)~", x12)
    assert out is not None and Decimal(out.group(1)) * 100 == -carried, x12
    recovery = _claim(fixtures, "commercial_child", "preferred_brand", "standard")
    again = await client.submit(recovery)
    assert again.transaction_response_status == "P"
    third = await _settle(store, tmp_path, week + dt.timedelta(days=14))
    recovered = next(r for c in third for r in c.remittances if r.payee_id == npi)
    check_835(recovered.x12)
    back = re.search(rf"\*FB:{re.escape(origin)}\*([0-9.]+)~", recovered.x12)
    assert back is not None and Decimal(back.group(1)) * 100 == carried, recovered.x12
    assert recovered.payment_cents == (
        again.pricing.total_amount_paid_cents - carried - recovered.fee_cents
    )


async def test_claims_flowing_during_a_close_are_remitted_once(
    gateway: Any,
    store: Any,
    db: asyncpg.Connection,
    fixtures: dict[str, Any],
    dataset: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Claims and reversals keep arriving while cycles close: afterwards every one of them is
    in exactly one remittance, and the remittances add up to what the claims paid."""
    _, client = gateway
    stop = asyncio.Event()
    submitted: list[Any] = []

    members = active_members(dataset[0])[100:500]

    async def stream() -> None:
        n = 0
        while not stop.is_set() and n < len(members):
            request = claim_request(
                fixtures,
                members[n],
                fixtures["drugs"]["generic"],
                pharmacy=fixtures["pharmacies"]["preferred"],
                rx_number=next(_rx),
                date_of_service=f"{BUSINESS_DATE:%Y%m%d}",
            )
            reply = await client.submit(request)
            if reply.transaction_response_status == "P":
                submitted.append((request, reply))
                if n % 5 == 0:
                    await client.reverse(reversal_for(request))
            n += 1

    base = _this_week_end() + dt.timedelta(days=28)
    flow = asyncio.create_task(stream())
    for week in range(3):
        while len(submitted) < 30 * (week + 1):
            await asyncio.sleep(0.01)
        assert not flow.done()  # this close runs while claims are still arriving
        await _settle(store, tmp_path, base + dt.timedelta(days=7 * week))
    stop.set()
    await flow
    await _settle(store, tmp_path, base + dt.timedelta(days=21))
    assert len(submitted) > 20
    missing = await db.fetchval(
        "SELECT count(*) FROM claim c WHERE NOT EXISTS (SELECT 1 FROM remittance_item r"
        " WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id AND r.kind = 'paid')"
    )
    assert missing == 0
    missing_reversals = await db.fetchval(
        "SELECT count(*) FROM claim_reversal cr WHERE NOT EXISTS (SELECT 1 FROM remittance_item r"
        " WHERE r.family_id = cr.family_id AND r.claim_id = cr.claim_id AND r.kind = 'reversal')"
    )
    assert missing_reversals == 0
    remitted = await db.fetchval("SELECT sum(claims_paid_cents) FROM remittance")
    owed = await db.fetchval(
        "SELECT sum(amount_cents) FROM posting WHERE account_key LIKE 'pharmacy_payable:%'"
    )
    assert remitted == owed


async def test_invoices_bill_plan_cost_purse_spending_and_fees(
    gateway: Any, store: Any, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Each invoice is the plan paid, purse spending and admin fees of its claims; its entry
    moves them to the sponsor's receivable; closing again changes nothing."""
    pg, plans = store
    closed = await settlement.invoice(pg, DirectoryFiles(tmp_path), plans, _this_week_end())
    invoices = [i for c in closed for i in c.invoices]
    assert invoices
    for inv in invoices:
        row = await db.fetchrow(
            "SELECT sum(plan_paid_cents + purse_paid_cents + admin_fee_cents) AS total"
            " FROM invoice_item WHERE invoice_id = $1",
            inv.invoice_id,
        )
        assert row["total"] == inv.total_cents
        lines = inv.csv.strip().splitlines()
        assert lines[-1].startswith("TOTAL") and lines[-1].endswith(f",{inv.total_cents}")
    # plan paid billed equals what the claims' responses say the plans paid
    billed = await db.fetchval("SELECT sum(plan_paid_cents) FROM invoice_item")
    expected = await db.fetchval(
        "SELECT sum((c.response->'pricing'->>'plan_paid_cents')::bigint * CASE i.kind WHEN"
        " 'paid' THEN 1 ELSE -1 END) FROM invoice_item i JOIN claim c ON c.family_id ="
        " i.family_id AND c.claim_id = i.claim_id"
    )
    assert billed == expected
    emp1 = next((i for i in invoices if i.sponsor_id == "EMP1"), None)
    if emp1 is not None:  # EMP1 pays a $1.50 admin fee per paid claim
        fees = await db.fetchval(
            "SELECT sum(admin_fee_cents) FROM invoice_item WHERE invoice_id = $1", emp1.invoice_id
        )
        assert fees % 150 == 0
    again = await settlement.invoice(pg, DirectoryFiles(tmp_path), plans, _this_week_end())
    assert not any(c.closed_now for c in again)


async def test_sponsor_payments_and_the_bank_reconcile(
    store: Any, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A partial payment and an over-payment are kept as sent; the same file again changes
    nothing; the bank's confirmations match a remittance by its trace and a receipt by its
    reference, clear their clearing accounts, and the rest are exceptions by type."""
    pg, _ = store
    invoices = await db.fetch("SELECT invoice_id, sponsor_id, total_cents FROM invoice")
    first = next(i for i in invoices if i["sponsor_id"] != "EMP2")
    receipts = [
        (2, Receipt(first["sponsor_id"], first["invoice_id"], 1, TODAY, "WIRE-1")),
        (3, Receipt("EMP2", "", 123_456, TODAY, "DEPOSIT-1")),
    ]
    applied = await pg.record_receipts("pay.csv", "digest-1", receipts)
    assert applied.lines == 2 and applied.previously is None
    assert (await pg.record_receipts("pay.csv", "digest-1", receipts)).previously is not None
    assert await db.fetchval("SELECT count(*) FROM sponsor_receipt") == 2
    remittance = await db.fetchrow(
        "SELECT trace_number, payment_cents, pay_date FROM remittance WHERE payment_cents > 0"
        " ORDER BY trace_number LIMIT 1"
    )
    other = await db.fetchrow(
        "SELECT trace_number, payment_cents, pay_date FROM remittance WHERE payment_cents > 0"
        " AND trace_number <> $1 ORDER BY trace_number LIMIT 1",
        remittance["trace_number"],
    )
    assert other is not None  # the cycles above paid several payees
    paid_on = remittance["pay_date"]  # BPR16: the day the bank must say it paid
    lines = (
        BankLine(
            2, Direction.OUT, remittance["trace_number"], remittance["payment_cents"], paid_on
        ),
        BankLine(3, Direction.IN, "WIRE-1", 1, TODAY),
        BankLine(4, Direction.IN, "DEPOSIT-1", 99, TODAY),
        BankLine(5, Direction.OUT, "NOBODY", 500, TODAY),
        # the right trace and amount, posted the day before the 835's BPR16: not a match
        *(
            (
                BankLine(
                    6,
                    Direction.OUT,
                    other["trace_number"],
                    other["payment_cents"],
                    other["pay_date"] - dt.timedelta(days=1),
                ),
            )
            if other is not None
            else ()
        ),
    )
    _, matches, problems = await pg.reconcile(
        "bank.csv",
        "digest-2",
        lines,
        as_of=TODAY + dt.timedelta(days=60),
        unconfirmed_after_days=21,
    )
    assert {m.expected.trace for m in matches} == {remittance["trace_number"], "WIRE-1"}
    kinds = {p.kind for p in problems}
    assert ExceptionKind.UNKNOWN_TRACE in kinds
    assert ExceptionKind.AMOUNT_DIFFERS in kinds  # the deposit: 99 against 123,456
    if other is not None:
        (late,) = [p for p in problems if p.kind is ExceptionKind.DATE_DIFFERS]
        assert late.reference == other["trace_number"] and "(BPR16)" in late.detail
    assert ExceptionKind.INVOICE_PAST_DUE in kinds  # WIRE-1 paid one cent of an invoice
    clearing = await db.fetchval(
        "SELECT coalesce(sum(p.amount_cents), 0) FROM settlement_posting p"
        " WHERE p.account_key = 'receipt_clearing:' || $1",
        first["sponsor_id"],
    )
    assert clearing == 0  # WIRE-1 recorded and confirmed
    again, rematched, _ = await pg.reconcile(
        "bank.csv", "digest-2", lines, as_of=TODAY, unconfirmed_after_days=21
    )
    assert again.previously is not None and rematched == ()
    # EMP2 pre-funds: billed before its deposit arrived, it is below its threshold
    if any(i["sponsor_id"] == "EMP2" for i in invoices):
        assert any(a["sponsor_id"] == "EMP2" for a in await pg.alerts())


async def test_verify_holds_after_settlement_and_finds_a_remittance_that_lies(
    db: asyncpg.Connection,
) -> None:
    """Every settlement invariant holds after the cycles above; a remittance whose stated
    claims total differs from its lines is named (written in a rolled-back transaction,
    under the triggers, as a broken migration or a hand edit would)."""
    from rx_gateway.adapters.postgres.verify import run_checks, verify_ledger

    failed = [r for r in await verify_ledger(db) if not r.passed]
    assert failed == []
    transaction = db.transaction()
    await transaction.start()
    try:
        await db.execute("ALTER TABLE remittance DISABLE TRIGGER remittance_append_only")
        await db.execute(
            "UPDATE remittance SET claims_paid_cents = claims_paid_cents + 1,"
            " payment_cents = payment_cents + 1"
            " WHERE (cycle_id, payee_id) = (SELECT cycle_id, payee_id FROM remittance LIMIT 1)"
        )
        names = {r.name for r in await run_checks(db) if not r.passed}
    finally:
        await transaction.rollback()
    assert "each remittance equals the payable it cleared" in names
    assert names <= {  # its payment changed too: its 835 and clearing account disagree now
        "each remittance equals the payable it cleared",
        "each 835 says what its remittance pays, for its lines",
        "clearing accounts hold exactly what the bank has not confirmed",
    }


async def test_the_admin_interface_settles_and_reports(
    gateway: Any, db: asyncpg.Connection, dsn: str, tmp_path: Path
) -> None:
    """Settle through the admin interface: the same cycles as the command (a closed one comes
    back as it was), files on the gateway's host; balances and alerts; a bad date or no token
    is refused with the field named, never INTERNAL."""
    application, _ = gateway
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
        through = f"{_this_week_end():%Y%m%d}"
        reply = await stub.Settle(admin_pb.CloseCyclesRequest(through=through), metadata=auth)
        assert reply.actor == ADMIN_OPERATOR
        # this week was closed above, and later weeks after it: nothing is left to close
        assert not any(c.closed_now for c in reply.cycles)
        documents = [d for c in reply.cycles for d in c.documents]
        assert all(Path(p).exists() for d in documents for p in d.paths)
        # a period that has not begun cannot be closed: a mistyped year is refused
        later = f"{_this_week_end() + dt.timedelta(days=35):%Y%m%d}"
        with pytest.raises(grpc.aio.AioRpcError) as future:
            await stub.Invoice(admin_pb.CloseCyclesRequest(through=later), metadata=auth)
        assert future.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "period under way" in (future.value.details() or "")
        balances = await stub.GetBalances(admin_pb.BalancesRequest(), metadata=auth)
        assert {s.sponsor_id for s in balances.sponsors} >= {"EMP1", "EMP2", "PDP-SPONSOR"}
        alerts = await stub.ListAlerts(admin_pb.AlertsRequest(limit=5), metadata=auth)
        assert all(a.kind == "low_balance" for a in alerts.alerts)
        with pytest.raises(grpc.aio.AioRpcError) as bad_date:
            await stub.Invoice(admin_pb.CloseCyclesRequest(through="2026-13-01"), metadata=auth)
        assert bad_date.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "through" in (bad_date.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.Settle(admin_pb.CloseCyclesRequest(through=through))
        assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # a new cycle closes under the admin interface's database role: its grants suffice
    limits = replace(TEST_SETTINGS.pool, role="rx_gateway_admin", size_min=1, size_max=1)
    pool = await create_pool(dsn, limits)
    try:
        snapshot = await PostgresReferenceLoader(pool).load_snapshot()
        week = _this_week_end() + dt.timedelta(days=35)
        billed = await settlement.invoice(
            PostgresSettlement(pool), DirectoryFiles(tmp_path), list(snapshot.plans.values()), week,
            today=week,
        )  # fmt: skip
    finally:
        await pool.close()
    assert any(c.closed_now for c in billed)
    # each cycle closed now has its audit row, in its close's transaction, naming who closed
    # it: the admin interface's operator through its worker process (the admin hunt found
    # none at all)
    # (the week after the last pay cycle closed by earlier tests)
    later = await db.fetchval("SELECT max(period_end) FROM pay_cycle") + dt.timedelta(days=7)
    closer = WorkerCloser(dsn, limits, tmp_path / "admin", business_date=later)
    try:
        settled = await closer("settle", later, ADMIN_OPERATOR)
    finally:
        closer.shutdown()
    assert any(c.closed_now for c in settled), [(c.cycle_id, c.closed_now) for c in settled]
    audited = {
        (r["action"], r["cycle_id"]): r["actor"]
        for r in await db.fetch(
            "SELECT action, actor, detail->>'cycle_id' AS cycle_id FROM audit_log"
            " WHERE action IN ('settle', 'invoice')"
        )
    }
    for action, closes, actor in (
        ("invoice", billed, "settlement"),
        ("settle", settled, ADMIN_OPERATOR),
    ):
        for cycle in closes:
            if cycle.closed_now:
                assert audited.get((action, cycle.cycle_id)) == actor, (action, cycle.cycle_id)
    # a close repeated finds the cycle closed and writes no second row
    count = len(audited)
    closer = WorkerCloser(dsn, limits, tmp_path / "admin", business_date=later)
    try:
        again = await closer("settle", later, "ops-bob")
    finally:
        closer.shutdown()
    assert not any(c.closed_now for c in again)
    assert (
        await db.fetchval("SELECT count(*) FROM audit_log WHERE action IN ('settle', 'invoice')")
        == count
    )


async def test_a_reversal_credits_what_its_claim_was_billed_to_whom_it_was_billed(
    gateway: Any, store: Any, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """A paid claim billed to its sponsor; then the sponsor's admin fee changes and the plan
    is given another sponsor; the claim is reversed. The reversal credits the fee that was
    charged (it refunded today's), to the sponsor billed (the new sponsor was billed the old
    claim again and the old one never credited), and the payment is billed once."""
    pg, plans = store
    _, client = gateway
    request = _claim(fixtures, "commercial_single", "generic_copay", "preferred")
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects
    claim_id = await db.fetchval(
        "SELECT claim_id FROM claim WHERE internal_control_number = $1",
        paid.internal_control_number,
    )
    items = (
        "SELECT kind, sponsor_id, plan_paid_cents, admin_fee_cents, plan_sponsor"
        " FROM invoice_item WHERE claim_id = $1 ORDER BY kind, sponsor_id"
    )
    week = _this_week_end()
    # the cycle that bills it: weekly or fortnightly, after those other tests closed ahead
    for weeks in range(1, 16):
        through = week + dt.timedelta(weeks=weeks)
        await settlement.invoice(pg, DirectoryFiles(tmp_path), plans, through, today=through)
        billed = await db.fetch(items, claim_id)
        if billed:
            break
    lines = [r for r in billed if r["plan_sponsor"]]
    assert len(lines) == 1, [dict(r) for r in billed]
    (line,) = lines
    sponsor, fee = line["sponsor_id"], line["admin_fee_cents"]
    plan = next(p for p in plans if p.plan_id == paid.plan_id)
    other = await db.fetchval(
        "SELECT sponsor_id FROM sponsor WHERE sponsor_id <> $1 ORDER BY sponsor_id LIMIT 1",
        sponsor,
    )
    moved = [replace(p, sponsor_id=other) if p is plan else p for p in plans]
    await db.execute(
        "UPDATE sponsor SET admin_fee_cents = admin_fee_cents + 100 WHERE sponsor_id = $1",
        sponsor,
    )
    try:
        assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
        for more in range(weeks + 1, weeks + 16):
            through = week + dt.timedelta(weeks=more)
            await settlement.invoice(pg, DirectoryFiles(tmp_path), moved, through, today=through)
            after = await db.fetch(items, claim_id)
            if any(r["kind"] == "reversal" for r in after):
                break
    finally:
        await db.execute(
            "UPDATE sponsor SET admin_fee_cents = admin_fee_cents - 100 WHERE sponsor_id = $1",
            sponsor,
        )
    plan_lines = [(r["kind"], r["sponsor_id"], r["plan_paid_cents"], r["admin_fee_cents"])
                  for r in after if r["plan_sponsor"]]  # fmt: skip
    assert plan_lines == [
        ("paid", sponsor, line["plan_paid_cents"], fee),
        ("reversal", sponsor, -line["plan_paid_cents"], -fee),
    ]


async def test_asking_again_for_an_older_closed_cycle_returns_its_files(
    gateway: Any, store: Any, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """The pay and billing cycles that took a claim are closed, then later ones; asked again
    for the first period, settle and invoice return its stored files (it said "nothing to
    close" once a later cycle was closed), close nothing, and a period never closed before
    the last close stays unclosed."""
    pg, plans = store
    _, client = gateway
    # a member and drug no other test of this module fills (a refill would be 79)
    paid = await client.submit(_claim(fixtures, "commercial_woman", "generic_copay", "standard"))
    assert paid.transaction_response_status == "P", paid.rejects
    claim = "SELECT claim_id FROM claim WHERE internal_control_number = $1"
    claim_id = await db.fetchval(claim, paid.internal_control_number)
    kinds = (
        (
            settlement.settle,
            "SELECT r.cycle_id, c.period_end, r.x12 AS file FROM remittance_item i"
            " JOIN pay_cycle c USING (cycle_id)"
            " JOIN remittance r ON r.cycle_id = i.cycle_id AND r.payee_id = i.payee_id"
            " WHERE i.claim_id = $1",
            "pay_cycle",
            lambda c: [r.x12 for r in c.remittances],
        ),
        (
            settlement.invoice,
            "SELECT v.cycle_id, v.period_end, v.csv AS file FROM invoice_item i"
            " JOIN invoice v USING (invoice_id) WHERE i.claim_id = $1 LIMIT 1",
            "billing_cycle",
            lambda c: [i.csv for i in c.invoices],
        ),
    )
    week = _this_week_end()
    for close, took_it, table, files_of in kinds:
        for weeks in range(1, 20):
            through = week + dt.timedelta(weeks=weeks)
            await close(pg, DirectoryFiles(tmp_path), plans, through, today=through)
            first = await db.fetchrow(took_it, claim_id)
            if first is not None:
                break
        assert first is not None
        later = first["period_end"] + dt.timedelta(days=28)
        assert any(
            c.closed_now
            for c in await close(pg, DirectoryFiles(tmp_path), plans, later, today=later)
        )
        cycles = await db.fetchval(f"SELECT count(*) FROM {table}")
        again = await close(
            pg, DirectoryFiles(tmp_path / "again"), plans, first["period_end"], today=later
        )
        (mine,) = [c for c in again if c.cycle_id == first["cycle_id"]]
        assert not mine.closed_now and first["file"] in files_of(mine)
        assert all(not c.closed_now for c in again)
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == cycles
        # a period before the first claim was ever received was never closed: not now either
        never = await close(pg, DirectoryFiles(tmp_path), plans, dt.date(2001, 1, 7), today=later)
        assert never == [] and await db.fetchval(f"SELECT count(*) FROM {table}") == cycles


async def test_an_admin_close_into_a_directory_it_cannot_write_commits_nothing(
    gateway: Any, db: asyncpg.Connection, dsn: str, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """The admin Settle/Invoice worker closed the cycles, then failed to write the files
    (FAILED_PRECONDITION after the commit: a retry closed another cycle). It checks the
    directory first, as the commands do: nothing is closed."""
    from rx_gateway.settlement_worker import CloseJob, close_cycles

    _, client = gateway
    paid = await client.submit(_claim(fixtures, "part_d", "generic_copay", "preferred"))
    assert paid.transaction_response_status == "P", paid.rejects
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    limits = replace(TEST_SETTINGS.pool, role="rx_gateway_admin", size_min=1, size_max=1)
    through = _this_week_end() + dt.timedelta(days=70)
    for kind, table in (("settle", "pay_cycle"), ("invoice", "billing_cycle")):
        before = await db.fetchval(f"SELECT count(*) FROM {table}")
        status, result = await asyncio.to_thread(
            close_cycles,
            CloseJob(dsn, limits, kind, through, blocker / "settlement", through, "ops"),
        )
        assert status == "precondition" and "cannot be written" in str(result), result
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == before
