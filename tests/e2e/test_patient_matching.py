"""Patient matching over gRPC: 303-C3 may be left out when the date of birth tells the member
apart; a B2 that names a patient must name the claim's."""

from __future__ import annotations

from typing import Any

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request


def _claim(fixtures: dict[str, Any], member: dict[str, Any], rx: int, **patient: Any) -> Any:
    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["preferred_brand"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        # a day no other test fills this drug for these members (no 79 from their fills)
        date_of_service="20260801",
    )
    for name, value in patient.items():
        setattr(request.patient, name, value)
    return request


async def test_a_claim_without_person_code_is_matched_on_date_of_birth(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """A family's head, sent with no person code: found by cardholder ID and date of birth,
    paid, and reversed; without the date of birth the card's several people cannot be told
    apart (52, nothing paid)."""
    head = fixtures["members"]["commercial_family_head"]
    request = _claim(fixtures, head, rx_number(), date_of_birth=head["date_of_birth"])
    request.insurance.person_code = ""
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    anonymous = _claim(fixtures, head, rx_number())
    anonymous.insurance.person_code = ""
    rejected = await client.submit(anonymous)
    assert [r.code for r in rejected.rejects] == ["52"]


async def test_a_reversal_naming_another_patient_is_refused(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """302-C2 or 303-C3 on a B2 that do not match the paid claim: 52 / 53, and the claim
    stays paid (a later correct reversal succeeds)."""
    member = fixtures["members"]["commercial_child"]
    request = _claim(fixtures, member, rx_number())
    assert (await client.submit(request)).transaction_response_status == "P"
    wrong_card = reversal_for(request)
    wrong_card.insurance.cardholder_id = "SOMEONEELSE"
    assert [r.code for r in (await client.reverse(wrong_card)).rejects] == ["52"]
    wrong_person = reversal_for(request)
    wrong_person.insurance.person_code = "009"
    assert [r.code for r in (await client.reverse(wrong_person)).rejects] == ["53"]
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"


async def test_a_date_of_birth_or_gender_that_is_not_the_members_rejects_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """304-C4 / 305-C5 sent and not the member's: 09 / 10, the same from Submit and Transmit."""
    from rx_gateway.ncpdp.codec import decode_response, encode
    from tests.support_d0 import request_transmission

    member = fixtures["members"]["commercial_child"]
    wrong = "19000101" if member["date_of_birth"] != "19000101" else "19010101"
    request = _claim(fixtures, member, rx_number(), date_of_birth=wrong)
    structured = await client.submit(request)
    assert [r.code for r in structured.rejects] == ["09"]
    raw = decode_response(await client.transmit(encode(request_transmission([request]))))
    status = next(s for s in raw.transactions[0] if s.segment_id == "21")
    assert status.all("FB") == ["09"]
    other = 2 if int(member["gender_code"]) == 1 else 1
    gender = _claim(fixtures, member, rx_number(), gender_code=other)
    assert [r.code for r in (await client.submit(gender)).rejects] == ["10"]
