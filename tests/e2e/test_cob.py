"""Coordination of benefits through both doors (issue 15): a claim billed before a payer ahead
is 41 with that payer in the response (AM28 / other_payers); a secondary claim (308-C8 and the
COB segment AM05) is paid per the plan's COB method with 566-J5, the same through Submit and
through a raw D.0 Transmit; the ledger records the other payer's amount and `verify` holds."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.verify import run_checks
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import (
    FS,
    RS,
    Segment,
    decode_money,
    decode_response,
    encode,
)
from rx_gateway.tools.synthetic.claims import add_other_payment, claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import request_transmission


def _claim(fixtures: dict[str, Any], member: dict[str, Any], rx: int, **kw: Any) -> Any:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][kw.pop("drug", "generic_copay")],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=kw.pop("day", "20261102"),
        **kw,
    )


def _with_cob(request: pb.ClaimRequest) -> Any:
    """The D.0 transmission of ``request``: 308-C8 in the claim segment, the COB segment (05)."""
    return request_transmission([request])


async def _raw(client: GatewayClient, transmission: Any) -> dict[str, Segment]:
    reply = decode_response(await client.transmit(encode(transmission)))
    return {s.segment_id: s for s in reply.transactions[0]}


async def test_medicaid_billed_first_is_41_naming_the_primary_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    member = fixtures["members"]["medicaid_other_primary"]
    acme = member["other_payer"]
    request = _claim(fixtures, member, rx_number())
    answer = await client.submit(request)
    assert [r.code for r in answer.rejects] == ["41"]
    assert "Acme Health Plan (BIN 004336, PCN ACMERX)" in answer.message
    (payer,) = answer.other_payers
    assert (payer.coverage_type, payer.payer_id_qualifier, payer.payer_id) == ("01", "03", "004336")
    assert (payer.processor_control_number, payer.group_id) == (acme["pcn"], acme["group_id"])
    assert (payer.cardholder_id, payer.person_code) == (acme["cardholder_id"], "01")
    assert (payer.help_desk_phone, payer.benefit_effective_date) == ("8005550199", "20260101")
    raw = await _raw(client, _with_cob(request))
    assert raw["21"].get("AN") == "R" and raw["21"].all("FB") == ["41"]
    assert raw["28"].fields == (
        ("NT", "1"),
        ("5C", "01"),
        ("6C", "03"),
        ("7C", "004336"),
        ("MH", "ACMERX"),
        ("NU", "ACM000900004"),
        ("MJ", "ACME100"),
        ("UV", "01"),
        ("UB", "8005550199"),
        ("UX", "20260101"),
    )


async def test_medicaid_as_secondary_pays_the_same_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, loaded_dsn: str
) -> None:
    member = fixtures["members"]["medicaid_other_primary"]
    request = _claim(fixtures, member, rx_number(), day="20261103", drug="generic")
    add_other_payment(
        request,
        other_coverage_code=2,
        payer_bin="004336",
        paid_on="20261103",
        paid_cents=700,
        patient_responsibility_cents=300,
    )
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects
    p = paid.pricing
    allowed = p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents
    # Medicaid (patient responsibility): the primary left 3.00, paid in full; recognized the rest
    assert (p.total_amount_paid_cents, p.patient_pay_amount_cents) == (300, 0)
    assert p.other_payer_amount_recognized_cents == allowed - 300
    assert p.total_amount_paid_cents == allowed - p.patient_pay_amount_cents - (
        p.other_payer_amount_recognized_cents
    )
    assert "Paid as secondary" in " ".join(paid.additional_messages)
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    raw = await _raw(client, _with_cob(request))
    assert raw["21"].get("AN") == "P", raw["21"]
    assert decode_money(raw["23"].get("F9")) == 300
    assert decode_money(raw["23"].get("J5")) == p.other_payer_amount_recognized_cents
    assert decode_money(raw["23"].get("F5")) == 0
    # the ledger: the other payer's amount posted beside the plan's, every check holds
    conn = await asyncpg.connect(loaded_dsn)
    try:
        postings = dict(
            await conn.fetch(
                "SELECT p.account_key, p.amount_cents FROM claim c JOIN posting p"
                " ON p.family_id = c.family_id AND p.entry_id = c.entry_id"
                " WHERE c.internal_control_number = $1",
                raw["21"].get("A7"),
            )
        )
        assert postings["other_payers:MEDICAID-2026"] == -p.other_payer_amount_recognized_cents
        assert postings["plan:MEDICAID-2026"] == -300
        failed = [r for r in await run_checks(conn) if not r.passed]
        assert failed == [], failed
    finally:
        await conn.close()


async def test_the_dual_member_is_billed_commercial_first_then_medicaid(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Both payers are this gateway's: Medicaid first is 41 naming the commercial plan; the
    commercial claim pays as primary; the same dispensing billed to Medicaid with the primary's
    answer (its F9 paid, its F5 left) is paid as secondary, not a refill too soon."""
    member = fixtures["members"]["dual_coverage"]
    medicaid = member | {"plan_id": member["secondary_plan_id"]}
    medicaid |= {"group_id": member["secondary_group_id"]}
    rx = rx_number()
    first = _claim(fixtures, medicaid, rx, drug="preferred_brand")
    refused = await client.submit(first)
    assert [r.code for r in refused.rejects] == ["41"]
    (payer,) = refused.other_payers
    assert (payer.payer_id, payer.processor_control_number) == ("610999", "RXGCOMM")
    assert (payer.group_id, payer.cardholder_id) == ("EMP2-FT", member["cardholder_id"])
    primary = await client.submit(_claim(fixtures, member, rx, drug="preferred_brand"))
    assert primary.transaction_response_status == "P", primary.rejects
    left = primary.pricing.patient_pay_amount_cents
    assert left > 0
    secondary = _claim(fixtures, medicaid, rx, drug="preferred_brand")
    primary_paid = primary.pricing.total_amount_paid_cents
    add_other_payment(  # 308-C8 4 when the primary paid nothing (inside its deductible)
        secondary,
        other_coverage_code=2 if primary_paid else 4,
        payer_bin="610999",
        paid_on="20261102",
        paid_cents=primary_paid,
        patient_responsibility_cents=left,
    )
    paid = await client.submit(secondary)
    assert paid.transaction_response_status == "P", (paid.rejects, paid.rule_trace)
    # Medicaid pays the patient responsibility the primary left (at most its own allowed), up
    # to what it pays alone; what is left of it is the member's
    p = paid.pricing
    assert 0 < p.total_amount_paid_cents <= left
    assert p.total_amount_paid_cents + p.patient_pay_amount_cents == min(
        left, p.allowed_amount_cents
    )
    assert p.other_payer_amount_recognized_cents == p.allowed_amount_cents - min(
        left, p.allowed_amount_cents
    )
    assert any("not a prior fill" in line for line in paid.rule_trace)


def _segment05(*fields: tuple[str, str]) -> str:
    return f"{RS}{FS}AM05" + "".join(f"{FS}{fid}{value}" for fid, value in fields)


async def test_cob_segment_counts_and_codes_reject_by_field_through_the_raw_door(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    member = fixtures["members"]["medicaid_other_primary"]
    base = _claim(fixtures, member, rx_number(), day="20261104")
    base.claim.other_coverage_code = 2
    wire = encode(_with_cob(base))
    cases = {
        "P4": _segment05(("4C", "2"), ("5C", "01"), ("6C", "03"), ("7C", "004336")),
        "SF": _segment05(
            ("4C", "1"), ("5C", "01"), ("6C", "03"), ("7C", "004336"), ("HB", "2"),
            ("HC", "07"), ("DV", "100{"),
        ),
        "R2": _segment05(("4C", "1"), ("5C", "01"), ("5E", "2"), ("6E", "70")),
        "SH": _segment05(("4C", "1"), ("5C", "01"), ("NR", "1"), ("NP", "06")),
        "5C": _segment05(("4C", "1"), ("6C", "03"), ("5C", "01")),
        "DV": _segment05(
            ("4C", "1"), ("5C", "01"), ("HB", "1"), ("HC", "07"), ("DV", "12X"),
        ),
        "6G": "",
    }  # fmt: skip
    for expected, segment in cases.items():
        # the claim segment ends the transaction: the COB segment goes after it
        head, sep, tail = wire.decode("latin-1").partition(f"{RS}{FS}AM11")
        data = (head + segment + sep + tail).encode("latin-1")
        reply = decode_response(await client.transmit(data))
        status = next(s for s in reply.transactions[0] if s.segment_id == "21")
        assert (status.get("AN"), status.all("FB")) == ("R", [expected]), (expected, status)
