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


async def test_a_reload_cannot_change_a_purses_kind_or_employer(
    fresh_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """purses.csv loaded again with another kind or employer for a stored purse: refused at
    its line and column, nothing changed (it was silently ignored, exit 0)."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    await database.load(dataset[0])
    header, first, *_ = (dataset[0] / "purses.csv").read_text().splitlines()
    purse_id, family_id, kind, employer = first.split(",")
    for column, changed in (
        ("kind", f"{purse_id},{family_id},{'FSA' if kind != 'FSA' else 'HRA'},{employer}"),
        ("employer_id", f"{purse_id},{family_id},{kind},{employer}-OTHER"),
    ):
        (tmp_path / "purses.csv").write_text(f"{header}\n{changed}\n")
        with pytest.raises(ReferenceDataError) as caught:
            await database.load(tmp_path)
        assert (caught.value.line, caught.value.field) == (2, column)
        assert f"purse {purse_id} is already stored with {column}" in str(caught.value)
    conn = await asyncpg.connect(dsn)
    try:
        stored = await conn.fetchrow(
            "SELECT kind, employer_id FROM purse WHERE purse_id = $1", purse_id
        )
        assert (stored["kind"], stored["employer_id"]) == (kind, employer)
    finally:
        await conn.close()


async def test_a_funding_id_funds_one_event_across_families(
    fresh_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """funding.csv reloaded with a stored funding ID for another family's purse, another
    amount, or scheduled instead of now: refused at its line (it funded a second time, as
    the admin door already refused); the same row again is "already applied"."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    await database.load(dataset[0])
    header, *rows = (dataset[0] / "funding.csv").read_text().splitlines()
    columns = header.split(",")
    first = dict(zip(columns, rows[0].split(","), strict=True))
    purses = (dataset[0] / "purses.csv").read_text().splitlines()[1:]
    other = next(row.split(",")[0] for row in purses if row.split(",")[0] != first["purse_id"])

    def funding_file(**change: str) -> None:
        row = first | change
        (tmp_path / "funding.csv").write_text(
            f"{header}\n" + ",".join(row[c] for c in columns) + "\n"
        )

    conn = await asyncpg.connect(dsn)
    try:
        before = await conn.fetchval("SELECT sum(posted_cents) FROM purse")
        for change in (
            {"purse_id": other},
            {"amount_cents": str(int(first["amount_cents"]) + 1)},
            {"available_on": "2099-01-01"},
        ):
            funding_file(**change)
            with pytest.raises(ReferenceDataError) as caught:
                await database.load(tmp_path)
            assert (caught.value.line, caught.value.field) == (2, "funding_id")
            assert "a funding ID names one funding event" in str(caught.value)
        funding_file()
        assert (await database.load(tmp_path))["funding_applied"] == 0
        assert await conn.fetchval("SELECT sum(posted_cents) FROM purse") == before
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM purse_allotment WHERE allotment_id = $1",
                first["funding_id"],
            )
            == 0
        )
    finally:
        await conn.close()


def test_a_quote_left_open_is_refused_not_read_into_the_next_row(tmp_path: Path) -> None:
    """An unbalanced quote made one field of the rest of the file, line breaks included: a
    text field must be one printable line."""
    (tmp_path / "members.csv").write_text(
        MEMBERS_HEADER
        + MEMBER_ROW.replace(",Ava,", ',"Ava,')
        + MEMBER_ROW.replace("M000001", "M000002").replace("001,", "002,", 1)
    )
    error = _error(tmp_path)
    assert error.field == "first_name"
    assert "no control character (a quote left open?)" in str(error)


def test_a_no_break_space_or_soft_hyphen_in_a_name_is_text(tmp_path: Path) -> None:
    """Only control characters are refused: a name exported with a no-break space loads."""
    (tmp_path / "members.csv").write_text(
        MEMBERS_HEADER + MEMBER_ROW.replace(",Ava,Lowe,", ",Ava\u00a0Mae,Lo\u00adwe,")
    )
    dataset = read_dataset(tmp_path)
    assert dataset.rows("members.csv")[0][6:8] == ("Ava\u00a0Mae", "Lo\u00adwe")


@pytest.mark.parametrize(
    ("file", "text", "column", "says"),
    [
        (
            "funding.csv",
            "funding_id,purse_id,amount_cents,memo,availble_on\nF1,P1,100,x,2026-07-01\n",
            "availble_on",
            "is not a column of funding.csv",
        ),
        (
            "members.csv",
            "member_id,cardholder_id,person_code,family_id,employer_id,class_code,first_name,"
            "last_name,date_of_birth,gender_code,nickname\n",
            "nickname",
            "is not a column",
        ),
        (
            "pharmacies.csv",
            "npi,name,network,kind,name\n1000000001,A,preferred,retail,B\n",
            "name",
            "is in the header twice",
        ),
    ],
    ids=["a misspelled optional column", "an extra column", "a column twice"],
)
def test_a_header_names_only_the_files_columns(
    tmp_path: Path, file: str, text: str, column: str, says: str
) -> None:
    """A misspelled optional column was ignored with its values (an allotment's date, so the
    allotment funded at once): the header is refused at line 1, naming the column."""
    (tmp_path / file).write_text(text)
    error = _error(tmp_path)
    assert (error.line, error.field) == (1, column)
    assert says in str(error)


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


# --- A newcomer never sees a traceback; errors never echo PHI (issue 11) ---------------------

PHARMACIES_HEADER = "npi,name,network,kind\n"
MEMBERS_HEADER = (
    "member_id,cardholder_id,person_code,family_id,employer_id,class_code,first_name,last_name,"
    "date_of_birth,gender_code\n"
)
MEMBER_ROW = "M000001,RXG123456789,001,F000001,EMP1,FT,Ava,Lowe,1976-10-16,1\n"


def _error(directory: Path) -> ReferenceDataError:
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(directory)
    return caught.value


def test_a_latin1_byte_names_file_line_and_field(tmp_path: Path) -> None:
    """One byte that is not UTF-8: file, line and field, not a UnicodeDecodeError."""
    (tmp_path / "pharmacies.csv").write_bytes(
        PHARMACIES_HEADER.encode() + b"1000000001,Main St,preferred,retail\n"
        b"1000000002,Caf\xe9 Pharmacy,preferred,retail\n"
    )
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, "name")
    assert "pharmacies.csv" in error.file
    assert "not UTF-8" in str(error) and "0xe9" in str(error)


def test_a_latin1_byte_in_a_phi_field_is_not_shown(tmp_path: Path) -> None:
    (tmp_path / "members.csv").write_bytes(
        MEMBERS_HEADER.encode() + MEMBER_ROW.replace("Lowe", "L\xf6we").encode("latin-1")
    )
    error = _error(tmp_path)
    assert (error.line, error.field) == (2, "last_name")
    assert "0xf6" not in str(error) and "not UTF-8" in str(error)


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """Spreadsheet tools save "CSV UTF-8" with a BOM: the first column is still found."""
    (tmp_path / "pharmacies.csv").write_text(
        "\ufeff" + PHARMACIES_HEADER + "1000000001,Main St,preferred,retail\n", encoding="utf-8"
    )
    assert read_dataset(tmp_path).rows("pharmacies.csv") == [
        ("1000000001", "Main St", "preferred", "retail", None)  # payee_id left out: the store
    ]


def test_a_row_with_an_extra_field_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pharmacies.csv").write_text(
        PHARMACIES_HEADER
        + "1000000001,Main St,preferred,retail\n1000000002,Elm St,preferred,retail,oops\n"
    )
    error = _error(tmp_path)
    assert error.line == 3
    assert "5 fields, the header has 4" in error.problem


@pytest.mark.parametrize(
    ("files", "problem"),
    [({}, "no data files"), ({"pharmacies.csv": PHARMACIES_HEADER}, "no data rows")],
    ids=["empty", "headers only"],
)
def test_a_directory_with_nothing_to_load_is_refused(
    tmp_path: Path, files: dict[str, str], problem: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    error = _error(tmp_path)
    assert error.field == "(directory)"
    assert problem in error.problem and "plans/*.json" in error.problem


@pytest.mark.parametrize(
    ("content", "line", "field", "problem"),
    [
        (b'{\n  "plan_id": "CAF\xc9"\n}\n', 2, "(encoding)", "byte 0xc9 is not UTF-8"),
        (b'{\n  "plan_id": \n', 3, "(json)", "not JSON"),
    ],
    ids=["not UTF-8", "not JSON"],
)
def test_a_bad_plan_file_is_one_error(
    tmp_path: Path, content: bytes, line: int, field: str, problem: str
) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "BAD.json").write_bytes(content)
    error = _error(tmp_path)
    assert (error.line, error.field) == (line, field)
    assert problem in error.problem and "BAD.json" in error.file


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("date_of_birth", "1961-13-01"),
        ("first_name", ""),
        ("cardholder_id", " "),
    ],
)
def test_errors_never_show_a_phi_value(tmp_path: Path, column: str, bad: str) -> None:
    """A bad date of birth names file, line and field, not the date (PHI)."""
    columns = MEMBERS_HEADER.strip().split(",")
    values = MEMBER_ROW.strip().split(",")
    values[columns.index(column)] = bad
    (tmp_path / "members.csv").write_text(MEMBERS_HEADER + MEMBER_ROW + ",".join(values) + "\n")
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, column)
    assert "members.csv:3" in str(error)
    if bad.strip():
        assert bad not in str(error)
        assert "1961" not in str(error) and "13-01" not in str(error)


@pytest.mark.parametrize("born", ["1800-01-01", "2999-01-01"])
def test_a_date_of_birth_no_claim_could_carry_is_refused(tmp_path: Path, born: str) -> None:
    """members.csv with a birth year before 1880 or after next year: refused at its line and
    field (a claim sending the member's real 304-C4 would otherwise be 09 forever)."""
    columns = MEMBERS_HEADER.strip().split(",")
    values = MEMBER_ROW.strip().split(",")
    values[columns.index("date_of_birth")] = born
    (tmp_path / "members.csv").write_text(MEMBERS_HEADER + MEMBER_ROW + ",".join(values) + "\n")
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, "date_of_birth")
    assert "from 1880 to the end of next year" in str(error)
    assert born not in str(error)


def test_a_duplicate_cardholder_is_refused_without_showing_it(tmp_path: Path) -> None:
    """A cardholder ID and person code name one member; the ID (PHI) is not shown."""
    second = MEMBER_ROW.replace("M000001", "M000002")
    (tmp_path / "members.csv").write_text(MEMBERS_HEADER + MEMBER_ROW + second)
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, "cardholder_id")
    assert "RXG123456789" not in str(error)


def test_errors_show_the_value_of_other_fields(tmp_path: Path) -> None:
    """Values that are not PHI are quoted, so the user sees what to fix."""
    (tmp_path / "pharmacies.csv").write_text(
        PHARMACIES_HEADER + "1000000001,Main St,nowhere,retail\n"
    )
    error = _error(tmp_path)
    assert error.field == "network" and "'nowhere'" in error.problem


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        (
            "coverages.csv",
            "member_id,plan_id,group_id,start_date,end_date,end_reason,line_of_business\n"
            "M1,P1,G1,2026-06-01,2026-01-01,expired,commercial\n",
            "end_date",
        ),
        (
            "prior_authorizations.csv",
            "pa_number,member_id,ndc,drug_group,start_date,end_date\n"
            "PA1,M1,,,2026-01-01,2026-12-31\n",
            "ndc",
        ),
        ("members.csv", MEMBERS_HEADER + MEMBER_ROW.replace(",1\n", ",7\n"), "gender_code"),
        (
            "formulary.csv",
            "plan_id,ndc,status,tier,prior_authorization_required,quantity_limit_thousandths,days_supply_max\n"
            "P1,00000000001,covered,12,false,,\n",
            "tier",
        ),
        # found from outside (a file-door hunt): each was accepted, or refused by the
        # database with no line or field named
        (
            "prior_authorizations.csv",
            "pa_number,member_id,ndc,drug_group,start_date,end_date\n"
            "PA1,M1,00000000001,,2026-12-31,2026-01-01\n",
            "end_date",
        ),
        (
            "formulary.csv",
            "plan_id,ndc,status,tier,prior_authorization_required,quantity_limit_thousandths,"
            "days_supply_max,age_min,age_max\n"
            "P1,00000000001,covered,1,false,,,65,18\n",
            "age_max",
        ),
        (
            "interactions.csv",
            "molecule_a,molecule_b,significance,text\namlopril,amlopril,1,Major\n",
            "molecule_b",
        ),
        (
            "funding.csv",
            "funding_id,purse_id,amount_cents,memo\nF1,P1,9223372036854775807,big\n",
            "amount_cents",
        ),
        (
            "funding.csv",
            "funding_id,purse_id,amount_cents,memo,available_on\nF1,P1,100,x,20260301\n",
            "available_on",
        ),
    ],
    ids=[
        "coverage ends before it starts",
        "PA for nothing",
        "gender code 7",
        "tier 12",
        "PA ends before it starts",
        "age_max below age_min",
        "a molecule with itself",
        "funding past $10 billion",
        "a date not YYYY-MM-DD",
    ],
)
def test_rules_the_database_enforces_are_checked_first(
    tmp_path: Path, name: str, text: str, field: str
) -> None:
    """A row the database would refuse (a constraint) is refused here, naming line and field,
    instead of failing inside the load's transaction."""
    (tmp_path / name).write_text(text)
    error = _error(tmp_path)
    assert (error.line, error.field) == (2, field)


def test_a_duplicate_coverage_key_is_refused_with_its_lines(tmp_path: Path) -> None:
    """The coverage key is member, plan and start date (the group is not part of it)."""
    (tmp_path / "coverages.csv").write_text(
        "member_id,plan_id,group_id,start_date,end_date,end_reason,line_of_business\n"
        "M1,P1,G1,2026-01-01,,,commercial\n"
        "M1,P1,G2,2026-01-01,,,commercial\n"
    )
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, "member_id")
    assert "repeats line 2" in error.problem


# --- Coordination of benefits (issue 15) ----------------------------------------------------
OTHER_HEADER = (
    "member_id,payer_order,payer_name,bin,pcn,group_id,cardholder_id,person_code,"
    "help_desk_phone,start_date,end_date\n"
)
COVERAGE_HEADER = (
    "member_id,plan_id,group_id,start_date,end_date,end_reason,line_of_business,"
    "coverage_level,payer_order\n"
)


def _with_members(tmp_path: Path, dataset: tuple[Path, dict[str, Any]]) -> None:
    shutil.copy(dataset[0] / "members.csv", tmp_path / "members.csv")
    shutil.copytree(dataset[0] / "plans", tmp_path / "plans")
    shutil.copy(dataset[0] / "sponsors.csv", tmp_path / "sponsors.csv")


def test_other_coverage_errors_never_show_the_cardholder_id(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    _with_members(tmp_path, dataset)
    secret = "SECRET-CARDHOLDER-ID-THAT-IS-TOO-LONG"
    (tmp_path / "other_coverages.csv").write_text(
        OTHER_HEADER + f"M000001,1,Acme,004336,,,{secret},,,2026-01-01,\n"
    )
    error = _error(tmp_path)
    assert (error.line, error.field) == (2, "cardholder_id")
    assert secret not in str(error) and "PHI" in str(error)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("M000001,1,Acme,04336,,,C1,,,2026-01-01,", "bin"),
        ("M000001,0,Acme,004336,,,C1,,,2026-01-01,", "payer_order"),
        ("M000001,1,,004336,,,C1,,,2026-01-01,", "payer_name"),
        ("M000001,1,Acme,004336,PCN-TOO-LONG-X,,C1,,,2026-01-01,", "pcn"),
        ("M000001,1,Acme,004336,,,C1,,,2026-01-01,2025-12-31", "end_date"),
        ("NOBODY,1,Acme,004336,,,C1,,,2026-01-01,", "member_id"),
    ],
)
def test_bad_other_coverage_rows_name_the_field(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]], row: str, field: str
) -> None:
    _with_members(tmp_path, dataset)
    (tmp_path / "other_coverages.csv").write_text(OTHER_HEADER + row + "\n")
    error = _error(tmp_path)
    assert (error.line, error.field) == (2, field), str(error)


def test_medicaid_ahead_of_another_coverage_is_refused(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """Medicaid pays last: a file that puts it first beside a commercial plan in force at the
    same time names the line and says why; one that puts it second loads."""
    _with_members(tmp_path, dataset)
    rows = (
        "M000001,COMM-HRA-2026,G,2026-01-01,,,COMMERCIAL,,2\n"
        "M000001,MEDICAID-2026,MCAID,2026-03-01,,,MEDICAID,,1\n"
    )
    (tmp_path / "coverages.csv").write_text(COVERAGE_HEADER + rows)
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, "payer_order")
    assert "Medicaid pays last" in str(error)
    (tmp_path / "coverages.csv").write_text(COVERAGE_HEADER + rows.replace(",1\n", ",3\n"))
    assert len(read_dataset(tmp_path).rows("coverages.csv")) == 2
    # not in force together (the commercial plan ended before Medicaid began): no order needed
    ended = rows.replace("2026-01-01,,,COMMERCIAL", "2026-01-01,2026-02-28,expired,COMMERCIAL")
    (tmp_path / "coverages.csv").write_text(COVERAGE_HEADER + ended)
    assert len(read_dataset(tmp_path).rows("coverages.csv")) == 2
    # an external payer after Medicaid in the order is refused too
    (tmp_path / "coverages.csv").write_text(
        COVERAGE_HEADER + "M000001,MEDICAID-2026,MCAID,2026-03-01,,,MEDICAID,,1\n"
    )
    (tmp_path / "other_coverages.csv").write_text(
        OTHER_HEADER + "M000001,2,Acme,004336,,,C1,,,2026-01-01,\n"
    )
    assert "Medicaid pays last" in str(_error(tmp_path))


def test_a_formulary_tier_the_plan_does_not_have_is_refused(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """A formulary row on tier 5 of a plan with tiers 1-4 loaded, then every claim and price
    check of the drug answered INTERNAL (KeyError): refused with its line."""
    shutil.copytree(dataset[0], tmp_path / "data")
    path = tmp_path / "data" / "formulary.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("tier")] = "5"
    lines[1] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(tmp_path / "data")
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 2, "tier")
    assert "tier 5" in caught.value.problem


def test_a_misspelled_plan_field_is_refused_not_ignored(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """`copay_centz` was ignored and the tier's copay read as its default, 0: a plan field
    nobody reads is refused, naming its path."""
    (tmp_path / "plans").mkdir()
    text = (dataset[0] / "plans" / "COMM-HRA-2026.json").read_text()
    assert '"copay_cents"' in text
    (tmp_path / "plans" / "COMM-HRA-2026.json").write_text(
        text.replace('"copay_cents"', '"copay_centz"', 1)
    )
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(tmp_path)
    assert caught.value.field.endswith(".copay_centz"), caught.value.field
    assert "unknown" in caught.value.problem
    # notes a person leaves in a plan file are not fields: `description`, any `_...` key
    noted = text.replace("{", '{"description": "x", "_comment": "y", ', 1)
    (tmp_path / "plans" / "COMM-HRA-2026.json").write_text(noted)
    assert [p.plan_id for p, _ in read_dataset(tmp_path).plans] == ["COMM-HRA-2026"]


async def test_a_plan_reloaded_without_a_tier_its_stored_drugs_are_on_is_refused(
    fresh_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The full data loaded, then only COMM-HRA-2026's plan file again without one of the
    tiers its stored formulary uses: refused naming the plan's tiers (the stored rows stayed,
    and every claim of those drugs failed)."""
    import json

    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    await database.load(dataset[0])
    conn = await asyncpg.connect(dsn)
    try:
        used = await conn.fetchval(
            "SELECT max(tier) FROM formulary WHERE plan_id = 'COMM-HRA-2026'"
        )
    finally:
        await conn.close()
    (tmp_path / "plans").mkdir()
    document = json.loads((dataset[0] / "plans" / "COMM-HRA-2026.json").read_text())
    del document["tiers"][str(used)]
    (tmp_path / "plans" / "COMM-HRA-2026.json").write_text(json.dumps(document))
    with pytest.raises(ReferenceDataError) as caught:
        await database.load(tmp_path)
    assert caught.value.field == "COMM-HRA-2026.tiers"
    assert f"tier {used} is gone" in caught.value.problem


def test_a_pa_naming_no_known_drug_is_refused_an_interaction_is_not(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """A prior authorization for an NDC or drug group no drug has could never apply: a typo
    went unseen (the claim then asked for a PA that was on file). Refused at its line and
    column. An interaction table covers more molecules than a formulary: it loads."""
    for name in ("drugs.csv", "members.csv"):
        shutil.copy(dataset[0] / name, tmp_path / name)
    drug = (dataset[0] / "drugs.csv").read_text().splitlines()[1].split(",")
    member = (dataset[0] / "members.csv").read_text().splitlines()[1].split(",")[0]
    pa = "pa_number,member_id,ndc,drug_group,start_date,end_date\n"
    cases = {
        "ndc": f"PA-T1,{member},99999999999,,2026-01-01,2026-12-31\n",
        "drug_group": f"PA-T2,{member},,no-such-group,2026-01-01,2026-12-31\n",
    }
    for column, row in cases.items():
        (tmp_path / "prior_authorizations.csv").write_text(pa + row)
        error = _error(tmp_path)
        assert (error.line, error.field) == (2, column), str(error)
    (tmp_path / "prior_authorizations.csv").write_text(
        pa + f"PA-T3,{member},{drug[0]},{drug[3]},2026-01-01,2026-12-31\n"
    )
    (tmp_path / "interactions.csv").write_text(
        f"molecule_a,molecule_b,significance,text\n{drug[2]},not-on-any-formulary,1,vendor\n"
    )
    read_dataset(tmp_path)


def test_an_interaction_pair_twice_in_either_order_is_refused(tmp_path: Path) -> None:
    (tmp_path / "interactions.csv").write_text(
        "molecule_a,molecule_b,significance,text\namlopril,zzz,1,Major\nzzz,amlopril,2,Minor\n"
    )
    error = _error(tmp_path)
    assert (error.line, error.field) == (3, "molecule_a")
    assert "the pair zzz/amlopril repeats line 2 (in either order)" in str(error)


def test_two_plan_files_with_one_plan_id_are_refused(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """The last read silently replaced the first (plans=2 reported)."""
    (tmp_path / "plans").mkdir()
    text = (dataset[0] / "plans" / "HDHP-2026.json").read_text()
    (tmp_path / "plans" / "A.json").write_text(text)
    (tmp_path / "plans" / "B.json").write_text(text)
    error = _error(tmp_path)
    assert error.file.endswith("B.json") and error.field == "plan_id"
    assert "is also the plan_id of A.json" in error.problem


def test_a_plan_amount_past_any_bigint_is_named(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    (tmp_path / "plans").mkdir()
    text = (dataset[0] / "plans" / "HDHP-2026.json").read_text()
    assert '"coinsurance_bp": 4000' in text
    huge = text.replace('"coinsurance_bp": 4000', '"coinsurance_bp": ' + "1" + "0" * 30)
    (tmp_path / "plans" / "HDHP-2026.json").write_text(huge)
    error = _error(tmp_path)
    assert error.field == "tiers.3.coinsurance_bp"
    assert error.problem.startswith("must be at most 1000000000000000 in size")


@pytest.mark.parametrize("name", ["drugs.csv", "processor.json", "plans"])
def test_a_data_file_that_is_a_broken_link_is_refused(tmp_path: Path, name: str) -> None:
    """It was skipped as absent (exit 0, the other files loaded)."""
    (tmp_path / name).symlink_to(tmp_path / "nowhere")
    (tmp_path / "interactions.csv").write_text("molecule_a,molecule_b,significance,text\na,b,1,x\n")
    error = _error(tmp_path)
    assert error.file == str(tmp_path / name)
    assert error.problem == "cannot be read: a symbolic link to nothing"


async def test_a_card_names_one_member_and_a_member_keeps_its_card(
    fresh_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """members.csv giving a stored card to a new member took the card over: the claim path
    then found the new member's family (no coverage, no HRA) and `verify` failed; giving a
    stored member a new card was a bare constraint error. Both now name the file and line
    (the card's values are PHI: not shown), and nothing changes."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    await database.load(dataset[0])
    header, first, *_ = (dataset[0] / "members.csv").read_text().splitlines()
    member_id, cardholder_id, person_code, family_id, *rest = first.split(",")
    conn = await asyncpg.connect(dsn)
    try:
        before = await conn.fetch("SELECT * FROM member_key ORDER BY member_id")
        for row, problem in (
            (
                ",".join(["M999999", cardholder_id, person_code, "F999999", *rest]),
                f"this cardholder_id and person_code already name member {member_id}, not"
                " M999999 (values not shown: PHI)",
            ),
            (
                ",".join([member_id, "RXGNEWCARD1", person_code, family_id, *rest]),
                f"member {member_id} is stored on another cardholder_id or person_code: a"
                " member keeps its card (values not shown: PHI)",
            ),
        ):
            (tmp_path / "members.csv").write_text(f"{header}\n{row}\n")
            with pytest.raises(ReferenceDataError) as caught:
                await database.load(tmp_path)
            # the database's checks name the file where the file checks do: with its directory
            assert caught.value.file == str(tmp_path / "members.csv")
            assert (caught.value.line, caught.value.field) == (2, "cardholder_id")
            assert caught.value.problem == problem
            assert cardholder_id not in str(caught.value)
        assert await conn.fetch("SELECT * FROM member_key ORDER BY member_id") == before
        assert await conn.fetchval("SELECT count(*) FROM family WHERE family_id = 'F999999'") == 0
    finally:
        await conn.close()
