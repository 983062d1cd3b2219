"""What a switch vendor's hunt found at the raw D.0 door (2026-12-02), pinned with bytes built by
hand here, not by the project's codec or builders (tests/support_d0.py), and answers read by
a parser of this file's own:

- a byte past ASCII in one transaction's field rejected the whole transmission (R8, a blank
  header echo): it rejects that transaction alone, naming the field, and the header is echoed;
- a field sent twice in a segment, or a segment sent twice, was read first-wins (the
  pharmacy's second value silently dropped): R8 naming it, nothing written;
- 473-7E counters were not checked (7E), a 354-NX count mismatch answered 34 (SG);
- a B3 could not correct the NDC (its reversal leg cross-checked the new product: 84);
- 347-HJ (copay basis) was never sent: 03 when the claim is paid at the U&C (522-FM 04).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.client import GatewayClient
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import commercial_subscribers, generic_fill

FS, GS, RS = "\x1c", "\x1d", "\x1e"
DAY = "20261104"


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """test_wire_faults.py's pool (active members 1780-1870, whole commercial families, none
    of fixtures.json's) from its 13th member on: that file bills its first eight only."""
    pool = commercial_subscribers(dataset, 1780, 1870)
    assert len(pool) >= 20
    return pool[12:20]


# ------------------------------------------------------------------ bytes built by hand


def _overpunch(cents: int) -> str:
    """s9(n)v99: the last digit carries the sign ({, A-I positive; }, J-R negative)."""
    digits = f"{abs(cents):03d}"
    last = ("{ABCDEFGHI" if cents >= 0 else "}JKLMNOPQR")[int(digits[-1])]
    return digits[:-1] + last


def _segment(segment_id: str, *fields: str, without: tuple[str, ...] = ()) -> str:
    """A segment; ``without``: field IDs to leave out, or AMnn to leave the segment out."""
    if f"AM{segment_id}" in without:
        return ""
    kept = [f for f in fields if f[:2] not in without]
    return RS + FS + "AM" + segment_id + "".join(FS + f for f in kept)


def _transmission(request: pb.ClaimRequest, groups: list[str], code: str = "B1") -> bytes:
    """A request header (56 bytes), the insurance segment at the transmission level, then one
    GS-led group per transaction; ``groups`` are str (latin-1 encoded: a byte past ASCII goes
    in as itself)."""
    h, i = request.header, request.insurance
    header = (
        f"{h.bin:<6}D0{code}{h.processor_control_number:<10}{len(groups)}01"
        f"{h.service_provider_id:<15}{h.date_of_service}{'':<10}"
    )
    insurance = _segment(
        "04", f"C2{i.cardholder_id}", f"C1{i.group_id}", f"C3{i.person_code}", "C61"
    )
    return (header + insurance + "".join(GS + g for g in groups)).encode("latin-1")


def _claim_group(
    request: pb.ClaimRequest,
    *,
    claim_extra: tuple[str, ...] = (),
    extra_segments: tuple[str, ...] = (),
    ndc: str | None = None,
    prescriber_extra: tuple[str, ...] = (),
    without: tuple[str, ...] = (),
) -> str:
    """One transaction: claim (07), prescriber (03), pricing (11), from ``request``'s values."""
    c, p, rx = request.claim, request.pricing, request.prescriber
    claim = _segment(
        "07",
        "EM1",
        f"D2{c.prescription_reference_number}",
        f"E1{c.product_id_qualifier}",
        f"D7{ndc or c.product_id}",
        f"E7{c.quantity_dispensed_thousandths}",
        f"D3{c.fill_number:02d}",
        f"D5{c.days_supply}",
        "D80",
        *claim_extra,
        without=without,
    )
    prescriber = _segment(
        "03", f"EZ{rx.prescriber_id_qualifier}", f"DB{rx.prescriber_id}", *prescriber_extra
    )
    pricing = _segment(
        "11",
        f"D9{_overpunch(p.ingredient_cost_submitted_cents)}",
        f"DC{_overpunch(p.dispensing_fee_submitted_cents)}",
        f"DQ{_overpunch(p.usual_and_customary_charge_cents)}",
        f"DU{_overpunch(p.gross_amount_due_cents)}",
        f"DN{p.basis_of_cost_determination}",
        without=without,
    )
    return claim + prescriber + "".join(extra_segments) + pricing


def _parse(data: bytes) -> tuple[str, list[dict[str, list[tuple[str, str]]]]]:
    """A response: its 31-byte header, and per transaction its segments (ID → fields)."""
    text = data.decode("ascii")
    header, groups = text[:31], text[31:].split(GS)
    parsed = []
    for group in groups[1:]:
        segments: dict[str, list[tuple[str, str]]] = {}
        for chunk in group.split(RS):
            if chunk:
                _, am, *fields = chunk.split(FS)
                segments[am[2:]] = [(f[:2], f[2:]) for f in fields]
        parsed.append(segments)
    return header, parsed


def _values(transaction: dict[str, list[tuple[str, str]]], segment: str, field: str) -> list[str]:
    return [v for f, v in transaction.get(segment, []) if f == field]


def _message(transaction: dict[str, list[tuple[str, str]]]) -> str:
    return "".join(_values(transaction, "21", "FQ"))


def _fill(fixtures: dict[str, Any], member: dict[str, Any], rx: int, drug: str, **kw: Any) -> Any:
    return generic_fill(fixtures, member, rx, DAY, drug=drug, **kw)


async def _answer(
    client: GatewayClient, request: pb.ClaimRequest, group: str, code: str = "B1"
) -> dict[str, list[tuple[str, str]]]:
    """The one transaction's answer to ``group`` sent alone for ``request``'s header."""
    _, (answer,) = _parse(await client.transmit(_transmission(request, [group], code)))
    return answer


async def _claims_under(conn: asyncpg.Connection, rx: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM claim WHERE claim_key LIKE '%|' || $1 || '|%'", rx
    )
    return count


# ------------------------------------------------------------------ the tests


async def test_a_byte_past_ascii_rejects_its_own_transaction_and_the_header_is_echoed(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    member = members[0]
    clean = _fill(fixtures, member, rx_number(), "generic")
    accented = _fill(fixtures, member, rx_number(), "generic_copay")
    # 427-DR, the prescriber's last name, as UTF-8 (two bytes past ASCII)
    groups = [
        _claim_group(clean),
        _claim_group(accented, prescriber_extra=("DRM\u00c3\u00bcller",)),
    ]
    header, (one, two) = _parse(await client.transmit(_transmission(clean, groups)))
    assert header[5] == "A"  # 501-F1: the transmission was accepted
    assert header[8:23].rstrip() == clean.header.service_provider_id  # 201-B1 echoed
    assert header[23:31] == DAY  # 401-D1 echoed
    assert _values(one, "21", "AN") == ["P"], one
    assert _values(two, "21", "AN") == ["R"] and _values(two, "21", "FB") == ["R8"], two
    assert "'DR'" in _message(two) and "not ASCII" in _message(two)
    assert await _claims_under(conn, accented.claim.prescription_reference_number) == 0
    # UTF-8 in the cardholder ID (transmission level) rejects each transaction it serves
    data = _transmission(clean, [_claim_group(accented)]).replace(
        f"C2{member['cardholder_id']}".encode(), f"C2{member['cardholder_id']}\u00e9".encode()
    )
    _, (only,) = _parse(await client.transmit(data))
    assert _values(only, "21", "FB") == ["R8"] and "'C2'" in _message(only)
    # a header past ASCII is the whole transmission's R8
    bad_header = bytearray(_transmission(clean, [_claim_group(accented)]))
    bad_header[50] = 0xE9  # inside 110-AK, the software vendor
    header, groups_back = _parse(await client.transmit(bytes(bad_header)))
    assert header[5] == "R" and _values(groups_back[0], "21", "FB") == ["R8"]
    assert await _claims_under(conn, accented.claim.prescription_reference_number) == 0


@pytest.mark.parametrize(
    "twice",
    [
        "field D7",
        "field D5",
        "segment 11",
        "segment 04 in the transaction too",
        "segment 04 twice at the transmission level",
    ],
)
async def test_a_field_or_segment_sent_twice_is_r8_naming_it_and_writes_nothing(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
    twice: str,
) -> None:
    request = _fill(fixtures, members[1], rx_number(), "generic")
    other = fixtures["drugs"]["generic_copay"]["ndc"]
    if twice == "field D7":
        group = _claim_group(request, claim_extra=(f"D7{other}",))
    elif twice == "field D5":
        group = _claim_group(request, claim_extra=("D590",))
    elif twice == "segment 11":
        group = _claim_group(request) + _segment("11", "D9999{")
    elif twice == "segment 04 in the transaction too":
        i = request.insurance
        group = _segment("04", f"C2{i.cardholder_id}", "C3001") + _claim_group(request)
    else:
        group = _claim_group(request)
    if twice.endswith("at the transmission level"):
        data = _transmission(request, [group]).decode("latin-1")
        level = data[56 : data.index(GS)]  # the header's 56 bytes, then AM04 up to the group
        _, (answer,) = _parse(await client.transmit((data[:56] + level + data[56:]).encode()))
    else:
        answer = await _answer(client, request, group)
    assert _values(answer, "21", "AN") == ["R"], answer
    assert _values(answer, "21", "FB") == ["R8"], answer
    name = twice.split(" ")[1]
    assert name in _message(answer) and "twice" in _message(answer), _message(answer)
    where = {
        "segment 04 in the transaction too": "(at the transmission level and in transaction 1)",
        "segment 04 twice at the transmission level": "(at the transmission level)",
        "segment 11": "(in transaction 1)",
    }
    assert where.get(twice, "") in _message(answer), _message(answer)
    assert await _claims_under(conn, request.claim.prescription_reference_number) == 0


async def test_dur_counters_number_their_occurrences_and_scc_counts_answer_sg(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    request = _fill(fixtures, members[2], rx_number(), "generic")
    cases = [
        # (extra segment 08 or claim fields, the reject)
        ((_segment("08", "7E2", "E4ER", "E5M0", "E61B"),), (), "7E"),
        ((_segment("08", "7E1", "E4ER", "E5M0", "E61B", "7E1", "E4DD"),), (), "7E"),
        ((_segment("08", "7EX", "E4ER"),), (), "7E"),
        ((), ("NX2", "DK03"), "SG"),
        ((), ("NX1", "DK03", "DK04"), "SG"),
    ]
    for segments, claim_extra, code in cases:
        group = _claim_group(request, claim_extra=claim_extra, extra_segments=segments)
        answer = await _answer(client, request, group)
        assert _values(answer, "21", "FB") == [code], (segments, claim_extra, answer)
    assert await _claims_under(conn, request.claim.prescription_reference_number) == 0
    # numbered right, the same DUR/PPS occurrences are read (and the claim pays)
    group = _claim_group(
        request, extra_segments=(_segment("08", "7E1", "E4ER", "E5M0", "E61B", "7E2", "E4DD"),)
    )
    answer = await _answer(client, request, group)
    assert _values(answer, "21", "AN") == ["P"], answer


async def test_b3_corrects_the_ndc_of_the_paid_claim(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    """The pharmacy billed the wrong product: a B3 under the same Rx, fill and date with the
    right NDC reverses the paid claim and pays the corrected one, in one transaction. Its
    one claim segment names the new product; the paid claim is found by its key."""
    wrong = _fill(fixtures, members[3], rx_number(), "generic")
    rx = wrong.claim.prescription_reference_number
    paid = await _answer(client, wrong, _claim_group(wrong))
    assert _values(paid, "21", "AN") == ["P"], paid
    right = _fill(fixtures, members[3], int(rx), "generic_copay")
    data = _transmission(right, [_claim_group(right)], code="B3")
    _, (rebilled,) = _parse(await client.transmit(data))
    assert _values(rebilled, "21", "AN") == ["P"], rebilled
    assert _values(rebilled, "21", "F3") != _values(paid, "21", "F3")
    rows = await conn.fetch(
        "SELECT c.product_id, EXISTS (SELECT 1 FROM claim_reversal r"
        " WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id) AS reversed"
        " FROM claim c WHERE c.claim_key LIKE '%|' || $1 || '|%' ORDER BY c.generation",
        rx,
    )
    assert [(r["product_id"], r["reversed"]) for r in rows] == [
        (fixtures["drugs"]["generic"]["ndc"], True),
        (fixtures["drugs"]["generic_copay"]["ndc"], False),
    ]
    # the B3 sent again answers D with the corrected claim's answer; nothing more is written
    _, (again,) = _parse(await client.transmit(data))
    assert _values(again, "21", "AN") == ["D"], again
    assert _values(again, "21", "F3") == _values(rebilled, "21", "F3")
    assert await _claims_under(conn, rx) == 2
    # a B3 whose new product is unknown answers 54 (the billing leg), not 84, and the
    # corrected claim stays paid
    unknown = _claim_group(right, ndc="99999999999")
    refused = await _answer(client, right, unknown, "B3")
    assert _values(refused, "21", "FB") == ["54"], refused
    assert await _claims_under(conn, rx) == 2


async def test_a_claim_paid_at_usual_and_customary_says_copay_basis_03_at_both_doors(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
) -> None:
    """ncpdp-d0.md 5.3: when the U&C wins, 347-HJ is 03 (usual and customary/prorated)."""
    member = members[4]
    below = _fill(fixtures, member, rx_number(), "generic_copay", usual_and_customary_cents=150)
    raw = await _answer(client, below, _claim_group(below))
    assert _values(raw, "21", "AN") == ["P"], raw
    assert _values(raw, "23", "FM") == ["04"] and _values(raw, "23", "HJ") == ["03"], raw
    structured = await client.submit(  # another member: the same fill again would be 79
        _fill(fixtures, members[7], rx_number(), "generic_copay", usual_and_customary_cents=150)
    )
    assert structured.transaction_response_status == "P"
    assert structured.pricing.basis_of_reimbursement_determination == "04"
    assert structured.pricing.basis_of_calculation_copay == "03"
    # priced on the contract: no 347-HJ
    priced = _fill(fixtures, member, rx_number(), "generic")
    contract = await _answer(client, priced, _claim_group(priced))
    assert _values(contract, "21", "AN") == ["P"], contract
    assert _values(contract, "23", "FM") != ["04"] and _values(contract, "23", "HJ") == []


async def test_procedure_modifiers_repeat_and_a_switchs_own_fields_are_read_past(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
) -> None:
    """459-ER repeats (458-SE counts it), and a field ID the D.0 dictionary does not know (a
    switch's own, ncpdp-d0.md 1.2) is read past, twice or not: neither is a field sent twice."""
    request = _fill(fixtures, members[5], rx_number(), "generic")
    group = _claim_group(request, claim_extra=("SE2", "ER25", "ER59", "**A", "**B"))
    answer = await _answer(client, request, group)
    assert _values(answer, "21", "AN") == ["P"], answer


async def test_a_claim_whose_copay_is_under_the_u_and_c_sends_no_copay_basis(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
) -> None:
    """347-HJ 03 says the U&C set the copay. Paid at a U&C above the member's share (522-FM
    04, the copay or coinsurance under it), the U&C did not: no 347-HJ."""
    member = members[6]
    request = _fill(fixtures, member, rx_number(), "generic")
    contract = await client.submit(request)
    assert contract.transaction_response_status == "P"
    share = contract.pricing.patient_pay_amount_cents
    allowed = contract.pricing.allowed_amount_cents
    # a U&C between the member's share and the contract price: it is what the claim pays
    uc = share + (allowed - share) // 2
    assert share < uc < allowed, (share, allowed)
    below = _fill(fixtures, member, rx_number(), "generic_copay", usual_and_customary_cents=uc)
    answer = await client.submit(below)
    assert answer.transaction_response_status == "P"
    assert answer.pricing.basis_of_reimbursement_determination == "04", answer.pricing
    assert answer.pricing.patient_pay_amount_cents < answer.pricing.allowed_amount_cents
    assert answer.pricing.basis_of_calculation_copay == ""


async def test_a_reject_about_one_repetition_names_it_546_4f(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
) -> None:
    """546-4F pairs with the 511-FB it follows: which repetition of a repeating group the
    reject is about. The second DUR/PPS occurrence's counter, the second other amount's
    value, the second clarification code: each names its repetition, 2."""
    request = _fill(fixtures, members[5], rx_number(), "generic")
    cases = [
        ((_segment("08", "7E1", "E4ER", "7E3", "E4DD"),), (), "7E"),
        ((), ("NX2", "DK03", "DKXX"), "34"),  # M/I Submission Clarification Code
    ]
    for segments, claim_extra, code in cases:
        group = _claim_group(request, claim_extra=claim_extra, extra_segments=segments)
        answer = await _answer(client, request, group)
        status = [f for f in answer["21"] if f[0] in {"FA", "FB", "4F"}]
        assert status == [("FA", "1"), ("FB", code), ("4F", "2")], (code, answer["21"])
    # a reject about no repetition carries no 546-4F
    group = _claim_group(request, claim_extra=("D7" + "1" * 11,))
    answer = await _answer(client, request, group)
    assert [f for f in answer["21"] if f[0] == "4F"] == [], answer["21"]


@pytest.mark.parametrize(
    ("drop", "code", "said"),
    [
        ("segment 07", "R8", "segment 07 (Claim) is missing: a B1 carries it"),
        ("segment 11", "R8", "segment 11 (Pricing) is missing: a B1 carries it"),
        ("field D5", "19", "field D5 (405-D5 Days Supply) is missing"),
        ("field E7", "E7", "field E7 (442-E7 Quantity Dispensed) is missing"),
        ("field DQ", "DQ", "field DQ (426-DQ Usual and Customary Charge) is missing"),
    ],
)
async def test_a_missing_segment_or_required_number_says_it_is_missing(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
    drop: str,
    code: str,
    said: str,
) -> None:
    """Read as 0, an absent days supply was 'must be 1-365', an absent claim segment five M/I
    rejects about values nobody sent: each now says what is missing."""
    request = _fill(fixtures, members[6], rx_number(), "generic")
    kind, name = drop.split(" ")
    group = _claim_group(request, without=(f"AM{name}" if kind == "segment" else name,))
    answer = await _answer(client, request, group)
    assert _values(answer, "21", "FB") == [code], answer
    assert said in _message(answer), _message(answer)
    assert await _claims_under(conn, request.claim.prescription_reference_number) == 0
