"""Who pays and who is paid: the processor (the 835's payer), pharmacy payees (the remit-to
entity: a chain's central office or the store itself), and plan sponsors (who are billed)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Payer:
    """The 835's payer (N1*PR, N3, N4, PER*BL) and the sender of its envelope."""

    name: str
    address: str
    city: str
    state: str  # two letters
    postal_code: str  # 5 or 9 digits
    tin: str  # 9-digit EIN: TRN03 is "1" followed by it
    contact_name: str
    contact_phone: str  # 10 digits
    interchange_id: str  # ISA06 / GS02, at most 15 characters
    bank_routing_number: str = ""  # BPR07: the sending bank (ACH)
    bank_account_number: str = ""  # BPR09


@dataclass(frozen=True, slots=True)
class Payee:
    """A pharmacy payee (N1*PE). A store without a payee of its own is its own payee."""

    payee_id: str
    name: str
    npi: str = ""  # 10 digits: N1*PE*..*XX
    tin: str = ""  # 9 digits: N1*PE*..*FI when there is no NPI, else REF*TJ
    ncpdp_id: str = ""  # 7 digits: REF*D3
    bank_routing_number: str = ""  # BPR13: paid by ACH when both are known, else by check
    bank_account_number: str = ""  # BPR15

    @property
    def pays_by_ach(self) -> bool:
        return bool(self.bank_routing_number and self.bank_account_number)


class FundingModel(StrEnum):
    ARREARS = "arrears"  # invoiced after claims are paid; the processor carries a cycle of credit
    PREFUNDED = "prefunded"  # a deposit the invoices draw down, topped up below a threshold


@dataclass(frozen=True, slots=True)
class Sponsor:
    """Who is billed for a plan's cost (the employer for commercial plans, the plan sponsor for
    Part D) and for the purses it funds."""

    sponsor_id: str
    name: str
    billing_period_days: int = 7  # 7 or 14
    billing_cutoff_weekday: int = 6  # Sunday
    payment_terms_days: int = 2  # due date: the period end plus these days
    admin_fee_cents: int = 0  # per paid claim (refunded on its reversal)
    funding_model: FundingModel = FundingModel.ARREARS
    low_balance_threshold_cents: int = 0  # pre-funded: an alert below this deposit balance
