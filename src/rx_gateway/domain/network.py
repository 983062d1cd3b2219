"""The network group: the prescriber a Part D claim must name (25), the pharmacy (50), its
contract with the plan (40), specialty drugs at specialty pharmacies (G6), extended supplies by
mail or at 90-day retail pharmacies (G9)."""

from __future__ import annotations

from rx_gateway.domain.checks import fail, fail_if
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.part_d import PART_D
from rx_gateway.domain.reference import NetworkPricing, Pharmacy, Plan, ReferenceSnapshot
from rx_gateway.domain.rejects import Reject, RejectCode

# Pharmacies that may fill an extended supply (G9 elsewhere): mail order and 90-day retail.
EXTENDED_SUPPLY_PHARMACY_KINDS = frozenset({"mail", "retail90"})


def _network_rules(
    request: ClaimRequest,
    plan: Plan,
    pharmacy: Pharmacy,
    snapshot: ReferenceSnapshot,
    found: list[Reject],
) -> None:
    """Specialty drugs at specialty pharmacies (G6); extended supplies at mail pharmacies (G9);
    with what the group ``found`` before."""
    rejects = list(found)
    drug = snapshot.drugs.get(request.product_id)
    specialty = drug is not None and drug.is_specialty
    if plan.specialty_pharmacy_required and specialty and pharmacy.kind != "specialty":
        rejects.append(
            Reject(
                RejectCode.NOT_IN_SPECIALTY_NETWORK,
                "Specialty drug: fill at a specialty pharmacy in the plan's network",
            )
        )
    extended = plan.extended_supply_days_min
    extended_ok = pharmacy.kind in EXTENDED_SUPPLY_PHARMACY_KINDS
    if extended is not None and request.days_supply >= extended and not extended_ok:
        rejects.append(
            Reject(
                RejectCode.NOT_IN_90_DAY_NETWORK,
                f"{request.days_supply}-day supply only by mail or at a 90-day retail pharmacy;"
                " this pharmacy may fill"
                f" up to {extended - 1} days",
            )
        )
    fail_if("network", rejects)


def prescriber_rejects(request: ClaimRequest, plan: Plan) -> list[Reject]:
    """A Part D claim names its prescriber by NPI (42 CFR 423.120(c)(5); the PDE carries it):
    without 411-DB it is 25. Other plans take a claim without one (the syntax checks hold a
    411-DB that is sent to a valid NPI)."""
    if plan.line_of_business == PART_D and not request.prescriber_id:
        return [
            Reject(
                RejectCode.MI_PRESCRIBER_ID,
                "Prescriber ID (411-DB) is missing: a Part D claim names the prescriber's NPI",
            )
        ]
    return []


def check_network(
    request: ClaimRequest,
    plan: Plan,
    snapshot: ReferenceSnapshot,
    *,
    prescriber_required: bool = True,
) -> tuple[Pharmacy, NetworkPricing]:
    """The prescriber (when ``prescriber_required``: a claim, not a price check), the
    pharmacy and its contract with the plan, or every reject of the network group found."""
    found = prescriber_rejects(request, plan) if prescriber_required else []
    pharmacy = snapshot.pharmacies.get(request.header.service_provider_id)
    if pharmacy is None:
        fail("network", [*found, Reject(RejectCode.NON_MATCHED_PHARMACY, "Pharmacy not found")])
    contract = plan.networks.get(pharmacy.network)
    if contract is None:
        fail(
            "network",
            [*found, Reject(RejectCode.NOT_CONTRACTED, "Pharmacy is not in the plan's network")],
        )
    _network_rules(request, plan, pharmacy, snapshot, found)
    return pharmacy, contract
