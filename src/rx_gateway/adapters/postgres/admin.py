"""Admin changes on PostgreSQL: each one transaction, with its audit row.

The admin interface has its own pool, connected as the operator's login (not the claim
path's application role, which may not change members, coverage or authorizations).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.domain.errors import UnknownReference
from rx_gateway.service_layer.admin import AuthorizationGrant, CoverageChange, PurseFunding


@contextmanager
def _references(what: str) -> Iterator[None]:
    try:
        with mapped_errors():
            yield
    except asyncpg.ForeignKeyViolationError as error:
        raise UnknownReference(f"unknown {what}") from error


class PostgresAdmin:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout_s: float = 2.0) -> None:
        self._pool = pool
        self._acquire_timeout_s = acquire_timeout_s

    async def fund_purse(self, funding: PurseFunding, *, actor: str) -> bool:
        """Fund now (a balanced funding entry) or schedule an allotment; False when this
        funding ID was already applied or scheduled."""
        with _references("purse_id"):
            async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                if funding.available_on is not None:
                    applied = await conn.fetchval(
                        "SELECT rx_schedule_allotment($1, $2, $3, $4, $5, $6)",
                        funding.funding_id,
                        funding.purse_id,
                        funding.amount_cents,
                        funding.available_on,
                        actor,
                        funding.memo,
                    )
                    return bool(applied)
                entry = await conn.fetchval(
                    "SELECT rx_fund_purse($1, $2, $3, $4, $5)",
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
        await self._change(
            "member_id or plan_id",
            "INSERT INTO coverage (member_id, plan_id, group_id, start_date, end_date,"
            " end_reason, line_of_business) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (member_id, plan_id, start_date) DO UPDATE SET"
            " group_id = EXCLUDED.group_id, end_date = EXCLUDED.end_date,"
            " end_reason = EXCLUDED.end_reason,"
            " line_of_business = EXCLUDED.line_of_business",
            (
                change.member_id,
                c.plan_id,
                c.group_id,
                c.start,
                c.end,
                end_reason,
                c.line_of_business,
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
            },
        )
        return True

    async def grant_prior_authorization(self, grant: AuthorizationGrant, *, actor: str) -> bool:
        pa = grant.authorization
        await self._change(
            "member_id",
            "INSERT INTO prior_authorization (pa_number, member_id, ndc, drug_group,"
            " start_date, end_date, quantity_thousandths)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (pa_number) DO UPDATE SET member_id = EXCLUDED.member_id,"
            " ndc = EXCLUDED.ndc, drug_group = EXCLUDED.drug_group,"
            " start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,"
            " quantity_thousandths = EXCLUDED.quantity_thousandths",
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
        )
        return True

    async def _change(
        self,
        references: str,
        statement: str,
        arguments: tuple[Any, ...],
        *,
        actor: str,
        action: str,
        detail: dict[str, Any],
    ) -> None:
        """One upsert and its audit row, in one transaction; an unknown reference is
        UnknownReference naming ``references``."""
        with _references(references):
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(),
            ):
                await conn.execute(statement, *arguments)
                await conn.execute(
                    "INSERT INTO audit_log (actor, action, outcome, detail)"
                    " VALUES ($1, $2, 'ok', $3)",
                    actor,
                    action,
                    detail,
                )
