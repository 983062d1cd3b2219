"""D.0 request segments → the domain's requests (B1, B2, B3, E1).

A decoded transmission's fields are read here, beside the codec: text without the space padding
D.0 allows, numbers and amounts through the codec's decoders. A field that cannot be read, or
that is out of the range a request field holds (403-D3 = 99999999999, 430-DU = 2^63), is
:class:`FieldProblem` with that field's M/I reject, so it rejects its own transaction and never
its neighbours. The structured door (grpc_api/translate.py) builds the same domain values, so a
claim gets the same decision whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rx_gateway.domain.additional_amounts import AdditionalAmounts, OtherAmount
from rx_gateway.domain.claim import ClaimRequest, EligibilityRequest, Header, ReversalRequest
from rx_gateway.domain.compound_segment import Compound, Ingredient
from rx_gateway.domain.dur import DurService
from rx_gateway.domain.other_payments import OtherPayment
from rx_gateway.domain.rejects import RejectCode
from rx_gateway.ncpdp.codec import (
    CodecError,
    RequestHeader,
    Segment,
    Transmission,
    decode_money,
    decode_number,
    decode_quantity,
)
from rx_gateway.ncpdp.dictionary import SEGMENT_FIELDS, SEGMENTS

# A field that cannot be read answers the transaction with that field's M/I reject.
FIELD_REJECTS = {
    "E3": RejectCode.MI_INCENTIVE_AMOUNT,
    "H7": RejectCode.MI_OTHER_AMOUNT_COUNT,
    "H9": RejectCode.MI_OTHER_AMOUNT,
    "HA": RejectCode.MI_FLAT_SALES_TAX,
    "GE": RejectCode.MI_PERCENTAGE_SALES_TAX,
    "HE": RejectCode.MI_PERCENTAGE_SALES_TAX_RATE,
    "DX": RejectCode.MI_PATIENT_PAID_AMOUNT,
    "DK": RejectCode.MI_SUBMISSION_CLARIFICATION,
    "8E": RejectCode.MI_DUR_LEVEL_OF_EFFORT,
    "E7": RejectCode.MI_QUANTITY_DISPENSED,
    "D5": RejectCode.MI_DAYS_SUPPLY,
    "D3": RejectCode.MI_FILL_NUMBER,
    "DF": RejectCode.MI_REFILLS_AUTHORIZED,
    "D8": RejectCode.MI_DAW,
    "C5": RejectCode.MI_GENDER,
    "C6": RejectCode.MI_PATIENT_RELATIONSHIP,
    "DQ": RejectCode.MI_USUAL_AND_CUSTOMARY,
    "DU": RejectCode.MI_GROSS_AMOUNT_DUE,
    "D9": RejectCode.GAD_FORMULA,
    "DC": RejectCode.GAD_FORMULA,
    "C8": RejectCode.MI_OTHER_COVERAGE_CODE,
    "D6": RejectCode.MI_COMPOUND_CODE,
    "EC": RejectCode.MI_COMPOUND_INGREDIENT_COUNT,
    "ED": RejectCode.MI_COMPOUND_INGREDIENT_QUANTITY,
    "EE": RejectCode.MI_COMPOUND_INGREDIENT_COST,
    "2G": RejectCode.MI_COMPOUND_INGREDIENT_MODIFIER_COUNT,
    "4C": RejectCode.MI_COB_COUNT,
    "HB": RejectCode.MI_OTHER_PAYER_AMOUNT_PAID_COUNT,
    "DV": RejectCode.MI_OTHER_PAYER_AMOUNT_PAID,
    "5E": RejectCode.MI_OTHER_PAYER_REJECT_COUNT,
    "NR": RejectCode.MI_OTHER_PAYER_RESPONSIBILITY_COUNT,
    "NQ": RejectCode.MI_OTHER_PAYER_RESPONSIBILITY,
}
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Fields that are int32 in the structured request; every other number is int64 (so both doors
# accept the same values).
INT32_FIELDS = frozenset({"C6", "C5", "D3", "D5", "D8", "DF", "C8", "D6"})
TEXT_LENGTH_MAX = 200  # no NCPDP field is longer; the structured door refuses the same


class FieldProblem(Exception):
    """A field of one transaction that cannot be read: its reject and a message naming it, and
    the repetition of its repeating group it is in, from 1 (546-4F; 0: not in one)."""

    def __init__(self, code: RejectCode, message: str, occurrence: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.occurrence = occurrence


@contextmanager
def _in_occurrence(number: int) -> Iterator[None]:
    """A field problem raised inside is about repetition ``number`` of its group (546-4F)."""
    try:
        yield
    except FieldProblem as problem:
        problem.occurrence = problem.occurrence or number
        raise


def segment_of(transmission: Transmission, index: int, segment_id: str) -> Segment:
    """The transaction's segment (or the transmission's), empty when it was not sent."""
    return transmission.segment(segment_id, index) or Segment(segment_id)


def text(segment: Segment, field_id: str) -> str:
    """A text field without the space padding D.0 allows: x(n) fields are left-justified and
    space-filled, so trailing spaces are padding (at any width); a leading space is the
    field's content, which its checks answer as the structured door's do."""
    value = segment.get(field_id).rstrip(" ")
    if len(value) > TEXT_LENGTH_MAX:
        msg = f"field {field_id}: longer than {TEXT_LENGTH_MAX} characters"
        raise FieldProblem(RejectCode.SYNTAX_ERROR, msg)
    return value


def _typed(segment: Segment, field_id: str, decoder: Callable[[str], int]) -> int:
    """A numeric field (0 when absent), or the field's M/I reject."""
    raw = segment.get(field_id).strip(" ")
    if raw == "":
        return 0
    code = FIELD_REJECTS.get(field_id, RejectCode.SYNTAX_ERROR)
    try:
        value = decoder(raw)
    except CodecError as error:
        raise FieldProblem(code, f"field {field_id}: {error.message}") from error
    limit = INT32_MAX if field_id in INT32_FIELDS else INT64_MAX
    if not -limit <= value <= limit:
        raise FieldProblem(code, f"field {field_id}: {len(raw)} digits is out of range")
    return value


def _number(segment: Segment, field_id: str) -> int:
    return _typed(segment, field_id, decode_number)


def _sent_number(segment: Segment, field_id: str) -> int | None:
    """A numeric field whose 0 says something (415-DF: no refills): None when not sent (absent
    or blank), else its value or its M/I reject."""
    if segment.get(field_id).strip(" ") == "":
        return None
    return _number(segment, field_id)


def _money(segment: Segment, field_id: str) -> int:
    return _typed(segment, field_id, decode_money)


def _typed_value(raw: str, field_id: str, decoder: Callable[[str], int]) -> int:
    return _typed(Segment("", ((field_id, raw),)), field_id, decoder)


def _occurrence_value(number: int, raw: str, field_id: str, decoder: Callable[[str], int]) -> int:
    """A repeating field's value, its M/I reject naming repetition ``number`` (546-4F)."""
    with _in_occurrence(number):
        return _typed_value(raw, field_id, decoder)


def _counts(segment: Segment, count_field: str, sent: int) -> bool:
    """A count field (337-4C, 341-HB, 354-NX, 478-H7 ...) says how many repetitions follow:
    it is right when it is a number equal to what was sent ("01" is one: counts are numeric
    and may be zero-padded), or absent with nothing sent."""
    count = segment.get(count_field).strip(" ")
    if not count:
        return sent == 0
    return count.isascii() and count.isdigit() and int(count) == sent


def additional_amounts(pricing: Segment) -> AdditionalAmounts:
    """438-E3, 478-H7 with its 479-H8/480-H9 pairs, 481-HA, 482-GE, 483-HE (4 implied
    decimals), 484-JE, 433-DX. 478-H7 must count the pairs sent."""
    qualifiers, amounts = pricing.all("H8"), pricing.all("H9")
    if len(qualifiers) != len(amounts) or not _counts(pricing, "H7", len(qualifiers)):
        count = pricing.get("H7").strip(" ")
        msg = (
            f"field H7: 478-H7 says {count or 'nothing'!r}; {len(qualifiers)} 479-H8 and"
            f" {len(amounts)} 480-H9 sent"
        )
        raise FieldProblem(RejectCode.MI_OTHER_AMOUNT_COUNT, msg)
    return AdditionalAmounts(
        incentive_cents=_money(pricing, "E3"),
        other_amounts=tuple(
            OtherAmount(q.rstrip(" "), _occurrence_value(n, a, "H9", decode_money))
            for n, (q, a) in enumerate(zip(qualifiers, amounts, strict=True), start=1)
        ),
        flat_sales_tax_cents=_money(pricing, "HA"),
        percentage_sales_tax_cents=_money(pricing, "GE"),
        percentage_sales_tax_rate=_money(pricing, "HE"),  # s9v9999: the integer is the rate
        percentage_sales_tax_basis=text(pricing, "JE"),
        patient_paid_cents=_money(pricing, "DX"),
    )


def clarification_codes(claim: Segment) -> tuple[int, ...]:
    """354-NX count and the 420-DK codes it counts."""
    codes = claim.all("DK")
    if not _counts(claim, "NX", len(codes)):
        count = claim.get("NX").strip(" ")
        msg = f"field NX: 354-NX says {count or 'nothing'!r}; {len(codes)} 420-DK sent"
        raise FieldProblem(RejectCode.SUBMISSION_CLARIFICATION_COUNT_MISMATCH, msg)
    return tuple(
        _occurrence_value(n, code, "DK", decode_number) for n, code in enumerate(codes, start=1)
    )


def dur_services(segment: Segment) -> tuple[DurService, ...]:
    """Segment 08's occurrences: each 473-7E counter starts one (439-E4, 440-E5, 441-E6,
    474-8E) and numbers it: 1 for the first, 2 for the second (7E otherwise)."""
    occurrences: list[dict[str, str]] = []
    for field_id, value in segment.fields:
        if field_id == "7E":
            counter = value.strip(" ")
            if not (
                counter.isascii() and counter.isdigit() and int(counter) == len(occurrences) + 1
            ):
                msg = (
                    f"field 7E: 473-7E says {counter or 'nothing'!r} for DUR/PPS occurrence"
                    f" {len(occurrences) + 1}: each counter numbers its occurrence, from 1"
                )
                raise FieldProblem(RejectCode.MI_DUR_COUNTER, msg, len(occurrences) + 1)
            occurrences.append({})
        elif occurrences and field_id in ("E4", "E5", "E6", "8E"):
            occurrences[-1][field_id] = value.rstrip(" ")
        elif field_id in ("E4", "E5", "E6", "8E"):
            msg = f"field {field_id}: a DUR/PPS field before its 473-7E counter"
            raise FieldProblem(RejectCode.MI_DUR_REASON, msg)
    return tuple(
        DurService(
            o.get("E4", ""),
            o.get("E5", ""),
            o.get("E6", ""),
            _occurrence_value(n, o["8E"], "8E", decode_number) if o.get("8E") else 0,
        )
        for n, o in enumerate(occurrences, start=1)
    )


# Segment 05: each 338-5C opens one other payer's occurrence; these fields belong to it.
_OCCURRENCE_FIELDS = frozenset(
    {"6C", "7C", "E8", "A7", "HB", "HC", "DV", "5E", "6E", "NR", "NP", "NQ", "MU", "MV", "MW"}
)
# (count field, the fields it counts, the count mismatch reject)
_COUNTED = (
    ("HB", ("HC", "DV"), RejectCode.OTHER_PAYER_AMOUNT_COUNT_MISMATCH),
    ("5E", ("6E",), RejectCode.OTHER_PAYER_REJECT_COUNT_MISMATCH),
    ("NR", ("NP", "NQ"), RejectCode.OTHER_PAYER_RESPONSIBILITY_COUNT_MISMATCH),
)


def _count_matches(occurrence: Segment, count_field: str, counted: tuple[str, ...]) -> bool:
    sent = [len(occurrence.all(f)) for f in counted]
    return len(set(sent)) == 1 and _counts(occurrence, count_field, sent[0])


def other_payments(segment: Segment) -> tuple[OtherPayment, ...]:
    """Segment 05's occurrences: 337-4C counts them, each opened by 338-5C, each with its
    341-HB, 471-5E and 353-NR counts matching the repetitions they count (P4, SF, R2, SH).
    Benefit stages (392-MU .. 394-MW) and the ICN (993-A7) are read past: other payers' only."""
    occurrences: list[list[tuple[str, str]]] = []
    for field_id, value in segment.fields:
        if field_id == "5C":
            occurrences.append([])
        elif field_id != "4C" and not occurrences and field_id in _OCCURRENCE_FIELDS:
            msg = f"field {field_id}: a COB field before its 338-5C coverage type"
            raise FieldProblem(RejectCode.MI_OTHER_PAYER_COVERAGE_TYPE, msg)
        if occurrences:
            occurrences[-1].append((field_id, value))
    if not _counts(segment, "4C", len(occurrences)):
        count = segment.get("4C").strip(" ")
        msg = f"field 4C: 337-4C says {count or 'nothing'!r}; {len(occurrences)} other payers sent"
        raise FieldProblem(RejectCode.COB_COUNT_MISMATCH, msg)
    payments = []
    for number, fields_of in enumerate(occurrences, start=1):
        with _in_occurrence(number):
            payments.append(_other_payment(Segment("05", tuple(fields_of))))
    return tuple(payments)


def _other_payment(occurrence: Segment) -> OtherPayment:
    """One other payer's occurrence of segment 05: its counts must match what they count."""
    for count_field, counted, code in _COUNTED:
        if not _count_matches(occurrence, count_field, counted):
            msg = f"field {count_field}: the count does not match the {' / '.join(counted)} sent"
            raise FieldProblem(code, msg)
    return OtherPayment(
        coverage_type=text(occurrence, "5C"),
        payer_id_qualifier=text(occurrence, "6C"),
        payer_id=text(occurrence, "7C"),
        date=text(occurrence, "E8"),
        amounts_paid=tuple(
            (q.rstrip(" "), _typed_value(a, "DV", decode_money))
            for q, a in zip(occurrence.all("HC"), occurrence.all("DV"), strict=True)
        ),
        reject_codes=tuple(code.rstrip(" ") for code in occurrence.all("6E")),
        patient_responsibility=tuple(
            (q.rstrip(" "), _typed_value(a, "NQ", decode_money))
            for q, a in zip(occurrence.all("NP"), occurrence.all("NQ"), strict=True)
        ),
    )


_INGREDIENT_FIELDS = frozenset({"TE", "ED", "EE", "UE", "2G", "2H"})


def compound(segment: Segment) -> Compound | None:
    """Segment 10 (None when not sent): 450-EF, 451-EG, 447-EC, then each ingredient opened by
    its 488-RE (489-TE, 448-ED, 449-EE, 490-UE, 362-2G with its 363-2H codes). 447-EC must
    count the ingredients (P3), 362-2G the codes (4M)."""
    if not segment.fields:
        return None
    occurrences: list[list[tuple[str, str]]] = []
    for field_id, value in segment.fields:
        if field_id == "RE":
            occurrences.append([])
        elif field_id in _INGREDIENT_FIELDS and not occurrences:
            msg = f"field {field_id}: an ingredient field before its 488-RE qualifier"
            raise FieldProblem(RejectCode.MI_COMPOUND_PRODUCT_ID_QUALIFIER, msg)
        if occurrences:
            occurrences[-1].append((field_id, value))
    if not _counts(segment, "EC", len(occurrences)):
        count = segment.get("EC").strip(" ")
        msg = f"field EC: 447-EC says {count or 'nothing'!r}; {len(occurrences)} ingredients sent"
        raise FieldProblem(RejectCode.COMPOUND_INGREDIENT_COUNT_MISMATCH, msg)
    ingredients = []
    for number, fields_of in enumerate(occurrences, start=1):
        with _in_occurrence(number):
            ingredients.append(_ingredient(Segment("10", tuple(fields_of))))
    return Compound(
        dosage_form=text(segment, "EF"),
        dispensing_unit=text(segment, "EG"),
        ingredients=tuple(ingredients),
    )


# The request segments (111-AM 01-16): each comes once in a transaction, or once at the
# transmission level; any other segment is read past, repeated or not.
_REQUEST_SEGMENTS = frozenset(f"{n:02d}" for n in range(1, 17))
# Per segment the gateway reads: the field that opens each occurrence of its repeating group
# (None: the segment has none), and the fields that may repeat within one occurrence (or,
# without a group, within the segment). Any other field sent twice is ambiguous: R8.
_GROUPS: dict[str, tuple[str | None, frozenset[str]]] = {
    "01": (None, frozenset()),
    "02": (None, frozenset()),
    "03": (None, frozenset()),
    "04": (None, frozenset()),
    "05": ("5C", frozenset({"HC", "DV", "6E", "NP", "NQ", "MV", "MW"})),
    "07": (None, frozenset({"DK", "ER"})),  # 420-DK, 459-ER (counted by 354-NX, 458-SE)
    "08": ("7E", frozenset()),
    "10": ("RE", frozenset({"2H"})),
    "11": (None, frozenset({"H8", "H9"})),
}


def _repeated_field(segment: Segment) -> str | None:
    """The first field of the D.0 dictionary that a segment the gateway reads carries twice
    where it may carry one (an ID the dictionary does not know, a switch's own, is read past
    as ncpdp-d0.md 1.2 asks, repeated or not)."""
    opener, repeating = _GROUPS[segment.segment_id]
    known = SEGMENT_FIELDS[segment.segment_id]
    head: set[str] = set()
    occurrence: set[str] | None = None
    for field_id, _ in segment.fields:
        if field_id == opener:
            occurrence = set()
            continue
        if field_id in repeating or field_id not in known:
            continue
        fields_seen = head if occurrence is None else occurrence
        if field_id in fields_seen:
            return field_id
        fields_seen.add(field_id)
    return None


def check_structure(transmission: Transmission, index: int) -> None:
    """What no field reader sees, for transaction ``index``: a field that is not ASCII (D.0 is
    ASCII; the codec keeps such a byte where it was so that it is named here), a request
    segment sent twice (in the transaction, at the transmission level, or at both), and a
    field that may occur once sent twice in a segment the gateway reads (which value the
    pharmacy meant cannot be told). Each is R8 for this transaction alone (FieldProblem),
    naming what is wrong; its neighbours are answered as if it were not there."""
    groups = [("at the transmission level", transmission.segments)]
    if 0 <= index < len(transmission.transactions):
        groups.append((f"in transaction {index + 1}", transmission.transactions[index]))
    seen: dict[str, str] = {}
    for where, segments in groups:
        for segment in segments:
            segment_id = segment.segment_id
            if not segment_id.isascii():
                msg = f"segment {segment_id!a} ({where}): its ID is not ASCII"
                raise FieldProblem(RejectCode.SYNTAX_ERROR, msg)
            for field_id, value in segment.fields:
                if not (field_id + value).isascii():
                    msg = f"field {field_id!a} of segment {segment_id}: not ASCII (D.0 is ASCII)"
                    raise FieldProblem(RejectCode.SYNTAX_ERROR, msg)
            if segment_id not in _REQUEST_SEGMENTS:
                continue
            if segment_id in seen:
                first = seen[segment_id]
                both = where if first == where else f"{first} and {where}"
                msg = f"segment {segment_id} is sent twice ({both})"
                raise FieldProblem(RejectCode.SYNTAX_ERROR, msg)
            seen[segment_id] = where
            if segment_id in _GROUPS and (repeated := _repeated_field(segment)) is not None:
                msg = (
                    f"field {repeated} is sent twice in segment {segment_id}: it carries one value"
                )
                raise FieldProblem(RejectCode.SYNTAX_ERROR, msg)


def _ingredient(occurrence: Segment) -> Ingredient:
    """One ingredient's occurrence of segment 10: 362-2G must count its 363-2H codes (4M)."""
    if not _counts(occurrence, "2G", len(occurrence.all("2H"))):
        msg = "field 2G: 362-2G does not count the 363-2H codes sent"
        raise FieldProblem(RejectCode.COMPOUND_MODIFIER_COUNT_MISMATCH, msg)
    return Ingredient(
        product_id_qualifier=text(occurrence, "RE"),
        product_id=text(occurrence, "TE"),
        quantity_thousandths=_typed(occurrence, "ED", decode_quantity),
        cost_cents=_money(occurrence, "EE"),
        basis_of_cost=text(occurrence, "UE"),
        modifiers=tuple(code.rstrip(" ") for code in occurrence.all("2H")),
    )


# The segments each transaction code needs (in the transaction, or at the transmission level)
REQUIRED_SEGMENTS = {
    "B1": ("04", "07", "11"),
    "B3": ("04", "07", "11"),
    "B2": ("07",),
    "E1": ("04",),
}
# The fields a claim needs whose absence the request would read as 0 (and its checks answer
# as a bad value): absent, each is its M/I reject saying so.
REQUIRED_NUMBERS = (("07", "E7"), ("07", "D5"), ("11", "DQ"), ("11", "DU"))


def check_required(transmission: Transmission, index: int, code: str) -> None:
    """A segment the transaction code needs is there (R8 naming it otherwise), and for a claim
    (B1, B3) its quantity, days supply, U&C and gross amount due are sent (each its M/I reject,
    saying it is missing, otherwise: read as 0 they were 'must be 1-365' and the like)."""
    for segment_id in REQUIRED_SEGMENTS.get(code, ()):
        if transmission.segment(segment_id, index) is None:
            msg = f"segment {segment_id} ({SEGMENTS[segment_id]}) is missing: a {code} carries it"
            raise FieldProblem(RejectCode.SYNTAX_ERROR, msg)
    if code not in ("B1", "B3"):
        return
    for segment_id, field_id in REQUIRED_NUMBERS:
        if segment_of(transmission, index, segment_id).get(field_id).strip(" ") == "":
            number, name, _ = SEGMENT_FIELDS[segment_id][field_id]
            msg = f"field {field_id} ({number} {name}) is missing"
            raise FieldProblem(FIELD_REJECTS[field_id], msg)


def header_of(header: RequestHeader) -> Header:
    return Header(
        bin=header.bin.rstrip(" "),
        processor_control_number=header.processor_control_number.rstrip(" "),
        service_provider_id=header.service_provider_id.rstrip(" "),
        date_of_service=header.date_of_service.rstrip(" "),
        service_provider_id_qualifier=header.service_provider_id_qualifier.rstrip(" "),
        software_vendor_id=header.software_vendor_id.rstrip(" "),
    )


def _request_header(transmission: Transmission) -> Header:
    header = transmission.header
    if not isinstance(header, RequestHeader):
        msg = "a request transmission carries a request header"
        raise TypeError(msg)
    return header_of(header)


def claim_request(transmission: Transmission, index: int) -> ClaimRequest:
    """A B1 (or the billing leg of a B3): header, insurance (04), patient (01), claim (07),
    prescriber (03), COB (05), DUR/PPS (08), compound (10) and pricing (11) segments."""
    insurance = segment_of(transmission, index, "04")
    patient = segment_of(transmission, index, "01")
    claim = segment_of(transmission, index, "07")
    prescriber = segment_of(transmission, index, "03")
    pricing = segment_of(transmission, index, "11")
    ingredients = compound(segment_of(transmission, index, "10"))
    if ingredients is not None and len(transmission.transactions) > 1:
        msg = "a compound travels alone: send it in a transmission of its own (1W)"
        raise FieldProblem(RejectCode.COMPOUND_MUST_BE_SINGLE_TRANSACTION, msg)
    return ClaimRequest(
        header=_request_header(transmission),
        cardholder_id=text(insurance, "C2"),
        group_id=text(insurance, "C1"),
        person_code=text(insurance, "C3"),
        patient_relationship_code=_number(insurance, "C6"),
        date_of_birth=text(patient, "C4"),
        gender_code=_number(patient, "C5"),
        prescription_reference_number=text(claim, "D2"),
        fill_number=_number(claim, "D3"),
        product_id_qualifier=text(claim, "E1"),
        product_id=text(claim, "D7"),
        quantity_dispensed_thousandths=_typed(claim, "E7", decode_quantity),
        days_supply=_number(claim, "D5"),
        dispense_as_written=_number(claim, "D8"),
        date_prescription_written=text(claim, "DE"),
        number_of_refills_authorized=_sent_number(claim, "DF"),
        prior_authorization_number=text(claim, "EV"),
        prior_authorization_type_code=text(claim, "EU"),
        prescriber_id=text(prescriber, "DB"),
        prescriber_id_qualifier=text(prescriber, "EZ"),
        ingredient_cost_submitted_cents=_money(pricing, "D9"),
        dispensing_fee_submitted_cents=_money(pricing, "DC"),
        usual_and_customary_charge_cents=_money(pricing, "DQ"),
        gross_amount_due_cents=_money(pricing, "DU"),
        basis_of_cost_determination=text(pricing, "DN"),
        additional_amounts=additional_amounts(pricing),
        submission_clarification_codes=clarification_codes(claim),
        dur_services=dur_services(segment_of(transmission, index, "08")),
        other_coverage_code=_number(claim, "C8"),
        other_payments=other_payments(segment_of(transmission, index, "05")),
        compound_code=_number(claim, "D6"),
        compound=ingredients,
    )


def reversal_request(transmission: Transmission, index: int) -> ReversalRequest:
    """A B2 (or the reversal leg of a B3): the claim segment's Rx, fill and product; the
    insurance segment's patient, when sent, must be the paid claim's."""
    insurance = segment_of(transmission, index, "04")
    claim = segment_of(transmission, index, "07")
    return ReversalRequest(
        header=_request_header(transmission),
        prescription_reference_number=text(claim, "D2"),
        fill_number=_number(claim, "D3"),
        product_id_qualifier=text(claim, "E1"),
        product_id=text(claim, "D7"),
        cardholder_id=text(insurance, "C2"),
        person_code=text(insurance, "C3"),
    )


def eligibility_request(transmission: Transmission) -> EligibilityRequest:
    insurance = segment_of(transmission, 0, "04")
    patient = segment_of(transmission, 0, "01")
    return EligibilityRequest(
        header=_request_header(transmission),
        cardholder_id=text(insurance, "C2"),
        group_id=text(insurance, "C1"),
        person_code=text(insurance, "C3"),
        date_of_birth=text(patient, "C4"),
        gender_code=_number(patient, "C5"),
        patient_relationship_code=_number(insurance, "C6"),
    )
