"""Settlement checked by hand and attacked (a review's hunt), on a database of its own.

First every amount of the 835s and invoices is recomputed here from the claims' stored
responses (not with the domain's code), with the ledger entries of the close; then the doors
are pushed: two closes at once, payment references, dates far away, amounts at the edge.
Each was a bug when the hunt found it; all are fixed."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import orjson
import pytest

from rx_gateway.adapters.files.loader import read_table
from rx_gateway.adapters.files.settlement_files import DirectoryFiles
from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.adapters.postgres.verify import run_checks
from rx_gateway.bootstrap import App, build_app
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.domain.errors import ReferenceDataError, RxGatewayError
from rx_gateway.domain.reference import Plan
from rx_gateway.domain.settlement.invoices import Receipt
from rx_gateway.domain.settlement.parties import Payee, Payer
from rx_gateway.domain.settlement.reconciliation import BankLine, Direction, ExceptionKind
from rx_gateway.domain.settlement.remittance import (
    LineKind,
    MemberShare,
    Patient,
    RemittanceLine,
    remit,
)
from rx_gateway.service_layer import settlement
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import admin_pb2 as admin_pb
from rx_gateway.v1 import admin_pb2_grpc
from rx_gateway.x12.envelope import Envelope
from rx_gateway.x12.remittance_835 import IMPLEMENTATION, render_835
from tests.support import ADMIN_TOKEN, BUSINESS_DATE, TEST_SETTINGS
from tests.support_x12 import x12_errors

TODAY = dt.datetime.now(dt.UTC).date()
WEEK_END = TODAY + dt.timedelta(days=(6 - TODAY.weekday()) % 7)  # weekly periods end Sunday
_rx = iter(range(880_000, 10**9))

# 505-F5's parts in the order the purse pays them, with their CARC (README's CAS*PR table)
PR_PARTS = (
    ("1", ("amount_applied_to_periodic_deductible_cents",)),
    ("2", ("amount_of_coinsurance_cents",)),
    ("3", ("amount_of_copay_cents",)),
    ("119", ("amount_exceeding_periodic_benefit_maximum_cents",)),
    ("279", ("amount_attributed_to_provider_network_selection_cents",)),
    ("45", ("amount_attributed_to_product_selection_brand_cents",)),
    (
        "144",
        (
            "amount_attributed_to_non_preferred_formulary_cents",
            "amount_attributed_to_brand_non_preferred_formulary_cents",
        ),
    ),
    ("137", ("amount_attributed_to_sales_tax_cents",)),  # 523-FN, where the response has it
)


@pytest.fixture(scope="module")
async def dsn(fresh_loaded_database: Any) -> str:
    value: str = await fresh_loaded_database()
    return value


@pytest.fixture(scope="module")
async def gateway(
    dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[App, GatewayClient]]:
    settings = replace(TEST_SETTINGS, settlement_dir=tmp_path_factory.mktemp("hunt-settlement"))
    application = await build_app(settings, dsn)
    async with GatewayClient(f"127.0.0.1:{application.port}") as gateway_client:
        yield application, gateway_client
    await application.stop()


async def _store_on(dsn: str) -> tuple[asyncpg.Pool, PostgresSettlement, list[Plan]]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=init_connection)
    snapshot = await PostgresReferenceLoader(pool).load_snapshot()
    return pool, PostgresSettlement(pool), list(snapshot.plans.values())


@pytest.fixture(scope="module")
async def store(dsn: str) -> AsyncIterator[tuple[PostgresSettlement, list[Plan]]]:
    pool, pg, plans = await _store_on(dsn)
    yield pg, plans
    await pool.close()


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


def _claim(fixtures: dict[str, Any], member: str, drug: str, pharmacy: str) -> Any:
    person = fixtures["members"][member]
    person = person[0] if isinstance(person, list) else person
    return claim_request(
        fixtures,
        person,
        fixtures["drugs"][drug],
        pharmacy=fixtures["pharmacies"][pharmacy],
        rx_number=next(_rx),
        date_of_service=f"{BUSINESS_DATE:%Y%m%d}",
    )


def _cents(text: str) -> int:
    """An X12 decimal element as cents."""
    sign = -1 if text.startswith("-") else 1
    whole, _, part = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((part + "00")[:2]))


def _segments(x12: str) -> list[list[str]]:
    return [s.split("*") for s in x12.replace("\n", "").split("~") if s]


def _expected_adjustments(pricing: dict[str, Any], gross: int, sign: int) -> Counter[tuple]:
    """CO 45 and the PR parts left after the purse, recomputed from the stored response."""
    paid = int(pricing["total_amount_paid_cents"])
    patient = int(pricing["patient_pay_amount_cents"])
    out: Counter[tuple] = Counter()
    if gross - paid - patient:
        out[("CO", "45", sign * (gross - paid - patient))] += 1
    purse = -int(pricing.get("health_plan_funded_assistance_amount_cents") or 0)
    for reason, fields in PR_PARTS:
        part = sum(int(pricing.get(f) or 0) for f in fields)
        taken = min(part, purse)
        purse -= taken
        if part - taken:
            out[("PR", reason, sign * (part - taken))] += 1
    assert purse == 0
    return out


async def test_every_amount_of_the_835s_and_invoices_is_what_the_claims_say(
    gateway: Any, store: Any, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """Claims of each plan (copays, a deductible, an HRA split, Part D) and a reversal: every
    CLP, SVC and CAS of every 835 is recomputed from `SELECT response FROM claim`; BPR02 is
    the claims less the plans' fees; the close's entry moves each store's payable to the
    payee's clearing account and the fee to income; every invoice line is the plan paid
    (to the plan's sponsor), the purse spending (to the purse's funder) and the admin fee;
    and verify holds."""
    _, client = gateway
    requests = [
        _claim(fixtures, "commercial_single", "generic", "preferred"),
        _claim(fixtures, "commercial_single", "preferred_brand", "standard"),
        _claim(fixtures, "commercial_family_head", "multi_source_brand", "preferred"),
        _claim(fixtures, "hdhp_single", "generic_copay", "standard"),
        _claim(fixtures, "part_d", "insulin", "mail"),
        _claim(fixtures, "commercial_wellness", "preferred_brand", "preferred"),
    ]
    replies = [await client.submit(r) for r in requests]
    paid = [
        q for q, r in zip(requests, replies, strict=True) if r.transaction_response_status == "P"
    ]
    assert len(paid) >= 5, [(r.transaction_response_status, r.message) for r in replies]
    assert (await client.reverse(reversal_for(paid[0]))).transaction_response_status == "A"
    pg, plans = store
    closed = await settlement.settle(pg, DirectoryFiles(tmp_path), plans, WEEK_END)
    remittances = [r for c in closed for r in c.remittances]
    assert remittances and all(c.closed_now for c in closed if c.remittances)
    fees = {r["plan_id"]: int(r["fee"] or 0) for r in await db.fetch(
        "SELECT plan_id, document->'pharmacy_payment'->>'transaction_fee_cents' AS fee FROM plan"
    )}  # fmt: skip
    claims = {
        r["internal_control_number"]: r
        for r in await db.fetch(
            "SELECT internal_control_number, plan_id, service_provider_id,"
            " gross_amount_due_cents, response FROM claim"
        )
    }
    lines_seen = 0
    for remittance in remittances:
        assert x12_errors(remittance.x12) == []
        claims_total = fee = 0
        by_store: Counter[str] = Counter()
        adjustments: Counter[tuple] = Counter()
        expected: Counter[tuple] = Counter()
        for segment in _segments(remittance.x12):
            if segment[0] == "CLP":
                reversal = segment[2] == "22"
                sign = -1 if reversal else 1
                claim = claims[segment[7].removesuffix("R") if reversal else segment[7]]
                pricing = orjson.loads(claim["response"])["pricing"]
                gross = claim["gross_amount_due_cents"]
                assert _cents(segment[3]) == sign * gross  # CLP03 = 430-DU
                assert _cents(segment[4]) == sign * int(pricing["total_amount_paid_cents"])
                assert _cents(segment[5]) == sign * int(pricing["patient_pay_amount_cents"])
                expected += _expected_adjustments(pricing, gross, sign)
                claims_total += _cents(segment[4])
                by_store[claim["service_provider_id"]] += _cents(segment[4])
                fee += fees[claim["plan_id"]]
                lines_seen += 1
            elif segment[0] == "CAS":
                for i in range(2, len(segment), 3):
                    adjustments[(segment[1], segment[i], _cents(segment[i + 1]))] += 1
            elif segment[0] == "BPR":
                payment = _cents(segment[2])
        assert adjustments == expected, remittance.payee_id
        assert (remittance.claims_paid_cents, remittance.fee_cents) == (claims_total, fee)
        assert payment == max(0, claims_total - fee) == remittance.payment_cents
        postings = {
            r["account_key"]: r["amount_cents"]
            for r in await db.fetch(
                "SELECT p.account_key, p.amount_cents FROM remittance m JOIN settlement_posting p"
                " ON p.entry_id = m.entry_id WHERE m.cycle_id = $1 AND m.payee_id = $2",
                remittance.cycle_id,
                remittance.payee_id,
            )
        }
        wanted = {f"pharmacy_payable:{npi}": -paid for npi, paid in by_store.items() if paid}
        wanted |= {"fee_income:transaction": fee, f"remittance_clearing:{remittance.payee_id}":
                   remittance.payment_cents}  # fmt: skip
        assert postings == {k: v for k, v in wanted.items() if v}
    assert lines_seen == len(paid) + 1  # every paid claim and the reversal, once

    closed_invoices = await settlement.invoice(pg, DirectoryFiles(tmp_path), plans, WEEK_END)
    invoices = [i for c in closed_invoices for i in c.invoices]
    rows = await db.fetch(
        """
        SELECT i.invoice_id, i.sponsor_id, i.kind, i.plan_paid_cents, i.purse_paid_cents,
               i.admin_fee_cents, (c.response->'pricing'->>'plan_paid_cents')::bigint AS plan,
               CASE WHEN p.document->>'sponsor_id' IS NULL
                         OR p.document->>'sponsor_id' = 'employer'
                    THEN f.employer_id ELSE p.document->>'sponsor_id' END AS plan_sponsor,
               coalesce((SELECT sum(s.paid_cents) FROM claim_purse_spend s JOIN purse u
                         ON u.family_id = s.family_id AND u.purse_id = s.purse_id
                         WHERE s.family_id = c.family_id AND s.claim_id = c.claim_id
                         AND u.employer_id = i.sponsor_id), 0)::bigint AS purse,
               sp.admin_fee_cents AS fee
        FROM invoice_item i
        JOIN claim c ON c.family_id = i.family_id AND c.claim_id = i.claim_id
        JOIN family f ON f.family_id = c.family_id
        JOIN plan p ON p.plan_id = c.plan_id
        JOIN sponsor sp ON sp.sponsor_id = i.sponsor_id
        """
    )
    assert rows
    for row in rows:
        sign = -1 if row["kind"] == "reversal" else 1
        ours = row["plan_sponsor"] == row["sponsor_id"]
        assert row["plan_paid_cents"] == (sign * row["plan"] if ours else 0), dict(row)
        assert row["purse_paid_cents"] == sign * row["purse"], dict(row)
        assert row["admin_fee_cents"] == (sign * row["fee"] if ours else 0), dict(row)
    for inv in invoices:
        mine = [r for r in rows if r["invoice_id"] == inv.invoice_id]
        total = sum(
            r["plan_paid_cents"] + r["purse_paid_cents"] + r["admin_fee_cents"] for r in mine
        )
        assert inv.total_cents == total and inv.csv.strip().splitlines()[-1].endswith(f",{total}")
    # the next test needs a pre-funded sponsor's invoice
    prefunded = await db.fetchval(
        "SELECT count(*) FROM invoice v JOIN sponsor s USING (sponsor_id)"
        " WHERE s.funding_model = 'prefunded' AND v.total_cents > 0"
    )
    assert prefunded >= 1
    assert [r.name for r in await run_checks(db) if not r.passed] == []


async def test_a_deposit_pays_a_prefunded_sponsors_invoices(
    store: Any, db: asyncpg.Connection
) -> None:
    pg, plans = store
    invoice = await db.fetchrow(
        "SELECT v.invoice_id, v.sponsor_id, v.total_cents, v.due_on FROM invoice v"
        " JOIN sponsor s USING (sponsor_id) WHERE s.funding_model = 'prefunded'"
        " AND v.total_cents > 0 ORDER BY v.invoice_id LIMIT 1"
    )
    deposit = Receipt(invoice["sponsor_id"], "", 10 * invoice["total_cents"], TODAY, "HUNT-DEP")
    await pg.record_receipts("deposit.csv", "hunt-deposit", [(2, deposit)])
    later = invoice["due_on"] + dt.timedelta(days=30)
    _, matches, problems = await pg.reconcile(
        "bank.csv",
        "hunt-deposit-bank",
        (BankLine(2, Direction.IN, "HUNT-DEP", deposit.amount_cents, TODAY),),
        as_of=later,
        unconfirmed_after_days=365,
    )
    assert len(matches) == 1
    balances = await pg.sponsor_balances(later, {p.plan_id: p.sponsor_id for p in plans})
    mine = next(b for b in balances if b.sponsor_id == invoice["sponsor_id"])
    assert mine.deposit_cents > 0
    past_due = [p.reference for p in problems if p.kind is ExceptionKind.INVOICE_PAST_DUE]
    assert (invoice["invoice_id"] not in past_due, mine.overdue_cents) == (True, 0)


TAMPER_NOT_SEEN: tuple[Any, ...] = ()  # fixed (was a known bug)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("purse", marks=TAMPER_NOT_SEEN, id="purse-billed-that-was-never-spent"),
        pytest.param("plan", marks=TAMPER_NOT_SEEN, id="plan-paid-left-off-a-line"),
    ],
)
async def test_verify_names_an_invoice_line_that_is_not_what_its_claim_cost(
    db: asyncpg.Connection, change: str
) -> None:
    """Written in a rolled-back transaction with the append-only triggers off, as a hand edit
    or a broken migration would: the line, its invoice's totals and its entry, all consistent
    with each other, but not with the claim."""
    column, account = (
        ("purse_paid_cents", "employer_funding:")
        if change == "purse"
        else ("plan_paid_cents", "plan:")
    )
    line = await db.fetchrow(
        f"SELECT i.family_id, i.claim_id, i.kind, i.sponsor_id, i.invoice_id, i.{column} AS amount,"
        " c.plan_id, v.entry_id FROM invoice_item i JOIN invoice v USING (invoice_id)"
        " JOIN claim c ON c.family_id = i.family_id AND c.claim_id = i.claim_id"
        f" WHERE i.{column} > 0 AND i.kind = 'paid' AND v.total_cents <> i.{column}"
        " AND coalesce((SELECT p.amount_cents FROM settlement_posting p WHERE p.entry_id ="
        f" v.entry_id AND p.account_key = '{account}' || CASE WHEN '{account}' = 'plan:'"
        f" THEN c.plan_id ELSE i.sponsor_id END), 0) <> i.{column}"
        f" ORDER BY i.{column} LIMIT 1"
    )
    assert line is not None
    # purse: bill 100 more than was spent; plan: leave the plan's cost off the line
    delta = 100 if change == "purse" else -line["amount"]
    key = account + (line["sponsor_id"] if change == "purse" else line["plan_id"])
    transaction = db.transaction()
    await transaction.start()
    try:
        for table in ("invoice_item", "invoice", "settlement_posting"):
            await db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await db.execute(
            f"UPDATE invoice_item SET {column} = {column} + $1 WHERE family_id = $2"
            " AND claim_id = $3 AND kind = $4 AND sponsor_id = $5",
            delta, line["family_id"], line["claim_id"], line["kind"], line["sponsor_id"],
        )  # fmt: skip
        await db.execute(
            f"UPDATE invoice SET {column} = {column} + $1, total_cents = total_cents + $1"
            " WHERE invoice_id = $2",
            delta,
            line["invoice_id"],
        )
        for account_key, amount in (
            (key, delta),
            (f"sponsor_receivable:{line['sponsor_id']}", -delta),
        ):
            await db.execute(
                "INSERT INTO settlement_posting (entry_id, account_key, amount_cents)"
                " VALUES ($1, $2, $3) ON CONFLICT (entry_id, account_key)"
                " DO UPDATE SET amount_cents = settlement_posting.amount_cents + $3",
                line["entry_id"], account_key, amount,
            )  # fmt: skip
        failed = [r.name for r in await run_checks(db) if not r.passed]
    finally:
        await transaction.rollback()
    assert any("invoice" in name for name in failed), failed


async def test_two_settle_processes_at_once_close_each_cycle_once(
    gateway: Any, dsn: str, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """`rx-gateway settle` started twice at the same moment: one closes the cycle, the other
    waits for it and answers `already closed`; the files are the same; each claim is in one
    remittance; verify holds."""
    _, client = gateway
    for member, drug in (("commercial_child", "generic"), ("hdhp_family", "generic")):
        assert (
            await client.submit(_claim(fixtures, member, drug, "standard"))
        ).transaction_response_status == "P"
    through = f"{WEEK_END + dt.timedelta(days=7)}"
    env = {k: v for k, v in os.environ.items() if k != "RX_GATEWAY_LOG_LEVEL"}
    env["RX_GATEWAY_DATABASE_URL"] = dsn
    env["RX_GATEWAY_BUSINESS_DATE"] = through  # next week, as the tests walk through weeks

    async def settle(out: Path) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rx_gateway", "settle", "--through", through, "--out", str(out),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        return process.returncode or 0, stdout.decode(), stderr.decode()

    results = await asyncio.gather(settle(tmp_path / "a"), settle(tmp_path / "b"))
    assert [r[0] for r in results] == [0, 0], results
    heads = sorted(r[1].splitlines()[0].split(": ", 1)[1].split(",")[0] for r in results)
    assert heads == ["already closed (files written again)", "closed"], results
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.835"))
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.835"))
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    twice = await db.fetchval(
        "SELECT count(*) FROM claim c WHERE (SELECT count(*) FROM remittance_item r"
        " WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id AND r.kind = 'paid') <> 1"
    )
    assert twice == 0
    assert [r.name for r in await run_checks(db) if not r.passed] == []


async def test_a_payment_reference_names_one_payment_whoever_sent_it(
    fresh_loaded_database: Any,
) -> None:
    """The bank's confirmation carries only the reference: a second sponsor's payment under a
    reference already used is refused (naming its line), and nothing of the file is recorded;
    under references of their own the two reconcile apart, and verify holds."""
    own = await fresh_loaded_database()
    pool, pg, _ = await _store_on(own)
    try:
        shared = [
            (2, Receipt("EMP1", "", 1_000, TODAY, "WIRE-77")),
            (3, Receipt("EMP3", "", 5_000, TODAY, "WIRE-77")),
        ]
        with pytest.raises(ReferenceDataError, match=r"payments\.csv:3: field 'reference'"):
            await pg.record_receipts("payments.csv", "hunt-shared-1", shared)
        receipts = [
            (2, Receipt("EMP1", "", 1_000, TODAY, "WIRE-77")),
            (3, Receipt("EMP3", "", 5_000, TODAY, "WIRE-78")),
        ]
        await pg.record_receipts("payments.csv", "hunt-shared-2", receipts)
        with pytest.raises(ReferenceDataError, match="already names a payment of EMP1"):
            await pg.record_receipts(
                "later.csv", "hunt-shared-3", [(2, Receipt("EMP3", "", 9, TODAY, "WIRE-77"))]
            )
        lines = (
            BankLine(2, Direction.IN, "WIRE-78", 5_000, TODAY),
            BankLine(3, Direction.IN, "WIRE-77", 1_000, TODAY),
        )
        _, matched, problems = await pg.reconcile(
            "bank.csv", "hunt-shared-4", lines, as_of=TODAY, unconfirmed_after_days=21
        )
        async with pool.acquire() as conn:
            failed = [r.name for r in await run_checks(conn) if not r.passed]
        assert (len(matched), problems, failed) == (2, (), [])
    finally:
        await pool.close()


async def test_a_through_date_before_the_last_close_closes_no_new_cycle(
    store: Any, db: asyncpg.Connection, tmp_path: Path
) -> None:
    pg, plans = store
    before = await db.fetchval("SELECT count(*) FROM pay_cycle")
    closed = await settlement.settle(pg, DirectoryFiles(tmp_path), plans, dt.date(2001, 1, 7))
    assert (await db.fetchval("SELECT count(*) FROM pay_cycle"), closed) == (before, [])


async def test_dates_at_the_ends_of_the_calendar_are_refused_never_internal(
    gateway: Any, store: Any, tmp_path: Path
) -> None:
    application, _ = gateway
    codes = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
        for through in ("00010101", "99991231"):
            for call in (stub.Settle, stub.Invoice):
                try:
                    await call(admin_pb.CloseCyclesRequest(through=through), metadata=auth)
                    codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as error:
                    codes.append(error.code())
        try:
            await stub.GetBalances(admin_pb.BalancesRequest(as_of="99991231"), metadata=auth)
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as error:
            codes.append(error.code())
    assert not {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN} & set(codes), codes
    pg, plans = store
    with pytest.raises(RxGatewayError):
        await settlement.settle(pg, DirectoryFiles(tmp_path), plans, dt.date(9999, 12, 31))


async def test_a_family_whose_employer_is_no_sponsor_is_named_by_verify(
    gateway: Any, store: Any, db: asyncpg.Connection, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """The loader makes every employer a sponsor; a family moved to an employer that is not
    one (here by hand) could never be billed: verify names it."""
    _, client = gateway
    request = _claim(fixtures, "commercial_woman", "generic", "preferred")
    person = fixtures["members"]["commercial_woman"]
    employer = await db.fetchval(
        "SELECT employer_id FROM family WHERE family_id = $1", person["family_id"]
    )
    await db.execute(
        "UPDATE family SET employer_id = 'EMP-NOT-A-SPONSOR' WHERE family_id = $1",
        person["family_id"],
    )
    try:
        reply = await client.submit(request)
        assert reply.transaction_response_status == "P"
        failed = {r.name: r.problems for r in await run_checks(db) if not r.passed}
        assert failed == {
            "every employer and purse funder is a sponsor (nothing goes unbilled)": (
                "employer EMP-NOT-A-SPONSOR is no sponsor",
            )
        }
    finally:
        await db.execute(
            "UPDATE family SET employer_id = $2 WHERE family_id = $1",
            person["family_id"],
            employer,
        )


async def test_a_through_date_decades_ahead_does_not_schedule_todays_claims_decades_ahead(
    gateway: Any, store: Any, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    _, client = gateway
    request = _claim(fixtures, "commercial_family_head", "generic", "preferred")
    assert (await client.submit(request)).transaction_response_status == "P"
    pg, plans = store
    typo = WEEK_END.replace(year=WEEK_END.year + 73)
    try:
        closed = await settlement.settle(pg, DirectoryFiles(tmp_path), plans, typo)
    except RxGatewayError:
        return  # refused: what it should do
    pay_dates = [r.pay_date for c in closed for r in c.remittances]
    assert pay_dates and max(pay_dates) <= TODAY + dt.timedelta(days=60), pay_dates


async def test_a_receipt_at_the_top_of_bigint_is_refused_or_harmless(
    store: Any, db: asyncpg.Connection
) -> None:
    """Last in the module: when the bug is present it leaves the database unreadable."""
    pg, plans = store
    invoice = await db.fetchrow("SELECT invoice_id, sponsor_id FROM invoice ORDER BY 1 LIMIT 1")
    receipts = [
        (2, Receipt(invoice["sponsor_id"], invoice["invoice_id"], 1, TODAY, "HUNT-HUGE-1")),
        (3, Receipt(invoice["sponsor_id"], invoice["invoice_id"], 2**63 - 1, TODAY, "HUNT-HUGE-2")),
    ]
    try:
        await pg.record_receipts("huge.csv", "hunt-huge", receipts)
    except ReferenceDataError:
        return  # refused, naming the line: what it should do
    await pg.sponsor_balances(TODAY, {p.plan_id: p.sponsor_id for p in plans})


def test_payee_ids_with_a_dot_get_files_of_their_own(tmp_path: Path) -> None:
    files = DirectoryFiles(tmp_path)
    paths = [
        *files.remittance("PAY-7D-SUN-3-20261206", "CHAIN.A", "835 of A", "{}"),
        *files.remittance("PAY-7D-SUN-3-20261206", "CHAIN.B", "835 of B", "{}"),
        *files.remittance("PAY-7D-SUN-3-20261206", ".", "835 of dot", "{}"),
    ]
    assert len(set(paths)) == 6
    assert all(p.parent.name == "remittance" for p in paths)
    assert sorted(p.read_text() for p in paths if p.suffix == ".835") == [
        "835 of A",
        "835 of B",
        "835 of dot",
    ]


def test_a_pharmacy_npi_holding_x12_delimiters_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "pharmacies.csv"
    path.write_text("npi,name,network,kind\n14958*018~0:^,Pharmacy,preferred,mail\n")
    with pytest.raises(ReferenceDataError, match="npi"):
        read_table(path)


def _one_line_835(payee: Payee, patient: Patient) -> str:
    day = dt.date(2026, 12, 6)
    line = RemittanceLine(
        kind=LineKind.PAID,
        internal_control_number="5F1E8DBDA4FC12AE36AFA73A",
        prescription_reference_number="000000100000",
        fill_number=0,
        service_provider_id=payee.npi,
        product_id="23452984779",
        date_of_service=day,
        quantity_thousandths=30_000,
        gross_amount_due_cents=33_673,
        total_amount_paid_cents=2_829,
        share=MemberShare(),
        plan_id="COMM-HRA-2026",
        line_of_business="COMMERCIAL",
        patient=patient,
    )
    remittance = remit("PAY-7D-SUN-3-20261206", payee.payee_id, day, (line,), fee_cents=25,
                       carried_in_cents=0)  # fmt: skip
    payer = Payer("RX GATEWAY PLAN", "1 MAIN ST", "AUSTIN", "TX", "78701", "987654321",
                  "EDI SUPPORT", "8005550100", "RXGW")  # fmt: skip
    envelope = Envelope("RXGW", payee.npi, dt.datetime(2026, 12, 1, 4, 28, tzinfo=dt.UTC),
                        1, 1, "HP", IMPLEMENTATION)  # fmt: skip
    return render_835(remittance, payer, payee, envelope, "RXGW000000001")


def test_names_with_delimiters_or_accents_still_make_a_valid_835() -> None:
    """What text() can clean, it cleans: delimiters in a payee or patient name become spaces
    and the file stays valid."""
    payee = Payee("1110310000", "Chain*A~Pay:^", npi="1110310000")
    x12 = _one_line_835(payee, Patient("Nunez*~", "Jose^", "RXG646025021"))
    assert x12_errors(x12) == []
    assert "N1*PE*Chain A Pay*XX*1110310000~" in x12


def test_a_payee_named_in_another_script_still_makes_a_valid_835() -> None:
    payee = Payee("1788810190", "薬局", npi="1788810190")
    assert x12_errors(_one_line_835(payee, Patient("Lowe", "Ava", "RXG646025021"))) == []
