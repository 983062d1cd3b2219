"""Claim requests as the domain sees them: B1, B2 and E1, the claim key and the digest."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from rx_gateway.domain.additional_amounts import (
    NO_ADDITIONAL_AMOUNTS,
    AdditionalAmounts,
)
from rx_gateway.domain.compound_segment import NOT_A_COMPOUND, Compound
from rx_gateway.domain.dur import DurService
from rx_gateway.domain.other_payments import OtherPayment
from rx_gateway.domain.values import parse_ccyymmdd

DAYS_SUPPLY_MAX = 365
QUANTITY_MAX_THOUSANDTHS = 9_999_999_999  # 9(7)v999
AMOUNT_MAX_CENTS = 99_999_999  # s$$$$$$cc: $999,999.99
TEXT_FIELD_LENGTH_MAX = 20


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
    number_of_refills_authorized: int | None  # 415-DF; None: not sent (0 sent: no refills)
    prior_authorization_number: str
    prescriber_id: str
    ingredient_cost_submitted_cents: int
    dispensing_fee_submitted_cents: int
    usual_and_customary_charge_cents: int
    gross_amount_due_cents: int
    basis_of_cost_determination: str = ""
    additional_amounts: AdditionalAmounts = NO_ADDITIONAL_AMOUNTS
    submission_clarification_codes: tuple[int, ...] = ()  # 354-NX count, 420-DK
    dur_services: tuple[DurService, ...] = ()  # segment 08: what the pharmacist did
    other_coverage_code: int = 0  # 308-C8
    other_payments: tuple[OtherPayment, ...] = ()  # segment 05: COB/Other Payments
    compound_code: int = 0  # 406-D6: 1 not a compound, 2 compound (0: not sent)
    compound: Compound | None = None  # segment 10: the ingredients of a compound
    # checked (M/I EZ, EU) but not in the digest: the qualifier can only be 01 (the prescriber
    # ID is an NPI whatever is sent), and the type changes nothing that is paid
    prescriber_id_qualifier: str = ""  # 466-EZ
    prior_authorization_type_code: str = ""  # 461-EU

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
        return self._digest(normalized=True)

    def is_digest_of(self, stored_hash: str) -> bool:
        """Whether a stored claim's digest is this claim's: today's, or (a claim stored before
        406-D6 1 digested as not sent) the digest it was stored under."""
        return stored_hash in {self.content_hash(), self._digest(normalized=False)}

    def _digest(self, *, normalized: bool) -> str:
        canonical = "\x1f".join(str(value(self)) for value in _HASHED)
        for name, default in _ADDED:
            value = getattr(self, name)
            if normalized and name in _DIGESTED_AS:
                value = _DIGESTED_AS[name](value)
            if value != default:
                canonical += f"\x1f{name}={value!r}"
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
    gender_code: int = 0  # 305-C5: 0 not sent
    patient_relationship_code: int = 0  # 306-C6: 0 not specified

    @property
    def service_date(self) -> dt.date:
        return _service_date(self.header)


_KEY_FIELDS = tuple(f.name for f in fields(ClaimKey))


def _field(name: str) -> Callable[[ClaimRequest], object]:
    if name in _HEADER_FIELDS:
        return lambda request: getattr(request.header, name)
    if name in _DIGESTED_AS:
        digested = _DIGESTED_AS[name]
        return lambda request: digested(getattr(request, name))
    return lambda request: getattr(request, name)


# Values that mean the same claim digest alike: 415-DF not sent as the 0 it was read as before
# its presence was kept (a stored claim's retransmission still answers D); 406-D6 1 "not a
# compound" as 0 "not sent" (a switch sends 1, a structured client often leaves it out: the
# same claim sent both ways is a retransmission, D, not another claim under its key, 83).
_DIGESTED_AS: dict[str, Callable[[Any], object]] = {
    "number_of_refills_authorized": lambda value: value or 0,
    "compound_code": lambda value: 0 if value == NOT_A_COMPOUND else value,
}


_HEADER_FIELDS = frozenset(f.name for f in fields(Header))
# Fields added after claims were first stored, with their defaults: they join the digest only
# when a claim carries them, so a stored claim's retransmission still answers D.
_ADDED: tuple[tuple[str, object], ...] = (
    ("additional_amounts", NO_ADDITIONAL_AMOUNTS),
    ("submission_clarification_codes", ()),
    ("dur_services", ()),
    ("other_coverage_code", 0),
    ("other_payments", ()),
    ("compound_code", 0),
    ("compound", None),
)
_ADDED_NAMES = frozenset(name for name, _ in _ADDED)
_NOT_HASHED = frozenset({"prescriber_id_qualifier", "prior_authorization_type_code"})
# The digest's field order (content_hash): as it was, header fields first, vendor ID last.
_HASHED: tuple[Callable[[ClaimRequest], object], ...] = tuple(
    _field(name)
    for name in (
        "bin",
        "processor_control_number",
        "service_provider_id",
        "service_provider_id_qualifier",
        "date_of_service",
        *(
            f.name
            for f in fields(ClaimRequest)
            if f.name != "header" and f.name not in _ADDED_NAMES | _NOT_HASHED
        ),
        "software_vendor_id",
    )
)
