"""The stored form of a response: what a duplicate replays (same 503-F3, same amounts) and what
a reversal mirrors. JSON in the claim row; written out by hand, because dataclasses.asdict was
a measurable part of the per-claim CPU."""

from __future__ import annotations

from typing import Any

from rx_gateway.domain.dur import DurConflict, DurReason, Significance
from rx_gateway.domain.other_payments import OtherPayer
from rx_gateway.domain.outcome import (
    AccumulatorView,
    ClaimResponse,
    PurseLine,
    ResponsePricing,
    ResponseStatus,
    RewardLine,
)
from rx_gateway.domain.rejects import Reject, RejectCode


def _flat(value: Any) -> dict[str, Any]:
    """A dataclass of scalars (and tuples of pairs) as a dict, without asdict's deep copy."""
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


def response_to_record(response: ClaimResponse) -> dict[str, Any]:
    """A JSON-ready dict of the response, stored with the claim."""
    record = _flat(response)
    record["rejects"] = [
        {"code": r.code.value, "message": r.message}
        | ({"occurrence": r.occurrence} if r.occurrence else {})
        for r in response.rejects
    ]
    record["pricing"] = None if response.pricing is None else _flat(response.pricing)
    if response.pricing is not None:
        record["pricing"]["benefit_stages"] = [list(s) for s in response.pricing.benefit_stages]
    record["purses"] = [_flat(line) for line in response.purses]
    record["accumulators"] = None if response.accumulators is None else _flat(response.accumulators)
    record["additional_messages"] = list(response.additional_messages)
    record["rule_trace"] = list(response.rule_trace)
    record["dur_conflicts"] = [_flat(c) for c in response.dur_conflicts]
    record["other_payers"] = [_flat(p) for p in response.other_payers]
    record["compound_ingredients"] = [list(i) for i in response.compound_ingredients]
    record["rewards"] = [_flat(r) for r in response.rewards]
    return record


def response_from_record(record: dict[str, Any]) -> ClaimResponse:
    pricing = record.get("pricing")
    accumulators = record.get("accumulators")
    return ClaimResponse(
        # stored before the one-name rename: "status", and purse lines' "balance_remaining_cents"
        transaction_response_status=ResponseStatus(
            record.get("transaction_response_status") or record["status"]
        ),
        authorization_number=record["authorization_number"],
        rejects=tuple(
            Reject(RejectCode(r["code"]), r["message"], r.get("occurrence", 0))
            for r in record["rejects"]
        ),
        message=record["message"],
        additional_messages=tuple(record["additional_messages"]),
        pricing=_pricing_from_record(pricing) if pricing else None,
        purses=tuple(_purse_line(p) for p in record["purses"]),
        accumulators=AccumulatorView(**accumulators) if accumulators else None,
        internal_control_number=record["internal_control_number"],
        plan_id=record["plan_id"],
        reference_data_version=record["reference_data_version"],
        rule_trace=tuple(record["rule_trace"]),
        prescription_reference_number=record["prescription_reference_number"],
        dur_conflicts=tuple(_conflict(c) for c in record.get("dur_conflicts", ())),
        refill_override=int(record.get("refill_override", 0)),
        prescriber_id=record.get("prescriber_id", ""),
        dispense_as_written=int(record.get("dispense_as_written", 0)),
        number_of_refills_authorized=_optional_int(record.get("number_of_refills_authorized")),
        other_payers=tuple(OtherPayer(**p) for p in record.get("other_payers", ())),
        other_coverage_code=int(record.get("other_coverage_code", 0)),
        compound_ingredients=tuple(
            (str(ndc), int(cents)) for ndc, cents in record.get("compound_ingredients", ())
        ),
        rewards=tuple(RewardLine(**r) for r in record.get("rewards", ())),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _conflict(record: dict[str, Any]) -> DurConflict:
    return DurConflict(
        **(
            record
            | {
                "reason": DurReason(record["reason"]),
                "significance": Significance(record["significance"]),
            }
        )
    )


def _purse_line(record: dict[str, Any]) -> PurseLine:
    available = record.get("available_cents", record.get("balance_remaining_cents", 0))
    return PurseLine(record["purse_id"], record["kind"], record["paid_cents"], int(available))


def _pricing_from_record(record: dict[str, Any]) -> ResponsePricing:
    stages = tuple((str(q), int(a)) for q, a in record.get("benefit_stages", ()))
    others = tuple((str(q), int(a)) for q, a in record.get("other_amounts_paid", ()))
    return ResponsePricing(**(record | {"benefit_stages": stages, "other_amounts_paid": others}))


def kept_dispense_as_written(record: dict[str, Any], rule_trace: tuple[str, ...]) -> int | None:
    """408-D8 when the claim kept it (a stored response field, or the brand penalty's trace
    ``DAW 1: brand penalty``); None otherwise: the claim row does not hold it.
    The EOB and the PDE read it so (an older claim's record lacks the field)."""
    kept = record.get("dispense_as_written")
    if kept is not None:
        return int(kept)
    for line in rule_trace:
        if line.startswith("DAW ") and ":" in line:
            code = line.removeprefix("DAW ").split(":", 1)[0]
            if code.isdigit():
                return int(code)
    return None
