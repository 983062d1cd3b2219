"""Reference data: plans, drugs and prices, formulary, pharmacies. Immutable and versioned.

A :class:`ReferenceSnapshot` is built once from the database and swapped whole when the data
changes; every claim records the snapshot version it was priced under.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from rx_gateway.domain.dur import DurPolicy, Interaction, RefillOverrides
from rx_gateway.domain.money import BASIS_POINTS_PER_UNIT, Rounding, divide
from rx_gateway.domain.settlement.cycles import Schedule


class CostShareKind(StrEnum):
    COPAY = "copay"
    COINSURANCE = "coinsurance"


class FormularyStatus(StrEnum):
    COVERED = "covered"
    EXCLUDED = "excluded"  # → 70
    NON_FORMULARY = "non_formulary"  # → MR


class PharmacyNetwork(StrEnum):
    PREFERRED = "preferred"
    STANDARD = "standard"
    OUT_OF_NETWORK = "out_of_network"


class CoverageLevel(StrEnum):
    """Whom a coverage covers, as enrollment says (X12 834 HD05): the member alone, or the
    member within a family. It chooses which deductible and out-of-pocket figures apply."""

    SELF_ONLY = "self_only"
    FAMILY = "family"


@dataclass(frozen=True, slots=True)
class Limits:
    """The deductible and out-of-pocket limits that apply to one member's coverage. Individual
    None: no individual limit (an aggregate family deductible: the whole family meets one
    amount). Family None: no family limit (self-only coverage, or a plan without one)."""

    deductible_individual_cents: int | None = None
    deductible_family_cents: int | None = None
    out_of_pocket_individual_cents: int | None = None
    out_of_pocket_family_cents: int | None = None

    @property
    def has_deductible(self) -> bool:
        return bool(self.deductible_individual_cents) or bool(self.deductible_family_cents)


# A month's supply, one definition for the plan: fills of up to 34 days are one month, up to 60
# two, up to 90 three (the same boundaries as the copay bands); past the last band, one more
# month per 30 days.
DEFAULT_MONTH_BANDS: tuple[tuple[int, int], ...] = ((34, 1), (60, 2), (90, 3))
DAYS_PER_MONTH_PAST_BANDS = 30


@dataclass(frozen=True, slots=True)
class DaysSupplyBand:
    """Fills of up to ``days_supply_max`` days pay ``multiplier_bp`` times the 30-day copay."""

    days_supply_max: int
    multiplier_bp: int


@dataclass(frozen=True, slots=True)
class CostShareRule:
    """Member cost share for one tier."""

    kind: CostShareKind
    copay_cents: int = 0
    coinsurance_bp: int = 0
    coinsurance_min_cents: int = 0
    coinsurance_max_cents: int | None = None
    deductible_applies: bool = True
    # 133-UJ: extra member cost per 30 days at a standard (not preferred) pharmacy
    standard_network_extra_cents: int = 0
    # 135-UM/136-UN: extra member cost per 30 days for choosing a non-preferred formulary product
    # (135-UM for a generic, 136-UN for a brand); counts toward the out-of-pocket maximum.
    non_preferred_extra_cents: int = 0
    days_supply_bands: tuple[DaysSupplyBand, ...] = (DaysSupplyBand(34, BASIS_POINTS_PER_UNIT),)

    def band_multiplier_bp(self, days_supply: int) -> int | None:
        """The copay multiplier for a days supply; None when no band allows it."""
        for band in self.days_supply_bands:
            if days_supply <= band.days_supply_max:
                return band.multiplier_bp
        return None


@dataclass(frozen=True, slots=True)
class NetworkPricing:
    """The contract for one pharmacy network: ingredient basis arms plus a dispensing fee."""

    awp_discount_bp: int
    wac_markup_bp: int | None = None
    nadac_markup_bp: int | None = None
    use_mac: bool = True
    dispensing_fee_cents: int = 0
    # Sales tax (481-HA, 482-GE): "plan" passes it through, "patient" adds it to 505-F5,
    # "exempt" pays none (557-AV 1). The incentive (438-E3) and other amounts (480-H9, by
    # 479-H8 qualifier) are paid up to the contract's maximum: none unless it says so.
    sales_tax: str = "plan"
    incentive_paid_max_cents: int = 0
    other_amounts_paid_max_cents: Mapping[str, int] = field(default_factory=dict)


class PursePeriod(StrEnum):
    """The window a purse's per-period cap and fill count are measured over."""

    MONTH = "month"
    QUARTER = "quarter"
    PLAN_YEAR = "plan_year"


@dataclass(frozen=True, slots=True)
class PurseRule:
    """Where a purse sits in the benefit stack and what it may pay for."""

    kind: str  # the purse kind it draws from, e.g. HRA
    allowed_tiers: frozenset[int] = frozenset()
    allowed_drug_groups: frozenset[str] = frozenset()  # empty: every group
    allowed_networks: frozenset[PharmacyNetwork] = frozenset()  # empty: every network
    per_fill_max_cents: int | None = None
    period: PursePeriod = PursePeriod.PLAN_YEAR
    per_period_max_cents: int | None = None  # at most this much paid in one period
    fills_per_period_max: int | None = None  # frequency limit: fills paid in one period

    def allows(self, tier: int, drug_group: str, network: PharmacyNetwork) -> str | None:
        """None when the purse may pay for this fill, else why not (for the rule trace)."""
        if self.allowed_tiers and tier not in self.allowed_tiers:
            return f"not allowed for tier {tier}"
        if self.allowed_drug_groups and drug_group not in self.allowed_drug_groups:
            return f"not allowed for {drug_group}"
        if self.allowed_networks and network not in self.allowed_networks:
            return f"not allowed at {network.value} pharmacies"
        return None

    @property
    def has_period_rules(self) -> bool:
        return self.per_period_max_cents is not None or self.fills_per_period_max is not None


@dataclass(frozen=True, slots=True)
class Program:
    """A subsidy that caps what the member pays for a drug group, per month's supply (the
    plan's months_supplied: a 31-day fill is one month, not two)."""

    program_id: str
    drug_group: str
    member_cap_per_30_days_cents: int
    deductible_applies: bool = False
    preferred_pharmacies_only: bool = False  # e.g. $0 generic statins at preferred pharmacies
    generics_only: bool = False
    # the formulary tiers it applies to (empty: every tier), e.g. $0 copay for a preferred
    # generic (tier 1) of a group instead of its brand
    tiers: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class RewardProgram:
    """An incentive for a lower-cost choice (domain/rewards.py): a fill that matches every rule
    (empty sets match anything) credits ``amount_cents`` to the member's purse of
    ``purse_kind``, funded by the purse's sponsor, at most ``per_year_max`` times per member
    per plan year. E.g. a maintenance drug moved to a 90-day mail fill."""

    program_id: str
    amount_cents: int
    purse_kind: str
    per_year_max: int
    drug_groups: frozenset[str] = frozenset()
    pharmacy_kinds: frozenset[str] = frozenset()  # retail, retail90, mail, specialty
    networks: frozenset[PharmacyNetwork] = frozenset()
    tiers: frozenset[int] = frozenset()
    days_supply_min: int = 0
    generics_only: bool = False

    def refusal(
        self,
        *,
        drug_group: str,
        is_brand: bool,
        tier: int,
        pharmacy_kind: str,
        network: PharmacyNetwork,
        days_supply: int,
    ) -> str | None:
        """None when the fill earns the reward, else why not (for the rule trace)."""
        if self.drug_groups and drug_group not in self.drug_groups:
            return f"not for {drug_group}"
        if self.generics_only and is_brand:
            return "generics only"
        if self.tiers and tier not in self.tiers:
            return f"not for tier {tier}"
        if self.pharmacy_kinds and pharmacy_kind not in self.pharmacy_kinds:
            # (the wording is in stored claims' rule traces: a replay compares them exactly)
            return f"not at a {pharmacy_kind} pharmacy"
        if self.networks and network not in self.networks:
            return f"not at {network.value} pharmacies"
        if days_supply < self.days_supply_min:
            return f"needs at least {self.days_supply_min} days supply"
        return None


EMPLOYER_SPONSOR = "employer"  # a plan billed to each member's employer


@dataclass(frozen=True, slots=True)
class CompoundRules:
    """How a plan covers compounds (domain/compound.py)."""

    covered: bool = True  # False: 7Y
    ingredients_max: int = 25  # more ingredients: 9K
    # the cost-share tier of a compound; None: the highest tier among its covered ingredients
    tier: int | None = None
    # a compounding fee by 474-8E level of effort (11-15), on top of the dispensing fee
    level_of_effort_fees_cents: Mapping[int, int] = field(default_factory=dict)


class CobMethod(StrEnum):
    """How a plan pays as a secondary payer (domain/cob.py)."""

    STANDARD = "standard"  # up to its own allowed amount, at most what it pays alone
    NON_DUPLICATION = "non_duplication"  # at most what it pays alone, less the others' payment
    PATIENT_RESPONSIBILITY = "patient_responsibility"  # the others' patient responsibility


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: str
    name: str
    bin: str
    pcn: str
    line_of_business: str
    plan_year_start_month: int
    # Family coverage: the embedded individual limit (None: aggregate, the family meets one
    # amount) and the family limit (None: none).
    deductible_individual_cents: int | None
    deductible_family_cents: int | None
    out_of_pocket_individual_cents: int | None
    out_of_pocket_family_cents: int | None
    tiers: Mapping[int, CostShareRule]
    networks: Mapping[PharmacyNetwork, NetworkPricing]
    days_supply_max: int
    refill_too_soon_threshold_bp: int
    daw_penalty_codes: frozenset[int] = frozenset({1, 2})
    purse_order: tuple[PurseRule, ...] = ()
    programs: tuple[Program, ...] = ()
    # Network rules: specialty drugs only at specialty pharmacies (G6); fills of at least
    # extended_supply_days_min days only at mail pharmacies (G9).
    specialty_pharmacy_required: bool = False
    extended_supply_days_min: int | None = None
    # DAW codes that reject a multi-source brand with AJ (generic required).
    generic_required_daw_codes: frozenset[int] = frozenset()
    # Timely filing: a claim more than this many days after its date of service is 81.
    timely_filing_days: int | None = None
    # The high-dollar edit: a claim whose allowed amount (ingredient cost and fee paid, before
    # the member's share) is above this is 78, for the help desk to review (None: no edit).
    claim_cost_max_cents: int | None = None
    # A class (e.g. RET for retirees) may have its own benefit stack instead of purse_order.
    purse_order_by_class: Mapping[str, tuple[PurseRule, ...]] = field(default_factory=dict)
    # Where a prescriber requests prior authorization (in the 75 message).
    prior_authorization_contact: str = ""
    # Self-only coverage: its own figures (None: the individual figure).
    deductible_self_only_cents: int | None = None
    out_of_pocket_self_only_cents: int | None = None
    # Checked at load against the IRS limits for an HSA-qualified high-deductible plan.
    hsa_qualified: bool = False
    # (days supply up to, months) bands: what "a month's supply" means everywhere in the plan.
    month_bands: tuple[tuple[int, int], ...] = DEFAULT_MONTH_BANDS
    # 303-C3 person code required on claims (else the patient is matched on cardholder ID,
    # date of birth and gender).
    person_code_required: bool = False
    # Who is billed for the plan's cost: a sponsor ID, or EMPLOYER_SPONSOR (each family's
    # employer). How its pharmacies are paid: the pay cycle, and a fee per transaction.
    # A claim whose date of birth (304-C4) is within this many days before the date of service
    # is a newborn billed on a parent's card: its date of birth and gender are not matched.
    newborn_match_days: int = 0
    # DUR/PPS: what is checked and how it is answered; 420-DK codes that override a 79
    dur: DurPolicy = field(default_factory=DurPolicy)
    refill_overrides: RefillOverrides = field(default_factory=RefillOverrides)
    sponsor_id: str = "employer"
    pay_schedule: Schedule = field(default_factory=Schedule)
    transaction_fee_cents: int = 0
    # As a secondary payer (308-C8 2, 4, 8): how it coordinates with the payers before it.
    cob_method: CobMethod = CobMethod.STANDARD
    compound: CompoundRules = field(default_factory=CompoundRules)
    # Incentives for lower-cost choices credited to a member's purse (domain/rewards.py).
    rewards: tuple[RewardProgram, ...] = ()

    def sponsor_of(self, employer_id: str) -> str:
        """The sponsor billed for a claim of a member of ``employer_id``'s."""
        return employer_id if self.sponsor_id == EMPLOYER_SPONSOR else self.sponsor_id

    def limits(self, level: CoverageLevel) -> Limits:
        """The deductible and out-of-pocket limits for a coverage of this level."""
        if level is CoverageLevel.SELF_ONLY:
            return Limits(
                deductible_individual_cents=_first(
                    self.deductible_self_only_cents, self.deductible_individual_cents
                ),
                out_of_pocket_individual_cents=_first(
                    self.out_of_pocket_self_only_cents, self.out_of_pocket_individual_cents
                ),
            )
        return Limits(
            self.deductible_individual_cents,
            self.deductible_family_cents,
            self.out_of_pocket_individual_cents,
            self.out_of_pocket_family_cents,
        )

    def months_supplied(self, days_supply: int) -> int:
        """How many months' supply a fill is (program caps and every per-month amount)."""
        for days_max, months in self.month_bands:
            if days_supply <= days_max:
                return months
        last_days, last_months = self.month_bands[-1]
        return last_months + divide(days_supply - last_days, DAYS_PER_MONTH_PAST_BANDS, Rounding.UP)

    def purse_rules_for(self, class_code: str) -> tuple[PurseRule, ...]:
        """The benefit stack for a member of this class."""
        return self.purse_order_by_class.get(class_code, self.purse_order)

    def period_start(self, period: PursePeriod, day: dt.date) -> dt.date:
        """The first day of the period that holds ``day``."""
        if period is PursePeriod.MONTH:
            return day.replace(day=1)
        if period is PursePeriod.QUARTER:
            return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return self.plan_year_start(day)

    def plan_year_start(self, date_of_service: dt.date) -> dt.date:
        start = dt.date(date_of_service.year, self.plan_year_start_month, 1)
        if date_of_service < start:
            start = dt.date(date_of_service.year - 1, self.plan_year_start_month, 1)
        return start

    def program_for(
        self,
        drug_group: str,
        network: PharmacyNetwork,
        *,
        is_brand: bool = False,
        tier: int | None = None,
    ) -> Program | None:
        """The program for a drug group at a pharmacy of this network (and a product of this
        formulary tier, when the program names tiers), if any."""
        return next(
            (
                p
                for p in self.programs
                if p.drug_group == drug_group
                and (not p.preferred_pharmacies_only or network is PharmacyNetwork.PREFERRED)
                and not (p.generics_only and is_brand)
                and (not p.tiers or tier in p.tiers)
            ),
            None,
        )


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True, slots=True)
class Drug:
    """A product and its price benchmarks (unit prices in millicents, i.e. 1/1000 cent)."""

    ndc: str
    name: str
    molecule: str
    drug_group: str
    is_brand: bool
    generic_ndc: str | None  # a brand's generic equivalent: it is multi-source when set
    is_specialty: bool
    awp_unit_price_millicents: int
    wac_unit_price_millicents: int | None = None
    nadac_unit_price_millicents: int | None = None
    mac_unit_price_millicents: int | None = None
    therapeutic_class: str = ""  # for therapeutic duplication (DUR TD); empty: not checked


@dataclass(frozen=True, slots=True)
class FormularyEntry:
    plan_id: str
    ndc: str
    status: FormularyStatus
    tier: int
    prior_authorization_required: bool = False
    quantity_limit_thousandths: int | None = None
    days_supply_max: int | None = None
    age_min: int | None = None  # → 60 below it
    age_max: int | None = None  # → 60 above it
    gender_code: int | None = None  # 1 male, 2 female: → 61 for anyone else
    step_therapy_molecule: str | None = None  # a fill of it in the last year is required: → 608
    # Rolling-period limits over the member's fills of the same molecule, this fill included:
    # quantity (→ 9G) and days supplied (→ AG) within the last period_days days.
    period_days: int | None = None
    period_quantity_limit_thousandths: int | None = None
    period_days_supply_max: int | None = None


@dataclass(frozen=True, slots=True)
class Pharmacy:
    npi: str
    name: str
    network: PharmacyNetwork
    kind: str  # retail, retail90 (90-day retail), mail, specialty


@dataclass(frozen=True, slots=True)
class ReferenceSnapshot:
    """Everything a claim needs that is not member state, indexed for the hot path."""

    version: str
    plans: Mapping[str, Plan]
    drugs: Mapping[str, Drug]
    formulary: Mapping[tuple[str, str], FormularyEntry]
    pharmacies: Mapping[str, Pharmacy]
    plans_by_bin_pcn: Mapping[tuple[str, str], tuple[Plan, ...]] = field(default_factory=dict)
    # (plan, drug group) → the covered drug a pharmacist should offer instead (MR, AJ messages)
    preferred_alternatives: Mapping[tuple[str, str], Drug] = field(default_factory=dict)
    # (plan, molecule) → a covered product of that molecule to try first (step therapy)
    first_line: Mapping[tuple[str, str], Drug] = field(default_factory=dict)
    # the two molecules of a drug-drug interaction (either order) → the interaction
    interactions: Mapping[frozenset[str], Interaction] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        version: str,
        plans: list[Plan],
        drugs: list[Drug],
        formulary: list[FormularyEntry],
        pharmacies: list[Pharmacy],
        interactions: list[Interaction] | tuple[Interaction, ...] = (),
    ) -> ReferenceSnapshot:
        by_bin_pcn: dict[tuple[str, str], list[Plan]] = {}
        for plan in plans:
            by_bin_pcn.setdefault((plan.bin, plan.pcn), []).append(plan)
        drugs_by_ndc = {d.ndc: d for d in drugs}
        alternatives: dict[tuple[str, str], tuple[tuple[int, bool, str], Drug]] = {}
        first_line: dict[tuple[str, str], tuple[tuple[int, bool, str], Drug]] = {}
        for entry in formulary:
            drug = drugs_by_ndc.get(entry.ndc)
            if drug is None or entry.status is not FormularyStatus.COVERED:
                continue
            if entry.prior_authorization_required:
                continue
            rank = (entry.tier, drug.is_brand, drug.ndc)  # lowest tier, generics first
            key = (entry.plan_id, drug.drug_group)
            if key not in alternatives or rank < alternatives[key][0]:
                alternatives[key] = (rank, drug)
            by_molecule = (entry.plan_id, drug.molecule)
            if by_molecule not in first_line or rank < first_line[by_molecule][0]:
                first_line[by_molecule] = (rank, drug)
        return cls(
            version=version,
            preferred_alternatives={k: v[1] for k, v in alternatives.items()},
            first_line={k: v[1] for k, v in first_line.items()},
            interactions={frozenset((i.molecule_a, i.molecule_b)): i for i in interactions},
            plans={p.plan_id: p for p in plans},
            drugs={d.ndc: d for d in drugs},
            formulary={(f.plan_id, f.ndc): f for f in formulary},
            pharmacies={p.npi: p for p in pharmacies},
            plans_by_bin_pcn={k: tuple(v) for k, v in by_bin_pcn.items()},
        )

    def known_bin(self, bin: str) -> bool:
        return any(b == bin for b, _ in self.plans_by_bin_pcn)
