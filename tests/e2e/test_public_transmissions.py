"""D.0 transmissions nobody on this project wrote: request vectors from public NCPDP libraries'
test suites (tests/data/public_d0/, each file names its repository and path).

Each vector is
* decoded by our codec, field by field, against what its publisher meant (space padding at full
  D.0 width included) and re-encoded byte for byte;
* re-targeted to the synthetic data: BIN/PCN, pharmacy and date of service in the header, and
  the cardholder, group, person code, date of birth, gender, Rx number and NDC in place, each
  keeping the vector's padding, field order, optional fields and segment layout; then sent
  through ``Transmit`` and answered as the same claims are through the structured door;
* sent unchanged: its BIN is not ours, so the answer is a well-formed D.0 reject 01.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import (
    ETX,
    STX,
    RequestHeader,
    Segment,
    Transmission,
    decode_money,
    decode_quantity,
    decode_request,
    decode_response,
    encode,
)
from rx_gateway.ncpdp.responses import (
    ADDITIONAL_PRICING_FIELDS,
    OPTIONAL_PRICING_FIELDS,
    PRICING_FIELDS,
)
from rx_gateway.v1 import claims_pb2 as pb

try:  # where the synthetic-data helpers live now (they were in rx_gateway.data)
    from rx_gateway.tools.synthetic import active_members
    from rx_gateway.tools.synthetic.claims import claim_request
except ImportError:
    from rx_gateway.data.claims import claim_request
    from rx_gateway.data.synthetic import active_members

DATA = Path(__file__).resolve().parent.parent / "data" / "public_d0"
PHARMACY = "preferred"
# Covered drugs without prior authorization or quantity limits, one per distinct NDC of a
# vector (the same NDC twice in one transmission would be a refill too soon, 79).
DRUGS = ("generic", "preferred_brand")


def load(name: str) -> bytes:
    """A vector file: '#' lines are comments; the rest, joined, is the transmission with its
    non-printable bytes written \\xNN (line breaks are not part of it)."""
    text = "".join(
        line for line in (DATA / f"{name}.txt").read_text().splitlines() if not line.startswith("#")
    )
    return codecs.decode(text, "unicode_escape").encode("latin-1")


# ------------------------------------------------------------------ what each vector says


@dataclass(frozen=True)
class Fill:
    """The fields of one B1/B2 transaction the gateway reads, as the vector's publisher meant
    them (padding removed, money in cents, quantities in thousandths)."""

    rx: str
    product_qualifier: str
    product_id: str
    fill: int = 0
    quantity: int = 0
    days: int = 0
    daw: int = 0
    written: str = ""
    refills: int = 0
    pa_type: str = ""
    pa_number: str = ""
    prescriber_qualifier: str = ""
    prescriber: str = ""
    ingredient: int = 0
    fee: int = 0
    usual: int = 0
    gross: int = 0
    basis: str = ""


@dataclass(frozen=True)
class Vector:
    name: str
    bin: str
    code: str
    pcn: str
    provider: str
    date_of_service: str
    vendor: str
    cardholder: str = ""
    group: str = ""
    person_code: str = ""
    relationship: int = 0
    born: str = ""
    gender: int = 0
    fills: tuple[Fill, ...] = ()
    transmission_segments: tuple[str, ...] = ()
    transaction_segments: tuple[tuple[str, ...], ...] = ()
    extra: dict[str, int] = field(default_factory=dict)  # other amounts: (segment+field) → cents


VECTORS = {
    v.name: v
    for v in (
        Vector(
            "ncpdp_specimen_b1",
            "610066",
            "B1",
            "1234567890",
            "4563663111",
            "20070915",
            "98765",
            cardholder="987654321",
            born="19620615",
            gender=1,
            fills=(
                Fill(
                    "1234567",
                    "03",
                    "00006094268",
                    quantity=30_000,
                    days=30,
                    written="20070915",
                    refills=5,
                    prescriber_qualifier="08",
                    prescriber="00G2345",
                    ingredient=5_570,
                    fee=1_000,
                    usual=8_670,
                    gross=8_070,
                    basis="03",
                ),
            ),
            transmission_segments=("01", "04"),
            transaction_segments=(("07", "02", "03", "11"),),
            extra={"11H9": 1_500},
        ),
        Vector(
            "ncpdp_specimen_b2",
            "610066",
            "B2",
            "1234567890",
            "4563663111",
            "20070915",
            "98765",
            fills=(Fill("1234567", "03", "00006094268"),),
            transaction_segments=(("07",),),
        ),
        Vector(
            "transactrx_dur_b1",
            "004336",
            "B1",
            "MEDDADV",
            "1962927855",
            "20230614",
            "D012000113",
            cardholder="X0000000002",
            group="RXCVSD",
            relationship=1,
            born="19800102",
            gender=2,
            fills=(
                Fill(
                    "000000160849",
                    "03",
                    "57237004805",
                    fill=3,
                    quantity=90_000,
                    days=30,
                    written="20221018",
                    refills=11,
                    prescriber_qualifier="01",
                    prescriber="1699720169",
                    ingredient=34_707,
                    fee=999,
                    usual=35_706,
                    gross=35_706,
                    basis="01",
                ),
            ),
            transmission_segments=("04", "01"),
            transaction_segments=(("07", "11", "03", "08", "13"),),
        ),
        Vector(
            "transactrx_four_transactions_b1",
            "021684",
            "B1",
            "DATAUNVAIL",
            "1669742144",
            "20230705",
            "",
            cardholder="XXX00000000003",
            group="CHC",
            relationship=1,
            born="20000103",
            gender=2,
            fills=tuple(
                Fill(
                    rx,
                    qualifier,
                    product,
                    quantity=quantity,
                    days=days,
                    written="20230705",
                    refills=refills,
                    pa_type="00",
                    pa_number="00000000000",
                    prescriber_qualifier="01",
                    prescriber="1932106747",
                    ingredient=ingredient,
                    fee=1_000,
                    usual=usual,
                    gross=gross,
                    basis="01",
                )
                for rx, qualifier, product, quantity, days, refills, ingredient, usual, gross in (
                    ("000000328839", "00", "0", 4_000, 2, 1, 891, 1_827, 1_891),
                    ("000000328838", "03", "00121075908", 80_000, 5, 0, 3_247, 4_247, 4_247),
                    ("000000328840", "00", "0", 200_000, 5, 1, 7_885, 8_322, 8_885),
                    ("000000328841", "03", "57237007630", 10_000, 4, 0, 51_131, 52_131, 52_131),
                )
            ),
            transmission_segments=("04", "01"),
            transaction_segments=(
                ("07", "11", "03", "08", "10"),
                ("07", "11", "03"),
                ("07", "11", "03", "08", "10"),
                ("07", "11", "03"),
            ),
        ),
        Vector(
            "transactrx_sales_tax_b1",
            "016904",
            "B1",
            "95964",
            "1215561527",
            "20221011",
            "",
            cardholder="000000004",
            relationship=1,
            born="19700104",
            gender=2,
            fills=(
                Fill(
                    "000000175696",
                    "03",
                    "38779230305",
                    quantity=10_000,
                    days=3,
                    written="20221011",
                    refills=5,
                    pa_type="00",
                    pa_number="00000000000",
                    prescriber_qualifier="01",
                    prescriber="1417930843",
                    ingredient=1_572,
                    fee=1_250,
                    usual=2_822,
                    gross=2_973,
                    basis="01",
                ),
            ),
            transmission_segments=("04", "01"),
            transaction_segments=(("07", "11", "03", "10"),),
            extra={"11HA": 10, "11GE": 141},
        ),
        Vector(
            "transactrx_cob_b1_double_etx",
            "018844",
            "B1",
            "3F",
            "1346571106",
            "20230706",
            "",
            cardholder="XXXX0000001",
            group="FCMJDWB",
            person_code="01",
            relationship=1,
            born="19800101",
            gender=2,
            fills=(
                Fill(
                    "000000733630",
                    "03",
                    "00002145780",
                    fill=4,
                    quantity=2_000,
                    days=28,
                    written="20230227",
                    refills=5,
                    pa_type="00",
                    pa_number="00000000000",
                    prescriber_qualifier="01",
                    prescriber="1326245291",
                    ingredient=147_318,
                    fee=1_100,
                    usual=148_418,
                    gross=148_418,
                    basis="01",
                ),
            ),
            transmission_segments=("04", "01"),
            transaction_segments=(("07", "11", "03", "05"),),
        ),
        Vector(
            "ncpdpserde_e1_no_group",
            "880151",
            "E1",
            "",
            "1730433129",
            "20210531",
            "",
            cardholder="D0ELIGCOB",
            relationship=1,
            born="19420501",
            gender=1,
            transmission_segments=("04", "01"),
        ),
    )
}


# ------------------------------------------------------------------ helpers


def _wrapping(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(leading STX bytes, the transmission, trailing ETX bytes): a switch's wrapping, which
    the codec's encode does not produce (the COB vector ends in two ETX)."""
    core = raw.lstrip(STX.encode())
    prefix = raw[: len(raw) - len(core)]
    body = core.rstrip(ETX.encode())
    return prefix, body, core[len(body) :]


def _segment(t: Transmission, segment_id: str, tx: int | None = None) -> Segment:
    found = t.segment(segment_id, tx)
    assert found is not None, segment_id
    return found


def _trimmed(segment: Segment, field_id: str) -> str:
    return segment.get(field_id).strip(" ")


def _money(segment: Segment, field_id: str) -> int:
    return decode_money(segment.get(field_id)) if segment.get(field_id).strip() else 0


def _number(segment: Segment, field_id: str) -> int:
    return int(segment.get(field_id).strip() or "0")


def _status(group: tuple[Segment, ...]) -> tuple[str, list[str], str]:
    status = next(s for s in group if s.segment_id == "21")
    return status.get("AN"), status.all("FB"), status.get("F3")


def _amounts(group: tuple[Segment, ...]) -> dict[str, int]:
    pricing = next((s for s in group if s.segment_id == "23"), None)
    if pricing is None:
        return {}
    amounts = dict(PRICING_FIELDS) | dict(ADDITIONAL_PRICING_FIELDS)  # 23's money (not FM, MU..)
    return {fid: decode_money(value) for fid, value in pricing.fields if fid in amounts}


def fixture_cards(fixtures: dict[str, Any]) -> set[str]:
    """The cards of fixtures.json's named members (other tests bill for them)."""
    named = fixtures["members"].values()
    return {m["cardholder_id"] for v in named for m in (v if isinstance(v, list) else [v])}


def _members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial cardholders (person code 001) of families no other test bills for: the
    active members 1700-1780, whole families only, none of fixtures.json's."""
    everyone = active_members(dataset[0])
    mine = everyone[1700:1780]
    outside = {m["cardholder_id"] for m in everyone[:1700] + everyone[1780:]}
    outside |= fixture_cards(dataset[1])
    return [
        m
        for m in mine
        if m["plan_id"] == "COMM-HRA-2026"
        and m["person_code"] == "001"
        and m["cardholder_id"] not in outside
    ]


@pytest.fixture(scope="module")
def people(dataset: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One member per vector, so no vector's claims move another's accumulators."""
    members = _members(dataset)
    names = [*VECTORS, "specimen_state_licence"]
    assert len(members) >= len(names)
    return dict(zip(names, members, strict=False))


def _keep_padding(old: str, new: str) -> str:
    """``new`` in the style of ``old``: padded with spaces to ``old``'s width when ``old`` was
    sent padded (a value that is only spaces stays as sent: the vector left it blank)."""
    if not old.strip(" "):
        return old
    if old != old.rstrip(" "):
        return new.ljust(len(old))
    return new


@dataclass
class Target:
    member: dict[str, Any]
    bin: str
    pcn: str
    pharmacy: str
    date_of_service: str
    ndcs: dict[str, str]  # the vector's NDC → ours
    rx_numbers: list[str]


def retarget(raw: bytes, target: Target, *, prescriber: tuple[str, str] | None = None) -> bytes:
    """The vector with our BIN/PCN/pharmacy/date in the header and our member, Rx numbers and
    drug in its segments; every other byte (padding, field order, unknown fields and
    segments, STX/ETX wrapping) as published."""
    prefix, body, suffix = _wrapping(raw)
    original = decode_request(body)
    assert isinstance(original.header, RequestHeader)
    member = target.member
    rx_numbers = iter(target.rx_numbers)
    billing = original.header.transaction_code == "B1"

    def edit(segment: Segment) -> Segment:
        fields = []
        for fid, value in segment.fields:
            new = value
            if segment.segment_id == "04" and fid == "C2":
                new = _keep_padding(value, member["cardholder_id"])
            elif segment.segment_id == "04" and fid == "C1":
                # our plans require 301-C1 (without it a claim answers 06): a blank one, in a
                # B1, gets the member's group
                blank = not value.strip() and original.header.transaction_code == "B1"
                new = member["group_id"] if blank else _keep_padding(value, member["group_id"])
            elif segment.segment_id == "04" and fid == "C3":
                new = _keep_padding(value, member["person_code"])
            elif segment.segment_id == "01" and fid == "C4":
                new = _keep_padding(value, member["date_of_birth"])
            elif segment.segment_id == "01" and fid == "C5":
                new = _keep_padding(value, str(member["gender_code"]))
            elif segment.segment_id == "07" and fid == "D2":
                new = _keep_padding(value, next(rx_numbers))
            elif (
                segment.segment_id == "07" and fid == "D7" and segment.get("E1").strip() == "03"
            ) or (segment.segment_id == "10" and fid == "TE"):
                new = _keep_padding(value, target.ndcs[value.strip(" ")])
            elif segment.segment_id == "03" and prescriber and fid in ("EZ", "DB"):
                new = _keep_padding(value, prescriber[0] if fid == "EZ" else prescriber[1])
            fields.append((fid, new))
        if segment.segment_id == "04" and "C1" not in dict(segment.fields) and billing:
            fields.append(("C1", member["group_id"]))  # likewise when the B1 has no C1
        return replace(segment, fields=tuple(fields))

    header = replace(
        original.header,
        bin=target.bin,
        processor_control_number=target.pcn,
        service_provider_id=target.pharmacy,
        date_of_service=target.date_of_service,
    )
    edited = Transmission(
        header,
        tuple(edit(s) for s in original.segments),
        tuple(tuple(edit(s) for s in group) for group in original.transactions),
    )
    return prefix + encode(edited) + suffix


def _target(
    fixtures: dict[str, Any], member: dict[str, Any], vector: Vector, date_of_service: str, rx: Any
) -> Target:
    plan = fixtures["plans"][member["plan_id"]]
    # compound ingredients (segment 10) become our bulk ingredients, in order; a claim's 407-D7
    # that names one of them (the older way of naming a compound) follows it
    published = _published(vector)
    ingredients = dict.fromkeys(
        tid.strip(" ")
        for group in published.transactions
        for s in group
        if s.segment_id == "10"
        for tid in s.all("TE")
    )
    bulk = fixtures["drugs"]["compound_ingredients"]  # (a vector's compounds together may have
    # more ingredients than we have: no compound of ours has more than we have)
    ndcs = {ndc: bulk[i % len(bulk)]["ndc"] for i, ndc in enumerate(ingredients)}
    theirs = dict.fromkeys(
        f.product_id
        for f in vector.fills
        if f.product_qualifier == "03" and f.product_id not in ndcs
    )
    assert len(theirs) <= len(DRUGS)
    ndcs |= {ndc: fixtures["drugs"][d]["ndc"] for ndc, d in zip(theirs, DRUGS, strict=False)}
    return Target(
        member=member,
        bin=plan["bin"],
        pcn=plan["pcn"],
        pharmacy=fixtures["pharmacies"][PHARMACY],
        date_of_service=date_of_service,
        ndcs=ndcs,
        rx_numbers=[f"{rx():0{len(f.rx)}d}" for f in vector.fills] or [],
    )


def structured_claim(
    vector: Vector, index: int, target: Target, *, prescriber: tuple[str, str] | None = None
) -> pb.ClaimRequest:
    """The re-targeted transaction as a structured Submit, built from what the vector's
    publisher meant (not from our transmit translation)."""
    f = vector.fills[index]
    member = target.member
    return pb.ClaimRequest(
        header=pb.Header(
            bin=target.bin,
            processor_control_number=target.pcn,
            service_provider_id=target.pharmacy,
            service_provider_id_qualifier="01",
            date_of_service=target.date_of_service,
            software_vendor_id=vector.vendor,
        ),
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"],
            group_id=member["group_id"],  # retarget adds it where the vector has none
            person_code=member["person_code"] if vector.person_code else "",
            patient_relationship_code=vector.relationship,
        ),
        patient=pb.Patient(
            date_of_birth=member["date_of_birth"] if vector.born else "",
            gender_code=int(member["gender_code"]) if vector.gender else 0,
        ),
        claim=pb.Claim(
            prescription_reference_number=target.rx_numbers[index],
            fill_number=f.fill,
            product_id_qualifier=f.product_qualifier,
            product_id=target.ndcs.get(f.product_id, f.product_id),
            quantity_dispensed_thousandths=f.quantity,
            days_supply=f.days,
            dispense_as_written=f.daw,
            date_prescription_written=f.written,
            # 415-DF as the vector has it: sent (0 too) or not
            number_of_refills_authorized=(
                f.refills if _segment(_published(vector), "07", index).get("DF").strip() else None
            ),
            prior_authorization_type_code=f.pa_type,
            prior_authorization_number=f.pa_number,
            other_coverage_code=_other_coverage_code(vector, index),
            compound_code=int(_segment(_published(vector), "07", index).get("D6") or 0),
        ),
        prescriber=pb.Prescriber(
            prescriber_id_qualifier=prescriber[0] if prescriber else f.prescriber_qualifier,
            prescriber_id=prescriber[1] if prescriber else f.prescriber,
        ),
        pricing=pb.Pricing(
            ingredient_cost_submitted_cents=f.ingredient,
            dispensing_fee_submitted_cents=f.fee,
            usual_and_customary_charge_cents=f.usual,
            gross_amount_due_cents=f.gross,
            basis_of_cost_determination=f.basis,
            **_additional(vector, index),
        ),
        other_payments=_other_payments(vector, index),
        compound=_compound(vector, index, target),
    )


def _additional(vector: Vector, index: int) -> dict[str, Any]:
    """The vector's other amounts and taxes as the structured request's fields, read from its
    pricing segment with the codec (the publisher's values, not our translation)."""
    body = load(vector.name)
    body = body[body.find(b"\x02") + 1 :].split(b"\x03")[0] if b"\x02" in body else body
    pricing = _segment(decode_request(body), "11", index)
    fields: dict[str, Any] = {
        name: decode_money(pricing.get(fid))
        for fid, name in (
            ("E3", "incentive_amount_submitted_cents"),
            ("HA", "flat_sales_tax_amount_submitted_cents"),
            ("GE", "percentage_sales_tax_amount_submitted_cents"),
            ("HE", "percentage_sales_tax_rate_submitted"),
        )
        if pricing.get(fid)
    }
    if pricing.get("JE"):
        fields["percentage_sales_tax_basis_submitted"] = pricing.get("JE")
    others = [
        pb.OtherAmount(qualifier=q, amount_cents=decode_money(a))
        for q, a in zip(pricing.all("H8"), pricing.all("H9"), strict=True)
    ]
    if others:
        fields["other_amounts_claimed"] = others
    return fields


def _published(vector: Vector) -> Any:
    return decode_request(_wrapping(load(vector.name))[1])


def _compound(vector: Vector, index: int, target: Target) -> pb.Compound | None:
    """The vector's Compound segment (10) as the structured request's, its ingredients
    re-targeted to our bulk ingredients (read with the codec: the publisher's values)."""
    segment = _published(vector).segment("10", index)
    if segment is None:
        return None
    compound = pb.Compound(
        dosage_form_description_code=_trimmed(segment, "EF"),
        dispensing_unit_form_indicator=_trimmed(segment, "EG"),
    )
    ingredient: Any = None
    for fid, padded in segment.fields:
        value = padded.strip(" ")
        if fid == "RE":
            ingredient = compound.ingredients.add(product_id_qualifier=value)
        elif fid == "TE":
            ingredient.product_id = target.ndcs[value]
        elif fid == "ED":
            ingredient.quantity_thousandths = int(value)
        elif fid == "EE":
            ingredient.cost_cents = decode_money(value)
        elif fid == "UE":
            ingredient.basis_of_cost_determination = value
    return compound


def _other_coverage_code(vector: Vector, index: int) -> int:
    """308-C8 as the publisher sent it (in the claim segment), read with the codec."""
    return int(_segment(_published(vector), "07", index).get("C8") or 0)


def _other_payments(vector: Vector, index: int) -> list[pb.OtherPayment]:
    """The vector's COB segment (05) as the structured request's occurrences: each 338-5C
    opens one; amounts paid (342-HC/431-DV) and patient responsibility (351-NP/352-NQ) in
    cents, read with the codec (the publisher's values, not our translation)."""
    segment = _published(vector).segment("05", index) or Segment("05")
    payments: list[pb.OtherPayment] = []
    pending: dict[str, str] = {}
    for fid, padded in segment.fields:
        value = padded.strip(" ")
        if fid == "5C":
            payments.append(pb.OtherPayment(coverage_type=value))
        elif not payments:
            continue
        elif fid in ("6C", "7C", "E8"):
            name = {"6C": "payer_id_qualifier", "7C": "payer_id", "E8": "date"}[fid]
            setattr(payments[-1], name, value)
        elif fid in ("HC", "NP"):
            pending[fid] = value
        elif fid == "DV":
            payments[-1].amounts_paid.add(qualifier=pending["HC"], amount_cents=decode_money(value))
        elif fid == "NQ":
            payments[-1].patient_responsibility.add(
                qualifier=pending["NP"], amount_cents=decode_money(value)
            )
        elif fid == "6E":
            payments[-1].reject_codes.append(value)
    return payments


def _pricing_of(reply: pb.ClaimResponse) -> dict[str, int]:
    """The structured reply's amounts by D.0 field ID (optional ones only when present,
    taxes and incentive only when not zero)."""
    amounts = {
        fid: getattr(reply.pricing, name)
        for fid, name in PRICING_FIELDS
        if fid not in OPTIONAL_PRICING_FIELDS or reply.pricing.HasField(name)
    }
    return amounts | {
        fid: getattr(reply.pricing, name)
        for fid, name in ADDITIONAL_PRICING_FIELDS
        if getattr(reply.pricing, name)
    }


# ------------------------------------------------------------------ 1. our codec reads them


@pytest.mark.parametrize("name", list(VECTORS))
def test_codec_reads_what_the_publisher_meant(name: str) -> None:
    vector = VECTORS[name]
    raw = load(name)
    prefix, body, _ = _wrapping(raw)
    t = decode_request(raw)
    header = t.header
    assert isinstance(header, RequestHeader)
    assert (header.bin, header.version, header.transaction_code) == (vector.bin, "D0", vector.code)
    assert header.processor_control_number == vector.pcn
    assert header.service_provider_id == vector.provider
    assert header.date_of_service == vector.date_of_service
    assert header.software_vendor_id == vector.vendor
    assert header.transaction_count == str(max(len(vector.fills), 1))
    assert tuple(s.segment_id for s in t.segments) == vector.transmission_segments
    assert tuple(tuple(s.segment_id for s in g) for g in t.transactions) == (
        vector.transaction_segments
    )
    if vector.cardholder:
        insurance = _segment(t, "04")
        assert _trimmed(insurance, "C2") == vector.cardholder
        assert _trimmed(insurance, "C1") == vector.group
        assert _trimmed(insurance, "C3") == vector.person_code
        assert _number(insurance, "C6") == vector.relationship
        patient = _segment(t, "01")
        assert _trimmed(patient, "C4") == vector.born
        assert _number(patient, "C5") == vector.gender
    for index, f in enumerate(vector.fills):
        claim = _segment(t, "07", index)
        assert _trimmed(claim, "D2") == f.rx
        assert _number(claim, "D3") == f.fill
        assert _trimmed(claim, "E1") == f.product_qualifier
        assert _trimmed(claim, "D7") == f.product_id
        if vector.code == "B2":
            continue
        assert decode_quantity(claim.get("E7")) == f.quantity
        assert (_number(claim, "D5"), _number(claim, "D8")) == (f.days, f.daw)
        assert (_trimmed(claim, "DE"), _number(claim, "DF")) == (f.written, f.refills)
        assert (_trimmed(claim, "EU"), _trimmed(claim, "EV")) == (f.pa_type, f.pa_number)
        prescriber = _segment(t, "03", index)
        assert (_trimmed(prescriber, "EZ"), _trimmed(prescriber, "DB")) == (
            f.prescriber_qualifier,
            f.prescriber,
        )
        pricing = _segment(t, "11", index)
        assert [_money(pricing, fid) for fid in ("D9", "DC", "DQ", "DU")] == [
            f.ingredient,
            f.fee,
            f.usual,
            f.gross,
        ]
        assert _trimmed(pricing, "DN") == f.basis
        for key, cents in vector.extra.items():
            assert _money(_segment(t, key[:2], index), key[2:]) == cents
        # NCPDP 430-DU = D9 + DC + HA + GE + E3 + H9 (shared/reference/ncpdp-d0.md 2.4)
        others = sum(_money(pricing, fid) for fid in ("HA", "GE", "E3", "H9"))
        assert f.gross == f.ingredient + f.fee + others
    # the codec gives back the bytes it read (a switch's STX/ETX wrapping aside)
    assert prefix + encode(decode_request(body)) == raw[: len(prefix) + len(body)]


# ------------------------------------------------------------------ 2. sent unchanged


@pytest.mark.parametrize("name", list(VECTORS))
async def test_unchanged_vector_is_a_well_formed_reject_01(
    client: GatewayClient, name: str
) -> None:
    """Their BINs are not ours: 501-F1 = R with 01, never a gRPC error."""
    raw = load(name)
    try:
        answer = await client.transmit(raw)
    except grpc.aio.AioRpcError as error:  # pragma: no cover - the failure message
        pytest.fail(f"{name}: gRPC {error.code().name}: {error.details()}")
    reply = decode_response(answer)
    header = reply.header
    assert header.header_response_status == "R"  # type: ignore[union-attr]
    assert header.transaction_code == VECTORS[name].code  # type: ignore[union-attr]
    assert [_status(g)[:2] for g in reply.transactions] == [("R", ["01"])]
    message = _segment(reply, "20").get("F4")
    assert VECTORS[name].bin in message


# ------------------------------------------------------------------ 3. re-targeted


def _billable(name: str, day: str, *, bug: str = "") -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(name, day, marks=marks, id=name)


# Expected status of each transaction once re-targeted: compounds (436-E1 = 00) are not
# supported, so they answer R with E1 on their own while their neighbours are paid.
EXPECTED = {
    "ncpdp_specimen_b1": ["P"],
    "transactrx_dur_b1": ["P"],
    "transactrx_four_transactions_b1": ["R", "P", "R", "P"],
    "transactrx_sales_tax_b1": ["P"],
    # a secondary claim: the other payer paid $599.77 (431-DV), more than this commercial plan
    # allows for the drug it is re-targeted to: 74 through both doors (and see
    # test_the_public_cob_claim_is_a_secondary_claim_to_medicaid)
    "transactrx_cob_b1_double_etx": ["R"],
}
EXPECTED_REJECTS = {"transactrx_cob_b1_double_etx": [["74"]]}
NPI = ("01", "1999999992")  # the synthetic prescriber every fixture claim carries


@pytest.mark.parametrize(
    ("name", "day"),
    [
        _billable("ncpdp_specimen_b1", "20261102"),
        _billable("transactrx_dur_b1", "20261103"),
        _billable("transactrx_four_transactions_b1", "20261104"),
        _billable("transactrx_sales_tax_b1", "20261105"),
        _billable("transactrx_cob_b1_double_etx", "20261106"),
    ],
)
async def test_retargeted_billing_pays_as_the_structured_door(
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: dict[str, dict[str, Any]],
    rx_number: Any,
    name: str,
    day: str,
) -> None:
    """Each transaction gets its own answer; every paid one the amounts the same claim gets
    through Submit (raw first; reversed; then structured; reversed again)."""
    vector = VECTORS[name]
    target = _target(fixtures, people[name], vector, day, rx_number)
    # The specimen's prescriber is a state licence (466-EZ = 08): the gateway takes NPIs only
    # (see test_specimen_state_licence_prescriber_is_rejected_25), so it gets our NPI here.
    prescriber = NPI if name == "ncpdp_specimen_b1" else None
    raw = retarget(load(name), target, prescriber=prescriber)
    reply = decode_response(await client.transmit(raw))
    assert reply.header.header_response_status == "A"  # type: ignore[union-attr]
    assert reply.header.transaction_count == str(len(vector.fills))  # type: ignore[union-attr]
    statuses = [_status(g) for g in reply.transactions]
    assert [s[0] for s in statuses] == EXPECTED[name], statuses
    if name in EXPECTED_REJECTS:
        assert [s[1] for s in statuses] == EXPECTED_REJECTS[name]
        for i, _ in enumerate(vector.fills):
            structured = await client.submit(structured_claim(vector, i, target))
            assert [r.code for r in structured.rejects] == EXPECTED_REJECTS[name][i]
    for (status, rejects, _), f in zip(statuses, vector.fills, strict=True):
        if status == "R" and name not in EXPECTED_REJECTS:
            # the vector's compounds share a transmission with other claims: 1W
            assert f.product_qualifier == "00" and rejects == ["1W"], rejects
    for group, rx in zip(reply.transactions, target.rx_numbers, strict=True):
        assert next(s for s in group if s.segment_id == "22").get("D2") == rx
    paid = [i for i, s in enumerate(statuses) if s[0] == "P"]
    requests = {i: structured_claim(vector, i, target, prescriber=prescriber) for i in paid}
    for i in reversed(paid):  # reversals restore the family's state for the structured door
        assert (await client.reverse(reversal_for(requests[i]))).transaction_response_status == "A"
    for i in paid:
        structured = await client.submit(requests[i])
        assert structured.transaction_response_status == "P", structured.rejects
        raw_amounts = _amounts(reply.transactions[i])
        assert raw_amounts, f"transaction {i + 1} paid without a pricing segment"
        assert raw_amounts == _pricing_of(structured), i
    for i in reversed(paid):
        assert (await client.reverse(reversal_for(requests[i]))).transaction_response_status == "A"


async def test_the_public_cob_claim_is_a_secondary_claim_to_medicaid(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """The published COB claim (308-C8 02; 05: 4C 1, 5C 01, 6C 03, 7C 004336, HB 1, HC 07,
    DV $599.77, NR 01, NP 06, NQ $500.00: the counts zero-padded) re-targeted to Medicaid as
    the dual member's secondary payer. Medicaid pays the lesser of the patient responsibility
    the primary left ($500.00) and its own allowed amount less what the primary paid: the
    primary paid $599.77, more than Medicaid allows for the drug, so there is nothing left to
    pay: 74 (other carrier payment meets or exceeds payable), the same through both doors."""
    vector = VECTORS["transactrx_cob_b1_double_etx"]
    dual = fixtures["members"]["dual_coverage"]
    member = dual | {"plan_id": dual["secondary_plan_id"], "group_id": dual["secondary_group_id"]}
    target = _target(fixtures, member, vector, "20261120", rx_number)
    reply = decode_response(await client.transmit(retarget(load(vector.name), target)))
    status, rejects, _ = _status(reply.transactions[0])
    assert (status, rejects) == ("R", ["74"]), rejects
    request = structured_claim(vector, 0, target)
    assert request.claim.other_coverage_code == 2
    assert [(a.qualifier, a.amount_cents) for a in request.other_payments[0].amounts_paid] == [
        ("07", 59_977)
    ]
    structured = await client.submit(request)
    assert structured.transaction_response_status == "R"
    assert [r.code for r in structured.rejects] == ["74"]
    # the primary paid $10.00 and left $20.00: Medicaid's allowed less $10.00 is the lesser,
    # and Medicaid pays all of it (its $1.00 copay is within what it would pay alone)
    for g in request.other_payments[0].amounts_paid:
        g.amount_cents = 1_000
    for g in request.other_payments[0].patient_responsibility:
        g.amount_cents = 2_000
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects
    p = paid.pricing
    allowed = p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents
    assert 1_000 < allowed < 1_000 + 2_000  # so allowed less what was paid is the lesser
    assert (p.other_payer_amount_recognized_cents, p.patient_pay_amount_cents) == (1_000, 0)
    assert p.total_amount_paid_cents == allowed - 1_000
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"


async def test_specimen_state_licence_prescriber_is_rejected_25(
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: dict[str, dict[str, Any]],
    rx_number: Any,
) -> None:
    """The gateway's policy: 411-DB must be a 10-digit NPI whatever 466-EZ says, so the NCPDP
    specimen (EZ = 08 state licence, DB = 00G2345) is rejected 25 - an answer, not an error."""
    vector = VECTORS["ncpdp_specimen_b1"]
    target = _target(fixtures, people["specimen_state_licence"], vector, "20261102", rx_number)
    reply = decode_response(await client.transmit(retarget(load(vector.name), target)))
    status, rejects, _ = _status(reply.transactions[0])
    assert (status, "25" in rejects) == ("R", True), rejects


async def test_retargeted_b2_reverses_a_paid_claim(
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: dict[str, dict[str, Any]],
    rx_number: Any,
) -> None:
    """The specimen B2 (no transmission-level segment, no 403-D3, no Insurance) reverses the
    claim it names: A, then S when the switch sends it again."""
    vector = VECTORS["ncpdp_specimen_b2"]
    member = people[vector.name]
    target = _target(fixtures, member, vector, "20261107", rx_number)
    claim = claim_request(  # the paid claim the B2 names: its Rx, fill 0, NDC, pharmacy, date
        fixtures,
        member,
        fixtures["drugs"][DRUGS[0]],
        pharmacy=target.pharmacy,
        rx_number=0,
        date_of_service=target.date_of_service,
    )
    claim.claim.prescription_reference_number = target.rx_numbers[0]
    assert claim.claim.product_id == target.ndcs[vector.fills[0].product_id]
    assert (await client.submit(claim)).transaction_response_status == "P"
    raw = retarget(load(vector.name), target)
    first = decode_response(await client.transmit(raw))
    assert first.header.header_response_status == "A"  # type: ignore[union-attr]
    assert _status(first.transactions[0])[0] == "A"
    again = decode_response(await client.transmit(raw))
    assert _status(again.transactions[0])[0] == "S"
    assert (await client.reverse(reversal_for(claim))).transaction_response_status == "S"


def _with_group(raw: bytes, group: str) -> bytes:
    """The E1 with 301-C1 appended to its Insurance segment (its only change)."""
    t = decode_request(raw)
    segments = tuple(
        replace(s, fields=(*s.fields, ("C1", group))) if s.segment_id == "04" else s
        for s in t.segments
    )
    return encode(replace(t, segments=segments))


def _eligibility(target: Target, *, group: str) -> pb.EligibilityRequest:
    member = target.member
    return pb.EligibilityRequest(
        header=pb.Header(
            bin=target.bin,
            processor_control_number=target.pcn,
            service_provider_id=target.pharmacy,
            service_provider_id_qualifier="01",
            date_of_service=target.date_of_service,
        ),
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"], group_id=group, patient_relationship_code=1
        ),
        patient=pb.Patient(
            date_of_birth=member["date_of_birth"], gender_code=int(member["gender_code"])
        ),
    )


async def test_retargeted_e1_without_group_separator(
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: dict[str, dict[str, Any]],
) -> None:
    """The E1 with every segment at transmission level (no GS) and no 303-C3 is one
    transaction, answered as CheckEligibility answers the same fields. As published it has no
    301-C1: an E1 may leave it out, and it is approved with the member's group in the answer
    (it was 06); with the group added it is approved too, the person told apart by date of
    birth and gender."""
    vector = VECTORS["ncpdpserde_e1_no_group"]
    member = people[vector.name]
    target = _target(fixtures, member, vector, "20261108", lambda: 0)
    raw = retarget(load(vector.name), target)
    assert b"\x1d" not in raw

    as_published = decode_response(await client.transmit(raw))
    assert as_published.header.header_response_status == "A"  # type: ignore[union-attr]
    structured = await client.check_eligibility(_eligibility(target, group=""))
    assert [_status(g)[:2] for g in as_published.transactions] == [
        (structured.transaction_response_status, [r.code for r in structured.rejects])
    ]
    assert structured.transaction_response_status == "A", structured.rejects
    assert _segment(as_published, "25").get("C1") == member["group_id"] == structured.group_id

    grouped = decode_response(await client.transmit(_with_group(raw, member["group_id"])))
    assert grouped.header.header_response_status == "A"  # type: ignore[union-attr]
    assert [_status(g)[0] for g in grouped.transactions] == ["A"]
    insurance = _segment(grouped, "25")
    structured = await client.check_eligibility(_eligibility(target, group=member["group_id"]))
    assert structured.transaction_response_status == "A"
    assert (insurance.get("FO"), insurance.get("C1")) == (structured.plan_id, structured.group_id)
    assert structured.plan_id == member["plan_id"]
