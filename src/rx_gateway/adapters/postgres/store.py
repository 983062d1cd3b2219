"""The claim store on PostgreSQL: one read and one write per claim, each a single SQL call."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.postgres.errors import BROKEN_CONNECTION_ERRORS, mapped_errors
from rx_gateway.domain.adjudication import Paid, Reversal, StoredClaim
from rx_gateway.domain.claim import ClaimRequest, format_ccyymmdd
from rx_gateway.domain.errors import StorageUnavailable
from rx_gateway.domain.ledger import (
    AccumulatorMove,
    JournalEntry,
    Posting,
    PurseMove,
    claim_entry,
)
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    CardMember,
    Coverage,
    CoverageEndReason,
    Fill,
    Member,
    MemberState,
    PriorAuthorization,
    PurseSpend,
    PurseState,
)
from rx_gateway.domain.outcome import (
    ClaimResponse,
    ResponseStatus,
    response_from_record,
    response_to_record,
)
from rx_gateway.domain.reference import (
    CoverageLevel,
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.service_layer.ports import ExistingClaim, MemberLookup

# The warm-up writes for a real family of the loaded data, in a transaction that is rolled back
# (the claim path's role may not create families or purses of its own).
WARM_UP_SQL = """
SELECT m.cardholder_id, m.person_code, m.member_id, m.family_id, f.version,
       (SELECT c.plan_id FROM coverage c WHERE c.member_id = m.member_id
         ORDER BY c.start_date DESC LIMIT 1) AS plan_id,
       (SELECT p.purse_id FROM purse p WHERE p.family_id = m.family_id AND p.balance_cents > 0
         ORDER BY p.purse_id LIMIT 1) AS purse_id,
       (SELECT npi FROM pharmacy ORDER BY npi LIMIT 1) AS npi
FROM member m JOIN family f USING (family_id)
ORDER BY m.member_id LIMIT 1
"""
WARM_UP_MARK = "~warm-up"  # the claim key, control number and audit action of the warm-up


def _warm_up_claim(row: Any, day: dt.date) -> ClaimRequest:
    """A claim for the warm-up member: every field the write stores, well formed."""
    return ClaimRequest(
        bin="000000",
        processor_control_number=WARM_UP_MARK,
        service_provider_id=row["npi"] or WARM_UP_MARK,
        service_provider_id_qualifier="01",
        date_of_service=format_ccyymmdd(day),
        cardholder_id=row["cardholder_id"],
        group_id="",
        person_code=row["person_code"],
        patient_relationship_code=0,
        date_of_birth="",
        gender_code=0,
        prescription_reference_number="1",
        fill_number=0,
        product_id_qualifier="03",
        product_id="00000000000",
        quantity_dispensed_thousandths=1,
        days_supply=1,
        dispense_as_written=0,
        date_prescription_written="",
        number_of_refills_authorized=0,
        prior_authorization_number="",
        prescriber_id="",
        ingredient_cost_submitted_cents=1,
        dispensing_fee_submitted_cents=0,
        usual_and_customary_charge_cents=1,
        gross_amount_due_cents=1,
    )


def _warm_up_payment(row: Any, request: ClaimRequest, day: dt.date) -> Paid:
    """A balanced split (plan, the family's purse when it has money, member) with an
    accumulator move: every statement of the write runs."""
    plan_id = row["plan_id"] or WARM_UP_MARK
    purse_id = row["purse_id"]
    return Paid(
        response=ClaimResponse(
            status=ResponseStatus.PAID, internal_control_number=WARM_UP_MARK, plan_id=plan_id
        ),
        entry=claim_entry(
            plan_id=plan_id,
            pharmacy_npi=request.service_provider_id,
            member_id=row["member_id"],
            plan_paid_cents=1,
            purse_paid_cents={purse_id: 1} if purse_id else {},
            patient_pay_cents=1,
        ),
        purse_moves=(PurseMove(purse_id, -1),) if purse_id else (),
        accumulator_moves=(
            AccumulatorMove(
                AccumulatorLevel.INDIVIDUAL,
                row["member_id"],
                plan_id,
                day,
                AccumulatorKind.DEDUCTIBLE,
                1,
            ),
        ),
        member_id=row["member_id"],
        family_id=row["family_id"],
        molecule=WARM_UP_MARK,
    )


# The hot-path read: everything a claim needs about its member, in one statement, one round trip
# and one snapshot, as typed rows (asyncpg decodes them natively). Each row's kind says what it
# is; the columns are generic: t1-t6 text, d1-d2 date, n1-n2 bigint, j jsonb. It replaced a
# function that built one jsonb document: under load that cost about twice the PostgreSQL CPU,
# most of it starting the executor for a dozen sub-plans and their JSON expressions.
MEMBER_STATE_SQL = """
WITH m AS (
    SELECT member_id, cardholder_id, person_code, family_id, employer_id, class_code,
           date_of_birth, gender_code
    FROM member WHERE cardholder_id = $1 AND person_code = $2
)
SELECT 0 AS kind, m.member_id AS t1, m.family_id AS t2, m.employer_id AS t3,
       m.class_code AS t4, m.cardholder_id AS t5, m.person_code AS t6,
       m.date_of_birth AS d1, NULL::date AS d2, m.gender_code::bigint AS n1,
       f.version AS n2, NULL::jsonb AS j
FROM m JOIN family f USING (family_id)
UNION ALL
SELECT 1, c.plan_id, c.group_id, c.end_reason, c.line_of_business, c.coverage_level, NULL,
       c.start_date, c.end_date, NULL, NULL, NULL
FROM coverage c JOIN m USING (member_id)
UNION ALL
SELECT 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM accumulator a JOIN m ON a.subject_id = m.member_id
WHERE a.level = 'individual' AND a.plan_year_start BETWEEN $3::date - 366 AND $3::date
UNION ALL
SELECT 2, a.level, a.plan_id, a.kind, NULL, NULL, NULL, a.plan_year_start, NULL,
       a.amount_cents, NULL, NULL
FROM accumulator a JOIN m ON a.subject_id = m.family_id
WHERE a.level = 'family' AND a.plan_year_start BETWEEN $3::date - 366 AND $3::date
UNION ALL
SELECT 3, pu.purse_id, pu.kind, NULL, NULL, NULL, NULL, NULL, NULL, pu.balance_cents, NULL, NULL
FROM purse pu JOIN m USING (family_id)
UNION ALL
SELECT 4, a.purse_id, NULL, NULL, NULL, NULL, NULL, a.available_on, NULL, a.amount_cents,
       (f.funding_id IS NOT NULL)::int, NULL
FROM m JOIN purse pu USING (family_id)
JOIN purse_allotment a ON a.purse_id = pu.purse_id
LEFT JOIN purse_funding f ON f.funding_id = a.allotment_id
UNION ALL
SELECT 5, c.molecule, NULL, NULL, NULL, NULL, NULL, c.date_of_service, NULL, c.days_supply,
       c.quantity_thousandths, NULL
FROM claim c JOIN m USING (member_id)
WHERE c.date_of_service BETWEEN $3::date - 400 AND $3::date
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)
UNION ALL
SELECT 6, s.purse_id, NULL, NULL, NULL, NULL, NULL, s.date_of_service, NULL, s.paid_cents,
       NULL, NULL
FROM claim_purse_spend s JOIN m USING (family_id)
WHERE s.date_of_service BETWEEN $3::date - 400 AND $3::date + 400
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = s.claim_id)
UNION ALL
SELECT 7, pa.pa_number, pa.ndc, pa.drug_group, NULL, NULL, NULL, pa.start_date, pa.end_date,
       pa.quantity_thousandths, NULL, NULL
FROM prior_authorization pa JOIN m USING (member_id)
UNION ALL
(SELECT 8, c.request_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.claim_id,
        EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)::int, c.response
 FROM claim c WHERE c.claim_key = $4
 ORDER BY c.generation DESC LIMIT 1)
"""
_MEMBER, _COVERAGE, _ACCUMULATOR, _PURSE, _ALLOTMENT, _FILL, _SPEND, _PA, _EXISTING = range(9)


def _fold_accumulators(
    rows: list[tuple[str, str, dt.date, str, int]],
) -> dict[tuple[str, dt.date], Accumulators]:
    """Fold (level, plan, plan year start, kind, amount) rows, the member's individual rows and
    the family's, into one Accumulators per (plan, plan year)."""
    folded: dict[tuple[str, dt.date], dict[str, int]] = {}
    for level_text, plan_id, year, kind, amount in rows:
        level = AccumulatorLevel(level_text)
        field = f"{AccumulatorKind(kind).value}_{level.value}_cents"
        folded.setdefault((plan_id, year), {})[field] = amount
    return {key: Accumulators(**values) for key, values in folded.items()}


def member_lookup_from_rows(rows: list[Any], date_of_service: dt.date) -> MemberLookup:
    """The read's rows as the member's state and the claim already stored under the key."""
    member: Member | None = None
    family_version = 0
    coverages: list[Coverage] = []
    accumulators: list[tuple[str, str, dt.date, str, int]] = []
    purses: list[tuple[str, str, int]] = []
    due: dict[str, int] = {}
    pending: dict[str, int] = {}
    fills: list[Fill] = []
    spends: list[PurseSpend] = []
    authorizations: list[PriorAuthorization] = []
    existing: ExistingClaim | None = None
    for kind, t1, t2, t3, t4, t5, t6, d1, d2, n1, n2, j in rows:
        if kind == _MEMBER:
            member = Member(t1, t5, t6, t2, t3, t4, d1, n1)
            family_version = n2
        elif kind == _COVERAGE:
            end_reason = CoverageEndReason(t3) if t3 else None
            coverages.append(Coverage(t1, t2, d1, d2, end_reason, t4, CoverageLevel(t5)))
        elif kind == _ACCUMULATOR:
            accumulators.append((t1, t2, d1, t3, n1))
        elif kind == _PURSE:
            purses.append((t1, t2, n1))
        elif kind == _ALLOTMENT:
            if d1 > date_of_service:
                pending[t1] = pending.get(t1, 0) + n1
            elif not n2:  # due by the date of service and not yet funded: the write posts it
                due[t1] = due.get(t1, 0) + n1
        elif kind == _FILL:
            fills.append(Fill(t1, d1, n1, n2))
        elif kind == _SPEND:
            spends.append(PurseSpend(t1, d1, n1))
        elif kind == _PA:
            authorizations.append(PriorAuthorization(t2, t3, d1, d2, t1, n1))
        else:
            existing = ExistingClaim(n1, t1, response_from_record(j), bool(n2))
    if member is None:
        return MemberLookup(state=None, existing=existing)
    state = MemberState(
        member=member,
        family_version=family_version,
        coverages=tuple(sorted(coverages, key=lambda c: c.start)),
        accumulators=_fold_accumulators(accumulators),
        purses=tuple(
            PurseState(
                purse_id,
                kind,
                balance_cents=balance + due.get(purse_id, 0),
                posted_cents=balance,
                pending_cents=pending.get(purse_id, 0),
            )
            for purse_id, kind, balance in sorted(purses)
        ),
        fills=tuple(fills),
        purse_spends=tuple(spends),
        prior_authorizations=tuple(authorizations),
    )
    return MemberLookup(state=state, existing=existing)


def _stored_accumulators(
    rows: list[dict[str, Any]], member_id: str
) -> dict[tuple[str, dt.date], Accumulators]:
    """Accumulator rows of a stored claim's member and family (JSON) folded like the read's."""
    return _fold_accumulators(
        [
            (
                r["level"],
                r["plan_id"],
                dt.date.fromisoformat(r["plan_year_start"]),
                r["kind"],
                r["amount_cents"],
            )
            for r in rows
            if r["level"] != AccumulatorLevel.INDIVIDUAL.value or r["subject_id"] == member_id
        ]
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


class _Session:
    """A store bound to one connection: the store's own (inside a session or unit of work), or
    a pooled one until the block ends. A class rather than a generator, because every claim
    enters one. The acquire waits at most acquire_timeout_s, so an exhausted pool answers
    UNAVAILABLE quickly instead of queueing until the deadline; under asyncio.timeout, because
    asyncpg's own acquire timeout runs the acquire in a new task (asyncio.wait_for)."""

    __slots__ = ("_connection", "_store")

    def __init__(self, store: PostgresClaimStore) -> None:
        self._store = store
        self._connection: Any = None

    async def __aenter__(self) -> PostgresClaimStore:
        store = self._store
        if store._connection is not None:
            return store
        with mapped_errors():
            async with asyncio.timeout(store._acquire_timeout_s):
                self._connection = await store._pool.acquire()
        return store._bound(self._connection)

    async def __aexit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            if isinstance(error, StorageUnavailable) and isinstance(
                error.__cause__, BROKEN_CONNECTION_ERRORS
            ):
                # Its protocol state is unknown: close it rather than give it to the next claim
                # (the pool opens a new one). The pool may have detached it already.
                with contextlib.suppress(asyncpg.InterfaceError):
                    connection.terminate()
            with mapped_errors():
                await self._store._pool.release(connection)


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

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        """One statement on the session's connection, or on a pooled one acquired for it."""
        async with _Session(self) as store:
            rows: list[Any] = await store._connection.fetch(query, *args)
            return rows

    async def _fetchval(self, query: str, *args: Any) -> Any:
        async with _Session(self) as store:
            return await store._connection.fetchval(query, *args)

    def _bound(self, conn: Any) -> PostgresClaimStore:
        return PostgresClaimStore(
            self._pool,
            actor=self._actor,
            acquire_timeout_s=self._acquire_timeout_s,
            connection=conn,
        )

    def session(self) -> _Session:
        """One pooled connection for the calls of one claim (its read, then its write or audit
        row), each still its own statement and transaction. One acquire and release per claim
        instead of one per call. Inside a session or unit of work, the same store."""
        return _Session(self)

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[PostgresClaimStore]:
        """One connection and one transaction for several calls (a B3 rebill): everything
        commits when the block ends, nothing if it raises."""
        async with _Session(self) as store:
            with mapped_errors():
                async with store._connection.transaction():
                    yield store

    async def warm(self, connections: int) -> None:
        """Open ``connections`` pooled connections and make every hot-path call once on each,
        so that no claim pays for a backend's first call: measured under load, a backend's
        first rx_post_claim took 35-40 ms (the function's compile and the plans of each of its
        statements), and the pool hands out a connection it has not used yet exactly when a
        burst arrives."""
        with mapped_errors():
            held = [
                await self._pool.acquire(timeout=self._acquire_timeout_s)
                for _ in range(connections)
            ]
            try:
                for conn in held:
                    await self._bound(conn)._warm_up()
            finally:
                for conn in held:
                    await self._pool.release(conn)

    async def _warm_up(self) -> None:
        """The claim path's calls (read, paid write, reversal read and write, audit row) for a
        real family of the loaded data, in one transaction that is rolled back. Only sequence
        numbers are consumed (identifiers may skip a few values). With no member loaded yet,
        only the read runs."""
        conn = self._connection
        day = dt.date(2000, 1, 1)
        transaction = conn.transaction()
        await transaction.start()
        try:
            row = await conn.fetchrow(WARM_UP_SQL)
            if row is None:
                await self.member_state(WARM_UP_MARK, "", day, WARM_UP_MARK)
                return
            request = _warm_up_claim(row, day)
            key = request.key.as_text()
            await self.member_state(row["cardholder_id"], row["person_code"], day, key)
            paid = _warm_up_payment(row, request, day)
            await self.post_claim(request, paid, family_version=row["version"])
            stored = await self.claim_for_reversal(key)
            assert stored is not None  # noqa: S101 - posted just above, same transaction
            reversal = Reversal(
                response=ClaimResponse(status=ResponseStatus.APPROVED),
                entry=stored.entry.mirror(),
                purse_moves=tuple(PurseMove(m.purse_id, -m.amount_cents) for m in paid.purse_moves),
                accumulator_moves=tuple(m.negated() for m in paid.accumulator_moves),
            )
            await self.post_reversal(stored, reversal)
            await self.record_outcome("warm-up", paid.response, {})
        finally:
            await transaction.rollback()

    async def card_members(self, cardholder_id: str) -> tuple[CardMember, ...]:
        with mapped_errors():
            rows = await self._fetch(
                "SELECT person_code, date_of_birth, gender_code FROM member"
                " WHERE cardholder_id = $1 ORDER BY person_code",
                cardholder_id,
            )
        return tuple(CardMember(r[0], r[1], r[2]) for r in rows)

    async def member_state(
        self, cardholder_id: str, person_code: str, date_of_service: dt.date, claim_key: str
    ) -> MemberLookup:
        with mapped_errors():
            rows = await self._fetch(
                MEMBER_STATE_SQL, cardholder_id, person_code, date_of_service, claim_key
            )
        return member_lookup_from_rows(rows, date_of_service)

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
            "releases_allotments": paid.releases_allotments,
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
        accumulators = _stored_accumulators(record["accumulators"], member_id)
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
            cardholder_id=record.get("cardholder_id") or "",
            person_code=record.get("person_code") or "",
        )

    async def post_reversal(self, stored: StoredClaim, reversal: Reversal) -> ClaimResponse | None:
        # The database mirrors the original entry itself (rx_post_reversal); what the domain
        # computed for the response is the same mirror (rx-gateway verify checks both agree).
        payload = {
            "claim_id": stored.claim_id,
            "authorization_number": reversal.response.authorization_number,
            "response": response_to_record(reversal.response),
            "actor": self._actor,
            "audit": {"member_id": stored.member_id, "plan_id": stored.response.plan_id},
        }
        with mapped_errors():
            result = await self._fetchval("SELECT rx_post_reversal($1)", payload)
        if result["outcome"] == "posted":
            return None
        return response_from_record(result["response"])

    async def reference_version(self) -> str:
        """The newest stored reference version (a cheap poll; see ReferenceWatcher)."""
        with mapped_errors():
            version = await self._fetchval(
                "SELECT coalesce(max(version), 0) FROM reference_version"
            )
        return str(version)

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
