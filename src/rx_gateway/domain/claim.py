"""Claim requests as the domain sees them, and their syntax checks (M/I rejects)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from rx_gateway.domain.additional_amounts import (
    NO_ADDITIONAL_AMOUNTS,
    AdditionalAmounts,
    additional_amount_rejects,
)
from rx_gateway.domain.rejects import Reject, RejectCode

DAYS_SUPPLY_MAX = 365
QUANTITY_MAX_THOUSANDTHS = 9_999_999_999  # 9(7)v999
AMOUNT_MAX_CENTS = 99_999_999  # s$$$$$$cc: $999,999.99
TEXT_FIELD_LENGTH_MAX = 20


def parse_ccyymmdd(value: str) -> dt.date | None:
    """A CCYYMMDD date, or None when the value is not one."""
    if len(value) != 8 or not is_digits(value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def format_ccyymmdd(value: dt.date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


@dataclass(frozen=True, slots=True)
class Header:
    """The transmission header every request carries (101-A1, 104-A4, 201-B1, 202-B2, 401-D1,
    110-AK). The date of service is read once, here: ``service_date`` is None when 401-D1 is
    not a date (the 15 reject)."""

    bin: str
    processor_control_number: str
    service_provider_id: str
    date_of_service: str  # CCYYMMDD as sent: part of the claim key
    service_provider_id_qualifier: str = "01"
    software_vendor_id: str = ""
    service_date: dt.date | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "service_date", parse_ccyymmdd(self.date_of_service))


def _service_date(header: Header) -> dt.date:
    """The parsed date of service of a request that passed its syntax checks."""
    if header.service_date is None:  # validation answers 15 before anyone asks
        msg = "date_of_service is not a date"
        raise ValueError(msg)
    return header.service_date


@dataclass(frozen=True, slots=True)
class ClaimKey:
    """The idempotency key of a B1 claim: who billed which prescription fill for which day."""

    bin: str
    processor_control_number: str
    service_provider_id: str
    prescription_reference_number: str
    fill_number: int
    date_of_service: str

    @classmethod
    def of(cls, header: Header, prescription_reference_number: str, fill_number: int) -> ClaimKey:
        return cls(
            header.bin,
            header.processor_control_number,
            header.service_provider_id,
            prescription_reference_number,
            fill_number,
            header.date_of_service,
        )

    def as_text(self) -> str:
        return "|".join(str(getattr(self, name)) for name in _KEY_FIELDS)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A B1 billing transaction, field for field (see proto/rx_gateway/v1/claims.proto)."""

    header: Header
    cardholder_id: str
    group_id: str
    person_code: str
    patient_relationship_code: int
    date_of_birth: str
    gender_code: int
    prescription_reference_number: str
    fill_number: int
    product_id_qualifier: str
    product_id: str
    quantity_dispensed_thousandths: int
    days_supply: int
    dispense_as_written: int
    date_prescription_written: str
    number_of_refills_authorized: int
    prior_authorization_number: str
    prescriber_id: str
    ingredient_cost_submitted_cents: int
    dispensing_fee_submitted_cents: int
    usual_and_customary_charge_cents: int
    gross_amount_due_cents: int
    basis_of_cost_determination: str = ""
    additional_amounts: AdditionalAmounts = NO_ADDITIONAL_AMOUNTS

    @property
    def key(self) -> ClaimKey:
        return ClaimKey.of(self.header, self.prescription_reference_number, self.fill_number)

    @property
    def service_date(self) -> dt.date:
        return _service_date(self.header)

    @property
    def drug_gross_amount_due_cents(self) -> int:
        """The part of 430-DU that is the drug: ingredient plus fee (the rest is priced on its
        own: taxes, incentive, other amounts)."""
        return self.gross_amount_due_cents - self.additional_amounts.total_cents

    def content_hash(self) -> str:
        """A digest of every field: equal for a true retransmission, different otherwise. The
        fields are joined in the order of the stored claims' digests (before the header was a
        value of its own), so a retransmission of a claim paid before still answers D; fields
        added since (the additional amounts) join only when the claim carries them."""
        canonical = "\x1f".join(str(value(self)) for value in _HASHED)
        if self.additional_amounts != NO_ADDITIONAL_AMOUNTS:
            canonical += f"\x1f{self.additional_amounts!r}"
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ReversalRequest:
    header: Header
    prescription_reference_number: str
    fill_number: int
    product_id_qualifier: str
    product_id: str
    cardholder_id: str = ""
    person_code: str = ""

    @property
    def key(self) -> ClaimKey:
        return ClaimKey.of(self.header, self.prescription_reference_number, self.fill_number)


@dataclass(frozen=True, slots=True)
class EligibilityRequest:
    header: Header
    cardholder_id: str
    group_id: str
    person_code: str
    date_of_birth: str = ""

    @property
    def service_date(self) -> dt.date:
        return _service_date(self.header)


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


def is_digits(value: str) -> bool:
    """Digits mean 0-9: ``str.isdigit()`` alone also accepts Arabic-Indic, full-width and
    superscript digits, which would give one fill a second claim key."""
    return value.isascii() and value.isdigit()


def is_text(value: str) -> bool:
    """NCPDP alphanumeric: printable ASCII (space to tilde). No NUL, no control character, no
    framing byte, nothing outside ASCII."""
    return value.isascii() and value.isprintable()


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
    if parse_ccyymmdd(value) is None:
        return [Reject(code, f"{name} must be a date CCYYMMDD")]
    return []


def validate_header(header: Header) -> list[Reject]:
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
        *_digits_reject(
            header.service_provider_id_qualifier,
            RejectCode.MI_SERVICE_PROVIDER_ID_QUALIFIER,
            "Service provider ID qualifier (202-B2)",
            (2, 2),
            required=False,
        ),
        *_text_reject(
            header.software_vendor_id,
            RejectCode.MI_SOFTWARE_VENDOR_ID,
            "Software vendor ID (110-AK)",
            10,
            required=False,
        ),
    ]


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
    rejects += _product_rejects(request.product_id_qualifier, request.product_id)
    if not 0 < request.quantity_dispensed_thousandths <= QUANTITY_MAX_THOUSANDTHS:
        rejects.append(
            Reject(RejectCode.MI_QUANTITY_DISPENSED, "Quantity (442-E7) must be positive")
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
    rejects += _patient_and_prescriber_rejects(request)
    rejects += _pricing_rejects(request)
    return rejects


# 423-DN values (NCPDP ECL): blank, 00-09, 11-15
BASIS_OF_COST_CODES = frozenset({"", *(f"{n:02d}" for n in (*range(10), *range(11, 16)))})
DATE_OF_BIRTH_YEAR_MIN = 1880


def _date_of_birth_rejects(date_of_birth: str, service: dt.date | None) -> list[Reject]:
    if not date_of_birth:
        return []
    born = parse_ccyymmdd(date_of_birth)
    if (
        born is None
        or born.year < DATE_OF_BIRTH_YEAR_MIN
        or (service is not None and born > service)
    ):
        return [Reject(RejectCode.MI_DATE_OF_BIRTH, "Date of birth (304-C4) must be CCYYMMDD")]
    return []


def _patient_and_prescriber_rejects(request: ClaimRequest) -> list[Reject]:
    """Optional fields: when sent, they must be well formed (09, 10, 25, DN)."""
    rejects = _date_of_birth_rejects(request.date_of_birth, request.header.service_date)
    if not 0 <= request.gender_code <= 2:
        rejects.append(Reject(RejectCode.MI_GENDER, "Gender code (305-C5) must be 0, 1 or 2"))
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
    refills = request.number_of_refills_authorized
    if refills > 0 and request.fill_number > refills:
        rejects.append(
            Reject(
                RejectCode.MI_FILL_NUMBER,
                f"Fill {request.fill_number} (403-D3) is beyond the {refills} refills authorized"
                " (415-DF)",
            )
        )
    if request.basis_of_cost_determination not in BASIS_OF_COST_CODES:
        rejects.append(
            Reject(RejectCode.MI_BASIS_OF_COST, "Basis of cost (423-DN) must be 00-15 or blank")
        )
    return rejects


def _pricing_rejects(request: ClaimRequest) -> list[Reject]:
    rejects = []
    if not 0 < request.usual_and_customary_charge_cents <= AMOUNT_MAX_CENTS:
        rejects.append(
            Reject(RejectCode.UC_MUST_BE_POSITIVE, "U&C (426-DQ) must be greater than zero")
        )
    extra = additional_amount_rejects(request.additional_amounts)
    rejects += extra
    if not 0 < request.gross_amount_due_cents <= AMOUNT_MAX_CENTS:
        rejects.append(
            Reject(RejectCode.GAD_MUST_BE_POSITIVE, "Gross amount due (430-DU) must be positive")
        )
    elif not extra and (
        not 0 <= request.ingredient_cost_submitted_cents <= AMOUNT_MAX_CENTS
        or not 0 <= request.dispensing_fee_submitted_cents <= AMOUNT_MAX_CENTS
        or request.gross_amount_due_cents
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
    rejects = validate_header(request.header)
    rejects += _prescription_rejects(request.prescription_reference_number, request.fill_number)
    if request.product_id or request.product_id_qualifier:
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
    return rejects


_KEY_FIELDS = tuple(f.name for f in fields(ClaimKey))


def _field(name: str) -> Callable[[ClaimRequest], object]:
    if name in _HEADER_FIELDS:
        return lambda request: getattr(request.header, name)
    return lambda request: getattr(request, name)


_HEADER_FIELDS = frozenset(f.name for f in fields(Header))
# The digest's field order (content_hash): as it was, header fields first, vendor ID last.
_HASHED: tuple[Callable[[ClaimRequest], object], ...] = tuple(
    _field(name)
    for name in (
        "bin",
        "processor_control_number",
        "service_provider_id",
        "service_provider_id_qualifier",
        "date_of_service",
        *(f.name for f in fields(ClaimRequest) if f.name not in ("header", "additional_amounts")),
        "software_vendor_id",
    )
)
