"""The network group: the pharmacy (50), its contract with the plan (40), specialty drugs at
specialty pharmacies (G6), extended supplies by mail or at 90-day retail pharmacies (G9)."""

from __future__ import annotations

from rx_gateway.domain.checks import fail, fail_if
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.reference import NetworkPricing, Pharmacy, Plan, ReferenceSnapshot
from rx_gateway.domain.rejects import Reject, RejectCode

# Pharmacies that may fill an extended supply (G9 elsewhere): mail order and 90-day retail.
EXTENDED_SUPPLY_PHARMACY_KINDS = frozenset({"mail", "retail90"})


def _network_rules(
    request: ClaimRequest, plan: Plan, pharmacy: Pharmacy, snapshot: ReferenceSnapshot
) -> None:
    """Specialty drugs at specialty pharmacies (G6); extended supplies at mail pharmacies (G9)."""
    rejects = []
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


def check_network(
    request: ClaimRequest, plan: Plan, snapshot: ReferenceSnapshot
) -> tuple[Pharmacy, NetworkPricing]:
    """The pharmacy and its contract with the plan, or the network group's rejects."""
    pharmacy = snapshot.pharmacies.get(request.header.service_provider_id)
    if pharmacy is None:
        fail("network", [Reject(RejectCode.NON_MATCHED_PHARMACY, "Pharmacy not found")])
    contract = plan.networks.get(pharmacy.network)
    if contract is None:
        fail(
            "network",
            [Reject(RejectCode.NOT_CONTRACTED, "Pharmacy is not in the plan's network")],
        )
    _network_rules(request, plan, pharmacy, snapshot)
    return pharmacy, contract
