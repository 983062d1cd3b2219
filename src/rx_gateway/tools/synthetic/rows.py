"""One named row type per file of a dataset.

Each field is named after the loader's column (``rx_gateway.adapters.files.loader.TABLES``)
and the fields come in the loader's column order, so a row is written as it is and read by
name, never by position. ``None`` is an empty cell. ``FILE_OF`` names each type's file; the
CSV writer refuses a type whose fields no longer match that file's columns.
"""

from __future__ import annotations

from typing import NamedTuple


class DrugRow(NamedTuple):
    """drugs.csv. Prices are per unit, in millicents."""

    ndc: str
    name: str
    molecule: str
    drug_group: str
    is_brand: bool
    generic_ndc: str | None
    is_specialty: bool
    awp_unit_price_millicents: int
    wac_unit_price_millicents: int | None
    nadac_unit_price_millicents: int | None
    mac_unit_price_millicents: int | None
    therapeutic_class: str | None = None


class InteractionRow(NamedTuple):
    """interactions.csv: a drug-drug interaction (DUR DD) by molecule."""

    molecule_a: str
    molecule_b: str
    significance: str  # 528-FS: 1 major, 2 moderate, 3 minor
    text: str  # 544-FY (30 characters are sent)


class FormularyRow(NamedTuple):
    """formulary.csv: one plan's entry for one drug."""

    plan_id: str
    ndc: str
    status: str  # covered, excluded, non_formulary
    tier: int
    prior_authorization_required: bool
    quantity_limit_thousandths: int | None
    days_supply_max: int | None
    age_min: int | None  # 60
    age_max: int | None
    gender_code: int | None  # 61
    step_therapy_molecule: str | None  # 608
    period_days: int | None  # 9G, AG
    period_quantity_limit_thousandths: int | None
    period_days_supply_max: int | None

    @property
    def unrestricted(self) -> bool:
        """Covered with no PA, quantity limit, step therapy or period limit."""
        return (
            self.status == "covered"
            and not self.prior_authorization_required
            and self.quantity_limit_thousandths is None
            and self.step_therapy_molecule is None
            and self.period_days is None
        )

    @property
    def for_everyone(self) -> bool:
        """No age or gender edit."""
        return self.age_min is None and self.gender_code is None


class PharmacyRow(NamedTuple):
    """pharmacies.csv."""

    npi: str
    name: str
    network: str  # preferred, standard, out_of_network
    kind: str  # retail, mail, specialty
    payee_id: str | None  # the remit-to payee; None: the store is paid itself


class PayeeRow(NamedTuple):
    """payees.csv: a remit-to entity (a chain's central office)."""

    payee_id: str
    name: str
    npi: str | None
    tin: str | None
    ncpdp_id: str | None
    bank_routing_number: str | None
    bank_account_number: str | None


class SponsorRow(NamedTuple):
    """sponsors.csv: who is billed, how often, on which terms."""

    sponsor_id: str
    name: str
    billing_period_days: int | None
    billing_cutoff_weekday: str | None
    payment_terms_days: int | None
    admin_fee_cents: int | None
    funding_model: str | None
    low_balance_threshold_cents: int | None


class MemberRow(NamedTuple):
    """members.csv."""

    member_id: str
    cardholder_id: str
    person_code: str  # 001 the cardholder
    family_id: str
    employer_id: str
    class_code: str  # FT, PT, RET
    first_name: str
    last_name: str
    date_of_birth: str  # ISO 8601
    gender_code: int


class CoverageRow(NamedTuple):
    """coverages.csv."""

    member_id: str
    plan_id: str
    group_id: str
    start_date: str
    end_date: str | None
    end_reason: str | None  # terminated
    line_of_business: str
    coverage_level: str | None = None  # self_only or family (X12 834 HD05)
    payer_order: int | None = None  # 1 primary (blank), 2 secondary ...


class OtherCoverageRow(NamedTuple):
    """other_coverages.csv: coverage by a payer this gateway does not process."""

    member_id: str
    payer_order: int
    payer_name: str
    bin: str
    pcn: str | None
    group_id: str | None
    cardholder_id: str
    person_code: str | None
    help_desk_phone: str | None
    start_date: str
    end_date: str | None


class PurseRow(NamedTuple):
    """purses.csv."""

    purse_id: str
    family_id: str
    kind: str  # HRA, WELLNESS
    employer_id: str


class FundingRow(NamedTuple):
    """funding.csv."""

    funding_id: str
    purse_id: str
    amount_cents: int
    memo: str
    available_on: str | None = None  # an allotment released on that date


class PriorAuthorizationRow(NamedTuple):
    """prior_authorizations.csv: for one NDC or for a drug group."""

    pa_number: str
    member_id: str
    ndc: str | None
    drug_group: str | None
    start_date: str
    end_date: str
    quantity_thousandths: int | None = None


FILE_OF: dict[type[NamedTuple], str] = {
    InteractionRow: "interactions.csv",
    PayeeRow: "payees.csv",
    SponsorRow: "sponsors.csv",
    DrugRow: "drugs.csv",
    FormularyRow: "formulary.csv",
    PharmacyRow: "pharmacies.csv",
    MemberRow: "members.csv",
    CoverageRow: "coverages.csv",
    OtherCoverageRow: "other_coverages.csv",
    PurseRow: "purses.csv",
    FundingRow: "funding.csv",
    PriorAuthorizationRow: "prior_authorizations.csv",
}
