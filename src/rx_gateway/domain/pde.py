"""Medicare Part D prescription drug events (PDE): one record per paid Part D claim and a
deletion record per reversal, with the money split CMS asks for, rendered as 1,000-byte
fixed-width records inside HDR / BHD / DET ... / BTR / TLR.

Where the money goes (every record, checked on construction):

1. cost: GDCB + GDCA = ingredient cost + dispensing fee + sales tax + vaccine administration fee;
2. payers: GDCB + GDCA = patient pay + other TrOOP + LICS + PLRO + CPP + NPP.

From the paid claim's response (its stored pricing):

- ingredient cost = 506-F6; dispensing fee = 507-F7 + Σ 565-J4 (the other amounts a plan pays
  are delivery, shipping, packaging or compounding costs: dispensing costs in Part D's sense);
  sales tax = 558-AW + 559-AX; vaccine administration fee = 521-FL (438-E3 is where a pharmacy
  bills a vaccine's administration);
- GDCA = the cost in the catastrophic stage (393-MV 04); GDCB = the rest of the drug's cost
  (deductible 01, initial coverage 02). The tax and the vaccine fee go with GDCB unless the
  whole drug cost is catastrophic, then with GDCA: they are priced with the drug's phase;
- patient pay = 505-F5; PLRO = what the member's purses paid (−129-UD: an employer HRA is a
  group health plan, so its payment reduces the patient's liability without counting toward
  TrOOP) plus what payers before this plan paid (566-J5); CPP = the plan's own payment.
  The stages come from the adjudication, whose out-of-pocket accumulator counts the member's
  whole share, a purse's part included: on a Part D plan with a purse that is not TrOOP;
- other TrOOP, LICS and NPP are 0: the gateway holds no SPAP or charity payer, no low-income
  subsidy level, and covers only Part D drugs (drug coverage status C).

Catastrophic coverage code: blank when GDCA is 0, ``C`` when GDCB is 0, ``A`` when the claim
crosses the threshold. A deletion (adjustment/deletion code ``D``) repeats its original's
identity and amounts; only its code and its date (the reversal's) differ.

The layout is the project's own fixed-width rendering of the PDE fields (CMS's exact positions
are not in the reference): each field has a width and a kind, positions follow from the order,
and a submitter maps them to CMS's record positions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.outcome import ResponsePricing

RECORD_LENGTH = 1_000
LAYOUT_NAME = "RXGW-PDE-1"  # the HDR names the rendering, so nobody takes it for CMS's own

DRUG_COVERED = "C"  # drug coverage status: a covered Part D drug
DELETION = "D"  # adjustment/deletion code; an original record leaves it blank
CROSSES_THRESHOLD = "A"
ALL_CATASTROPHIC = "C"
CATASTROPHIC_STAGE = "04"  # 393-MV
# 393-MV benefit stage → the PDE's benefit phase: Deductible, iNitial coverage, Gap, Catastrophic
BENEFIT_PHASES = {"01": "D", "02": "N", "03": "G", "04": "C"}

COMPOUND = 2  # 406-D6
NOT_COMPOUND = 1


class FieldKind(StrEnum):
    TEXT = "text"  # left-justified, space-padded, printable ASCII
    NUMBER = "number"  # unsigned digits, right-justified, zero-padded
    DATE = "date"  # CCYYMMDD, or blank
    AMOUNT = "amount"  # cents: a sign (+ or -) then digits, zero-padded


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    width: int
    kind: FieldKind


def _fields(*specs: tuple[str, int, FieldKind]) -> tuple[FieldSpec, ...]:
    return tuple(FieldSpec(name, width, kind) for name, width, kind in specs)


_T, _N, _D, _A = FieldKind.TEXT, FieldKind.NUMBER, FieldKind.DATE, FieldKind.AMOUNT
AMOUNT_WIDTH = 11  # S9(8)V99: up to $99,999,999.99 either way
TOTAL_WIDTH = 15  # S9(12)V99

HDR_LAYOUT = _fields(
    ("record_id", 3, _T),
    ("submitter_id", 20, _T),  # the plan's sponsor
    ("file_id", 10, _T),  # a digest of the DET records: the same events, the same ID
    ("file_creation_date", 8, _D),
    ("first_date", 8, _D),  # the window the events were taken from
    ("last_date", 8, _D),
    ("layout", 20, _T),
)
BHD_LAYOUT = _fields(
    ("record_id", 3, _T),
    ("batch_sequence_number", 7, _N),
    ("contract_number", 5, _T),  # not held: blank
    ("pbp_id", 3, _T),  # not held: blank
    ("plan_id", 20, _T),  # the gateway's plan ID, for the submitter's mapping to contract + PBP
)
DET_LAYOUT = _fields(
    ("record_id", 3, _T),
    ("record_sequence_number", 7, _N),
    ("claim_control_number", 40, _T),
    ("mbi", 11, _T),  # not held: blank
    ("cardholder_id", 20, _T),
    ("date_of_birth", 8, _D),
    ("gender_code", 1, _N),
    ("date_of_service", 8, _D),
    ("paid_date", 8, _D),
    ("prescription_service_reference_number", 12, _N),
    ("product_service_id", 19, _T),
    ("service_provider_id_qualifier", 2, _T),
    ("service_provider_id", 15, _T),
    ("prescriber_id_qualifier", 2, _T),
    ("prescriber_id", 35, _T),
    ("fill_number", 2, _N),
    ("dispensing_status", 1, _T),  # not held: blank
    ("compound_code", 1, _N),
    ("dispense_as_written", 1, _T),  # 408-D8; blank for a claim stored without it
    ("quantity_dispensed", 10, _N),  # 9(7)V999
    ("days_supply", 3, _N),
    ("drug_coverage_status_code", 1, _T),
    ("adjustment_deletion_code", 1, _T),
    ("catastrophic_coverage_code", 1, _T),
    ("beginning_benefit_phase", 1, _T),
    ("ending_benefit_phase", 1, _T),
    ("ingredient_cost_paid", AMOUNT_WIDTH, _A),
    ("dispensing_fee_paid", AMOUNT_WIDTH, _A),
    ("total_amount_attributed_to_sales_tax", AMOUNT_WIDTH, _A),
    ("vaccine_administration_fee", AMOUNT_WIDTH, _A),
    ("gdcb", AMOUNT_WIDTH, _A),
    ("gdca", AMOUNT_WIDTH, _A),
    ("patient_pay_amount", AMOUNT_WIDTH, _A),
    ("other_troop_amount", AMOUNT_WIDTH, _A),
    ("lics_amount", AMOUNT_WIDTH, _A),
    ("plro_amount", AMOUNT_WIDTH, _A),
    ("cpp_amount", AMOUNT_WIDTH, _A),
    ("npp_amount", AMOUNT_WIDTH, _A),
)
BTR_LAYOUT = _fields(
    ("record_id", 3, _T),
    ("batch_sequence_number", 7, _N),
    ("det_record_count", 9, _N),
    ("original_count", 9, _N),
    ("deletion_count", 9, _N),
    ("net_gross_drug_cost", TOTAL_WIDTH, _A),  # Σ GDC of originals − Σ GDC of deletions
)
TLR_LAYOUT = _fields(
    ("record_id", 3, _T),
    ("batch_count", 7, _N),
    ("det_record_count", 9, _N),
)


def positions(layout: Sequence[FieldSpec]) -> tuple[tuple[FieldSpec, int, int], ...]:
    """Each field with its first and last position, 1-based and inclusive (as record layouts
    are written); the rest of the 1,000 bytes is filler (spaces)."""
    out: list[tuple[FieldSpec, int, int]] = []
    start = 1
    for spec in layout:
        out.append((spec, start, start + spec.width - 1))
        start += spec.width
    if start - 1 > RECORD_LENGTH:
        msg = f"a layout of {start - 1} bytes does not fit a {RECORD_LENGTH}-byte record"
        raise InvariantViolation(msg)
    return tuple(out)


# ---------------------------------------------------------------- the claim and its record


@dataclass(frozen=True, slots=True)
class PdeClaim:
    """What the ledger holds about one paid Part D claim, as a PDE needs it."""

    internal_control_number: str  # 993-A7: the plan's claim control number
    cardholder_id: str  # 302-C2
    date_of_birth: dt.date
    gender_code: int  # 0 unknown, 1 male, 2 female (as 305-C5 and the PDE)
    date_of_service: dt.date
    paid_date: dt.date  # the day the gateway paid it
    prescription_reference_number: str  # 402-D2
    fill_number: int  # 403-D3
    product_id: str  # 407-D7 (a compound: its costliest ingredient's NDC)
    compound: bool
    dispense_as_written: int | None  # 408-D8; None: not kept with the claim
    service_provider_id: str  # 201-B1
    prescriber_id: str  # 411-DB
    quantity_thousandths: int  # 442-E7
    days_supply: int  # 405-D5
    pricing: ResponsePricing


@dataclass(frozen=True, slots=True)
class PdeEvent:
    """A paid claim (an original PDE), or its reversal on ``reversed_on`` (a deletion)."""

    claim: PdeClaim
    reversed_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class PdeRecord:
    """One DET record's content. Amounts are cents; a deletion carries its original's."""

    claim_control_number: str
    cardholder_id: str
    date_of_birth: dt.date
    gender_code: int
    date_of_service: dt.date
    paid_date: dt.date  # an original: the day paid; a deletion: the day reversed
    prescription_service_reference_number: str
    product_service_id: str
    service_provider_id_qualifier: str
    service_provider_id: str
    prescriber_id_qualifier: str
    prescriber_id: str
    fill_number: int
    compound_code: int
    dispense_as_written: str  # 408-D8, one digit; blank when the claim did not keep it
    quantity_dispensed_thousandths: int
    days_supply: int
    adjustment_deletion_code: str
    catastrophic_coverage_code: str
    beginning_benefit_phase: str
    ending_benefit_phase: str
    ingredient_cost_paid_cents: int
    dispensing_fee_paid_cents: int
    total_amount_attributed_to_sales_tax_cents: int
    vaccine_administration_fee_cents: int
    gdcb_cents: int
    gdca_cents: int
    patient_pay_amount_cents: int
    other_troop_amount_cents: int
    lics_amount_cents: int
    plro_amount_cents: int
    cpp_amount_cents: int
    npp_amount_cents: int
    drug_coverage_status_code: str = DRUG_COVERED

    def __post_init__(self) -> None:
        problems = identity_problems(self)
        if problems:
            msg = f"PDE {self.claim_control_number}: " + "; ".join(problems)
            raise InvariantViolation(msg)

    @property
    def gross_drug_cost_cents(self) -> int:
        return self.gdcb_cents + self.gdca_cents

    @property
    def is_deletion(self) -> bool:
        return self.adjustment_deletion_code == DELETION


def identity_problems(record: PdeRecord) -> list[str]:
    """Which of the PDE's identities a record breaks (none, for every record built here)."""
    r = record
    gdc = r.gross_drug_cost_cents
    cost = (
        r.ingredient_cost_paid_cents
        + r.dispensing_fee_paid_cents
        + r.total_amount_attributed_to_sales_tax_cents
        + r.vaccine_administration_fee_cents
    )
    paid = (
        r.patient_pay_amount_cents
        + r.other_troop_amount_cents
        + r.lics_amount_cents
        + r.plro_amount_cents
        + r.cpp_amount_cents
        + r.npp_amount_cents
    )
    problems = []
    if gdc != cost:
        problems.append(f"GDCB + GDCA {gdc} != ingredient + fee + tax + vaccine fee {cost}")
    if gdc != paid:
        problems.append(
            f"GDCB + GDCA {gdc} != patient pay + other TrOOP + LICS + PLRO + CPP + NPP {paid}"
        )
    if r.gdcb_cents < 0 or r.gdca_cents < 0:
        problems.append("GDCB and GDCA are never negative")
    if r.catastrophic_coverage_code != catastrophic_coverage_code(r.gdcb_cents, r.gdca_cents):
        problems.append(
            f"catastrophic coverage code {r.catastrophic_coverage_code!r} does not match"
            f" GDCB {r.gdcb_cents} / GDCA {r.gdca_cents}"
        )
    if r.adjustment_deletion_code not in ("", DELETION):
        problems.append(f"adjustment/deletion code {r.adjustment_deletion_code!r}")
    return problems


def catastrophic_coverage_code(gdcb_cents: int, gdca_cents: int) -> str:
    """Blank: all below the threshold; A: the claim crosses it; C: all above it."""
    if gdca_cents == 0:
        return ""
    return ALL_CATASTROPHIC if gdcb_cents == 0 else CROSSES_THRESHOLD


@dataclass(frozen=True, slots=True)
class CostSplit:
    gdcb_cents: int
    gdca_cents: int
    beginning_benefit_phase: str
    ending_benefit_phase: str


def split_cost(pricing: ResponsePricing) -> CostSplit:
    """The claim's gross drug cost below and above the out-of-pocket threshold, from its
    benefit stages (392-MU..394-MW); the tax and vaccine fee with the drug's lower phase."""
    drug = pricing.ingredient_cost_paid_cents + pricing.dispensing_fee_paid_cents
    extra = pricing.additional_paid_cents
    stages = [(q, amount) for q, amount in pricing.benefit_stages if amount]
    staged = sum(amount for _, amount in stages)
    # claims answered since 2026-12-02 stage the tax and fees with their first stage (part_d.
    # with_additional); earlier ones staged the drug alone, the extra then going to the lower phase
    if stages and staged not in (drug, drug + extra):
        msg = f"benefit stages {stages} do not add up to the drug's cost {drug} (+ {extra})"
        raise InvariantViolation(msg)
    if stages and extra and staged == drug + extra:
        extra = 0  # already in its stage
    unknown = [q for q, _ in stages if q not in BENEFIT_PHASES]
    if unknown:
        msg = f"benefit stage qualifiers {unknown} are not Part D stages"
        raise InvariantViolation(msg)
    above = sum(amount for q, amount in stages if q == CATASTROPHIC_STAGE)
    below = (staged if stages else drug) - above
    if below == 0 and above > 0:
        above += extra
    else:
        below += extra
    first = BENEFIT_PHASES[stages[0][0]] if stages else ""
    last = BENEFIT_PHASES[stages[-1][0]] if stages else ""
    return CostSplit(below, above, first, last)


def provider_id_qualifier(service_provider_id: str) -> str:
    """202-B2 is not kept with the claim: 01 NPI (ten digits), 07 NCPDP (seven), 99 other."""
    if service_provider_id.isascii() and service_provider_id.isdigit():
        if len(service_provider_id) == 10:
            return "01"
        if len(service_provider_id) == 7:
            return "07"
    return "99"


def prescriber_id_qualifier(prescriber_id: str) -> str:
    """466-EZ is not kept with the claim: 01 NPI (ten digits), 12 DEA (two letters, seven
    digits), 99 other; blank when there is no prescriber ID."""
    if not prescriber_id:
        return ""
    if prescriber_id.isascii() and prescriber_id.isdigit() and len(prescriber_id) == 10:
        return "01"
    letters, digits = prescriber_id[:2], prescriber_id[2:]
    if letters.isascii() and letters.isalpha() and digits.isdigit() and len(digits) == 7:
        return "12"
    return "99"


def pde_record(event: PdeEvent) -> PdeRecord:
    """The DET content of one event: the original's amounts, a deletion's too."""
    claim, pricing = event.claim, event.claim.pricing
    split = split_cost(pricing)
    other_amounts = sum(amount for _, amount in pricing.other_amounts_paid)
    return PdeRecord(
        claim_control_number=claim.internal_control_number,
        cardholder_id=claim.cardholder_id,
        date_of_birth=claim.date_of_birth,
        gender_code=claim.gender_code,
        date_of_service=claim.date_of_service,
        paid_date=claim.paid_date if event.reversed_on is None else event.reversed_on,
        prescription_service_reference_number=claim.prescription_reference_number,
        product_service_id=claim.product_id,
        service_provider_id_qualifier=provider_id_qualifier(claim.service_provider_id),
        service_provider_id=claim.service_provider_id,
        prescriber_id_qualifier=prescriber_id_qualifier(claim.prescriber_id),
        prescriber_id=claim.prescriber_id,
        fill_number=claim.fill_number,
        compound_code=COMPOUND if claim.compound else NOT_COMPOUND,
        dispense_as_written=(
            "" if claim.dispense_as_written is None else str(claim.dispense_as_written)
        ),
        quantity_dispensed_thousandths=claim.quantity_thousandths,
        days_supply=claim.days_supply,
        adjustment_deletion_code="" if event.reversed_on is None else DELETION,
        catastrophic_coverage_code=catastrophic_coverage_code(split.gdcb_cents, split.gdca_cents),
        beginning_benefit_phase=split.beginning_benefit_phase,
        ending_benefit_phase=split.ending_benefit_phase,
        ingredient_cost_paid_cents=pricing.ingredient_cost_paid_cents,
        dispensing_fee_paid_cents=pricing.dispensing_fee_paid_cents + other_amounts,
        total_amount_attributed_to_sales_tax_cents=(
            pricing.flat_sales_tax_amount_paid_cents
            + pricing.percentage_sales_tax_amount_paid_cents
        ),
        vaccine_administration_fee_cents=pricing.incentive_amount_paid_cents,
        gdcb_cents=split.gdcb_cents,
        gdca_cents=split.gdca_cents,
        patient_pay_amount_cents=pricing.patient_pay_amount_cents,
        other_troop_amount_cents=0,
        lics_amount_cents=0,
        plro_amount_cents=(
            -pricing.health_plan_funded_assistance_amount_cents
            + pricing.other_payer_amount_recognized_cents
        ),
        cpp_amount_cents=pricing.plan_paid_cents,
        npp_amount_cents=0,
    )


# ---------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class PdeFileHeader:
    submitter_id: str  # the plan's sponsor
    plan_id: str
    created_on: dt.date
    first_date: dt.date
    last_date: dt.date


def _value(spec: FieldSpec, value: object) -> str:
    """One field at its width; a value that does not fit is a bug, never cut."""
    if spec.kind is FieldKind.TEXT:
        text = str(value)
        if not all(" " <= c <= "~" for c in text):
            msg = f"{spec.name}: {text!r} is not printable ASCII"
            raise InvariantViolation(msg)
        out = text.ljust(spec.width)
    elif spec.kind is FieldKind.DATE:
        out = "" if value is None else f"{value:%Y%m%d}"
        out = out.ljust(spec.width)
    elif spec.kind is FieldKind.NUMBER:
        digits = str(value)  # an int, or a numeric string (402-D2)
        if not (digits.isascii() and digits.isdigit()):
            msg = f"{spec.name}: {value!r} is not an unsigned number"
            raise InvariantViolation(msg)
        out = digits.rjust(spec.width, "0")
    else:
        if type(value) is not int:
            msg = f"{spec.name}: amounts are int cents, got {value!r}"
            raise InvariantViolation(msg)
        out = f"{'-' if value < 0 else '+'}{abs(value):0{spec.width - 1}d}"
    if len(out) != spec.width:
        msg = f"{spec.name}: {value!r} does not fit {spec.width} characters"
        raise InvariantViolation(msg)
    return out


def render_record(layout: Sequence[FieldSpec], values: Mapping[str, object]) -> str:
    """One 1,000-byte record: the layout's fields in order, then spaces."""
    missing = [spec.name for spec in layout if spec.name not in values]
    if missing:
        msg = f"record {values.get('record_id')!r} misses {missing}"
        raise InvariantViolation(msg)
    text = "".join(_value(spec, values[spec.name]) for spec in layout).ljust(RECORD_LENGTH)
    if len(text) != RECORD_LENGTH:
        msg = f"a record of {len(text)} bytes"
        raise InvariantViolation(msg)
    return text


def _det_values(record: PdeRecord, sequence: int) -> dict[str, object]:
    r = record
    return {
        "record_id": "DET",
        "record_sequence_number": sequence,
        "claim_control_number": r.claim_control_number,
        "mbi": "",
        "cardholder_id": r.cardholder_id,
        "date_of_birth": r.date_of_birth,
        "gender_code": r.gender_code,
        "date_of_service": r.date_of_service,
        "paid_date": r.paid_date,
        "prescription_service_reference_number": r.prescription_service_reference_number,
        "product_service_id": r.product_service_id,
        "service_provider_id_qualifier": r.service_provider_id_qualifier,
        "service_provider_id": r.service_provider_id,
        "prescriber_id_qualifier": r.prescriber_id_qualifier,
        "prescriber_id": r.prescriber_id,
        "fill_number": r.fill_number,
        "dispensing_status": "",
        "compound_code": r.compound_code,
        "dispense_as_written": r.dispense_as_written,
        "quantity_dispensed": r.quantity_dispensed_thousandths,
        "days_supply": r.days_supply,
        "drug_coverage_status_code": r.drug_coverage_status_code,
        "adjustment_deletion_code": r.adjustment_deletion_code,
        "catastrophic_coverage_code": r.catastrophic_coverage_code,
        "beginning_benefit_phase": r.beginning_benefit_phase,
        "ending_benefit_phase": r.ending_benefit_phase,
        "ingredient_cost_paid": r.ingredient_cost_paid_cents,
        "dispensing_fee_paid": r.dispensing_fee_paid_cents,
        "total_amount_attributed_to_sales_tax": r.total_amount_attributed_to_sales_tax_cents,
        "vaccine_administration_fee": r.vaccine_administration_fee_cents,
        "gdcb": r.gdcb_cents,
        "gdca": r.gdca_cents,
        "patient_pay_amount": r.patient_pay_amount_cents,
        "other_troop_amount": r.other_troop_amount_cents,
        "lics_amount": r.lics_amount_cents,
        "plro_amount": r.plro_amount_cents,
        "cpp_amount": r.cpp_amount_cents,
        "npp_amount": r.npp_amount_cents,
    }


def render_pde_file(header: PdeFileHeader, records: Iterable[PdeRecord]) -> str:
    """The file: HDR, one BHD for the plan, its DET records in the order given, BTR, TLR;
    each record 1,000 characters and a line feed."""
    if header.first_date > header.last_date:
        msg = f"a window from {header.first_date} to {header.last_date}"
        raise InvariantViolation(msg)
    records = tuple(records)
    details = [
        render_record(DET_LAYOUT, _det_values(record, sequence))
        for sequence, record in enumerate(records, start=1)
    ]
    file_id = hashlib.sha256("\n".join(details).encode("ascii")).hexdigest()[:10].upper()
    deletions = sum(1 for r in records if r.is_deletion)
    net = sum(
        -r.gross_drug_cost_cents if r.is_deletion else r.gross_drug_cost_cents for r in records
    )
    lines = [
        render_record(
            HDR_LAYOUT,
            {
                "record_id": "HDR",
                "submitter_id": header.submitter_id,
                "file_id": file_id,
                "file_creation_date": header.created_on,
                "first_date": header.first_date,
                "last_date": header.last_date,
                "layout": LAYOUT_NAME,
            },
        ),
        render_record(
            BHD_LAYOUT,
            {
                "record_id": "BHD",
                "batch_sequence_number": 1,
                "contract_number": "",
                "pbp_id": "",
                "plan_id": header.plan_id,
            },
        ),
        *details,
        render_record(
            BTR_LAYOUT,
            {
                "record_id": "BTR",
                "batch_sequence_number": 1,
                "det_record_count": len(records),
                "original_count": len(records) - deletions,
                "deletion_count": deletions,
                "net_gross_drug_cost": net,
            },
        ),
        render_record(
            TLR_LAYOUT, {"record_id": "TLR", "batch_count": 1, "det_record_count": len(records)}
        ),
    ]
    return "".join(line + "\n" for line in lines)
