"""Coded fields the gateway does not price on still hold to their values, through both doors:
306-C6 (11), 202-B2 (B2: NPI only), 466-EZ (EZ: NPI only) and 461-EU (EU). A Node.js client
nobody here wrote sent each out of range and was paid. And an E1 answers a date of birth or
a gender that is not the member's as a claim does (09, 10), not as an unknown member (52)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rx_gateway.client import GatewayClient
from rx_gateway.ncpdp.codec import decode_response, encode
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import eligibility_transmission, request_transmission

DAY = "20261112"


@pytest.fixture(scope="module")
def member(dataset: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """A commercial cardholder no other test bills (the first of active members 500-519)."""
    named = dataset[1]["members"].values()
    taken = {m["cardholder_id"] for v in named for m in (v if isinstance(v, list) else [v])}
    return next(
        m
        for m in active_members(dataset[0])[500:520]
        if m["plan_id"] == "COMM-HRA-2026"
        and m["person_code"] == "001"
        and m["cardholder_id"] not in taken
    )


def _claim(fixtures: dict[str, Any], member: dict[str, Any], rx: int) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=DAY,
    )


def _answer(raw: bytes) -> tuple[str, list[str]]:
    """112-AN and the 511-FB codes of the first transaction of a raw response."""
    (group,) = decode_response(raw).transactions
    status = next(s for s in group if s.segment_id == "21")
    return status.get("AN"), [code.strip() for code in status.all("FB")]


@pytest.mark.parametrize(
    ("edit", "raw_edit", "code"),
    [
        (
            lambda r: setattr(r.insurance, "patient_relationship_code", 9),
            (b"\x1cC61", b"\x1cC69"),
            "11",
        ),
        (
            lambda r: setattr(r.prescriber, "prescriber_id_qualifier", "ZZ"),
            (b"\x1cEZ01", b"\x1cEZZZ"),
            "EZ",
        ),
        (
            lambda r: setattr(r.prescriber, "prescriber_id_qualifier", "12"),
            (b"\x1cEZ01", b"\x1cEZ12"),
            "EZ",
        ),
        (
            lambda r: setattr(r.claim, "prior_authorization_type_code", "99"),
            (b"\x1cEU1", b"\x1cEU99"),
            "EU",
        ),
    ],
)
async def test_a_coded_field_out_of_its_values_is_rejected_through_both_doors(
    client: GatewayClient,
    fixtures: dict[str, Any],
    member: dict[str, Any],
    rx_number: Any,
    edit: Any,
    raw_edit: tuple[bytes, bytes],
    code: str,
) -> None:
    structured = _claim(fixtures, member, rx_number())
    edit(structured)
    reply = await client.submit(structured)
    assert reply.transaction_response_status == "R"
    assert [r.code for r in reply.rejects] == [code], reply.rejects
    # the raw door: a good claim's bytes, the one field's value changed in the bytes
    good = _claim(fixtures, member, rx_number())
    good.claim.prior_authorization_type_code = "1"  # sent, so that its bytes are there
    sent = encode(request_transmission([good]))
    before, after = raw_edit
    assert sent.count(before) == 1, sent
    assert _answer(await client.transmit(sent.replace(before, after))) == ("R", [code])


async def test_a_service_provider_id_qualifier_other_than_npi_is_b2(
    client: GatewayClient, fixtures: dict[str, Any], member: dict[str, Any], rx_number: Any
) -> None:
    """201-B1 is looked up as the pharmacy's NPI whatever 202-B2 says: any qualifier but 01
    (or none) is B2, through Submit, CheckEligibility and the raw header."""
    request = _claim(fixtures, member, rx_number())
    request.header.service_provider_id_qualifier = "07"  # an NCPDP provider ID
    reply = await client.submit(request)
    assert (reply.transaction_response_status, [r.code for r in reply.rejects]) == ("R", ["B2"])
    raw = encode(request_transmission([request]))
    assert _answer(await client.transmit(raw)) == ("R", ["B2"])
    eligibility = await client.check_eligibility(
        pb.EligibilityRequest(header=request.header, insurance=request.insurance)
    )
    assert [r.code for r in eligibility.rejects] == ["B2"]


async def test_coded_fields_within_their_values_pay(
    client: GatewayClient, fixtures: dict[str, Any], member: dict[str, Any], rx_number: Any
) -> None:
    request = _claim(fixtures, member, rx_number())
    request.insurance.patient_relationship_code = 1
    request.header.service_provider_id_qualifier = ""  # not sent: taken as 01
    request.prescriber.prescriber_id_qualifier = ""
    request.claim.prior_authorization_type_code = "0"
    reply = await client.submit(request)
    assert reply.transaction_response_status == "P", reply.rejects


@pytest.mark.parametrize(
    ("patient", "code"),
    [
        ({"date_of_birth": "20000101"}, "09"),
        ({"gender_code": 3}, "10"),  # M/I: 0, 1 or 2
        ({"gender_code": "other"}, "10"),  # 1 <-> 2: not the member's
    ],
)
async def test_an_e1_answers_a_patient_that_is_not_the_members_as_a_claim_does(
    client: GatewayClient,
    fixtures: dict[str, Any],
    member: dict[str, Any],
    rx_number: Any,
    patient: dict[str, Any],
    code: str,
) -> None:
    """E1 said 52 ("not found") for a date of birth that is not the member's, where a claim
    for the same patient says 09, and ignored 305-C5 altogether."""
    request = _claim(fixtures, member, rx_number())
    sent = dict(patient)
    if sent.get("gender_code") == "other":
        sent["gender_code"] = 3 - int(member["gender_code"])
    eligibility = pb.EligibilityRequest(
        header=request.header,
        insurance=request.insurance,
        patient=pb.Patient(
            date_of_birth=sent.get("date_of_birth", member["date_of_birth"]),
            gender_code=int(sent.get("gender_code", member["gender_code"])),
        ),
    )
    reply = await client.check_eligibility(eligibility)
    assert (reply.transaction_response_status, [r.code for r in reply.rejects]) == ("R", [code])
    raw = await client.transmit(encode(eligibility_transmission(eligibility)))
    assert _answer(raw) == ("R", [code])
    claim = pb.ClaimRequest()
    claim.CopyFrom(request)
    claim.patient.CopyFrom(eligibility.patient)
    paid = await client.submit(claim)
    assert [r.code for r in paid.rejects] == [code]  # the claim door agrees
    # the member's own date of birth and gender: covered
    eligibility.patient.date_of_birth = member["date_of_birth"]
    eligibility.patient.gender_code = int(member["gender_code"])
    covered = await client.check_eligibility(eligibility)
    assert covered.transaction_response_status == "A", covered.rejects


async def test_a_part_d_claim_without_a_prescriber_is_25_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], member: dict[str, Any], rx_number: Any
) -> None:
    """Part D claims name their prescriber's NPI (CMS; the PDE carries it): one without
    411-DB was paid ($281.06, found by the Node.js newcomer). A commercial claim may leave it
    out."""
    part_d = fixtures["members"]["part_d_other"]
    request = claim_request(
        fixtures,
        part_d,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service=DAY,
    )
    request.ClearField("prescriber")
    reply = await client.submit(request)
    assert (reply.transaction_response_status, [r.code for r in reply.rejects]) == ("R", ["25"])
    assert "Part D" in reply.message
    raw = encode(request_transmission([request]))
    assert b"\x1e\x1cAM03" not in raw  # no prescriber segment in the bytes
    assert _answer(await client.transmit(raw)) == ("R", ["25"])
    commercial = _claim(fixtures, member, rx_number())
    commercial.header.date_of_service = "20261001"  # not this member's other fills' day
    commercial.ClearField("prescriber")
    paid = await client.submit(commercial)
    assert paid.transaction_response_status == "P", paid.rejects


async def test_a_claim_above_the_plans_high_dollar_edit_is_78_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], member: dict[str, Any], rx_number: Any
) -> None:
    """The synthetic plans stop a claim allowed more than $50,000 (claim_cost_max_cents): a
    Node.js client had a quantity of 9,999,999.999 paid $999,699.99. The pharmacy's amounts
    follow the quantity, so nothing else is wrong with the claim."""
    brand = fixtures["drugs"]["preferred_brand"]  # priced from AWP: allowed near submitted
    # a quantity whose submitted ingredient cost is about $100,000
    quantity = 10_000_000 * 1_000_000 // brand["awp_unit_price_millicents"]
    request = claim_request(
        fixtures,
        member,
        brand,
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service="20261002",
        quantity_thousandths=quantity,
    )
    reply = await client.submit(request)
    assert (reply.transaction_response_status, [r.code for r in reply.rejects]) == ("R", ["78"])
    assert "$50,000.00 per claim" in reply.message
    raw = encode(request_transmission([request]))
    assert _answer(await client.transmit(raw)) == ("R", ["78"])
