"""Claim requests as the domain sees them, and their syntax checks (M/I rejects)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, fields

from rx_gateway.domain.rejects import Reject, RejectCode

DAYS_SUPPLY_MAX = 365
QUANTITY_MAX_THOUSANDTHS = 9_999_999_999  # 9(7)v999
AMOUNT_MAX_CENTS = 99_999_999  # s$$$$$$cc: $999,999.99
TEXT_FIELD_LENGTH_MAX = 20


@functools.lru_cache(maxsize=4_096)
def parse_ccyymmdd(value: str) -> dt.date | None:
    """A CCYYMMDD date, or None when the value is not one. Cached: a claim asks for its dates
    many times (ClaimRequest.service_date is a property) and dates of service repeat."""
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def format_ccyymmdd(value: dt.date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


@dataclass(frozen=True, slots=True)
class ClaimKey:
    """The idempotency key of a B1 claim: who billed which prescription fill for which day."""

    bin: str
    processor_control_number: str
    service_provider_id: str
    prescription_reference_number: str
    fill_number: int
    date_of_service: str

    def as_text(self) -> str:
        return "|".join(str(getattr(self, name)) for name in _KEY_FIELDS)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A B1 billing transaction, field for field (see proto/rx_gateway/v1/claims.proto)."""

    bin: str
    processor_control_number: str
    service_provider_id: str
    service_provider_id_qualifier: str
    date_of_service: str
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
    software_vendor_id: str = ""

    @property
    def key(self) -> ClaimKey:
        return ClaimKey(
            self.bin,
            self.processor_control_number,
            self.service_provider_id,
            self.prescription_reference_number,
            self.fill_number,
            self.date_of_service,
        )

    @property
    def service_date(self) -> dt.date:
        parsed = parse_ccyymmdd(self.date_of_service)
        if parsed is None:  # validate() rejects this before anyone asks
            msg = "date_of_service is not a date"
            raise ValueError(msg)
        return parsed

    def content_hash(self) -> str:
        """A digest of every field: equal for a true retransmission, different otherwise."""
        # the fields are all scalars: a shallow walk, not astuple's recursive deep copy
        canonical = "\x1f".join(str(getattr(self, name)) for name in _CLAIM_FIELDS)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ReversalRequest:
    bin: str
    processor_control_number: str
    service_provider_id: str
    service_provider_id_qualifier: str
    date_of_service: str
    prescription_reference_number: str
    fill_number: int
    product_id_qualifier: str
    product_id: str
    cardholder_id: str = ""
    person_code: str = ""

    @property
    def key(self) -> ClaimKey:
        return ClaimKey(
            self.bin,
            self.processor_control_number,
            self.service_provider_id,
            self.prescription_reference_number,
            self.fill_number,
            self.date_of_service,
        )


@dataclass(frozen=True, slots=True)
class EligibilityRequest:
    bin: str
    processor_control_number: str
    service_provider_id: str
    date_of_service: str
    cardholder_id: str
    group_id: str
    person_code: str
    date_of_birth: str = ""


def _text_ok(value: str, length_max: int = TEXT_FIELD_LENGTH_MAX) -> bool:
    return 0 < len(value) <= length_max and value.isprintable() and value.strip() == value


def validate_header(
    bin_number: str, pcn: str, service_provider_id: str, date_of_service: str
) -> list[Reject]:
    rejects = []
    if not (len(bin_number) == 6 and bin_number.isdigit()):
        rejects.append(Reject(RejectCode.MI_BIN, "BIN (101-A1) must be six digits"))
    if not _text_ok(pcn, 10):
        rejects.append(Reject(RejectCode.MI_PCN, "PCN (104-A4) must be 1-10 characters"))
    if not _text_ok(service_provider_id, 15):
        rejects.append(
            Reject(RejectCode.MI_SERVICE_PROVIDER_ID, "Service provider ID (201-B1) is required")
        )
    if parse_ccyymmdd(date_of_service) is None:
        rejects.append(
            Reject(RejectCode.MI_DATE_OF_SERVICE, "Date of service (401-D1) must be CCYYMMDD")
        )
    return rejects


def _prescription_rejects(rx_number: str, fill_number: int) -> list[Reject]:
    rejects = []
    if not (0 < len(rx_number) <= 12 and rx_number.isdigit()):
        rejects.append(
            Reject(RejectCode.MI_PRESCRIPTION_NUMBER, "Rx number (402-D2) must be 1-12 digits")
        )
    if not 0 <= fill_number <= 99:
        rejects.append(Reject(RejectCode.MI_FILL_NUMBER, "Fill number (403-D3) must be 0-99"))
    return rejects


def _product_rejects(qualifier: str, product_id: str) -> list[Reject]:
    rejects = []
    if qualifier != "03":
        rejects.append(
            Reject(RejectCode.MI_PRODUCT_ID_QUALIFIER, "Product ID qualifier (436-E1) must be 03")
        )
    if not (len(product_id) == 11 and product_id.isdigit()):
        rejects.append(Reject(RejectCode.MI_PRODUCT_ID, "NDC (407-D7) must be 11 digits"))
    return rejects


def validate_claim(request: ClaimRequest) -> list[Reject]:
    """Syntax (M/I) checks of a B1: each names the NCPDP field it found wanting."""
    rejects = validate_header(
        request.bin,
        request.processor_control_number,
        request.service_provider_id,
        request.date_of_service,
    )
    if not _text_ok(request.cardholder_id):
        rejects.append(Reject(RejectCode.MI_CARDHOLDER_ID, "Cardholder ID (302-C2) is required"))
    if len(request.group_id) > 15 or not request.group_id.isprintable():
        rejects.append(Reject(RejectCode.MI_GROUP_ID, "Group ID (301-C1) is invalid"))
    if not (len(request.person_code) <= 3 and request.person_code.isdigit()):
        rejects.append(Reject(RejectCode.MI_PERSON_CODE, "Person code (303-C3) must be digits"))
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
        service = parse_ccyymmdd(request.date_of_service)
        if written is None or (service is not None and written > service):
            rejects.append(
                Reject(RejectCode.MI_DATE_WRITTEN, "Date written (414-DE) is invalid or after DOS")
            )
    rejects += _patient_and_prescriber_rejects(request)
    rejects += _pricing_rejects(request)
    return rejects


# 423-DN values (NCPDP ECL): blank, 00-09, 11-15
BASIS_OF_COST_CODES = frozenset({"", *(f"{n:02d}" for n in (*range(10), *range(11, 16)))})


def _patient_and_prescriber_rejects(request: ClaimRequest) -> list[Reject]:
    """Optional fields: when sent, they must be well formed (09, 10, 25, DN)."""
    rejects = []
    if request.date_of_birth:
        born = parse_ccyymmdd(request.date_of_birth)
        service = parse_ccyymmdd(request.date_of_service)
        if born is None or born.year < 1880 or (service is not None and born > service):
            rejects.append(
                Reject(RejectCode.MI_DATE_OF_BIRTH, "Date of birth (304-C4) must be CCYYMMDD")
            )
    if not 0 <= request.gender_code <= 2:
        rejects.append(Reject(RejectCode.MI_GENDER, "Gender code (305-C5) must be 0, 1 or 2"))
    if request.prescriber_id and not (
        len(request.prescriber_id) == 10 and request.prescriber_id.isdigit()
    ):
        rejects.append(
            Reject(RejectCode.MI_PRESCRIBER_ID, "Prescriber ID (411-DB) must be a 10-digit NPI")
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
    if not 0 < request.gross_amount_due_cents <= AMOUNT_MAX_CENTS:
        rejects.append(
            Reject(RejectCode.GAD_MUST_BE_POSITIVE, "Gross amount due (430-DU) must be positive")
        )
    elif (
        not 0 <= request.ingredient_cost_submitted_cents <= AMOUNT_MAX_CENTS
        or not 0 <= request.dispensing_fee_submitted_cents <= AMOUNT_MAX_CENTS
        or request.gross_amount_due_cents
        != request.ingredient_cost_submitted_cents + request.dispensing_fee_submitted_cents
    ):
        rejects.append(
            Reject(RejectCode.GAD_FORMULA, "Gross amount due (430-DU) must equal 409-D9 + 412-DC")
        )
    return rejects


def validate_reversal(request: ReversalRequest) -> list[Reject]:
    rejects = validate_header(
        request.bin,
        request.processor_control_number,
        request.service_provider_id,
        request.date_of_service,
    )
    rejects += _prescription_rejects(request.prescription_reference_number, request.fill_number)
    if request.product_id:
        rejects += _product_rejects(request.product_id_qualifier, request.product_id)
    return rejects


def validate_eligibility(request: EligibilityRequest) -> list[Reject]:
    rejects = validate_header(
        request.bin,
        request.processor_control_number,
        request.service_provider_id,
        request.date_of_service,
    )
    if not _text_ok(request.cardholder_id):
        rejects.append(Reject(RejectCode.MI_CARDHOLDER_ID, "Cardholder ID (302-C2) is required"))
    if not (len(request.person_code) <= 3 and request.person_code.isdigit()):
        rejects.append(Reject(RejectCode.MI_PERSON_CODE, "Person code (303-C3) must be digits"))
    return rejects


_KEY_FIELDS = tuple(f.name for f in fields(ClaimKey))
_CLAIM_FIELDS = tuple(f.name for f in fields(ClaimRequest))
