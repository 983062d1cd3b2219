"""Loading files: a bad file names the file, line and field, and changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.files.loader import read_dataset
from rx_gateway.bootstrap import Database
from rx_gateway.domain.errors import ReferenceDataError


def test_bad_csv_row_names_file_line_and_field(tmp_path: Path) -> None:
    """A non-numeric price on line 3 is reported as drugs.csv:3 awp_unit_price_millicents."""
    (tmp_path / "drugs.csv").write_text(
        "ndc,name,molecule,drug_group,is_brand,generic_ndc,is_specialty,awp_unit_price_millicents,"
        "wac_unit_price_millicents,nadac_unit_price_millicents,mac_unit_price_millicents\n"
        "00000000001,a,m,g,false,,false,100,,,\n"
        "00000000002,b,m,g,true,,false,lots,,,\n"
    )
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(tmp_path)
    assert (caught.value.line, caught.value.field) == (3, "awp_unit_price_millicents")
    assert "drugs.csv" in caught.value.file


def test_bad_plan_field_is_named(tmp_path: Path, dataset: tuple[Path, dict[str, Any]]) -> None:
    """A coinsurance over 100% in a plan file names the JSON path and its line."""
    (tmp_path / "plans").mkdir()
    text = (
        (dataset[0] / "plans" / "HDHP-2026.json")
        .read_text()
        .replace('"coinsurance_bp": 4000', '"coinsurance_bp": 40000')
    )
    (tmp_path / "plans" / "HDHP-2026.json").write_text(text)
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(tmp_path)
    assert caught.value.field == "tiers.3.coinsurance_bp"
    assert caught.value.line > 1


def test_unknown_reference_is_rejected(tmp_path: Path) -> None:
    """A funding row for a purse that exists nowhere is refused with its line."""
    (tmp_path / "funding.csv").write_text("funding_id,purse_id,amount_cents,memo\nF1,NOPE,100,x\n")
    with pytest.raises(ReferenceDataError, match=r"funding.csv:2: field 'purse_id'"):
        read_dataset(tmp_path)


async def test_failed_load_changes_nothing(
    fresh_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A later file failing validation leaves the database exactly as it was."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    shutil.copytree(dataset[0], tmp_path / "data")
    bad = tmp_path / "data" / "prior_authorizations.csv"
    bad.write_text(bad.read_text() + "PA-9,M000001,,,2026-01-01,not-a-date\n")
    with pytest.raises(ReferenceDataError, match="end_date"):
        await database.load(tmp_path / "data")
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM member") == 0
        assert await conn.fetchval("SELECT count(*) FROM posting") == 0
    finally:
        await conn.close()


async def test_repeated_load_funds_once(
    fresh_database: Any, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """Funding rows carry an ID: loading the same files twice does not double the HRA."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    first = await database.load(dataset[0])
    second = await database.load(dataset[0])
    assert first["funding_applied"] > 0
    assert second["funding_applied"] == 0


def test_formulary_without_the_optional_edit_columns_still_loads(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """Files written before the 60/61 edit columns existed load unchanged (no edits)."""
    (tmp_path / "formulary.csv").write_text(
        "plan_id,ndc,status,tier,prior_authorization_required,quantity_limit_thousandths,days_supply_max\n"
        f"HDHP-2026,{dataset[1]['drugs']['generic']['ndc']},covered,1,false,,\n"
    )
    loaded = read_dataset(
        tmp_path, known={"plans": {"HDHP-2026"}, "drugs": {dataset[1]["drugs"]["generic"]["ndc"]}}
    )
    assert loaded.rows("formulary.csv")[0][-4:] == (None, None, None, None)
