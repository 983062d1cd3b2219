"""The claim store on PostgreSQL: one read and one write per claim, each a single SQL call."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.domain.adjudication import Paid, Reversal, StoredClaim
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.ledger import AccumulatorMove, JournalEntry, Posting, PurseMove
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    Coverage,
    CoverageEndReason,
    Fill,
    Member,
    MemberState,
    PriorAuthorization,
    PurseSpend,
    PurseState,
)
from rx_gateway.domain.outcome import ClaimResponse, response_from_record, response_to_record
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.service_layer.ports import ExistingClaim, MemberLookup

MEMBER_STATE_SQL = "SELECT rx_member_state($1, $2, $3, $4)"


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _accumulators(
    rows: list[dict[str, Any]], member_id: str
) -> dict[tuple[str, dt.date], Accumulators]:
    """Fold accumulator rows into one Accumulators per (plan, plan year)."""
    folded: dict[tuple[str, dt.date], dict[str, int]] = {}
    for row in rows:
        key = (row["plan_id"], dt.date.fromisoformat(row["plan_year_start"]))
        level = AccumulatorLevel(row["level"])
        if level is AccumulatorLevel.INDIVIDUAL and row["subject_id"] != member_id:
            continue
        field = f"{AccumulatorKind(row['kind']).value}_{level.value}_cents"
        folded.setdefault(key, {})[field] = row["amount_cents"]
    return {key: Accumulators(**values) for key, values in folded.items()}


def member_state_from_record(record: dict[str, Any]) -> MemberState | None:
    member = record.get("member")
    if member is None:
        return None
    return MemberState(
        member=Member(
            member_id=member["member_id"],
            cardholder_id=member["cardholder_id"],
            person_code=member["person_code"],
            family_id=member["family_id"],
            employer_id=member["employer_id"],
            class_code=member["class_code"],
            date_of_birth=dt.date.fromisoformat(member["date_of_birth"]),
            gender_code=member["gender_code"],
        ),
        family_version=record["family_version"],
        coverages=tuple(
            Coverage(
                plan_id=c["plan_id"],
                group_id=c["group_id"],
                start=dt.date.fromisoformat(c["start_date"]),
                end=_date(c["end_date"]),
                end_reason=CoverageEndReason(c["end_reason"]) if c["end_reason"] else None,
                line_of_business=c["line_of_business"],
            )
            for c in sorted(record["coverages"], key=lambda c: c["start_date"])
        ),
        accumulators=_accumulators(record["accumulators"], member["member_id"]),
        purses=tuple(
            PurseState(
                p["purse_id"],
                p["kind"],
                balance_cents=p["balance_cents"] + p["due_cents"],
                posted_cents=p["balance_cents"],
                pending_cents=p["pending_cents"],
            )
            for p in record["purses"]
        ),
        fills=tuple(
            Fill(
                f["molecule"],
                dt.date.fromisoformat(f["date_of_service"]),
                f["days_supply"],
                f["quantity_thousandths"],
            )
            for f in record["fills"]
        ),
        purse_spends=tuple(
            PurseSpend(s["purse_id"], dt.date.fromisoformat(s["date_of_service"]), s["paid_cents"])
            for s in record["purse_spends"]
        ),
        prior_authorizations=tuple(
            PriorAuthorization(
                ndc=pa["ndc"],
                drug_group=pa["drug_group"],
                start=dt.date.fromisoformat(pa["start_date"]),
                end=dt.date.fromisoformat(pa["end_date"]),
                number=pa["pa_number"],
                quantity_thousandths=pa["quantity_thousandths"],
            )
            for pa in record["prior_authorizations"]
        ),
    )


def _moves_payload(moves: tuple[AccumulatorMove, ...]) -> list[dict[str, Any]]:
    return [
        {
            "level": m.level.value,
            "subject_id": m.subject_id,
            "plan_id": m.plan_id,
            "plan_year_start": m.plan_year_start,
            "kind": m.kind.value,
            "amount": m.amount_cents,
        }
        for m in moves
    ]


def _postings_payload(entry: JournalEntry) -> list[dict[str, Any]]:
    return [{"account": p.account, "amount": p.amount_cents} for p in entry.postings]


def _purse_payload(moves: tuple[PurseMove, ...]) -> list[dict[str, Any]]:
    return [{"purse_id": m.purse_id, "amount": m.amount_cents} for m in moves]


class PostgresClaimStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        actor: str = "gateway",
        acquire_timeout_s: float = 2.0,
        connection: Any = None,
    ) -> None:
        self._pool = pool
        self._actor = actor
        self._acquire_timeout_s = acquire_timeout_s
        self._connection = connection  # set inside a unit of work: every call on it

    async def _fetchval(self, query: str, *args: Any) -> Any:
        """One statement on a pooled connection, waiting at most acquire_timeout_s for one:
        an exhausted pool answers UNAVAILABLE quickly instead of queueing until the deadline."""
        if self._connection is not None:
            return await self._connection.fetchval(query, *args)
        async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
            return await conn.fetchval(query, *args)

    def _bound(self, conn: Any) -> PostgresClaimStore:
        return PostgresClaimStore(
            self._pool,
            actor=self._actor,
            acquire_timeout_s=self._acquire_timeout_s,
            connection=conn,
        )

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[PostgresClaimStore]:
        """One pooled connection for the calls of one claim (its read, then its write or audit
        row), each still its own statement and transaction. One acquire and release per claim
        instead of one per call. Inside a session or unit of work, the same store."""
        if self._connection is not None:
            yield self
            return
        with mapped_errors():
            async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                yield self._bound(conn)

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[PostgresClaimStore]:
        """One connection and one transaction for several calls (a B3 rebill): everything
        commits when the block ends, nothing if it raises."""
        with mapped_errors():
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(),
            ):
                yield self._bound(conn)

    async def warm(self, connections: int) -> None:
        """Open ``connections`` pooled connections and run the hot-path read once on each
        (for nobody), so that no claim pays for a backend's first call: the connect, the
        statement's prepare, the function's compile and plans."""
        with mapped_errors():
            held = [
                await self._pool.acquire(timeout=self._acquire_timeout_s)
                for _ in range(connections)
            ]
            try:
                for conn in held:
                    await conn.fetchval(MEMBER_STATE_SQL, "", "", dt.date(2000, 1, 1), "")
            finally:
                for conn in held:
                    await self._pool.release(conn)

    async def member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup:
        with mapped_errors():
            record = await self._fetchval(
                MEMBER_STATE_SQL, cardholder_id, person_code, date_of_service, claim_key
            )
        existing = record.get("existing")
        return MemberLookup(
            state=member_state_from_record(record),
            existing=ExistingClaim(
                claim_id=existing["claim_id"],
                request_hash=existing["request_hash"],
                response=response_from_record(existing["response"]),
                reversed=existing["reversed"],
            )
            if existing
            else None,
        )

    async def post_claim(
        self, request: ClaimRequest, paid: Paid, *, family_version: int
    ) -> ExistingClaim | None:
        response = paid.response
        payload = {
            "family_id": paid.family_id,
            "family_version": family_version,
            "claim_key": request.key.as_text(),
            "request_hash": request.content_hash(),
            "internal_control_number": response.internal_control_number,
            "authorization_number": response.authorization_number,
            "member_id": paid.member_id,
            "plan_id": response.plan_id,
            "pharmacy_npi": request.service_provider_id,
            "product_id": request.product_id,
            "molecule": paid.molecule,
            "date_of_service": request.service_date,
            "days_supply": request.days_supply,
            "quantity_thousandths": request.quantity_dispensed_thousandths,
            "reference_version": response.reference_data_version,
            "response": response_to_record(response),
            "postings": _postings_payload(paid.entry),
            "purse_moves": _purse_payload(paid.purse_moves),
            "accumulator_moves": _moves_payload(paid.accumulator_moves),
            "actor": self._actor,
            "audit": {
                "member_id": paid.member_id,
                "plan_id": response.plan_id,
                "pharmacy_npi": request.service_provider_id,
                "product_id": request.product_id,
                "reference_version": response.reference_data_version,
                "rule_trace": list(response.rule_trace),
            },
        }
        with mapped_errors():
            result = await self._fetchval("SELECT rx_post_claim($1)", payload)
        if result["outcome"] == "posted":
            return None
        return ExistingClaim(
            claim_id=result["claim_id"],
            request_hash=result["request_hash"],
            response=response_from_record(result["response"]),
            reversed=False,
        )

    async def record_outcome(
        self, action: str, response: ClaimResponse, detail: dict[str, object]
    ) -> None:
        with mapped_errors():
            await self._fetchval(
                "INSERT INTO audit_log (actor, action, claim_reference, outcome, detail)"
                " VALUES ($1, $2, $3, $4, $5)",
                self._actor,
                action,
                response.internal_control_number or None,
                response.status.value,
                detail,
            )

    async def claim_for_reversal(self, claim_key: str) -> StoredClaim | None:
        with mapped_errors():
            record = await self._fetchval("SELECT rx_claim_for_reversal($1)", claim_key)
        if record is None:
            return None
        member_id = record["member_id"]
        accumulators = _accumulators(record["accumulators"], member_id)
        response = response_from_record(record["response"])
        reversal = record["reversal_response"]
        return StoredClaim(
            claim_id=record["claim_id"],
            response=response,
            entry=JournalEntry(
                tuple(Posting(p["account"], p["amount"]) for p in record["postings"])
            ),
            purse_moves=tuple(
                PurseMove(p["account"].removeprefix("purse:"), p["amount"])
                for p in record["postings"]
                if p["account"].startswith("purse:")
            ),
            accumulator_moves=tuple(
                AccumulatorMove(
                    AccumulatorLevel(m["level"]),
                    m["subject_id"],
                    m["plan_id"],
                    dt.date.fromisoformat(m["plan_year_start"]),
                    AccumulatorKind(m["kind"]),
                    m["amount_cents"],
                )
                for m in record["accumulator_moves"]
            ),
            product_id=record["product_id"],
            member_id=member_id,
            family_id=record["family_id"],
            reversal_response=response_from_record(reversal) if reversal else None,
            accumulators_now=next(iter(accumulators.values()), Accumulators()),
        )

    async def post_reversal(self, stored: StoredClaim, reversal: Reversal) -> ClaimResponse | None:
        payload = {
            "claim_id": stored.claim_id,
            "family_id": stored.family_id,
            "authorization_number": reversal.response.authorization_number,
            "response": response_to_record(reversal.response),
            "postings": _postings_payload(reversal.entry),
            "purse_moves": _purse_payload(reversal.purse_moves),
            "accumulator_moves": _moves_payload(reversal.accumulator_moves),
            "actor": self._actor,
            "audit": {"member_id": stored.member_id, "plan_id": stored.response.plan_id},
        }
        with mapped_errors():
            result = await self._fetchval("SELECT rx_post_reversal($1)", payload)
        if result["outcome"] == "posted":
            return None
        return response_from_record(result["response"])

    async def load_snapshot(self) -> ReferenceSnapshot:
        """Read all reference data in one repeatable-read transaction."""
        with mapped_errors():
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                version = await conn.fetchval(
                    "SELECT coalesce(max(version), 0) FROM reference_version"
                )
                plans = await conn.fetch("SELECT plan_id, document FROM plan ORDER BY plan_id")
                drugs = await conn.fetch("SELECT * FROM drug")
                formulary = await conn.fetch("SELECT * FROM formulary")
                pharmacies = await conn.fetch("SELECT * FROM pharmacy")
        return ReferenceSnapshot.build(
            version=str(version),
            plans=[plan_from_document(r["document"], f"plan {r['plan_id']}") for r in plans],
            # The drug and formulary columns are named exactly as the dataclass fields.
            drugs=[Drug(**dict(r)) for r in drugs],
            formulary=[
                FormularyEntry(**(dict(r) | {"status": FormularyStatus(r["status"])}))
                for r in formulary
            ],
            pharmacies=[
                Pharmacy(r["npi"], r["name"], PharmacyNetwork(r["network"]), r["kind"])
                for r in pharmacies
            ],
        )
