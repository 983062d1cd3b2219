"""The start-up warm-up: every hot-path call once per pooled connection, rolled back.

Measured under load, a backend's first rx_post_claim took 35-40 ms (the function's compile and
the plans of each of its statements), and the pool hands out a connection it has not used yet
exactly when a burst arrives. The warm-up claim is built from the loaded data (a real family,
its plan, a purse with money, a pharmacy), not from identifiers of its own: the claim path's
role may not create families or purses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from rx_gateway.adapters.postgres.claim_ledger import LedgerWrites
from rx_gateway.adapters.postgres.member_reader import MEMBER_STATES_SQL
from rx_gateway.domain.adjudication import Paid
from rx_gateway.domain.claim import ClaimRequest, Header
from rx_gateway.domain.ledger import AccumulatorMove, PurseMove, claim_entry
from rx_gateway.domain.member import AccumulatorKind, AccumulatorLevel
from rx_gateway.domain.outcome import ClaimResponse, ResponseStatus
from rx_gateway.domain.reversal import Reversal
from rx_gateway.domain.values import format_ccyymmdd

# The warm-up writes for a real family of the loaded data, in a transaction that is rolled back
# (the claim path's role may not create families or purses of its own).
WARM_UP_SQL = """
SELECT m.cardholder_id, m.person_code, m.member_id, m.family_id, f.version,
       (SELECT c.plan_id FROM coverage c
         WHERE c.family_id = m.family_id AND c.member_id = m.member_id
         ORDER BY c.start_date DESC LIMIT 1) AS plan_id,
       (SELECT p.purse_id FROM purse p WHERE p.family_id = m.family_id AND p.posted_cents > 0
         ORDER BY p.purse_id LIMIT 1) AS purse_id,
       (SELECT npi FROM pharmacy ORDER BY npi LIMIT 1) AS npi
FROM member m JOIN family f ON f.family_id = m.family_id
WHERE m.family_id = (SELECT min(family_id) FROM member_key WHERE family_id > $1)
ORDER BY m.member_id LIMIT 1
"""  # $1: '' for the first family; the first's ID for a second (the set path's two claims)
WARM_UP_MARK = "~warm-up"  # the claim key, control number and audit action of the warm-up


def _warm_up_claim(row: Any, day: dt.date) -> ClaimRequest:
    """A claim for the warm-up member: every field the write stores, well formed."""
    return ClaimRequest(
        header=Header(
            bin="000000",
            processor_control_number=WARM_UP_MARK,
            service_provider_id=row["npi"] or WARM_UP_MARK,
            date_of_service=format_ccyymmdd(day),
        ),
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
        number_of_refills_authorized=None,
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
            transaction_response_status=ResponseStatus.PAID,
            internal_control_number=WARM_UP_MARK,
            plan_id=plan_id,
        ),
        entry=claim_entry(
            plan_id=plan_id,
            service_provider_id=request.header.service_provider_id,
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


async def _warm_batches(
    connection: Any, actor: str, read: tuple[str, str, str, dt.date, str]
) -> None:
    """The batched read and write (natural batching), once: a read of one, two audit rows."""
    await connection.fetch(MEMBER_STATES_SQL, *([value] for value in read))
    audit = {
        "actor": actor,
        "action": "warm-up",
        "internal_control_number": WARM_UP_MARK,
        "outcome": "P",
        "detail": {},
    }
    await connection.fetchval(  # two items: the batch's fast path runs
        "SELECT rx_post_batch($1, $2, $3)", ["audit"] * 2, [read[0]] * 2, [audit] * 2
    )


async def _warm_set_path(
    store: LedgerWrites, connection: Any, rows: list[Any], day: dt.date
) -> list[dict[str, Any] | Exception]:
    """A batch of two claims of two families: the write's set path (rx_post_batch_set, 0020),
    which a batch of one does not take. Each claim's outcome (both posted: the set path ran to
    its end, every statement planned)."""
    writes = []
    for row in rows:
        request = replace(_warm_up_claim(row, day), prescription_reference_number="2")
        paid = _warm_up_payment(row, request, day)
        # a control number of its own: the first family already holds the warm-up claim's
        paid = replace(
            paid,
            response=replace(paid.response, internal_control_number=f"{WARM_UP_MARK}-set"),
        )
        version = await connection.fetchval(
            "SELECT version FROM family WHERE family_id = $1", row["family_id"]
        )
        writes.append(("claim", row["family_id"], store.claim_payload(request, paid, version)))
    return await store.write_batch(writes, None)


async def warm_up(session: LedgerWrites, connection: Any) -> None:
    """The claim path's calls (read, paid write, reversal read and write, audit row) on the
    session's connection, in one transaction that is rolled back. Only sequence numbers are
    consumed (identifiers may skip a few values). With no member loaded yet, only the read
    runs."""
    day = dt.date(2000, 1, 1)
    transaction = connection.transaction()
    await transaction.start()
    try:
        row = await connection.fetchrow(WARM_UP_SQL, "")
        if row is None:
            await session.member_state(WARM_UP_MARK, "", day, WARM_UP_MARK)
            await _warm_batches(connection, WARM_UP_MARK, ("", WARM_UP_MARK, "", day, ""))
            return
        request = _warm_up_claim(row, day)
        key = request.key.as_text()
        await session.member_state(row["cardholder_id"], row["person_code"], day, key)
        paid = _warm_up_payment(row, request, day)
        await session.post_claim(request, paid, family_version=row["version"])
        stored = await session.claim_for_reversal(key)
        assert stored is not None  # noqa: S101 - posted just above, same transaction
        reversal = Reversal(
            response=ClaimResponse(transaction_response_status=ResponseStatus.APPROVED),
            entry=stored.entry.mirror(),
            purse_moves=tuple(PurseMove(m.purse_id, -m.amount_cents) for m in paid.purse_moves),
            accumulator_moves=tuple(m.negated() for m in paid.accumulator_moves),
        )
        await session.post_reversal(stored, reversal)
        await session.record_outcome("warm-up", paid.response, {}, family_id=row["family_id"])
        read = (row["family_id"], row["cardholder_id"], row["person_code"], day, key)
        await _warm_batches(connection, WARM_UP_MARK, read)
        second = await connection.fetchrow(WARM_UP_SQL, row["family_id"])
        if second is not None:
            await _warm_set_path(session, connection, [row, second], day)
    finally:
        await transaction.rollback()
