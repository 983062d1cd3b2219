"""Utilization and recommendations (`rx-gateway utilization`, issue 18): what a sponsor's members
really used in a period, from the stored claims, and opportunities sized by replaying those
claims through the simulator (domain/simulation.py) with the fills changed.

Pure: the standard library and the domain only. The adapter reads the stored events and each
family's starting point (adapters/postgres/simulation.py, the simulator's own reader); the
command (cli/utilization.py) writes the report.

What is counted (``summarise``): every claim decided in the period (by date of service) of the
families read; money is that of the claims that stand (paid, not reversed), as stored. Total
cost is the allowed amount (what the plan, its purses, the member and any other payer paid).
The tier is the member's plan's formulary tier; the pharmacy class is the pharmacy's kind
(retail, retail90, mail, specialty) and its network; the supply band is 30-day (34 days or
fewer), 90-day (84 or more) or in between. The generic dispensing rate is generic fills over
all fills that stand; a brand "with a generic available" is a brand whose ``generic_ndc`` names
another drug on file. Purse use: what the purses paid on the period's claims; breakage is the
purse funding not spent by the period's end: the funding on file (the loader's and the admin
interface's) plus the allotments due by then and the rewards credited, less every purse payment
up to then (of the families with a claim in the period).

How an opportunity is sized (``size``): the stored claims are replayed twice under the real
plan design from each family's starting state: as they were, and with the opportunity's fills
changed (``replay``'s ``transform``). The saving is the first replay's totals over the period
less the second's, so every knock-on effect (deductible and out-of-pocket reached later or
sooner, purse balances, refill timing) is counted, and the unchanged replay reproducing what was
stored is checked (its rate is reported). A changed fill the plan would reject (e.g. a drug it
does not cover by mail) is not proposed: its fills are put back as they were and the replay run
again.

The modelling choices, plainly:

- Generic for brand: each paid brand fill (not reversed, not DAW 1, the prescriber's "dispense
  as written") whose drug has a generic equivalent on file is filled with the generic instead:
  same pharmacy, quantity and days, DAW 0. The pharmacy's submitted ingredient cost and U&C are
  scaled by the ratio of the two drugs' AWP unit prices (the pharmacy bills the generic the way
  it billed the brand); its dispensing fee is kept.
- 90-day mail for maintenance: a maintenance fill is a paid fill (not reversed) of a
  non-specialty drug at a retail pharmacy for 34 days or fewer, of a product the same member
  filled at least three times so in the period (observed chronic use, not a drug list). Each
  member's fills of a product, in date order, are merged three into one: a fill at a mail
  pharmacy of the preferred network (the standard one when there is none) on the date of the
  first, of the three quantities and days supplies added up, the submitted ingredient cost and
  U&C added up, one dispensing fee; the other two are not made. One or two fills left over stay
  at retail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.money import divide
from rx_gateway.domain.outcome import ClaimResponse
from rx_gateway.domain.price_check import PharmacyChannels
from rx_gateway.domain.reference import Drug, PharmacyNetwork, ReferenceSnapshot
from rx_gateway.domain.simulation import (
    Household,
    Replayed,
    StoredEvent,
    period_filter,
    replay,
    reproduces,
)

SHORT_SUPPLY_DAYS_MAX = 34  # a 30-day fill: 34 days or fewer
EXTENDED_SUPPLY_DAYS_MIN = 84  # a 90-day fill: 84 days or more
MAINTENANCE_FILLS_MIN = 3  # fills of one product by one member in the period: maintenance
MERGED_FILLS = 3  # 30-day fills merged into one 90-day mail fill
DISPENSE_AS_WRITTEN = 1  # 408-D8 1: the prescriber asked for the product as written
SIZING_PASSES_MAX = 4  # replays of an opportunity, moves the plan rejects put back each time
DIMENSIONS = ("tier", "drug_group", "pharmacy_class", "network", "supply")


@dataclass
class Bucket:
    """Fills that stand (paid, not reversed) and their money, in cents."""

    fills: int = 0
    allowed_cents: int = 0
    plan_paid_cents: int = 0
    member_paid_cents: int = 0
    purse_paid_cents: int = 0

    def add(self, response: ClaimResponse) -> None:
        pricing = response.pricing
        if pricing is None:
            return
        self.fills += 1
        self.allowed_cents += pricing.allowed_amount_cents
        self.plan_paid_cents += pricing.plan_paid_cents
        self.member_paid_cents += pricing.patient_pay_amount_cents
        self.purse_paid_cents += sum(line.paid_cents for line in response.purses)

    def as_dict(self) -> dict[str, int]:
        return {
            "fills": self.fills,
            "allowed_cents": self.allowed_cents,
            "plan_paid_cents": self.plan_paid_cents,
            "member_paid_cents": self.member_paid_cents,
            "purse_paid_cents": self.purse_paid_cents,
        }


@dataclass
class PurseUse:
    purses: int = 0
    funded_cents: int = 0  # on file before claims, allotments due by the end, rewards credited
    spent_before_cents: int = 0  # paid by purses on claims before the period
    spent_in_period_cents: int = 0  # paid by purses on the period's claims

    @property
    def breakage_cents(self) -> int:
        """Funding not spent by the period's end."""
        return self.funded_cents - self.spent_before_cents - self.spent_in_period_cents

    def as_dict(self) -> dict[str, int]:
        return {
            "purses": self.purses,
            "funded_cents": self.funded_cents,
            "spent_before_period_cents": self.spent_before_cents,
            "spent_in_period_cents": self.spent_in_period_cents,
            "breakage_cents": self.breakage_cents,
        }


@dataclass
class Summary:
    claims: int = 0  # decided in the period: paid or rejected
    paid: int = 0  # paid and standing
    reversed: int = 0
    rejected: int = 0
    overall: Bucket = field(default_factory=Bucket)
    by: dict[str, dict[str, Bucket]] = field(default_factory=dict)
    generic: Bucket = field(default_factory=Bucket)
    brand: Bucket = field(default_factory=Bucket)
    brand_with_generic: Bucket = field(default_factory=Bucket)
    specialty: Bucket = field(default_factory=Bucket)
    purses: PurseUse = field(default_factory=PurseUse)

    @property
    def generic_dispensing_rate(self) -> float:
        return self.generic.fills / self.overall.fills if self.overall.fills else 0.0

    @property
    def specialty_share(self) -> float:
        """Specialty drugs' share of total cost (allowed)."""
        total = self.overall.allowed_cents
        return self.specialty.allowed_cents / total if total else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "claims": self.claims,
            "paid_standing": self.paid,
            "reversed": self.reversed,
            "rejected": self.rejected,
            "overall": self.overall.as_dict(),
            "by": {d: {k: b.as_dict() for k, b in sorted(self.by[d].items())} for d in DIMENSIONS},
            "generic_dispensing_rate": round(self.generic_dispensing_rate, 4),
            "generic": self.generic.as_dict(),
            "brand": self.brand.as_dict(),
            "brand_with_generic_available": self.brand_with_generic.as_dict(),
            "specialty": self.specialty.as_dict(),
            "specialty_share_of_cost": round(self.specialty_share, 4),
            "purses": self.purses.as_dict(),
        }


def supply_band(days_supply: int) -> str:
    if days_supply <= SHORT_SUPPLY_DAYS_MAX:
        return "30-day"
    if days_supply >= EXTENDED_SUPPLY_DAYS_MIN:
        return "90-day"
    return "35-83 days"


def generic_of(drug: Drug | None, snapshot: ReferenceSnapshot) -> Drug | None:
    """A brand's generic equivalent on file (None for a generic, or a brand without one)."""
    if drug is None or not drug.is_brand or not drug.generic_ndc:
        return None
    generic = snapshot.drugs.get(drug.generic_ndc)
    return generic if generic is not None and generic.ndc != drug.ndc else None


def _plan_id(event: StoredEvent, households: Mapping[str, Household]) -> str:
    if event.real is not None and event.real.plan_id:
        return event.real.plan_id
    request = event.request
    household = households.get(event.family_id)
    base = household.members.get(event.member_id) if household is not None else None
    if request is None or base is None:
        return ""
    for coverage in base.coverages:
        if coverage.covers(request.service_date):
            return coverage.plan_id
    return ""


def _keys(
    event: StoredEvent, snapshot: ReferenceSnapshot, households: Mapping[str, Household]
) -> dict[str, str]:
    request = event.request
    assert request is not None  # noqa: S101 - claims only
    drug = snapshot.drugs.get(request.product_id)
    entry = snapshot.formulary.get((_plan_id(event, households), request.product_id))
    pharmacy = snapshot.pharmacies.get(request.header.service_provider_id)
    return {
        "tier": str(entry.tier) if entry is not None else "not on formulary",
        "drug_group": drug.drug_group if drug is not None else "unknown",
        "pharmacy_class": pharmacy.kind if pharmacy is not None else "unknown",
        "network": pharmacy.network.value if pharmacy is not None else "unknown",
        "supply": supply_band(request.days_supply),
    }


def _standing(event: StoredEvent) -> bool:
    return event.real is not None and not event.reversed_later


def _purse_paid(response: ClaimResponse | None) -> int:
    return sum(line.paid_cents for line in response.purses) if response is not None else 0


def summarise(
    events: Iterable[StoredEvent],
    households: Mapping[str, Household],
    snapshot: ReferenceSnapshot,
    start: dt.date,
    end: dt.date,
) -> Summary:
    """Observed use over the claims decided from ``start`` to ``end`` (both included)."""
    summary = Summary(by={d: {} for d in DIMENSIONS})
    inside = period_filter(start, end)
    use = summary.purses
    for event in events:
        request = event.request
        if request is None:
            continue
        day = request.service_date
        if day <= end and _standing(event):
            paid = _purse_paid(event.real)
            rewards = sum(line.amount_cents for line in event.real.rewards) if event.real else 0
            use.funded_cents += rewards
            if inside(event):
                use.spent_in_period_cents += paid
            else:
                use.spent_before_cents += paid
        if not inside(event):
            continue
        summary.claims += 1
        if event.real is None:
            summary.rejected += 1
            continue
        if event.reversed_later:
            summary.reversed += 1
            continue
        summary.paid += 1
        response = event.real
        summary.overall.add(response)
        for dimension, key in _keys(event, snapshot, households).items():
            summary.by[dimension].setdefault(key, Bucket()).add(response)
        drug = snapshot.drugs.get(request.product_id)
        if drug is not None and drug.is_brand:
            summary.brand.add(response)
            if generic_of(drug, snapshot) is not None:
                summary.brand_with_generic.add(response)
        elif drug is not None:
            summary.generic.add(response)
        if drug is not None and drug.is_specialty:
            summary.specialty.add(response)
    for household in households.values():
        use.purses += len(household.purses)
        use.funded_cents += sum(posted for _, _, posted in household.purses)
        use.funded_cents += sum(
            amount for _, available_on, amount in household.allotments if available_on <= end
        )
    return summary


# ---------------------------------------------------------------------------- opportunities


@dataclass(frozen=True, slots=True)
class Move:
    """Stored fills (by 993-A7) replaced by one changed fill: ``request`` replays in place of the
    first; the others are not made."""

    icns: tuple[str, ...]
    request: ClaimRequest


def _scaled(value: int, numerator: int, denominator: int) -> int:
    return max(1, divide(value * numerator, denominator)) if value > 0 else value


def generic_moves(
    events: Iterable[StoredEvent], snapshot: ReferenceSnapshot, start: dt.date, end: dt.date
) -> list[Move]:
    """Each standing brand fill of the period with a generic on file (not DAW 1), filled with
    the generic (see the module's modelling choices)."""
    inside = period_filter(start, end)
    moves = []
    for event in events:
        request = event.request
        if request is None or not inside(event) or not _standing(event):
            continue
        if request.dispense_as_written == DISPENSE_AS_WRITTEN:
            continue
        brand = snapshot.drugs.get(request.product_id)
        generic = generic_of(brand, snapshot)
        if brand is None or generic is None:
            continue
        ratio = (generic.awp_unit_price_millicents, brand.awp_unit_price_millicents)
        ingredient = _scaled(request.ingredient_cost_submitted_cents, *ratio)
        changed = replace(
            request,
            product_id=generic.ndc,
            dispense_as_written=0,
            ingredient_cost_submitted_cents=ingredient,
            usual_and_customary_charge_cents=_scaled(
                request.usual_and_customary_charge_cents, *ratio
            ),
            gross_amount_due_cents=ingredient
            + request.dispensing_fee_submitted_cents
            + request.additional_amounts.total_cents,
        )
        moves.append(Move((event.internal_control_number,), changed))
    return moves


def _maintenance_fill(event: StoredEvent, snapshot: ReferenceSnapshot) -> bool:
    request = event.request
    if request is None or not _standing(event):
        return False
    drug = snapshot.drugs.get(request.product_id)
    pharmacy = snapshot.pharmacies.get(request.header.service_provider_id)
    return (
        drug is not None
        and not drug.is_specialty
        and pharmacy is not None
        and pharmacy.kind == "retail"
        and request.days_supply <= SHORT_SUPPLY_DAYS_MAX
        and request.compound is None
    )


def mail_moves(
    events: Iterable[StoredEvent], snapshot: ReferenceSnapshot, start: dt.date, end: dt.date
) -> list[Move]:
    """Maintenance fills at retail merged three into one 90-day mail fill (see the module's
    modelling choices). None when there is no mail pharmacy on file."""
    mail = PharmacyChannels.of(snapshot.pharmacies.values()).find(
        "mail", (PharmacyNetwork.PREFERRED, PharmacyNetwork.STANDARD)
    )
    if mail is None:
        return []
    inside = period_filter(start, end)
    chains: dict[tuple[str, str], list[StoredEvent]] = {}
    for event in events:
        if inside(event) and _maintenance_fill(event, snapshot):
            request = event.request
            assert request is not None  # noqa: S101 - a maintenance fill is a claim
            chains.setdefault((event.member_id, request.product_id), []).append(event)
    moves = []
    for key in sorted(chains):
        chain = chains[key]
        if len(chain) < MAINTENANCE_FILLS_MIN:
            continue
        chain.sort(key=lambda e: (e.request.service_date if e.request else start, e.sequence))
        for first in range(0, len(chain) - MERGED_FILLS + 1, MERGED_FILLS):
            group = chain[first : first + MERGED_FILLS]
            requests = [e.request for e in group if e.request is not None]
            lead = requests[0]
            ingredient = sum(r.ingredient_cost_submitted_cents for r in requests)
            changed = replace(
                lead,
                header=replace(lead.header, service_provider_id=mail.npi),
                quantity_dispensed_thousandths=sum(
                    r.quantity_dispensed_thousandths for r in requests
                ),
                days_supply=sum(r.days_supply for r in requests),
                ingredient_cost_submitted_cents=ingredient,
                usual_and_customary_charge_cents=sum(
                    r.usual_and_customary_charge_cents for r in requests
                ),
                gross_amount_due_cents=ingredient
                + lead.dispensing_fee_submitted_cents
                + lead.additional_amounts.total_cents,
            )
            moves.append(Move(tuple(e.internal_control_number for e in group), changed))
    return moves


@dataclass
class Totals:
    fills: int = 0
    plan_paid_cents: int = 0
    member_paid_cents: int = 0
    purse_paid_cents: int = 0

    def add(self, replayed: Replayed) -> None:
        pricing = replayed.response.pricing
        if not replayed.paid or replayed.reversed_later or pricing is None:
            return
        self.fills += 1
        self.plan_paid_cents += pricing.plan_paid_cents
        self.member_paid_cents += pricing.patient_pay_amount_cents
        self.purse_paid_cents += _purse_paid(replayed.response)

    def as_dict(self) -> dict[str, int]:
        return {
            "fills": self.fills,
            "plan_paid_cents": self.plan_paid_cents,
            "member_paid_cents": self.member_paid_cents,
            "purse_paid_cents": self.purse_paid_cents,
        }


@dataclass
class Opportunity:
    kind: str  # "generic" or "mail_90_day"
    fills_moved: int = 0  # stored fills changed
    members: int = 0
    new_fills: int = 0  # changed fills replayed in their place
    not_payable: int = 0  # candidate fills put back: the plan would reject the change
    baseline: Totals = field(default_factory=Totals)
    scenario: Totals = field(default_factory=Totals)
    reproduced: int = 0  # the baseline replay answering as stored
    replayed: int = 0

    @property
    def plan_saving_cents(self) -> int:
        return self.baseline.plan_paid_cents - self.scenario.plan_paid_cents

    @property
    def member_saving_cents(self) -> int:
        return self.baseline.member_paid_cents - self.scenario.member_paid_cents

    @property
    def purse_saving_cents(self) -> int:
        return self.baseline.purse_paid_cents - self.scenario.purse_paid_cents

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "fills_moved": self.fills_moved,
            "members": self.members,
            "new_fills": self.new_fills,
            "not_payable": self.not_payable,
            "baseline": self.baseline.as_dict(),
            "scenario": self.scenario.as_dict(),
            "plan_saving_cents": self.plan_saving_cents,
            "member_saving_cents": self.member_saving_cents,
            "purse_saving_cents": self.purse_saving_cents,
            "baseline_reproduced": self.reproduced,
            "baseline_replayed": self.replayed,
        }


def transform_of(moves: Sequence[Move]) -> Callable[[StoredEvent], ClaimRequest | None]:
    """The simulator's request transform of a set of moves: the first fill of each replaced by
    the changed one, the others not made, every other claim as stored."""
    changed: dict[str, ClaimRequest | None] = {}
    for move in moves:
        changed[move.icns[0]] = move.request
        for icn in move.icns[1:]:
            changed[icn] = None

    def transform(event: StoredEvent) -> ClaimRequest | None:
        icn = event.internal_control_number
        return changed.get(icn, event.request)

    return transform


def _totals(replayed: Iterable[Replayed]) -> Totals:
    totals = Totals()
    for r in replayed:
        if r.in_period:
            totals.add(r)
    return totals


def size(
    kind: str,
    moves: Sequence[Move],
    events: Sequence[StoredEvent],
    households: Mapping[str, Household],
    snapshot: ReferenceSnapshot,
    start: dt.date,
    end: dt.date,
    baseline: list[Replayed] | None = None,
) -> Opportunity:
    """The opportunity's saving: the replay of the stored claims as they were (``baseline``,
    replayed here when not given) less the replay with ``moves`` made, over the period, under
    the real design (see the module)."""
    inside = period_filter(start, end)
    opportunity = Opportunity(kind)
    if baseline is None:
        baseline = replay(events, households, snapshot, snapshot, inside)
    opportunity.replayed = len(baseline)
    opportunity.reproduced = sum(1 for r in baseline if reproduces(r))
    opportunity.baseline = _totals(baseline)
    kept = list(moves)
    scenario = baseline
    for _ in range(SIZING_PASSES_MAX):
        if not kept:
            break
        scenario = replay(events, households, snapshot, snapshot, inside, transform_of(kept))
        refused = {r.event.internal_control_number for r in scenario if not r.paid}
        still = [m for m in kept if m.icns[0] not in refused]
        if len(still) == len(kept):
            break
        kept = still
    else:
        scenario = replay(events, households, snapshot, snapshot, inside, transform_of(kept))
    if not kept:
        scenario = baseline
    opportunity.scenario = _totals(scenario)
    opportunity.fills_moved = sum(len(m.icns) for m in kept)
    opportunity.new_fills = len(kept)
    opportunity.not_payable = sum(len(m.icns) for m in moves) - opportunity.fills_moved
    members: set[str] = set()
    by_icn = {e.internal_control_number: e for e in events if e.request is not None}
    for move in kept:
        members.add(by_icn[move.icns[0]].member_id)
    opportunity.members = len(members)
    return opportunity


def opportunities(
    events: Sequence[StoredEvent],
    households: Mapping[str, Household],
    snapshot: ReferenceSnapshot,
    start: dt.date,
    end: dt.date,
) -> list[Opportunity]:
    """The generic-for-brand and the 90-day-mail opportunities, each sized by the simulator
    against one replay of the claims as they were."""
    baseline = replay(events, households, snapshot, snapshot, period_filter(start, end))
    return [
        size(kind, moves, events, households, snapshot, start, end, baseline)
        for kind, moves in (
            ("generic", generic_moves(events, snapshot, start, end)),
            ("mail_90_day", mail_moves(events, snapshot, start, end)),
        )
    ]
