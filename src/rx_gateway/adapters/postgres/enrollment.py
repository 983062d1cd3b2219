"""An 834 applied on PostgreSQL: one transaction per file, with its audit row and a NOTIFY.

Inside the transaction, in order: enrollments one at a time (an advisory lock); the file's
digest and control number looked up (a file applied before returns its first outcome and
changes nothing); the families the file names locked in family order (a claim writing one of
them finishes first), read, and planned over (``domain.enrollment.plan_enrollment``: a problem
there refuses the file before anything is written); then families, sponsors, members, the
directory, accounts and coverage spans written; claims paid under a span the file re-dated so
that it no longer covers their date of service recorded for review (never changed); the
families' versions bumped (a claim read before the change is adjudicated again); the file,
its audit row, and ``NOTIFY rx_enrollment``.

Running gateways need no reload: a claim reads its member's coverage when it arrives, and the
family directory a gateway remembers never goes stale through an 834 (a card's people stay in
the card's family; an unknown card is never remembered). The notification (payload: the file
ID and counts, no PHI) is for whoever else keeps member data: a cache, a replica, a report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.domain import ledger
from rx_gateway.domain.enrollment import (
    Enrolled,
    EnrolledMember,
    Enrollment,
    EnrollmentCounts,
    EnrollmentOutcome,
    EnrollmentPlan,
    InterchangeIdentity,
    ReviewItem,
    derived_family_id,
    plan_enrollment,
)
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.member import Coverage, CoverageEndReason
from rx_gateway.domain.reference import CoverageLevel, Plan

ENROLLMENT_CHANNEL = "rx_enrollment"  # NOTIFY payload: {"file_id": ..., "families": ...}
ENROLLMENT_LOCK_KEY = 834_834  # pg_advisory_xact_lock: one enrollment at a time

MEMBERS_SQL = """
WITH families AS (
    SELECT family_id FROM member_key
    WHERE cardholder_id = ANY($1::text[]) OR member_id = ANY($2::text[])
    UNION SELECT unnest($3::text[])
)
SELECT m.member_id, m.cardholder_id, m.person_code, m.family_id, m.employer_id, m.class_code,
       m.first_name, m.last_name, m.date_of_birth, m.gender_code, m.patient_relationship_code
FROM member m JOIN families f USING (family_id)
ORDER BY m.family_id, m.member_id
"""
COVERAGES_SQL = """
SELECT member_id, plan_id, group_id, start_date, end_date, end_reason, line_of_business,
       coverage_level, payer_order
FROM coverage WHERE family_id = ANY($1::text[])
ORDER BY member_id, plan_id, start_date
"""
# Claims paid under a span as it was ($4..$5), whose date of service no span of the member's
# plan covers now, not reversed, not already listed.
REVIEW_SQL = """
INSERT INTO enrollment_review (family_id, file_id, claim_id, member_id, plan_id,
                               date_of_service, coverage_start, coverage_end_before,
                               coverage_end_after)
SELECT c.family_id, $6, c.claim_id, c.member_id, c.plan_id, c.date_of_service, $4, $5, $7
FROM claim c
WHERE c.family_id = $1 AND c.member_id = $2 AND c.plan_id = $3
  AND c.date_of_service >= $4 AND ($5::date IS NULL OR c.date_of_service <= $5)
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)
  AND NOT EXISTS (SELECT 1 FROM coverage v
                  WHERE v.family_id = c.family_id AND v.member_id = c.member_id
                    AND v.plan_id = c.plan_id AND v.start_date <= c.date_of_service
                    AND (v.end_date IS NULL OR c.date_of_service <= v.end_date))
ON CONFLICT (family_id, claim_id) DO NOTHING
"""
REPORT_SQL = """
SELECT r.file_id, f.name, r.flagged_at, c.internal_control_number, r.member_id, r.plan_id,
       r.date_of_service, coalesce((c.response->'pricing'->>'plan_paid_cents')::bigint, 0),
       r.coverage_start, r.coverage_end_before, r.coverage_end_after
FROM enrollment_review r
JOIN enrollment_file f ON f.file_id = r.file_id
JOIN claim c ON c.family_id = r.family_id AND c.claim_id = r.claim_id
WHERE NOT EXISTS (SELECT 1 FROM claim_reversal x
                  WHERE x.family_id = r.family_id AND x.claim_id = r.claim_id)
ORDER BY r.flagged_at, r.family_id, r.review_id
LIMIT $1
"""


def _coverage(row: Any) -> Coverage:
    return Coverage(
        plan_id=row["plan_id"],
        group_id=row["group_id"],
        start=row["start_date"],
        end=row["end_date"],
        end_reason=CoverageEndReason(row["end_reason"]) if row["end_reason"] else None,
        line_of_business=row["line_of_business"],
        level=CoverageLevel(row["coverage_level"]),
        payer_order=row["payer_order"],
    )


async def _earlier_file(conn: Any, interchange: InterchangeIdentity) -> tuple[Any, Any]:
    """(the file applied before with this content, if any; else the other file the sender's
    ISA13 already names, if any). The same content is found by its digest, by the digest it
    had before delimiters were written the usual way, or (under its ISA13) by the digest it had
    before its ambiguous data was escaped."""
    earlier = await conn.fetchrow(
        "SELECT * FROM enrollment_file WHERE content_sha256 = ANY($1::text[])"
        " ORDER BY file_id LIMIT 1",
        [interchange.content_sha256, interchange.earlier_content_sha256 or None],
    )
    if earlier is not None:
        return earlier, None
    used = await conn.fetchrow(
        "SELECT * FROM enrollment_file"
        " WHERE interchange_sender_id = $1 AND interchange_control_number = $2",
        interchange.sender_id,
        interchange.interchange_control_number,
    )
    if used is not None and used["content_sha256"] in interchange.legacy_content_sha256s:
        return used, None  # this file, applied before its ambiguous data was escaped
    return None, used


async def _already_applied(conn: Any, row: Any) -> EnrollmentOutcome:
    """The outcome of a file applied before (``row``): nothing changed, its review count."""
    flagged = await conn.fetchval(
        "SELECT count(*) FROM enrollment_review WHERE file_id = $1", row["file_id"]
    )
    return _outcome(row, applied=False, review=flagged)


def _outcome(row: Any, *, applied: bool, review: int) -> EnrollmentOutcome:
    summary = row["summary"]
    fields = EnrollmentCounts.__dataclass_fields__
    return EnrollmentOutcome(
        file_id=row["file_id"],
        applied=applied,
        applied_at=row["applied_at"],
        source=row["name"],
        interchange_control_number=row["interchange_control_number"],
        counts=EnrollmentCounts(**{k: int(v) for k, v in summary["counts"].items() if k in fields}),
        claims_for_review=review,
    )


class PostgresEnrollment:
    """The EnrollmentStore: applies 834s and lists their review items."""

    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._acquire_timeout_s = acquire_timeout_s

    async def apply(
        self, enrollment: Enrollment, plans: Mapping[str, Plan], *, actor: str
    ) -> EnrollmentOutcome:
        with mapped_errors():
            async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                try:
                    async with conn.transaction():
                        return await self._apply(conn, enrollment, plans, actor)
                except asyncpg.UniqueViolationError as error:
                    # a member ID or card person the plan thought free (another card's):
                    # named by constraint only (DETAIL may quote PHI)
                    msg = f"the database refused it ({error.constraint_name}); nothing applied"
                    raise InvalidRequest(enrollment.source, msg) from None

    async def reused(self, interchange: InterchangeIdentity) -> bool:
        with mapped_errors():
            async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                _, used = await _earlier_file(conn, interchange)
        return used is not None

    async def next_control_number(self) -> int:
        """The next ISA13 of what the gateway sends (the 835s' sequence: one sender, one
        series of interchange control numbers)."""
        with mapped_errors():
            async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                number: int = await conn.fetchval(
                    "SELECT nextval('x12_interchange_control_number')"
                )
        return number

    async def review(self, limit: int) -> list[ReviewItem]:
        with mapped_errors():
            async with self._pool.acquire(timeout=self._acquire_timeout_s) as conn:
                rows = await conn.fetch(REPORT_SQL, limit)
        return [ReviewItem(*row) for row in rows]

    async def _apply(
        self, conn: Any, enrollment: Enrollment, plans: Mapping[str, Plan], actor: str
    ) -> EnrollmentOutcome:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ENROLLMENT_LOCK_KEY)
        earlier, used = await _earlier_file(conn, enrollment.interchange)
        if earlier is not None:
            return await _already_applied(conn, earlier)
        if used is not None:
            known = enrollment.interchange
            msg = (
                f"ISA: ISA13 {known.interchange_control_number} from sender {known.sender_id}"
                f" was already used by another file ({used['name']},"
                f" applied {used['applied_at']:%Y-%m-%d %H:%M}): a corrected file needs a new"
                " interchange control number"
            )
            raise InvalidRequest(enrollment.source, msg)
        enrolled = await self._enrolled(conn, enrollment)
        plan = plan_enrollment(enrollment, enrolled, plans)
        await self._write(conn, plan)
        file_row = await conn.fetchrow(
            "INSERT INTO enrollment_file (content_sha256, name, interchange_sender_id,"
            " interchange_control_number, transaction_control_numbers, sponsor_ids, actor,"
            " summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            enrollment.interchange.content_sha256,
            enrollment.source,
            enrollment.interchange.sender_id,
            enrollment.interchange.interchange_control_number,
            [t.control_number for t in enrollment.transactions],
            sorted({t.sponsor_id for t in enrollment.transactions}),
            actor,
            {"counts": plan.counts.as_dict()},
        )
        review = await self._flag(conn, plan, file_row["file_id"])
        await conn.execute(
            "UPDATE family SET version = version + 1 WHERE family_id = ANY($1::text[])",
            list(plan.touched_families),
        )
        detail = {
            "file_id": file_row["file_id"],
            "name": enrollment.source,
            "interchange_control_number": enrollment.interchange.interchange_control_number,
            "counts": plan.counts.as_dict(),
            "claims_for_review": review,
            "families": len(plan.touched_families),
        }
        await conn.execute(
            "INSERT INTO audit_log (actor, action, outcome, detail)"
            " VALUES ($1, 'enroll', 'ok', $2)",
            actor,
            detail,
        )
        await conn.execute(
            "SELECT pg_notify($1, $2::jsonb::text)",
            ENROLLMENT_CHANNEL,
            {"file_id": file_row["file_id"], "families": len(plan.touched_families)},
        )
        return _outcome(file_row, applied=True, review=review)

    async def _enrolled(self, conn: Any, enrollment: Enrollment) -> Enrolled:
        """What is stored for the families the file names, those families locked first."""
        changes = [m for t in enrollment.transactions for m in t.members]
        cards = sorted({m.cardholder_id for m in changes})
        member_ids = sorted({m.member_id for m in changes if m.member_id})
        named = sorted(
            {m.family_id for m in changes if m.family_id}
            | {derived_family_id(card) for card in cards}
        )
        families = [
            r[0]
            for r in await conn.fetch(
                "SELECT family_id FROM family WHERE family_id IN ("
                " SELECT family_id FROM member_key"
                " WHERE cardholder_id = ANY($1::text[]) OR member_id = ANY($2::text[])"
                " UNION SELECT unnest($3::text[]))"
                " ORDER BY family_id FOR UPDATE",
                cards,
                member_ids,
                named,
            )
        ]
        members = await conn.fetch(MEMBERS_SQL, cards, member_ids, named)
        coverages: dict[str, list[Coverage]] = {}
        for row in await conn.fetch(COVERAGES_SQL, families):
            coverages.setdefault(row["member_id"], []).append(_coverage(row))
        employers = await conn.fetch(
            "SELECT family_id, employer_id FROM family WHERE family_id = ANY($1::text[])",
            families,
        )
        return Enrolled(
            members=tuple(EnrolledMember(*row) for row in members),
            coverages={k: tuple(v) for k, v in coverages.items()},
            family_employers={r[0]: r[1] for r in employers},
        )

    async def _write(self, conn: Any, plan: EnrollmentPlan) -> None:
        await conn.executemany(
            "INSERT INTO family (family_id, employer_id) VALUES ($1, $2)"
            " ON CONFLICT (family_id) DO UPDATE SET employer_id = EXCLUDED.employer_id",
            list(plan.families),
        )
        employers = sorted({e for _, e in plan.families} | {m.employer_id for m in plan.members})
        await conn.executemany(
            "INSERT INTO sponsor (sponsor_id, name) VALUES ($1, $1)"
            " ON CONFLICT (sponsor_id) DO NOTHING",
            [(e,) for e in employers],
        )
        await conn.executemany(
            "INSERT INTO member (member_id, cardholder_id, person_code, family_id, employer_id,"
            " class_code, first_name, last_name, date_of_birth, gender_code,"
            " patient_relationship_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (family_id, member_id) DO UPDATE SET"
            " cardholder_id = EXCLUDED.cardholder_id, person_code = EXCLUDED.person_code,"
            " employer_id = EXCLUDED.employer_id, class_code = EXCLUDED.class_code,"
            " first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,"
            " date_of_birth = EXCLUDED.date_of_birth, gender_code = EXCLUDED.gender_code,"
            " patient_relationship_code = EXCLUDED.patient_relationship_code",
            [
                (
                    m.member_id,
                    m.cardholder_id,
                    m.person_code,
                    m.family_id,
                    m.employer_id,
                    m.class_code,
                    m.first_name,
                    m.last_name,
                    m.date_of_birth,
                    m.gender_code,
                    m.patient_relationship_code,
                )
                for m in plan.members
            ],
        )
        new = [m for m in plan.members if m.member_id in plan.new_member_ids]
        await conn.executemany(
            "INSERT INTO member_key (cardholder_id, person_code, member_id, family_id,"
            " date_of_birth, gender_code) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (m.cardholder_id, m.person_code, m.member_id, m.family_id, m.date_of_birth,
                 m.gender_code)
                for m in new
            ],
        )  # fmt: skip
        await conn.executemany(
            "UPDATE member_key SET date_of_birth = $2, gender_code = $3 WHERE member_id = $1",
            [
                (m.member_id, m.date_of_birth, m.gender_code)
                for m in plan.members
                if m.member_id not in plan.new_member_ids
            ],
        )
        await conn.executemany(
            "INSERT INTO account (account_key, kind) VALUES ($1, 'member_paid')"
            " ON CONFLICT DO NOTHING",
            [(ledger.member_paid_account(i),) for i in sorted(plan.new_member_ids)],
        )
        changed = [s for s in plan.spans if s.before is not None]
        await conn.executemany(
            "UPDATE coverage SET start_date = $5, end_date = $6, end_reason = $7, group_id = $8,"
            " coverage_level = $9 WHERE family_id = $1 AND member_id = $2 AND plan_id = $3"
            " AND start_date = $4",
            [
                (s.family_id, s.member_id, s.after.plan_id, s.before.start, *_span(s.after))
                for s in changed
                if s.before is not None
            ],
        )
        await conn.executemany(
            "INSERT INTO coverage (family_id, member_id, plan_id, start_date, end_date,"
            " end_reason, group_id, coverage_level, line_of_business, payer_order)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [
                (s.family_id, s.member_id, s.after.plan_id, *_span(s.after),
                 s.after.line_of_business, s.after.payer_order)
                for s in plan.spans
                if s.before is None
            ],
        )  # fmt: skip

    async def _flag(self, conn: Any, plan: EnrollmentPlan, file_id: int) -> int:
        """Claims paid under a span as it was that no span covers now: listed for review."""
        flagged = 0
        for s in plan.spans:
            before = s.before
            if before is None:
                continue
            status = await conn.execute(
                REVIEW_SQL,
                s.family_id,
                s.member_id,
                before.plan_id,
                before.start,
                before.end,
                file_id,
                s.after.end,
            )
            flagged += int(status.rsplit(" ", 1)[-1])
        return flagged


def _span(c: Coverage) -> tuple[dt.date, dt.date | None, str | None, str, str]:
    """(start, end, end reason, group, level): the columns a span write sets."""
    return (
        c.start,
        c.end,
        c.end_reason.value if c.end_reason else None,
        c.group_id,
        c.level.value,
    )
