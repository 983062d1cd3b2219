"""Admin changes on PostgreSQL: each one transaction, with its audit row.

The admin interface has its own pool, connected as the operator's login (not the claim
path's application role, which may not change members, coverage or authorizations).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.domain.errors import InvalidRequest, PreconditionFailed, UnknownReference
from rx_gateway.domain.member import Coverage
from rx_gateway.service_layer.admin import (
    AuthorizationGrant,
    CoverageChange,
    OtherCoverageChange,
    PurseFunding,
    coverage_conflict,
)


@contextmanager
def _references(what: str) -> Iterator[None]:
    try:
        with mapped_errors():
            yield
    except asyncpg.ForeignKeyViolationError as error:
        raise UnknownReference(f"unknown {what}") from error


# Where funding IDs are already used, in any family: funded now, or scheduled (an allotment's
# release is funded under its own ID, with the same purse and amount)
FUNDING_ID_USES_SQL = """
SELECT f.funding_id, f.purse_id, f.amount_cents, NULL::date AS available_on FROM purse_funding f
WHERE f.funding_id = ANY($1::text[])
UNION ALL
SELECT a.allotment_id, a.purse_id, a.amount_cents, a.available_on FROM purse_allotment a
WHERE a.allotment_id = ANY($1::text[])
"""


async def lock_funding_ids(conn: Any) -> None:
    """One funding at a time, in the whole ledger, until the transaction ends: two with a new
    ID for two families' purses (FundPurse, or a load's funding.csv beside either) would both
    pass the check of funding_id_reused, each function locking its own family only. One lock
    for all IDs: a load funds thousands, more than the lock table holds one by one; and
    funding is rare beside claims, which never take it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('rx-gateway funding'))")


def funding_id_reused(funding: PurseFunding, uses: list[Any]) -> str | None:
    """Why a funding ID's stored uses (FUNDING_ID_USES_SQL rows) make ``funding`` a second
    funding event, or None. A funding ID names one event: sent again as it was, it is "already
    applied" (the functions answer that); for another purse (another family's), another
    amount, or now instead of scheduled (or the reverse), it would fund a second time."""
    if not uses:
        return None
    scheduled = [u for u in uses if u["available_on"] is not None]
    same = all(
        u["purse_id"] == funding.purse_id and u["amount_cents"] == funding.amount_cents
        for u in uses
    ) and (
        bool(scheduled) == (funding.available_on is not None)
        and all(u["available_on"] == funding.available_on for u in scheduled)
    )
    if same:
        return None
    return (
        f"funding_id {funding.funding_id!r} was already used for another funding (another"
        " purse, amount or date): a funding ID names one funding event; use a new one"
    )


async def _one_funding_event(conn: Any, funding: PurseFunding) -> None:
    problem = funding_id_reused(
        funding, await conn.fetch(FUNDING_ID_USES_SQL, [funding.funding_id])
    )
    if problem is not None:
        raise PreconditionFailed(problem)


class PostgresAdmin:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout_s: float = 2.0) -> None:
        self._pool = pool
        self._acquire_timeout_s = acquire_timeout_s

    async def _family(self, conn: Any, query: str, key: str, what: str) -> str:
        """The family a purse or member belongs to (admin calls name them alone)."""
        family_id: str | None = await conn.fetchval(query, key)
        if family_id is None:
            raise UnknownReference(f"unknown {what}")
        return family_id

    async def fund_purse(self, funding: PurseFunding, *, actor: str) -> bool:
        """Fund now (a balanced funding entry) or schedule an allotment; False when this
        funding ID was already applied or scheduled."""
        with _references("purse_id"):
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(),
            ):
                family_id = await self._family(
                    conn,
                    "SELECT family_id FROM purse WHERE purse_id = $1",
                    funding.purse_id,
                    "purse_id",
                )
                await lock_funding_ids(conn)
                await _one_funding_event(conn, funding)
                if funding.available_on is not None:
                    applied = await conn.fetchval(
                        "SELECT rx_schedule_allotment($1, $2, $3, $4, $5, $6, $7)",
                        family_id,
                        funding.funding_id,
                        funding.purse_id,
                        funding.amount_cents,
                        funding.available_on,
                        actor,
                        funding.memo,
                    )
                    return bool(applied)
                entry = await conn.fetchval(
                    "SELECT rx_fund_purse($1, $2, $3, $4, $5, $6)",
                    family_id,
                    funding.funding_id,
                    funding.purse_id,
                    funding.amount_cents,
                    actor,
                    funding.memo,
                )
                return entry is not None

    async def set_coverage(self, change: CoverageChange, *, actor: str) -> bool:
        c = change.coverage
        end_reason = c.end_reason.value if c.end_reason else None

        async def against_stored(conn: Any, family_id: str) -> None:
            """The member's spans as stored, the family locked until the change commits (two
            changes at once would each check the other's absence)."""
            await conn.execute("SELECT 1 FROM family WHERE family_id = $1 FOR UPDATE", family_id)
            rows = await conn.fetch(
                "SELECT plan_id, group_id, start_date, end_date, line_of_business, payer_order"
                " FROM coverage WHERE family_id = $1 AND member_id = $2",
                family_id,
                change.member_id,
            )
            stored = [Coverage(r[0], r[1], r[2], r[3], None, r[4], payer_order=r[5]) for r in rows]
            conflict = coverage_conflict(c, stored)
            if conflict is not None:
                raise conflict

        return await self._change(
            change.member_id,
            "member_id or plan_id",
            "INSERT INTO coverage (family_id, member_id, plan_id, group_id, start_date, end_date,"
            " end_reason, line_of_business, coverage_level, payer_order)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, CASE WHEN (SELECT count(*)"
            " FROM member_key k WHERE k.family_id = $1) = 1 THEN 'self_only' ELSE 'family' END),"
            " $10)"
            " ON CONFLICT (family_id, member_id, plan_id, start_date) DO UPDATE SET"
            " group_id = EXCLUDED.group_id, end_date = EXCLUDED.end_date,"
            " end_reason = EXCLUDED.end_reason,"
            " line_of_business = EXCLUDED.line_of_business,"
            " coverage_level = EXCLUDED.coverage_level, payer_order = EXCLUDED.payer_order"
            " WHERE (coverage.group_id, coverage.end_date, coverage.end_reason,"
            " coverage.line_of_business, coverage.coverage_level, coverage.payer_order)"
            " IS DISTINCT FROM (EXCLUDED.group_id, EXCLUDED.end_date, EXCLUDED.end_reason,"
            " EXCLUDED.line_of_business, EXCLUDED.coverage_level, EXCLUDED.payer_order)",
            (
                change.member_id,
                c.plan_id,
                c.group_id,
                c.start,
                c.end,
                end_reason,
                c.line_of_business,
                change.coverage_level,
                c.payer_order,
            ),
            actor=actor,
            action="set_coverage",
            detail={
                "member_id": change.member_id,
                "plan_id": c.plan_id,
                "group_id": c.group_id,
                "start_date": c.start.isoformat(),
                "end_date": c.end.isoformat() if c.end else None,
                "end_reason": end_reason,
                "line_of_business": c.line_of_business,
                "coverage_level": change.coverage_level,
                "payer_order": c.payer_order,
            },
            check=against_stored,
        )

    async def set_other_coverage(self, change: OtherCoverageChange, *, actor: str) -> bool:
        o = change.coverage
        return await self._change(
            change.member_id,
            "member_id",
            "INSERT INTO other_coverage (family_id, member_id, payer_order, payer_name, bin, pcn,"
            " group_id, cardholder_id, person_code, help_desk_phone, start_date, end_date)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (family_id, member_id, bin, pcn, start_date) DO UPDATE SET"
            " payer_order = EXCLUDED.payer_order, payer_name = EXCLUDED.payer_name,"
            " group_id = EXCLUDED.group_id, cardholder_id = EXCLUDED.cardholder_id,"
            " person_code = EXCLUDED.person_code, help_desk_phone = EXCLUDED.help_desk_phone,"
            " end_date = EXCLUDED.end_date"
            " WHERE (other_coverage.payer_order, other_coverage.payer_name,"
            " other_coverage.group_id, other_coverage.cardholder_id, other_coverage.person_code,"
            " other_coverage.help_desk_phone, other_coverage.end_date)"
            " IS DISTINCT FROM (EXCLUDED.payer_order, EXCLUDED.payer_name, EXCLUDED.group_id,"
            " EXCLUDED.cardholder_id, EXCLUDED.person_code, EXCLUDED.help_desk_phone,"
            " EXCLUDED.end_date)",
            (
                change.member_id,
                o.payer_order,
                o.payer_name,
                o.bin,
                o.processor_control_number,
                o.group_id,
                o.cardholder_id,
                o.person_code,
                o.help_desk_phone,
                o.start,
                o.end,
            ),
            actor=actor,
            action="set_other_coverage",
            # no cardholder ID in the audit detail: it names the member by member_id
            detail={
                "member_id": change.member_id,
                "payer_order": o.payer_order,
                "payer_name": o.payer_name,
                "bin": o.bin,
                "pcn": o.processor_control_number,
                "start_date": o.start.isoformat(),
                "end_date": o.end.isoformat() if o.end else None,
            },
        )

    async def grant_prior_authorization(self, grant: AuthorizationGrant, *, actor: str) -> bool:
        pa = grant.authorization
        return await self._change(
            grant.member_id,
            "member_id",
            "INSERT INTO prior_authorization (family_id, pa_number, member_id, ndc, drug_group,"
            " start_date, end_date, quantity_thousandths)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (family_id, pa_number) DO UPDATE SET member_id = EXCLUDED.member_id,"
            " ndc = EXCLUDED.ndc, drug_group = EXCLUDED.drug_group,"
            " start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,"
            " quantity_thousandths = EXCLUDED.quantity_thousandths"
            " WHERE (prior_authorization.member_id, prior_authorization.ndc,"
            " prior_authorization.drug_group, prior_authorization.start_date,"
            " prior_authorization.end_date, prior_authorization.quantity_thousandths)"
            " IS DISTINCT FROM (EXCLUDED.member_id, EXCLUDED.ndc, EXCLUDED.drug_group,"
            " EXCLUDED.start_date, EXCLUDED.end_date, EXCLUDED.quantity_thousandths)",
            (
                pa.number,
                grant.member_id,
                pa.ndc,
                pa.drug_group,
                pa.start,
                pa.end,
                pa.quantity_thousandths,
            ),
            actor=actor,
            action="grant_prior_authorization",
            detail={
                "pa_number": pa.number,
                "member_id": grant.member_id,
                "ndc": pa.ndc,
                "drug_group": pa.drug_group,
                "start_date": pa.start.isoformat(),
                "end_date": pa.end.isoformat(),
                "quantity_thousandths": pa.quantity_thousandths,
            },
            unique=("SELECT family_id FROM prior_authorization WHERE pa_number = $1", pa.number),
        )

    async def _change(
        self,
        member_id: str,
        references: str,
        statement: str,
        arguments: tuple[Any, ...],
        *,
        actor: str,
        action: str,
        detail: dict[str, Any],
        unique: tuple[str, str] | None = None,
        check: Callable[[Any, str], Awaitable[None]] | None = None,
    ) -> bool:
        """One upsert of the member's family's rows and its audit row, in one transaction
        (False, and nothing written: the rows were already as asked); an unknown reference is
        UnknownReference naming ``references``. ``unique``: a query and
        key that must not already belong to another family."""
        with _references(references):
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(),
            ):
                family_id = await self._family(
                    conn,
                    "SELECT family_id FROM member_key WHERE member_id = $1",
                    member_id,
                    "member_id",
                )
                if check is not None:
                    await check(conn, family_id)
                if unique is not None:
                    # one change of the key at a time: two families checking the same new
                    # key at once both found it free, and both took it (the admin hunt)
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))",
                        f"rx-gateway {action} {unique[1]}",
                    )
                    held = await conn.fetchval(*unique)
                    if held is not None and held != family_id:
                        raise InvalidRequest(
                            "pa_number", "already granted to a member of another family"
                        )
                status = await conn.execute(statement, family_id, *arguments)
                if status == "INSERT 0 0":  # sent again as stored: nothing changes, no row
                    return False
                await conn.execute(
                    "INSERT INTO audit_log (family_id, actor, action, outcome, detail)"
                    " VALUES ($1, $2, $3, 'ok', $4)",
                    family_id,
                    actor,
                    action,
                    detail,
                )
                return True
