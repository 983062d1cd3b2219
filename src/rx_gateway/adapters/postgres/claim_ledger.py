"""The claim ledger on PostgreSQL: the paid claim's one write, the reversal's, the audit row of
an answer that wrote nothing else, and the stored claim a reversal mirrors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rx_gateway.adapters.postgres.connection import Session
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.adapters.postgres.member_reader import MemberReads, fold_accumulators
from rx_gateway.adapters.postgres.records import response_from_record, response_to_record
from rx_gateway.domain.adjudication import Paid
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.claim_record import request_to_record
from rx_gateway.domain.errors import ConcurrencyConflict, InvariantViolation
from rx_gateway.domain.ledger import AccumulatorMove, JournalEntry, Posting, PurseMove
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    PurseState,
)
from rx_gateway.domain.outcome import ClaimResponse
from rx_gateway.domain.reversal import Reversal, StoredClaim
from rx_gateway.domain.values import parse_ccyymmdd

# The one-claim writes (no batching, or inside a unit of work): family first, then the payload.
SINGLE_WRITES = {
    "claim": "SELECT rx_post_claim($1, $2)",
    "reversal": "SELECT rx_post_reversal($1, $2)",
}


def _stored_accumulators(
    rows: list[dict[str, Any]], member_id: str
) -> dict[tuple[str, dt.date], Accumulators]:
    """Accumulator rows of a stored claim's member and family (JSON) folded like the read's."""
    return fold_accumulators(
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


class LedgerWrites(MemberReads):
    """The ClaimLedger port: each call one SQL function call, one transaction, on the family's
    rows only (the family is the functions' first parameter)."""

    async def post_claim(
        self, request: ClaimRequest, paid: Paid, *, family_version: int
    ) -> StoredClaim | None:
        result = await self._post(
            "claim", paid.family_id, self.claim_payload(request, paid, family_version)
        )
        if result["outcome"] == "posted":
            return None
        return StoredClaim(
            claim_id=result["claim_id"],
            response=response_from_record(result["response"]),
            request_hash=result["request_hash"],
        )

    def claim_payload(
        self, request: ClaimRequest, paid: Paid, family_version: int
    ) -> dict[str, Any]:
        """What rx_post_claim takes: the claim, its entry, purse and accumulator moves."""
        response = paid.response
        return {
            "family_version": family_version,
            "claim_key": request.key.as_text(),
            "request_hash": request.content_hash(),
            "internal_control_number": response.internal_control_number,
            "authorization_number": response.authorization_number,
            "member_id": paid.member_id,
            "plan_id": response.plan_id,
            "service_provider_id": request.header.service_provider_id,
            "product_id": request.product_id,
            "molecule": paid.molecule,
            "date_of_service": request.service_date,
            "days_supply": request.days_supply,
            "quantity_thousandths": request.quantity_dispensed_thousandths,
            "gross_amount_due_cents": request.gross_amount_due_cents,
            "reference_data_version": response.reference_data_version,
            "response": response_to_record(response),
            "postings": _postings_payload(paid.entry),
            "purse_moves": _purse_payload(paid.purse_moves),
            "releases_allotments": paid.releases_allotments,
            # rewards for a lower-cost choice: each its own entry, built and checked by
            # rx_post_claim (0018): the sponsor's incentive_funding account to the purse
            "reward_moves": [
                {
                    "program_id": r.program_id,
                    "purse_id": r.purse_id,
                    "amount": r.amount_cents,
                    "plan_year_start": parse_ccyymmdd(r.plan_year_start),
                }
                for r in paid.rewards
            ],
            "accumulator_moves": _moves_payload(paid.accumulator_moves),
            "actor": self._actor,
            # The paid claim's audit row names the claim (993-A7, the actor, when) and keeps
            # only what the claim row does not: member, plan, pharmacy, product, reference
            # version and the rule trace are the claim row's own columns and stored response.
            "audit": {
                # 433-DX: what the pharmacy says the patient paid (recorded, not priced)
                "patient_paid_amount_submitted_cents": (
                    request.additional_amounts.patient_paid_cents
                ),
                # the request as sent, for a replay of stored claims (rx-gateway simulate)
                "request": request_to_record(request, paid.business_date or request.service_date),
            },
        }

    async def _post(self, kind: str, family_id: str, payload: dict[str, Any]) -> Any:
        """One write: with batching, joined to the batch in flight's successor (one transaction
        for the batch, this claim's part all-or-nothing); else its own SQL call."""
        if self._batches is not None and self._connection is None:
            return await self._batches.writes.call((kind, family_id, payload), self._deadline)
        with mapped_errors():
            return await self._fetchval(SINGLE_WRITES[kind], family_id, payload)

    async def write_batch(
        self, writes: list[tuple[str, str, dict[str, Any]]], deadline: float | None
    ) -> list[dict[str, Any] | Exception]:
        """The writes of a batch in one transaction (rx_post_batch), sorted by family so that
        writers lock families in one order; each write's outcome, in the order given: its
        result, or the conflict or invariant that rolled back its part alone."""
        order = sorted(range(len(writes)), key=lambda k: writes[k][1])
        pin = self._batches.write_pin if self._batches is not None else None
        async with Session(self, deadline, pin) as store:
            with mapped_errors():
                results = await store._fetchval(
                    "SELECT rx_post_batch($1, $2, $3)",
                    [writes[k][0] for k in order],
                    [writes[k][1] for k in order],
                    [writes[k][2] for k in order],
                )
        outcomes: list[dict[str, Any] | Exception] = [{} for _ in writes]
        for position, k in enumerate(order):
            result = results[position]
            if result["outcome"] == "conflict":
                outcomes[k] = ConcurrencyConflict(result["message"])
            elif result["outcome"] == "invariant":
                outcomes[k] = InvariantViolation(result["message"])
            else:
                outcomes[k] = result
        return outcomes

    async def record_outcome(
        self,
        action: str,
        response: ClaimResponse,
        detail: dict[str, object],
        *,
        family_id: str = "",
    ) -> None:
        if self._batches is not None and self._connection is None:
            await self._post(
                "audit",
                family_id,
                {
                    "actor": self._actor,
                    "action": action,
                    "internal_control_number": response.internal_control_number,
                    "outcome": response.transaction_response_status.value,
                    "detail": detail,
                },
            )
            return
        with mapped_errors():
            await self._fetchval(
                "INSERT INTO audit_log"
                " (family_id, actor, action, internal_control_number, outcome, detail)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                family_id,
                self._actor,
                action,
                response.internal_control_number or None,
                response.transaction_response_status.value,
                detail,
            )

    async def claim_for_reversal(
        self, claim_key: str, cardholder_id: str = "", person_code: str = ""
    ) -> StoredClaim | None:
        """The latest claim under the key. Its family is the card's when the reversal names
        one (one directory read, or none); otherwise, or when the claim is not there, the
        family that holds the key (on Citus a read of every shard: rare)."""
        family_id = await self._card_family(cardholder_id, person_code)
        record = None
        with mapped_errors():
            if family_id is not None:
                record = await self._fetchval(
                    "SELECT rx_claim_for_reversal($1, $2)", family_id, claim_key
                )
            if record is None:
                holder = await self._fetchval(
                    "SELECT family_id FROM claim WHERE claim_key = $1"
                    " ORDER BY generation DESC LIMIT 1",
                    claim_key,
                )
                if holder is not None and holder != family_id:
                    record = await self._fetchval(
                        "SELECT rx_claim_for_reversal($1, $2)", holder, claim_key
                    )
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
            # what the claim took from each purse, from its own stored purse lines
            purse_moves=tuple(
                PurseMove(line.purse_id, -line.paid_cents) for line in response.purses
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
            purses_now=tuple(
                PurseState(
                    p["purse_id"],
                    p["kind"],
                    available_cents=p["available_cents"],
                    posted_cents=p["posted_cents"],
                )
                for p in record.get("purses", ())
            ),
            class_code=record.get("class_code") or "",
            family_version=record.get("family_version"),
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
        if stored.family_version is not None:
            payload["family_version"] = stored.family_version
        result = await self._post("reversal", stored.family_id, payload)
        if result["outcome"] == "posted":
            return None
        return response_from_record(result["response"])

    async def _card_family(self, cardholder_id: str, person_code: str) -> str | None:
        """The family of the card a reversal names: of the person when it names one, else of
        the card when all its people are in one family."""
        if not cardholder_id:
            return None
        if person_code:
            return await self.family_of(cardholder_id, person_code)
        with mapped_errors():
            families = await self._fetch(
                "SELECT DISTINCT family_id FROM member_key WHERE cardholder_id = $1",
                cardholder_id,
            )
        return families[0][0] if len(families) == 1 else None
