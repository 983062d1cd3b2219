"""Write a validated dataset in ONE transaction: all of it, or (on any error) none of it."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.adapters.files.loader import Dataset
from rx_gateway.adapters.files.tables import TABLES
from rx_gateway.adapters.postgres.admin import (
    FUNDING_ID_USES_SQL,
    funding_id_reused,
    lock_funding_ids,
)
from rx_gateway.domain import ledger
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.service_layer.admin import PurseFunding

REFERENCE_CHANNEL = "rx_reference"  # NOTIFY payload: the new reference version


async def known_keys(conn: asyncpg.Connection) -> dict[str, set[Any]]:
    """Keys already stored, so a partial load may refer to them."""
    return {
        "plans": {r[0] for r in await conn.fetch("SELECT plan_id FROM plan")},
        "formulary_tiers": {
            (r[0], r[1]) for r in await conn.fetch("SELECT DISTINCT plan_id, tier FROM formulary")
        },
        "plan_tiers": {
            (r[0], int(r[1]))
            for r in await conn.fetch(
                "SELECT plan_id, jsonb_object_keys(document->'tiers') FROM plan"
                " WHERE jsonb_typeof(document->'tiers') = 'object'"
            )
            if r[1].isdigit()
        },
        "drugs": {r[0] for r in await conn.fetch("SELECT ndc FROM drug")},
        "drug_groups": {r[0] for r in await conn.fetch("SELECT DISTINCT drug_group FROM drug")},
        "members": {r[0] for r in await conn.fetch("SELECT member_id FROM member_key")},
        "families": {r[0] for r in await conn.fetch("SELECT family_id FROM family")},
        "purses": {r[0] for r in await conn.fetch("SELECT purse_id FROM purse")},
        "payees": {r[0] for r in await conn.fetch("SELECT payee_id FROM payee")},
        "sponsors": {r[0] for r in await conn.fetch("SELECT sponsor_id FROM sponsor")},
    }


async def _families_of(
    conn: asyncpg.Connection, query: str, keys: list[str], given: dict[str, str]
) -> dict[str, str]:
    """key -> family for the keys a load refers to: this load's own rows first, then what is
    stored (``query`` takes the keys as $1 and returns (key, family_id) rows)."""
    stored = {r[0]: r[1] for r in await conn.fetch(query, keys)} if keys else {}
    return stored | given


async def _upsert(
    conn: asyncpg.Connection,
    table: str,
    name: str,
    rows: list[tuple[Any, ...]],
    key: tuple[str, ...],
    *,
    family: list[str] | None = None,
) -> None:
    """Copy rows into a temporary table, then upsert them (fast for 10,000s of rows).
    ``family``: the family of each row, for a table whose file has no family_id column."""
    if not rows:
        return
    columns = list(TABLES[name])
    if family is not None:
        columns.append("family_id")
        rows = [(*row, family_id) for row, family_id in zip(rows, family, strict=True)]
    staging = f"staging_{table}"
    await conn.execute(
        f"CREATE TEMPORARY TABLE {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    await conn.copy_records_to_table(staging, records=rows, columns=columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    await conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {staging}"  # noqa: S608 - table names are constants
        f" ON CONFLICT ({', '.join(key)}) {conflict}"
    )


async def write_dataset(
    conn: asyncpg.Connection, dataset: Dataset, *, actor: str, source: str
) -> dict[str, int]:
    """Apply the dataset atomically, record a new reference version and notify gateways."""
    async with conn.transaction():
        for plan, document in dataset.plans:
            await conn.execute(
                "INSERT INTO plan (plan_id, document) VALUES ($1, $2)"
                " ON CONFLICT (plan_id) DO UPDATE SET document = EXCLUDED.document",
                plan.plan_id,
                document,
            )
        drugs = [(*row[:-1], row[-1] or "") for row in dataset.rows("drugs.csv")]
        await _upsert(conn, "drug", "drugs.csv", drugs, ("ndc",))
        interactions = sorted(
            {
                (min(a, b), max(a, b), significance, text): None
                for a, b, significance, text in dataset.rows("interactions.csv")
            }
        )
        await _upsert(
            conn, "drug_interaction", "interactions.csv", interactions, ("molecule_a", "molecule_b")
        )
        formulary = dataset.rows("formulary.csv")
        if formulary:
            await conn.execute(
                "DELETE FROM formulary WHERE plan_id = ANY($1::text[])",
                sorted({r[0] for r in formulary}),
            )
            await _upsert(conn, "formulary", "formulary.csv", formulary, ("plan_id", "ndc"))
        await _write_parties(conn, dataset)
        await _upsert(conn, "pharmacy", "pharmacies.csv", dataset.rows("pharmacies.csv"), ("npi",))
        members = dataset.rows("members.csv")
        families = sorted({(r[3], r[4]) for r in members})
        await conn.executemany(
            "INSERT INTO family (family_id, employer_id) VALUES ($1, $2)"
            " ON CONFLICT (family_id) DO NOTHING",
            families,
        )
        await _refuse_moves(conn, dataset)
        await _upsert(conn, "member", "members.csv", members, ("family_id", "member_id"))
        await _write_directory(conn, members)
        member_family = await _families_of(
            conn,
            "SELECT member_id, family_id FROM member_key WHERE member_id = ANY($1::text[])",
            sorted(
                {r[0] for r in dataset.rows("coverages.csv")}
                | {r[0] for r in dataset.rows("other_coverages.csv")}
                | {r[1] for r in dataset.rows("prior_authorizations.csv")}
            ),
            {r[0]: r[3] for r in members},
        )
        coverages = [
            (*row[:-1], row[-1] or 1)  # payer_order: blank is primary
            for row in await _with_coverage_levels(conn, dataset.rows("coverages.csv"))
        ]
        if coverages:
            await conn.execute(
                "DELETE FROM coverage WHERE member_id = ANY($1::text[])",
                sorted({r[0] for r in coverages}),
            )
            await _upsert(
                conn,
                "coverage",
                "coverages.csv",
                coverages,
                ("family_id", "member_id", "plan_id", "start_date"),
                family=[member_family[r[0]] for r in coverages],
            )
        await _write_other_coverages(conn, dataset, member_family)
        purses = dataset.rows("purses.csv")
        await conn.executemany(
            "INSERT INTO purse (purse_id, family_id, kind, employer_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (family_id, purse_id) DO NOTHING",
            purses,
        )
        authorizations = dataset.rows("prior_authorizations.csv")
        await _upsert(
            conn,
            "prior_authorization",
            "prior_authorizations.csv",
            authorizations,
            ("family_id", "pa_number"),
            family=[member_family[r[1]] for r in authorizations],
        )
        purse_family = await _families_of(
            conn,
            "SELECT purse_id, family_id FROM purse WHERE purse_id = ANY($1::text[])",
            sorted({r[1] for r in dataset.rows("funding.csv")}),
            {r[0]: r[1] for r in purses},
        )
        await _refuse_reused_funding_ids(conn, dataset)
        await _ensure_accounts(conn, dataset)
        await _ensure_sponsors(conn)
        funded = scheduled = 0
        for funding_id, purse_id, amount, memo, available_on in dataset.rows("funding.csv"):
            if available_on is not None:
                scheduled += await conn.fetchval(
                    "SELECT rx_schedule_allotment($1, $2, $3, $4, $5, $6, $7)",
                    purse_family[purse_id],
                    funding_id,
                    purse_id,
                    amount,
                    available_on,
                    actor,
                    memo or "",
                )
                continue
            entry = await conn.fetchval(
                "SELECT rx_fund_purse($1, $2, $3, $4, $5, $6)",
                purse_family[purse_id],
                funding_id,
                purse_id,
                amount,
                actor,
                memo or "",
            )
            funded += entry is not None
        version = await conn.fetchval(
            "INSERT INTO reference_version (source) VALUES ($1) RETURNING version", source
        )
        counts = dataset.counts() | {"funding_applied": funded, "allotments_scheduled": scheduled}
        await conn.execute(
            "INSERT INTO audit_log (actor, action, outcome, detail) VALUES ($1, 'load', 'ok', $2)",
            actor,
            {"source": source, "reference_data_version": version, "counts": counts},
        )
        await conn.execute("SELECT pg_notify($1, $2)", REFERENCE_CHANNEL, str(version))
    return counts


async def _refuse_reused_funding_ids(conn: asyncpg.Connection, dataset: Dataset) -> None:
    """A funding ID names one funding event in the whole ledger, as on the admin door: a row
    whose ID already funded another purse (another family's too), another amount or another
    date is an error naming its line; the same event again is "already applied"."""
    rows = dataset.rows("funding.csv")
    if not rows:
        return
    await lock_funding_ids(conn)  # as FundPurse does: no funding between the check and the load
    uses: dict[str, list[Any]] = {}
    for use in await conn.fetch(FUNDING_ID_USES_SQL, [r[0] for r in rows]):
        uses.setdefault(use["funding_id"], []).append(use)
    for (funding_id, purse_id, amount, memo, available_on), line in zip(
        rows, dataset.lines["funding.csv"], strict=True
    ):
        funding = PurseFunding(funding_id, purse_id, amount, available_on, memo or "")
        problem = funding_id_reused(funding, uses.get(funding_id, []))
        if problem is not None:
            raise ReferenceDataError(dataset.where("funding.csv"), line, "funding_id", problem)


async def _write_other_coverages(
    conn: asyncpg.Connection, dataset: Dataset, member_family: dict[str, str]
) -> None:
    """other_coverages.csv replaces what is stored for each member it names."""
    rows = [
        tuple("" if value is None and i in (4, 5, 7, 8) else value for i, value in enumerate(row))
        for row in dataset.rows("other_coverages.csv")
    ]
    if not rows:
        return
    await conn.execute(
        "DELETE FROM other_coverage WHERE member_id = ANY($1::text[])", sorted({r[0] for r in rows})
    )
    await _upsert(
        conn,
        "other_coverage",
        "other_coverages.csv",
        rows,
        ("family_id", "member_id", "bin", "pcn", "start_date"),
        family=[member_family[r[0]] for r in rows],
    )


async def _with_coverage_levels(
    conn: asyncpg.Connection, rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Coverage rows with their level: as given, or (blank) self-only for a member alone in
    their family and family otherwise. Members are written before coverage, so the family
    sizes include this load's members."""
    level = list(TABLES["coverages.csv"]).index("coverage_level")
    blank = sorted({r[0] for r in rows if r[level] is None})
    if not blank:
        return rows
    sizes: dict[str, int] = {
        r[0]: r[1]
        for r in await conn.fetch(
            "SELECT m.member_id,"
            " (SELECT count(*) FROM member_key o WHERE o.family_id = m.family_id)"
            " FROM member_key m WHERE m.member_id = ANY($1::text[])",
            blank,
        )
    }
    return [
        r
        if r[level] is not None
        else (*r[:level], "self_only" if sizes.get(r[0]) == 1 else "family", *r[level + 1 :])
        for r in rows
    ]


async def _refuse_moves(conn: asyncpg.Connection, dataset: Dataset) -> None:
    """Identities that are unique across families, checked before anything is written: a
    member, purse or prior authorization number the database already holds under another
    family is an error naming its file and line (moving a member between families is an
    enrollment change, not a reload)."""
    checks = (
        ("members.csv", "member_id", 0, 3, "SELECT member_id, family_id FROM member_key"),
        ("purses.csv", "purse_id", 0, 1, "SELECT purse_id, family_id FROM purse"),
    )
    for name, column, key, family, query in checks:
        rows = dataset.rows(name)
        if not rows:
            continue
        stored = {
            r[0]: r[1]
            for r in await conn.fetch(
                f"{query} WHERE {column} = ANY($1::text[])",
                [r[key] for r in rows],
            )
        }
        for row, line in zip(rows, dataset.lines[name], strict=True):
            held = stored.get(row[key])
            if held is not None and held != row[family]:
                raise ReferenceDataError(
                    dataset.where(name),
                    line,
                    column,
                    f"already belongs to family {held}, not {row[family]}",
                )
    await _refuse_card_changes(conn, dataset)
    await _refuse_purse_changes(conn, dataset)


async def _refuse_card_changes(conn: asyncpg.Connection, dataset: Dataset) -> None:
    """A card and person code name one member, and a member keeps its card: a row giving a
    stored card to another member took the card over (the claim path then found the new
    member's family), and one giving a stored member another card was a bare constraint
    error. Both are errors naming the line (the values are PHI: not shown)."""
    rows = dataset.rows("members.csv")
    if not rows:
        return
    stored = await conn.fetch(
        "SELECT cardholder_id, person_code, member_id FROM member_key"
        " WHERE cardholder_id = ANY($1::text[]) OR member_id = ANY($2::text[])",
        sorted({r[1] for r in rows}),
        sorted({r[0] for r in rows}),
    )
    holder = {(r["cardholder_id"], r["person_code"]): r["member_id"] for r in stored}
    card = {r["member_id"]: (r["cardholder_id"], r["person_code"]) for r in stored}
    for row, line in zip(rows, dataset.lines["members.csv"], strict=True):
        member, on_card = row[0], (row[1], row[2])
        other = holder.get(on_card)
        if other is not None and other != member:
            raise ReferenceDataError(
                dataset.where("members.csv"),
                line,
                "cardholder_id",
                f"this cardholder_id and person_code already name member {other}, not {member}"
                " (values not shown: PHI)",
            )
        if card.get(member, on_card) != on_card:
            raise ReferenceDataError(
                dataset.where("members.csv"),
                line,
                "cardholder_id",
                f"member {member} is stored on another cardholder_id or person_code: a member"
                " keeps its card (values not shown: PHI)",
            )


async def _refuse_purse_changes(conn: asyncpg.Connection, dataset: Dataset) -> None:
    """A purse keeps its kind and its employer: a reload saying otherwise was ignored (the
    row is stored once), so it is an error naming the line (a new purse needs a new ID)."""
    rows = dataset.rows("purses.csv")
    if not rows:
        return
    stored = {
        r["purse_id"]: (r["kind"], r["employer_id"])
        for r in await conn.fetch(
            "SELECT purse_id, kind, employer_id FROM purse WHERE purse_id = ANY($1::text[])",
            [r[0] for r in rows],
        )
    }
    for (purse_id, _family, kind, employer), line in zip(
        rows, dataset.lines["purses.csv"], strict=True
    ):
        held = stored.get(purse_id)
        if held is None:
            continue
        for column, now, before in (("kind", kind, held[0]), ("employer_id", employer, held[1])):
            if now != before:
                raise ReferenceDataError(
                    dataset.where("purses.csv"),
                    line,
                    column,
                    f"purse {purse_id} is already stored with {column} {before}, not {now}"
                    " (a purse keeps its kind and employer: give a new purse a new purse_id)",
                )


async def _write_directory(conn: asyncpg.Connection, members: list[tuple[Any, ...]]) -> None:
    """member_key: who is on which card, in which family (what the claim path reads first)."""
    await conn.executemany(
        "INSERT INTO member_key (cardholder_id, person_code, member_id, family_id,"
        " date_of_birth, gender_code) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (cardholder_id, person_code) DO UPDATE SET member_id = EXCLUDED.member_id,"
        " family_id = EXCLUDED.family_id, date_of_birth = EXCLUDED.date_of_birth,"
        " gender_code = EXCLUDED.gender_code",
        [(r[1], r[2], r[0], r[3], r[8], r[9]) for r in members],
    )


async def _ensure_accounts(conn: asyncpg.Connection, dataset: Dataset) -> None:
    accounts: list[tuple[str, str]] = []
    for plan, _ in dataset.plans:
        accounts.append((ledger.plan_account(plan.plan_id), "plan"))
        accounts.append((ledger.other_payers_account(plan.plan_id), "other_payers"))
    for npi, *_ in dataset.rows("pharmacies.csv"):
        accounts.append((ledger.pharmacy_payable_account(npi), "pharmacy_payable"))
        accounts.append((ledger.pharmacy_collected_account(npi), "pharmacy_collected"))
        accounts.append((ledger.pharmacy_other_payer_account(npi), "pharmacy_other_payer"))
    accounts += [
        (ledger.member_paid_account(r[0]), "member_paid") for r in dataset.rows("members.csv")
    ]
    for purse_id, _family, _kind, employer in dataset.rows("purses.csv"):
        accounts.append((ledger.purse_account(purse_id), "purse"))
        accounts.append((ledger.employer_funding_account(employer), "employer_funding"))
        accounts.append((ledger.incentive_funding_account(employer), "incentive_funding"))
    await conn.executemany(
        "INSERT INTO account (account_key, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        sorted(set(accounts)),
    )


SPONSOR_DEFAULTS = (7, 6, 2, 0, "arrears", 0)  # sponsors.csv's optional columns, left blank


async def _write_parties(conn: asyncpg.Connection, dataset: Dataset) -> None:
    """The processor (the 835's payer), pharmacy payees and sponsors, blanks as defaults."""
    if dataset.payer is not None:
        payer = dataset.payer
        columns = list(payer.__dataclass_fields__)
        await conn.execute(
            f"INSERT INTO settlement_payer ({', '.join(columns)}) VALUES "  # noqa: S608 - constant columns
            f"({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
            f" ON CONFLICT (singleton) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns),
            *(getattr(payer, c) for c in columns),
        )
    payees = [
        (payee_id, name, npi or "", tin or "", ncpdp or "", routing or "", account or "")
        for payee_id, name, npi, tin, ncpdp, routing, account in dataset.rows("payees.csv")
    ]
    await _upsert(conn, "payee", "payees.csv", payees, ("payee_id",))
    sponsors = [
        (
            sponsor_id,
            name,
            *(
                default if value is None else (int(value) if i == 0 else value)
                for i, (value, default) in enumerate(zip(rest, SPONSOR_DEFAULTS, strict=True))
            ),
        )
        for sponsor_id, name, *rest in dataset.rows("sponsors.csv")
    ]
    await _upsert(conn, "sponsor", "sponsors.csv", sponsors, ("sponsor_id",))


async def _ensure_sponsors(conn: asyncpg.Connection) -> None:
    """Every employer (billed for plans that bill the employer, and for the purses it funds)
    is a sponsor: one not in sponsors.csv gets the defaults (weekly, in arrears, no fee)."""
    await conn.execute(
        "INSERT INTO sponsor (sponsor_id, name)"
        " SELECT employer_id, employer_id FROM family"
        " UNION SELECT employer_id, employer_id FROM purse"
        " ON CONFLICT (sponsor_id) DO NOTHING"
    )
