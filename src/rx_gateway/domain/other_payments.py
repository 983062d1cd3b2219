"""The COB/Other Payments segment (AM05) of a secondary claim, and 308-C8 other coverage code:
the values and their syntax checks (M/I rejects). What the gateway does with them is in
domain/cob.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rx_gateway.domain.additional_amounts import AMOUNT_MAX_CENTS
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.values import is_text, parse_ccyymmdd

# 308-C8 Other Coverage Code
NOT_SPECIFIED, NO_OTHER_COVERAGE = 0, 1
OTHER_PAID = 2  # other coverage exists, payment collected
BILLED_NOT_COVERED = 3  # other coverage billed, claim not covered
NOT_COLLECTED = 4  # other coverage exists, payment not collected
MANAGED_CARE_DENIAL = 5
NOT_PARTICIPATING = 6  # other coverage denied: pharmacy not participating
NOT_IN_EFFECT = 7  # other coverage exists, not in effect on the date of service
PATIENT_RESPONSIBILITY_ONLY = 8  # claim bills the patient's financial responsibility only
OTHER_COVERAGE_CODE_MAX = 8
SECONDARY_CODES = frozenset({OTHER_PAID, NOT_COLLECTED, PATIENT_RESPONSIBILITY_ONLY})
DENIED_CODES = frozenset({BILLED_NOT_COVERED, MANAGED_CARE_DENIAL, NOT_PARTICIPATING})

OTHER_PAYMENTS_MAX = 9  # 337-4C
AMOUNTS_PER_PAYER_MAX = 9  # 341-HB
REJECTS_PER_PAYER_MAX = 5  # 471-5E
RESPONSIBILITY_PER_PAYER_MAX = 25  # 353-NR
PAYER_ID_LENGTH_MAX = 10  # 340-7C x(10)
# 338-5C: 01 primary, 02 secondary ... 09; 98 coupon; 99 other
COVERAGE_TYPES = frozenset({*(f"{n:02d}" for n in range(1, 10)), "98", "99"})
# 339-6C: 01 national payer ID, 02 health industry number, 03 BIN, 04 NAIC, 05 Medicare
# carrier, 09 coupon, 1C Medicare, 1D Medicaid, 99 other
PAYER_ID_QUALIFIERS = frozenset({"01", "02", "03", "04", "05", "09", "1C", "1D", "99"})
# 342-HC: 01 delivery, 02 shipping, 03 postage, 04 administrative, 05 incentive, 06 cognitive
# service, 07 drug benefit, 08 sum of all reimbursement, 09 compound preparation, 98 coupon,
# 99 other
AMOUNT_QUALIFIERS = frozenset({*(f"{n:02d}" for n in range(1, 10)), "98", "99"})
SUM_OF_ALL = "08"
# 351-NP: which of the other payer's response fields the amount is (01 517-FH ... 13 571-NZ)
RESPONSIBILITY_QUALIFIERS = frozenset(f"{n:02d}" for n in range(1, 14))
RESPONSIBILITY_PATIENT_PAY = "06"  # 505-F5: the whole patient pay amount
RESPONSIBILITY_ASSISTANCE = "09"  # 129-UD: health plan-funded assistance, zero or less


@dataclass(frozen=True, slots=True)
class OtherPayment:
    """One occurrence of the COB/Other Payments segment: what another payer did."""

    coverage_type: str  # 338-5C
    payer_id_qualifier: str = ""  # 339-6C
    payer_id: str = ""  # 340-7C
    date: str = ""  # 443-E8, CCYYMMDD
    amounts_paid: tuple[tuple[str, int], ...] = ()  # 342-HC qualifier, 431-DV amount
    reject_codes: tuple[str, ...] = ()  # 472-6E
    patient_responsibility: tuple[tuple[str, int], ...] = ()  # 351-NP, 352-NQ

    @property
    def paid_cents(self) -> int:
        """What this payer paid: its 08 (sum of all reimbursement) when sent, else the sum."""
        total = [amount for qualifier, amount in self.amounts_paid if qualifier == SUM_OF_ALL]
        return total[0] if total else sum(amount for _, amount in self.amounts_paid)

    @property
    def patient_responsibility_cents(self) -> int | None:
        """The patient's responsibility this payer left: its 06 (505-F5) when sent, else the
        sum of the parts; None when it sent none."""
        if not self.patient_responsibility:
            return None
        whole = [a for q, a in self.patient_responsibility if q == RESPONSIBILITY_PATIENT_PAY]
        return whole[0] if whole else sum(a for _, a in self.patient_responsibility)


@dataclass(frozen=True, slots=True)
class OtherPayer:
    """A payer ahead of this plan, as the response's other payer segment (AM28) names it."""

    coverage_type: str  # 338-5C: its place in the payer order (01 primary ...)
    payer_id: str  # 340-7C: its BIN (339-6C 03)
    processor_control_number: str  # 991-MH
    cardholder_id: str  # 356-NU
    group_id: str  # 992-MJ
    person_code: str  # 142-UV
    help_desk_phone: str  # 127-UB
    effective_date: str  # 144-UX, CCYYMMDD
    termination_date: str  # 145-UY, CCYYMMDD or empty
    name: str  # not an AM28 field: in the message
    payer_id_qualifier: str = "03"  # 339-6C: BIN


def _payment_rejects(payment: OtherPayment, service: dt.date | None) -> list[Reject]:
    rejects = []
    if payment.coverage_type not in COVERAGE_TYPES:
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_COVERAGE_TYPE,
                "Other payer coverage type (338-5C) must be 01-09, 98 or 99",
            )
        )
    if payment.payer_id_qualifier and payment.payer_id_qualifier not in PAYER_ID_QUALIFIERS:
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_ID_QUALIFIER,
                "Other payer ID qualifier (339-6C) must be 01-05, 09, 1C, 1D or 99",
            )
        )
    if payment.payer_id and not (
        is_text(payment.payer_id) and len(payment.payer_id) <= PAYER_ID_LENGTH_MAX
    ):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_ID,
                f"Other payer ID (340-7C) must be 1-{PAYER_ID_LENGTH_MAX} characters",
            )
        )
    paid_on = parse_ccyymmdd(payment.date)
    if payment.date and paid_on is None:
        rejects.append(
            Reject(RejectCode.MI_OTHER_PAYER_DATE, "Other payer date (443-E8) is not CCYYMMDD")
        )
    elif paid_on is not None and service is not None and paid_on > service:
        rejects.append(
            Reject(
                RejectCode.FUTURE_OTHER_PAYER_DATE,
                "Other payer date (443-E8) is after the date of service",
            )
        )
    rejects += _amount_rejects(payment)
    if len(payment.reject_codes) > REJECTS_PER_PAYER_MAX or any(
        not (2 <= len(code) <= 3 and code.isascii() and code.isalnum())
        for code in payment.reject_codes
    ):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_REJECT_CODE,
                f"Other payer reject codes (472-6E) are 2-3 characters, at most"
                f" {REJECTS_PER_PAYER_MAX}",
            )
        )
    return rejects


def _amount_rejects(payment: OtherPayment) -> list[Reject]:
    rejects = []
    if len(payment.amounts_paid) > AMOUNTS_PER_PAYER_MAX or any(
        q not in AMOUNT_QUALIFIERS for q, _ in payment.amounts_paid
    ):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_AMOUNT_PAID_QUALIFIER,
                f"Other payer amount paid qualifiers (342-HC) are 01-09, 98 or 99, at most"
                f" {AMOUNTS_PER_PAYER_MAX}",
            )
        )
    if any(amount < 0 for _, amount in payment.amounts_paid):
        rejects.append(
            Reject(
                RejectCode.NEGATIVE_OTHER_PAYER_AMOUNT,
                "Other payer amount paid (431-DV) must not be negative",
            )
        )
    elif any(amount > AMOUNT_MAX_CENTS for _, amount in payment.amounts_paid):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_AMOUNT_PAID,
                "Other payer amount paid (431-DV) is over $999,999.99",
            )
        )
    if len(payment.patient_responsibility) > RESPONSIBILITY_PER_PAYER_MAX or any(
        q not in RESPONSIBILITY_QUALIFIERS for q, _ in payment.patient_responsibility
    ):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_RESPONSIBILITY_QUALIFIER,
                "Other payer-patient responsibility qualifiers (351-NP) are 01-13, at most"
                f" {RESPONSIBILITY_PER_PAYER_MAX}",
            )
        )
    if any(
        abs(amount) > AMOUNT_MAX_CENTS or (amount < 0 and q != RESPONSIBILITY_ASSISTANCE)
        for q, amount in payment.patient_responsibility
    ):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_RESPONSIBILITY,
                "Other payer-patient responsibility amount (352-NQ) must be 0-$999,999.99"
                " (negative only for 351-NP 09)",
            )
        )
    return rejects


def other_payment_rejects(
    code: int, payments: tuple[OtherPayment, ...], service: dt.date | None
) -> list[Reject]:
    """Syntax checks of 308-C8 and the COB segment, and their consistency: codes 2 and 4
    need the segment (2 with an amount paid), 3, 5 and 6 the other payer's reject codes, 8 its
    patient responsibility; 0, 1 and 7 carry no other payment."""
    if not 0 <= code <= OTHER_COVERAGE_CODE_MAX:
        return [Reject(RejectCode.MI_OTHER_COVERAGE_CODE, "Other coverage code (308-C8) is 0-8")]
    if len(payments) > OTHER_PAYMENTS_MAX:
        return [
            Reject(
                RejectCode.MI_COB_COUNT,
                f"At most {OTHER_PAYMENTS_MAX} other payers (337-4C) in the COB segment",
            )
        ]
    rejects = []
    for payment in payments:
        rejects += _payment_rejects(payment, service)
    if rejects:
        return rejects
    paid = sum(p.paid_cents for p in payments)
    responsibility = [p for p in payments if p.patient_responsibility]
    if code in SECONDARY_CODES | DENIED_CODES and not payments:
        return [
            Reject(
                RejectCode.COB_SEGMENT_REQUIRED,
                f"Other coverage code (308-C8) {code} needs the COB/Other Payments segment",
            )
        ]
    if code == OTHER_PAID and paid <= 0:
        rejects.append(
            Reject(
                RejectCode.OTHER_COVERAGE_CODE_AMOUNT_PAID_DISCREPANCY,
                "Other coverage code (308-C8) 2 says the other payer paid: send its amount"
                " (431-DV) above zero, or 308-C8 4",
            )
        )
    elif code not in (OTHER_PAID, NOT_COLLECTED) and paid > 0:
        rejects.append(
            Reject(
                RejectCode.OTHER_COVERAGE_CODE_AMOUNT_PAID_DISCREPANCY,
                f"Other coverage code (308-C8) {code} carries no other payer amount paid (431-DV)",
            )
        )
    if code in DENIED_CODES and not any(p.reject_codes for p in payments):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_REJECT_CODE,
                f"Other coverage code (308-C8) {code} needs the other payer's reject codes"
                " (472-6E)",
            )
        )
    if code == PATIENT_RESPONSIBILITY_ONLY and not responsibility:
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_PAYER_RESPONSIBILITY,
                "Other coverage code (308-C8) 8 needs the other payer-patient responsibility"
                " amount (352-NQ)",
            )
        )
    if code in (NOT_SPECIFIED, NO_OTHER_COVERAGE, NOT_IN_EFFECT) and responsibility:
        rejects.append(
            Reject(
                RejectCode.OTHER_COVERAGE_CODE_AMOUNT_DISCREPANCY,
                f"Other coverage code (308-C8) {code} carries no other payer-patient"
                " responsibility amount (352-NQ)",
            )
        )
    return rejects
