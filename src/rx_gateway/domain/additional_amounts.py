"""The pricing segment's amounts beyond ingredient cost and dispensing fee: other amounts
claimed (478-H7/479-H8/480-H9), sales taxes (481-HA, 482-GE, 483-HE, 484-JE), the incentive
(438-E3), and the patient paid amount submitted (433-DX). Each but the last is part of 430-DU.
"""

from __future__ import annotations

from dataclasses import dataclass

from rx_gateway.domain.rejects import Reject, RejectCode

AMOUNT_MAX_CENTS = 99_999_999  # s$$$$$$cc: $999,999.99

OTHER_AMOUNT_QUALIFIERS = {  # 479-H8
    "01": "delivery",
    "02": "shipping",
    "03": "postage",
    "04": "administrative",
    "09": "compound preparation",
    "99": "other",
}
PERCENTAGE_TAX_BASES = {"02": "ingredient cost", "03": "ingredient cost + dispensing fee"}  # 484-JE
OTHER_AMOUNTS_MAX = 3  # 478-H7 repeats up to 3 in D.0
TAX_RATE_MAX = 1_000_000  # 483-HE: s9v9999 percent, so 100.0000% is 1,000,000


@dataclass(frozen=True, slots=True)
class OtherAmount:
    """One 479-H8 qualifier and 480-H9 amount (or, paid, 564-J3 and 565-J4)."""

    qualifier: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class AdditionalAmounts:
    """The pricing segment's amounts beyond ingredient and fee: each is part of 430-DU.

    430-DU = 409-D9 + 412-DC + 481-HA + 482-GE + 438-E3 + Σ 480-H9."""

    incentive_cents: int = 0  # 438-E3 Incentive Amount Submitted
    other_amounts: tuple[OtherAmount, ...] = ()  # 478-H7 count, 479-H8 / 480-H9
    flat_sales_tax_cents: int = 0  # 481-HA Flat Sales Tax Amount Submitted
    percentage_sales_tax_cents: int = 0  # 482-GE Percentage Sales Tax Amount Submitted
    # 483-HE Percentage Sales Tax Rate Submitted: percent with 4 implied decimals (6% = 60000)
    percentage_sales_tax_rate: int = 0
    percentage_sales_tax_basis: str = ""  # 484-JE: 02 ingredient cost, 03 ingredient + fee
    patient_paid_cents: int = 0  # 433-DX Patient Paid Amount Submitted: recorded, not priced

    @property
    def total_cents(self) -> int:
        """What these add to 430-DU."""
        return (
            self.incentive_cents
            + self.flat_sales_tax_cents
            + self.percentage_sales_tax_cents
            + sum(o.amount_cents for o in self.other_amounts)
        )


NO_ADDITIONAL_AMOUNTS = AdditionalAmounts()


def _amount_ok(cents: int) -> bool:
    return 0 <= cents <= AMOUNT_MAX_CENTS


def additional_amount_rejects(amounts: AdditionalAmounts) -> list[Reject]:
    """The pricing segment's other amounts, taxes and incentive (438-E3, 478-H7 .. 484-JE,
    433-DX): each an amount a claim may carry, the qualifiers from their code lists."""
    rejects = []
    for cents, code, name in (
        (amounts.incentive_cents, RejectCode.MI_INCENTIVE_AMOUNT, "Incentive amount (438-E3)"),
        (amounts.flat_sales_tax_cents, RejectCode.MI_FLAT_SALES_TAX, "Flat sales tax (481-HA)"),
        (
            amounts.percentage_sales_tax_cents,
            RejectCode.MI_PERCENTAGE_SALES_TAX,
            "Percentage sales tax (482-GE)",
        ),
        (
            amounts.patient_paid_cents,
            RejectCode.MI_PATIENT_PAID_AMOUNT,
            "Patient paid amount (433-DX)",
        ),
    ):
        if not _amount_ok(cents):
            rejects.append(Reject(code, f"{name} must be 0 to $999,999.99"))
    if len(amounts.other_amounts) > OTHER_AMOUNTS_MAX:
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_AMOUNT_COUNT,
                f"At most {OTHER_AMOUNTS_MAX} other amounts (478-H7)",
            )
        )
    qualifiers = [o.qualifier for o in amounts.other_amounts]
    if any(q not in OTHER_AMOUNT_QUALIFIERS for q in qualifiers) or len(set(qualifiers)) != len(
        qualifiers
    ):
        rejects.append(
            Reject(
                RejectCode.MI_OTHER_AMOUNT_QUALIFIER,
                "Other amount qualifier (479-H8) must be one of "
                f"{', '.join(OTHER_AMOUNT_QUALIFIERS)}, each at most once",
            )
        )
    if any(not _amount_ok(o.amount_cents) for o in amounts.other_amounts):
        rejects.append(
            Reject(RejectCode.MI_OTHER_AMOUNT, "Other amount (480-H9) must be 0 to $999,999.99")
        )
    if not 0 <= amounts.percentage_sales_tax_rate <= TAX_RATE_MAX:
        rejects.append(
            Reject(
                RejectCode.MI_PERCENTAGE_SALES_TAX_RATE,
                "Percentage sales tax rate (483-HE) must be 0 to 100% (4 implied decimals)",
            )
        )
    elif amounts.percentage_sales_tax_cents > 0 and not amounts.percentage_sales_tax_rate:
        rejects.append(  # the billed tax was dropped silently (559-AX 0): the rate is required
            Reject(
                RejectCode.MI_PERCENTAGE_SALES_TAX_RATE,
                "Percentage sales tax rate (483-HE) is required when 482-GE is sent",
            )
        )
    basis = amounts.percentage_sales_tax_basis
    if (basis and basis not in PERCENTAGE_TAX_BASES) or (
        amounts.percentage_sales_tax_cents and not basis
    ):
        rejects.append(
            Reject(
                RejectCode.MI_PERCENTAGE_SALES_TAX_BASIS,
                "Percentage sales tax basis (484-JE) must be 02 or 03 when 482-GE is sent",
            )
        )
    return rejects
