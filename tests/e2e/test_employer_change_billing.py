"""An 834 that moves a family to another employer does not move its billing history (found in
review): a claim is billed to the employer the family had when the claim was written, its
reversal too; claims after the change go to the new employer."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

from rx_gateway.adapters.files.settlement_files import DirectoryFiles
from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.bootstrap import build_app
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.service_layer import settlement
from tests.e2e.test_enroll import _card, _enroll
from tests.support import TEST_SETTINGS, generic_fill
from tests.support_834 import coverage, interchange, member

COMMERCIAL = "COMM-HRA-2026"
CARD, MEMBER_ID = "E834W0001", "E834W1"


def _week_end() -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    return today + dt.timedelta(days=(6 - today.weekday()) % 7)


async def test_a_family_that_changes_employer_keeps_its_billing_history(
    fresh_loaded_database: Any, fixtures: dict[str, Any], tmp_path: Path
) -> None:
    dsn = await fresh_loaded_database()
    first = interchange(
        member(CARD, member_id=MEMBER_ID, group="EMP2-FT",
               lines=coverage(COMMERCIAL, begin="20260101", end="20260630")),
        sender="E834WEMP2", sponsor="EMP2", control=61,
    )  # fmt: skip
    second = interchange(
        member(CARD, member_id=MEMBER_ID, group="EMP3-FT",
               lines=coverage(COMMERCIAL, begin="20260701", group="EMP3-FT")),
        sender="E834WEMP3", sponsor="EMP3", control=62,
    )  # fmt: skip
    assert (await _enroll(dsn, first)).applied
    app = await build_app(replace(TEST_SETTINGS), dsn)
    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            march = generic_fill(
                fixtures, _card(CARD, COMMERCIAL, "EMP2-FT"), 88_000_001, "20260310"
            )
            april = generic_fill(
                fixtures, _card(CARD, COMMERCIAL, "EMP2-FT"), 88_000_002, "20260410"
            )
            for request in (march, april):
                assert (await client.submit(request)).transaction_response_status == "P"
            assert (await _enroll(dsn, second)).applied  # the family is EMP3's from now on
            august = generic_fill(
                fixtures, _card(CARD, COMMERCIAL, "EMP3-FT"), 88_000_003, "20260810"
            )
            assert (await client.submit(august)).transaction_response_status == "P"
            # an EMP2-era claim reversed after the move: the credit is EMP2's
            assert (await client.reverse(reversal_for(april))).transaction_response_status == "A"
    finally:
        await app.stop()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    try:
        plans = list((await PostgresReferenceLoader(pool).load_snapshot()).plans.values())
        await settlement.invoice(
            PostgresSettlement(pool), DirectoryFiles(tmp_path), plans, _week_end()
        )
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT c.date_of_service, i.kind, i.sponsor_id FROM invoice_item i"
                " JOIN claim c ON c.family_id = i.family_id AND c.claim_id = i.claim_id"
                " JOIN member m ON m.family_id = c.family_id AND m.member_id = c.member_id"
                " WHERE m.cardholder_id = $1 AND i.plan_sponsor ORDER BY c.date_of_service, i.kind",
                CARD,
            )
            changes = await conn.fetch(
                "SELECT employer_before, employer_after FROM family_employer_change ch"
                " JOIN member m ON m.family_id = ch.family_id WHERE m.cardholder_id = $1",
                CARD,
            )
        finally:
            await conn.close()
    finally:
        await pool.close()
    assert [(r[0].isoformat(), r[1], r[2]) for r in rows] == [
        ("2026-03-10", "paid", "EMP2"),
        ("2026-04-10", "paid", "EMP2"),
        ("2026-04-10", "reversal", "EMP2"),
        ("2026-08-10", "paid", "EMP3"),
    ]
    assert [(r[0], r[1]) for r in changes] == [("EMP2", "EMP3")]
