"""The batch write's set path (migration 0020): a batch's claims posted with one statement per
table write exactly the rows rx_post_claim writes one by one, and anything the set path does
not take, or a claim that fails in it, falls back to claim by claim with each claim's own
answer (issue 16).

Each test runs in one transaction that is rolled back: the families are the loaded data's
first ones (as the warm-up's), and nothing here is kept. Which path ran is read from
PostgreSQL's own function counters (track_functions, this transaction's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.verify import run_checks
from rx_gateway.adapters.postgres.warm_up import WARM_UP_SQL, _warm_up_claim, _warm_up_payment
from rx_gateway.bootstrap import App

DAY = dt.date(2001, 2, 3)  # no real claim is dated here


@pytest.fixture
async def tx(loaded_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction that is rolled back, counting function calls (the calls
    that returned: a call that raised is not counted)."""
    connection = await asyncpg.connect(loaded_dsn)
    await init_connection(connection)
    await connection.execute("SET track_functions = 'pl'")
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def _families(conn: asyncpg.Connection, count: int) -> list[Any]:
    rows: list[Any] = []
    after = ""
    while len(rows) < count:
        row = await conn.fetchrow(WARM_UP_SQL, after)
        assert row is not None
        rows.append(row)
        after = row["family_id"]
    return rows


async def _payload(app: App, conn: asyncpg.Connection, row: Any, rx: str, **changes: Any) -> Any:
    """A well-formed claim write for the family's member: plan, purse (when it has money) and
    member shares, a deductible move; its own key and control number."""
    request = replace(_warm_up_claim(row, DAY), prescription_reference_number=rx)
    paid = _warm_up_payment(row, request, DAY)
    paid = replace(
        paid,
        response=replace(paid.response, internal_control_number=f"SET-{rx}-{row['family_id']}"),
    )
    version = await conn.fetchval(
        "SELECT version FROM family WHERE family_id = $1", row["family_id"]
    )
    payload = app.store.claim_payload(request, paid, version)
    payload.update(changes)
    return payload


async def _batch(conn: asyncpg.Connection, items: list[tuple[str, str, Any]]) -> list[Any]:
    result: list[Any] = await conn.fetchval(
        "SELECT rx_post_batch($1, $2, $3)",
        [i[0] for i in items],
        [i[1] for i in items],
        [i[2] for i in items],
    )
    return result


async def _calls(conn: asyncpg.Connection, function: str) -> int:
    calls: int | None = await conn.fetchval(
        "SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = $1", function
    )
    return calls or 0


async def _written(conn: asyncpg.Connection, families: list[str]) -> dict[str, Any]:
    """What the claims of DAY wrote for the families, without generated identifiers."""

    async def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in await conn.fetch(sql, families, DAY))

    return {
        "claims": await rows(
            "SELECT family_id, claim_key, generation, request_hash, internal_control_number,"
            " member_id, plan_id, service_provider_id, product_id, molecule, days_supply,"
            " quantity_thousandths, reference_data_version, response::text,"
            " gross_amount_due_cents, prescriber_id, refill_override"
            " FROM claim WHERE family_id = ANY($1) AND date_of_service = $2"
        ),
        "postings": await rows(
            "SELECT c.claim_key, p.account_key, p.amount_cents FROM claim c"
            " JOIN posting p ON p.family_id = c.family_id AND p.entry_id = c.entry_id"
            " WHERE c.family_id = ANY($1) AND c.date_of_service = $2"
        ),
        "entries": await rows(
            "SELECT c.claim_key, e.kind, e.reverses_entry_id FROM claim c"
            " JOIN journal_entry e ON e.family_id = c.family_id AND e.entry_id = c.entry_id"
            " WHERE c.family_id = ANY($1) AND c.date_of_service = $2"
        ),
        "moves": await rows(
            "SELECT c.claim_key, m.level, m.subject_id, m.plan_id, m.plan_year_start, m.kind,"
            " m.amount_cents FROM claim c JOIN accumulator_move m"
            " ON m.family_id = c.family_id AND m.entry_id = c.entry_id"
            " WHERE c.family_id = ANY($1) AND c.date_of_service = $2"
        ),
        "spends": await rows(
            "SELECT c.claim_key, s.purse_id, s.date_of_service, s.paid_cents FROM claim c"
            " JOIN claim_purse_spend s ON s.family_id = c.family_id AND s.claim_id = c.claim_id"
            " WHERE c.family_id = ANY($1) AND c.date_of_service = $2"
        ),
        "audit": await rows(
            "SELECT a.family_id, a.actor, a.action, a.internal_control_number, a.outcome,"
            " a.detail::text FROM audit_log a JOIN claim c ON c.family_id = a.family_id"
            " AND c.internal_control_number = a.internal_control_number"
            " WHERE c.family_id = ANY($1) AND c.date_of_service = $2"
        ),
        "accumulators": await rows(
            "SELECT family_id, level, subject_id, plan_id, plan_year_start, kind, amount_cents"
            " FROM accumulator WHERE family_id = ANY($1) AND plan_year_start = $2"
        ),
        "purses": await rows(
            "SELECT family_id, purse_id, posted_cents FROM purse WHERE family_id = ANY($1)"
            " AND $2::date IS NOT NULL"
        ),
        "versions": await rows(
            "SELECT family_id, version FROM family WHERE family_id = ANY($1)"
            " AND $2::date IS NOT NULL"
        ),
    }


async def test_the_set_path_writes_what_rx_post_claim_writes(
    app: App, tx: asyncpg.Connection
) -> None:
    """Four claims of four families (three with a purse share) in one batch, then the same
    four one by one through rx_post_claim from the same starting state: the same rows."""
    rows = await _families(tx, 4)
    families = [r["family_id"] for r in rows]
    assert sum(1 for r in rows if r["purse_id"]) >= 2
    for row in rows:  # the accumulators of DAY exist: the upsert's update branch runs
        first = await _payload(app, tx, row, "70")
        posted = await tx.fetchval("SELECT rx_post_claim($1, $2)", row["family_id"], first)
        assert posted["outcome"] == "posted"
    payloads = []
    for row in rows:
        payload = await _payload(app, tx, row, "71")
        # two moves of one accumulator in one claim: summed, in both paths
        payload["accumulator_moves"] = payload["accumulator_moves"] * 2
        payloads.append(payload)
    before = await _calls(tx, "rx_post_claim")
    start = tx.transaction()
    await start.start()
    results = await _batch(
        tx, [("claim", r["family_id"], p) for r, p in zip(rows, payloads, strict=True)]
    )
    assert [r["outcome"] for r in results] == ["posted"] * 4
    assert len({r["claim_id"] for r in results}) == 4
    assert await _calls(tx, "rx_post_batch_set") == 1
    assert await _calls(tx, "rx_post_claim") == before  # none: the set path posted them
    by_set = await _written(tx, families)
    assert all(check.passed for check in await run_checks(tx)), await run_checks(tx)
    await start.rollback()
    for row, payload in zip(rows, payloads, strict=True):
        result = await tx.fetchval("SELECT rx_post_claim($1, $2)", row["family_id"], payload)
        assert result["outcome"] == "posted"
    assert await _written(tx, families) == by_set
    assert len(by_set["claims"]) == 8 and len(by_set["postings"]) >= 24
    assert all(row[-1] == 3 for row in by_set["accumulators"])  # 1 + 2 cents each
    assert len(by_set["spends"]) == 2 * sum(1 for r in rows if r["purse_id"])


async def test_a_failing_claim_in_the_set_path_gets_its_own_answer(
    app: App, tx: asyncpg.Connection
) -> None:
    """One batch: a good claim, one whose family moved since its read (conflict), one whose
    member is not in its family (invariant), one already stored under its key (duplicate),
    and one whose purse cannot pay. The set path gives up; each claim gets its own answer
    and only the good one is written."""
    rows = await _families(tx, 5)
    good, stale, stranger, stored, broke = rows
    already = await _payload(app, tx, stored, "72")
    assert (await tx.fetchval("SELECT rx_post_claim($1, $2)", stored["family_id"], already))[
        "outcome"
    ] == "posted"
    now = await tx.fetchval("SELECT version FROM family WHERE family_id = $1", stored["family_id"])
    assert broke["purse_id"], "the fifth family needs a purse"
    balance = await tx.fetchval(
        "SELECT posted_cents FROM purse WHERE family_id = $1 AND purse_id = $2",
        broke["family_id"],
        broke["purse_id"],
    )
    too_much = await _payload(app, tx, broke, "72")
    too_much["postings"] = [
        {"account": a["account"], "amount": a["amount"] * (balance + 1) * 2}
        for a in too_much["postings"]
    ]
    too_much["purse_moves"] = [
        {"purse_id": m["purse_id"], "amount": m["amount"] * (balance + 1) * 2}
        for m in too_much["purse_moves"]
    ]
    items = [
        ("claim", good["family_id"], await _payload(app, tx, good, "72")),
        ("claim", stale["family_id"], await _payload(app, tx, stale, "72", family_version=-1)),
        (
            "claim",
            stranger["family_id"],
            await _payload(app, tx, stranger, "72", member_id=good["member_id"]),
        ),
        ("claim", stored["family_id"], {**already, "family_version": now}),
        ("claim", broke["family_id"], too_much),
    ]
    results = await _batch(tx, items)
    assert [r["outcome"] for r in results] == [
        "posted",
        "conflict",
        "invariant",
        "duplicate",
        "conflict",
    ]
    assert "not in the family" in results[2]["message"]
    assert "purse cannot pay" in results[4]["message"]
    assert await _calls(tx, "rx_post_batch_set") == 0  # it gave up (an error is not counted)
    written = await _written(tx, [r["family_id"] for r in rows])
    assert {c[0] for c in written["claims"]} == {good["family_id"], stored["family_id"]}
    assert all(check.passed for check in await run_checks(tx))


async def test_two_claims_of_one_family_go_claim_by_claim(app: App, tx: asyncpg.Connection) -> None:
    """Two claims of one family read at the same version: the set path does not take the batch;
    the first is posted, the second finds the family changed (conflict)."""
    (row,) = await _families(tx, 1)
    items = [("claim", row["family_id"], await _payload(app, tx, row, rx)) for rx in ("73", "74")]
    results = await _batch(tx, items)
    assert [r["outcome"] for r in results] == ["posted", "conflict"]
    assert await _calls(tx, "rx_post_batch_set") == 0  # it gave up (an error is not counted)
    # together (the first's call completed, then the batch rolled back), then each alone
    assert await _calls(tx, "rx_post_claim") == 2


async def test_claims_reversals_and_audit_rows_in_one_set(app: App, tx: asyncpg.Connection) -> None:
    """A batch of two claims, the reversal of a third family's stored claim and an audit row:
    all in the set path, each answered, the ledger's invariants hold."""
    rows = await _families(tx, 3)
    stored = await _payload(app, tx, rows[2], "75")
    posted = await tx.fetchval("SELECT rx_post_claim($1, $2)", rows[2]["family_id"], stored)
    reversal = {
        "claim_id": posted["claim_id"],
        "authorization_number": "",
        "response": {**stored["response"], "transaction_response_status": "A"},
        "actor": "set-path-test",
        "audit": {"member_id": rows[2]["member_id"], "plan_id": stored["plan_id"]},
    }
    audit = {
        "actor": "set-path-test",
        "action": "B1",
        "internal_control_number": "",
        "outcome": "R",
        "detail": {"rejects": ["65"]},
    }
    items = [
        ("claim", rows[0]["family_id"], await _payload(app, tx, rows[0], "75")),
        ("reversal", rows[2]["family_id"], reversal),
        ("audit", rows[0]["family_id"], audit),
        ("claim", rows[1]["family_id"], await _payload(app, tx, rows[1], "75")),
    ]
    results = await _batch(tx, items)
    assert [r["outcome"] for r in results] == ["posted"] * 4
    assert await _calls(tx, "rx_post_batch_set") == 1
    assert await _calls(tx, "rx_post_claim") == 1  # the stored claim's, before the batch
    assert await tx.fetchval(
        "SELECT count(*) FROM claim_reversal WHERE family_id = $1 AND claim_id = $2",
        rows[2]["family_id"],
        posted["claim_id"],
    )
    assert await tx.fetchval(
        "SELECT count(*) FROM audit_log WHERE actor = 'set-path-test' AND outcome = 'R'"
    )
    assert all(check.passed for check in await run_checks(tx))


async def test_one_claim_goes_claim_by_claim(app: App, tx: asyncpg.Connection) -> None:
    """A batch holding one claim (and audit rows) costs less claim by claim: no set path."""
    (row,) = await _families(tx, 1)
    payload = await _payload(app, tx, row, "76")
    results = await _batch(tx, [("claim", row["family_id"], payload)])
    assert [r["outcome"] for r in results] == ["posted"]
    assert await _calls(tx, "rx_post_batch_set") == 0
    assert await _calls(tx, "rx_post_claim") == 1


async def test_the_set_paths_own_checks_find_a_stale_family_and_an_empty_purse(
    app: App, tx: asyncpg.Connection
) -> None:
    """Batches the set path takes to its end of checks (nothing it leaves to the claim-by-claim
    path): a family changed since its read, then a purse that cannot pay. Its own checks find
    them; the batch goes claim by claim and each claim gets its own answer."""
    rows = await _families(tx, 6)
    broke = next(r for r in rows if r["purse_id"])  # a family whose purse has money
    good, stale, other = [r for r in rows if r is not broke][:3]
    results = await _batch(
        tx,
        [
            ("claim", good["family_id"], await _payload(app, tx, good, "77")),
            ("claim", stale["family_id"], await _payload(app, tx, stale, "77", family_version=-1)),
        ],
    )
    assert [r["outcome"] for r in results] == ["posted", "conflict"]
    assert "family state changed" in results[1]["message"]
    balance = await tx.fetchval(
        "SELECT posted_cents FROM purse WHERE family_id = $1 AND purse_id = $2",
        broke["family_id"],
        broke["purse_id"],
    )
    too_much = await _payload(app, tx, broke, "78")
    factor = (balance + 1) * 2
    too_much["postings"] = [
        {"account": a["account"], "amount": a["amount"] * factor} for a in too_much["postings"]
    ]
    too_much["purse_moves"] = [
        {"purse_id": m["purse_id"], "amount": m["amount"] * factor} for m in too_much["purse_moves"]
    ]
    results = await _batch(
        tx,
        [
            ("claim", other["family_id"], await _payload(app, tx, other, "78")),
            ("claim", broke["family_id"], too_much),
        ],
    )
    assert [r["outcome"] for r in results] == ["posted", "conflict"]
    assert "purse cannot pay" in results[1]["message"]
    assert balance == await tx.fetchval(
        "SELECT posted_cents FROM purse WHERE family_id = $1 AND purse_id = $2",
        broke["family_id"],
        broke["purse_id"],
    )
    assert all(check.passed for check in await run_checks(tx))


async def test_a_claim_the_set_path_posted_reverses(app: App, tx: asyncpg.Connection) -> None:
    """A claim posted by the set path is reversed by rx_post_reversal like any other: the
    mirror entry balances, purse and accumulators come back, the ledger's invariants hold."""
    rows = await _families(tx, 2)
    payloads = [await _payload(app, tx, r, "79") for r in rows]
    results = await _batch(
        tx, [("claim", r["family_id"], p) for r, p in zip(rows, payloads, strict=True)]
    )
    assert await _calls(tx, "rx_post_batch_set") == 1
    row, payload = rows[0], payloads[0]
    reversal = {
        "claim_id": results[0]["claim_id"],
        "authorization_number": "",
        "response": {**payload["response"], "transaction_response_status": "A"},
        "actor": "set-path-test",
        "audit": {"member_id": row["member_id"], "plan_id": payload["plan_id"]},
    }
    reversed_ = await tx.fetchval("SELECT rx_post_reversal($1, $2)", row["family_id"], reversal)
    assert reversed_["outcome"] == "posted"
    assert all(check.passed for check in await run_checks(tx))


async def test_a_batch_item_without_a_kind_is_refused(app: App, tx: asyncpg.Connection) -> None:
    """A NULL kind beside two good claims: the set path does not take the batch; claim by claim
    the item is refused (invariant) and the claims are posted."""
    rows = await _families(tx, 2)
    results: list[Any] = await tx.fetchval(
        "SELECT rx_post_batch($1, $2, $3)",
        ["claim", None, "claim"],
        [rows[0]["family_id"], rows[0]["family_id"], rows[1]["family_id"]],
        [await _payload(app, tx, rows[0], "80"), {}, await _payload(app, tx, rows[1], "80")],
    )
    assert [r["outcome"] for r in results] == ["posted", "invariant", "posted"]
