"""Patient matching over gRPC: 303-C3 may be left out when the date of birth tells the member
apart; a B2 that names a patient must name the claim's."""

from __future__ import annotations

from typing import Any

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request


def _claim(
    fixtures: dict[str, Any],
    member: dict[str, Any],
    rx: int,
    date_of_service: str = "20260801",
    **patient: Any,
) -> Any:
    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["preferred_brand"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        # a day no other test fills this drug for these members (no 79 from their fills)
        date_of_service=date_of_service,
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
    """302-C2 or 303-C3 on a B2 that name someone else: 52 / 53, and the claim stays paid (a
    later correct reversal succeeds)."""
    member = fixtures["members"]["commercial_child"]
    request = _claim(fixtures, member, rx_number())
    assert (await client.submit(request)).transaction_response_status == "P"
    wrong_card = reversal_for(request)
    wrong_card.insurance.cardholder_id = "SOMEONEELSE"
    assert [r.code for r in (await client.reverse(wrong_card)).rejects] == ["52"]
    assert member["person_code"] != "001"  # a dependant: 001 is someone else on the card
    wrong_person = reversal_for(request)
    wrong_person.insurance.person_code = "001"
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


async def test_a_person_code_nobody_on_the_card_has_is_a_hint(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """303-C3 is x(3) and plan-specific: "2" and "02" are the person stored as "002"; a code
    nobody on the card has, sent with a date of birth, is the one person that date of birth
    (and gender) tells apart, as when the code is left out. The claim is that person's (a
    reversal naming the head is 53, naming the dependant is approved). Without a date of birth,
    or with one nobody on the card has, it stays 52 and nothing is paid. The pharmacy reverses
    with the code it billed (009: nobody's on the card, so it names the claim's patient)."""
    family = fixtures["members"]["hdhp_family"]
    head = next(m for m in family if m["person_code"] == "001")
    dependant = next(m for m in family if m["person_code"] != "001")
    assert dependant["person_code"].isdigit() and dependant["person_code"].startswith("00")
    day = "20260805"  # no other test fills this drug for this family on it
    for sent in (dependant["person_code"][1:], dependant["person_code"][2:]):
        short = _claim(fixtures, dependant, rx_number(), day)
        short.insurance.person_code = sent
        paid = await client.submit(short)
        assert paid.transaction_response_status == "P", (sent, paid.rejects)
        assert (await client.reverse(reversal_for(short))).transaction_response_status == "A"

    def as_009() -> Any:
        """The dependant's claim with their date of birth and gender, sent as person 009."""
        request = _claim(
            fixtures,
            dependant,
            rx_number(),
            day,
            date_of_birth=dependant["date_of_birth"],
            gender_code=int(dependant["gender_code"]),
        )
        request.insurance.person_code = "009"
        return request

    unknown = as_009()
    paid = await client.submit(unknown)
    assert paid.transaction_response_status == "P", paid.rejects
    naming_head = reversal_for(unknown)
    naming_head.insurance.person_code = head["person_code"]
    assert [r.code for r in (await client.reverse(naming_head)).rejects] == ["53"]
    as_billed = reversal_for(unknown)  # the pharmacy reverses with the code it sent: 009
    assert as_billed.insurance.person_code == "009"
    assert (await client.reverse(as_billed)).transaction_response_status == "A"
    again = as_009()
    assert (await client.submit(again)).transaction_response_status == "P"
    naming_dependant = reversal_for(again)
    naming_dependant.insurance.person_code = dependant["person_code"]
    assert (await client.reverse(naming_dependant)).transaction_response_status == "A"
    no_birth_date = _claim(fixtures, dependant, rx_number(), day)
    no_birth_date.insurance.person_code = "009"
    assert [r.code for r in (await client.submit(no_birth_date)).rejects] == ["52"]
    born = {m["date_of_birth"] for m in family}
    nobody = next(d for d in ("19000101", "19010101", "19020101") if d not in born)
    stranger = _claim(fixtures, dependant, rx_number(), day, date_of_birth=nobody)
    stranger.insurance.person_code = "009"
    assert [r.code for r in (await client.submit(stranger)).rejects] == ["52"]
