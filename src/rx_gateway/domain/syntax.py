"""The syntax checks of each request (the M/I rejects), run before any member state is read:
the header, the member and prescription fields, the product, the patient and prescriber, the
pricing segment, submission clarification codes, DUR/PPS occurrences and the COB segment."""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.additional_amounts import additional_amount_rejects
from rx_gateway.domain.claim import (
    AMOUNT_MAX_CENTS,
    DAYS_SUPPLY_MAX,
    QUANTITY_MAX_THOUSANDTHS,
    TEXT_FIELD_LENGTH_MAX,
    ClaimRequest,
    EligibilityRequest,
    Header,
    ReversalRequest,
)
from rx_gateway.domain.compound_segment import (
    COMPOUND,
    COMPOUND_PRODUCT_ID,
    COMPOUND_PRODUCT_QUALIFIER,
    compound_rejects,
)
from rx_gateway.domain.dur import CLARIFICATIONS_MAX
from rx_gateway.domain.other_payments import other_payment_rejects
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.values import (
    DATE_OF_BIRTH_YEAR_MIN,
    is_digits,
    is_text,
    parse_ccyymmdd,
)

# 202-B2 and 466-EZ: the gateway knows pharmacies and prescribers by NPI only (01; not sent,
# taken as 01)
NPI_QUALIFIERS = frozenset({"", "01"})
PATIENT_RELATIONSHIP_MAX = 4  # 306-C6: 0 not specified, 1 cardholder, 2 spouse, 3 child, 4 other


def npi_check_digit_ok(npi: str) -> bool:
    """The NPI's tenth digit: the Luhn check digit of the nine before it, prefixed 80840
    (the NPI standard, 45 CFR 162.406)."""
    if len(npi) != 10 or not is_digits(npi):
        return False
    total = 0
    for position, digit in enumerate(reversed("80840" + npi[:9])):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10 == int(npi[9])


def _digits_reject(
    value: str, code: RejectCode, name: str, lengths: tuple[int, int], *, required: bool = True
) -> list[Reject]:
    """A numeric-text field of ``lengths`` (min, max) ASCII digits; a missing one says so."""
    if not value:
        return [Reject(code, f"{name} is missing")] if required else []
    low, high = lengths
    if low <= len(value) <= high and is_digits(value):
        return []
    size = f"{low}" if low == high else f"{low}-{high}"
    return [Reject(code, f"{name} must be {size} digits 0-9")]


def _text_reject(
    value: str, code: RejectCode, name: str, length_max: int, *, required: bool = True
) -> list[Reject]:
    """A text field: printable ASCII, at most ``length_max`` characters; a missing one says so."""
    if not value:
        return [Reject(code, f"{name} is missing")] if required else []
    if not is_text(value):
        return [Reject(code, f"{name} holds a character outside printable ASCII")]
    if len(value) > length_max or value.strip() != value:
        return [Reject(code, f"{name} must be 1-{length_max} characters, no padding")]
    return []


def _date_reject(value: str, code: RejectCode, name: str, *, required: bool = True) -> list[Reject]:
    if not value:
        return [Reject(code, f"{name} is missing")] if required else []
    date = parse_ccyymmdd(value)
    if date is None:
        return [Reject(code, f"{name} must be a date CCYYMMDD")]
    if date.year < DATE_OF_BIRTH_YEAR_MIN:  # before anyone living was born: not a date meant
        return [Reject(code, f"{name} must be a date CCYYMMDD from {DATE_OF_BIRTH_YEAR_MIN} on")]
    return []


def validate_header(header: Header, *, npi_only: bool = True) -> list[Reject]:
    """The transmission header. ``npi_only`` False (a B2): 202-B2 need only be two digits, so
    that a claim paid under another qualifier before it had to be 01 can still be reversed."""
    return [
        *_digits_reject(header.bin, RejectCode.MI_BIN, "BIN (101-A1)", (6, 6)),
        *_text_reject(header.processor_control_number, RejectCode.MI_PCN, "PCN (104-A4)", 10),
        *_text_reject(
            header.service_provider_id,
            RejectCode.MI_SERVICE_PROVIDER_ID,
            "Service provider ID (201-B1)",
            15,
        ),
        *_date_reject(
            header.date_of_service, RejectCode.MI_DATE_OF_SERVICE, "Date of service (401-D1)"
        ),
        *(
            [
                Reject(
                    RejectCode.MI_SERVICE_PROVIDER_ID_QUALIFIER,
                    "Service provider ID qualifier (202-B2) must be 01: 201-B1 is the"
                    " pharmacy's NPI",
                )
            ]
            if npi_only and header.service_provider_id_qualifier not in NPI_QUALIFIERS
            else _digits_reject(
                header.service_provider_id_qualifier,
                RejectCode.MI_SERVICE_PROVIDER_ID_QUALIFIER,
                "Service provider ID qualifier (202-B2)",
                (2, 2),
                required=False,
            )
        ),
        *_text_reject(
            header.software_vendor_id,
            RejectCode.MI_SOFTWARE_VENDOR_ID,
            "Software vendor ID (110-AK)",
            10,
            required=False,
        ),
    ]


def _relationship_rejects(code: int) -> list[Reject]:
    """306-C6: 0 not specified, 1 cardholder, 2 spouse, 3 child, 4 other."""
    if 0 <= code <= PATIENT_RELATIONSHIP_MAX:
        return []
    return [
        Reject(
            RejectCode.MI_PATIENT_RELATIONSHIP,
            f"Patient relationship code (306-C6) must be 0-{PATIENT_RELATIONSHIP_MAX}",
        )
    ]


def _gender_rejects(code: int) -> list[Reject]:
    if 0 <= code <= 2:
        return []
    return [Reject(RejectCode.MI_GENDER, "Gender code (305-C5) must be 0, 1 or 2")]


def _member_rejects(cardholder_id: str, group_id: str, person_code: str) -> list[Reject]:
    """302-C2 (required), 301-C1 (checked against coverage later), 303-C3 (optional here: a
    plan may require it)."""
    return [
        *_text_reject(
            cardholder_id,
            RejectCode.MI_CARDHOLDER_ID,
            "Cardholder ID (302-C2)",
            TEXT_FIELD_LENGTH_MAX,
        ),
        *_text_reject(group_id, RejectCode.MI_GROUP_ID, "Group ID (301-C1)", 15, required=False),
        *_digits_reject(
            person_code, RejectCode.MI_PERSON_CODE, "Person code (303-C3)", (1, 3), required=False
        ),
    ]


def _prescription_rejects(rx_number: str, fill_number: int) -> list[Reject]:
    rejects = _digits_reject(
        rx_number, RejectCode.MI_PRESCRIPTION_NUMBER, "Rx number (402-D2)", (1, 12)
    )
    if not 0 <= fill_number <= 99:
        rejects.append(Reject(RejectCode.MI_FILL_NUMBER, "Fill number (403-D3) must be 0-99"))
    return rejects


def _product_rejects(qualifier: str, product_id: str) -> list[Reject]:
    rejects = []
    if qualifier != "03":
        rejects.append(
            Reject(
                RejectCode.MI_PRODUCT_ID_QUALIFIER,
                "Product ID qualifier (436-E1) is missing"
                if not qualifier
                else "Product ID qualifier (436-E1) must be 03",
            )
        )
    rejects += _digits_reject(product_id, RejectCode.MI_PRODUCT_ID, "NDC (407-D7)", (11, 11))
    return rejects


def validate_claim(request: ClaimRequest) -> list[Reject]:
    """Syntax (M/I) checks of a B1: each names the NCPDP field it found wanting. Every text
    field is checked for its character set here, before anything reads member state."""
    rejects = validate_header(request.header)
    rejects += _member_rejects(request.cardholder_id, request.group_id, request.person_code)
    rejects += _prescription_rejects(request.prescription_reference_number, request.fill_number)
    if request.compound_code == COMPOUND or request.compound is not None:
        rejects += compound_rejects(
            request.compound_code,
            request.product_id_qualifier,
            request.product_id,
            request.compound,
            request.ingredient_cost_submitted_cents,
        )
    else:
        rejects += _product_rejects(request.product_id_qualifier, request.product_id)
        rejects += compound_rejects(request.compound_code, "", "", None, 0)
    if not 0 < request.quantity_dispensed_thousandths <= QUANTITY_MAX_THOUSANDTHS:
        rejects.append(
            Reject(
                RejectCode.MI_QUANTITY_DISPENSED,
                "Quantity (442-E7) must be more than 0 and at most 9999999.999",
            )
        )
    if not 0 < request.days_supply <= DAYS_SUPPLY_MAX:
        rejects.append(Reject(RejectCode.MI_DAYS_SUPPLY, "Days supply (405-D5) must be 1-365"))
    if not 0 <= request.dispense_as_written <= 9:
        rejects.append(Reject(RejectCode.MI_DAW, "DAW code (408-D8) must be 0-9"))
    if request.date_prescription_written:
        written = parse_ccyymmdd(request.date_prescription_written)
        service = request.header.service_date
        if written is None or (service is not None and written > service):
            rejects.append(
                Reject(RejectCode.MI_DATE_WRITTEN, "Date written (414-DE) is invalid or after DOS")
            )
    rejects += _text_reject(
        request.prior_authorization_number,
        RejectCode.MI_PRIOR_AUTHORIZATION_NUMBER,
        "Prior authorization number (462-EV)",
        11,
        required=False,
    )
    pa_type = request.prior_authorization_type_code
    if pa_type and not (len(pa_type) <= 2 and is_digits(pa_type) and int(pa_type) <= 9):
        rejects.append(
            Reject(
                RejectCode.MI_PRIOR_AUTHORIZATION_TYPE,
                "Prior authorization type code (461-EU) must be 0-9",
            )
        )
    rejects += _relationship_rejects(request.patient_relationship_code)
    rejects += _patient_and_prescriber_rejects(request)
    rejects += _pricing_rejects(request)
    rejects += _clarification_and_dur_rejects(request)
    rejects += other_payment_rejects(
        request.other_coverage_code, request.other_payments, request.header.service_date
    )
    return rejects


# 423-DN values (NCPDP ECL): blank, 00-09, 11-15
BASIS_OF_COST_CODES = frozenset({"", *(f"{n:02d}" for n in (*range(10), *range(11, 16)))})
REFILLS_AUTHORIZED_MAX = 99  # 415-DF is 9(2)


def _date_of_birth_rejects(date_of_birth: str, service: dt.date | None) -> list[Reject]:
    if not date_of_birth:
        return []
    born = parse_ccyymmdd(date_of_birth)
    if born is None or born.year < DATE_OF_BIRTH_YEAR_MIN:
        return [Reject(RejectCode.MI_DATE_OF_BIRTH, "Date of birth (304-C4) must be CCYYMMDD")]
    if service is not None and service.year >= DATE_OF_BIRTH_YEAR_MIN and born > service:
        return [
            Reject(
                RejectCode.MI_DATE_OF_BIRTH,
                "Date of birth (304-C4) is after the date of service (401-D1): one of them is"
                " wrong",
            )
        ]
    return []


def _patient_and_prescriber_rejects(request: ClaimRequest) -> list[Reject]:
    """Optional fields: when sent, they must be well formed (09, 10, 25, DN)."""
    rejects = _date_of_birth_rejects(request.date_of_birth, request.header.service_date)
    rejects += _gender_rejects(request.gender_code)
    if request.prescriber_id_qualifier not in NPI_QUALIFIERS:
        rejects.append(
            Reject(
                RejectCode.MI_PRESCRIBER_ID_QUALIFIER,
                "Prescriber ID qualifier (466-EZ) must be 01: 411-DB is the prescriber's NPI",
            )
        )
    if request.prescriber_id and not (
        len(request.prescriber_id) == 10 and is_digits(request.prescriber_id)
    ):
        rejects.append(
            Reject(RejectCode.MI_PRESCRIBER_ID, "Prescriber ID (411-DB) must be a 10-digit NPI")
        )
    elif request.prescriber_id and not npi_check_digit_ok(request.prescriber_id):
        rejects.append(
            Reject(
                RejectCode.MI_PRESCRIBER_ID,
                "Prescriber ID (411-DB) is not an NPI: its check digit (Luhn) does not match",
            )
        )
    refills = request.number_of_refills_authorized  # None: not sent, nothing to check
    if refills is not None and not 0 <= refills <= REFILLS_AUTHORIZED_MAX:
        rejects.append(
            Reject(
                RejectCode.MI_REFILLS_AUTHORIZED,
                f"Number of refills authorized (415-DF) must be 0-{REFILLS_AUTHORIZED_MAX}",
            )
        )
    elif refills is not None and request.fill_number > refills:
        fill = f"Fill {request.fill_number} (403-D3)"
        rejects.append(
            Reject(
                RejectCode.MI_FILL_NUMBER,
                f"{fill} is beyond the {refills} refills authorized (415-DF)"
                if refills
                else f"{fill} is a refill, and 415-DF says no refills are authorized",
            )
        )
    if request.basis_of_cost_determination not in BASIS_OF_COST_CODES:
        rejects.append(
            Reject(RejectCode.MI_BASIS_OF_COST, "Basis of cost (423-DN) must be 00-15 or blank")
        )
    return rejects


def _clarification_and_dur_rejects(request: ClaimRequest) -> list[Reject]:
    """420-DK codes (1-99, at most 3) and DUR/PPS occurrences (at most 9, each reason, service
    and result a 2-character code)."""
    rejects = []
    codes = request.submission_clarification_codes
    if len(codes) > CLARIFICATIONS_MAX or any(not 1 <= c <= 99 for c in codes):
        rejects.append(
            Reject(
                RejectCode.MI_SUBMISSION_CLARIFICATION,
                f"Submission clarification codes (420-DK) are 1-99, at most {CLARIFICATIONS_MAX}",
            )
        )
    for name, code, values in (
        ("reason for service (439-E4)", RejectCode.MI_DUR_REASON, "reason"),
        ("professional service (440-E5)", RejectCode.MI_DUR_SERVICE, "professional_service"),
        ("result of service (441-E6)", RejectCode.MI_DUR_RESULT, "result"),
    ):
        if any(not _dur_code_ok(getattr(s, values)) for s in request.dur_services):
            rejects.append(Reject(code, f"DUR {name} must be a 2-character code (or blank)"))
    if any(
        s.level_of_effort and not LEVEL_OF_EFFORT_MIN <= s.level_of_effort <= LEVEL_OF_EFFORT_MAX
        for s in request.dur_services
    ):
        rejects.append(
            Reject(
                RejectCode.MI_DUR_LEVEL_OF_EFFORT,
                "DUR/PPS level of effort (474-8E) must be 11-15 (or left out)",
            )
        )
    if len(request.dur_services) > DUR_SERVICES_MAX:
        rejects.append(
            Reject(RejectCode.MI_DUR_REASON, f"At most {DUR_SERVICES_MAX} DUR/PPS occurrences")
        )
    return rejects


DUR_SERVICES_MAX = 9  # 473-7E counts 1-9
LEVEL_OF_EFFORT_MIN, LEVEL_OF_EFFORT_MAX = 11, 15  # 474-8E (0: not specified)


def _dur_code_ok(value: str) -> bool:
    """A DUR/PPS code is 2 characters, or left out (an occurrence may carry only its 474-8E
    level of effort, as a compound's does)."""
    return value == "" or (len(value) == 2 and value.isascii() and value.isalnum())


def _pricing_rejects(request: ClaimRequest) -> list[Reject]:
    rejects = []
    if not 0 < request.usual_and_customary_charge_cents <= AMOUNT_MAX_CENTS:
        rejects.append(
            Reject(RejectCode.UC_MUST_BE_POSITIVE, "U&C (426-DQ) must be $0.01 to $999,999.99")
        )
    extra = additional_amount_rejects(request.additional_amounts)
    rejects += extra
    if not 0 < request.gross_amount_due_cents <= AMOUNT_MAX_CENTS:
        rejects.append(
            Reject(
                RejectCode.GAD_MUST_BE_POSITIVE,
                "Gross amount due (430-DU) must be $0.01 to $999,999.99",
            )
        )
    elif not extra and (
        not 0 <= request.ingredient_cost_submitted_cents <= AMOUNT_MAX_CENTS
        or not 0 <= request.dispensing_fee_submitted_cents <= AMOUNT_MAX_CENTS
    ):
        rejects.append(
            Reject(
                RejectCode.GAD_FORMULA,
                "Ingredient cost (409-D9) and dispensing fee (412-DC) must each be $0.00 to"
                " $999,999.99",
            )
        )
    elif not extra and (
        request.gross_amount_due_cents
        != request.ingredient_cost_submitted_cents
        + request.dispensing_fee_submitted_cents
        + request.additional_amounts.total_cents
    ):
        rejects.append(
            Reject(
                RejectCode.GAD_FORMULA,
                "Gross amount due (430-DU) must equal 409-D9 + 412-DC + 481-HA + 482-GE"
                " + 438-E3 + the 480-H9 other amounts",
            )
        )
    return rejects


def validate_reversal(request: ReversalRequest) -> list[Reject]:
    rejects = validate_header(request.header, npi_only=False)
    rejects += _prescription_rejects(request.prescription_reference_number, request.fill_number)
    compound = (request.product_id_qualifier, request.product_id) == (
        COMPOUND_PRODUCT_QUALIFIER,
        COMPOUND_PRODUCT_ID,
    )
    if (request.product_id or request.product_id_qualifier) and not compound:
        rejects += _product_rejects(request.product_id_qualifier, request.product_id)
    # the optional cross-checks (302-C2, 303-C3): when sent, well formed
    rejects += _text_reject(
        request.cardholder_id,
        RejectCode.MI_CARDHOLDER_ID,
        "Cardholder ID (302-C2)",
        TEXT_FIELD_LENGTH_MAX,
        required=False,
    )
    rejects += _digits_reject(
        request.person_code,
        RejectCode.MI_PERSON_CODE,
        "Person code (303-C3)",
        (1, 3),
        required=False,
    )
    return rejects


def validate_inquiry(
    bin: str, pcn: str, cardholder_id: str, person_code: str
) -> list[tuple[str, Reject]]:
    """A benefit inquiry's member fields, as (request field, the M/I reject it would get)."""
    checks = (
        ("bin", _digits_reject(bin, RejectCode.MI_BIN, "BIN (101-A1)", (6, 6))),
        (
            "processor_control_number",
            _text_reject(pcn, RejectCode.MI_PCN, "PCN (104-A4)", 10),
        ),
        ("cardholder_id", _member_rejects(cardholder_id, "", "")),
        ("person_code", _member_rejects("X", "", person_code)),
    )
    return [(field, reject) for field, rejects in checks for reject in rejects]


def validate_eligibility(request: EligibilityRequest) -> list[Reject]:
    rejects = validate_header(request.header)
    rejects += _member_rejects(request.cardholder_id, request.group_id, request.person_code)
    rejects += _date_of_birth_rejects(request.date_of_birth, request.header.service_date)
    rejects += _gender_rejects(request.gender_code)
    rejects += _relationship_rejects(request.patient_relationship_code)
    return rejects
