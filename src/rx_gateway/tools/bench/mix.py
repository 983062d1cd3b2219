"""The population claims come from (read back from the generated dataset) and the claim
stream: mostly new claims, some retransmissions, reversals and rejects; in the hot mix one
employer's members send most of them."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rx_gateway.client import reversal_for
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb

HOT_EMPLOYER = "EMP2"  # a quarter of the members; the hot mix sends it 70% of the claims
HOT_SHARE = 0.7
SUBMIT = "/rx_gateway.v1.ClaimService/Submit"
REVERSE = "/rx_gateway.v1.ClaimService/Reverse"


@dataclass
class Population:
    members: list[dict[str, Any]]
    hot: list[dict[str, Any]]
    drugs: list[dict[str, Any]]
    pharmacies: list[str]
    fixtures: dict[str, Any]


def _table(data: Path, name: str) -> list[dict[str, str]]:
    with (data / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def load_population(data: Path, fixtures: dict[str, Any]) -> Population:
    """The covered members, the drugs every plan covers with no PA, limit or step, and the
    in-network retail and mail pharmacies of a generated dataset."""
    coverage = {r["member_id"]: r for r in _table(data, "coverages.csv")}
    members = []
    for m in _table(data, "members.csv"):
        c = coverage[m["member_id"]]
        if c["end_reason"]:
            continue
        members.append(
            {
                "member_id": m["member_id"],
                "cardholder_id": m["cardholder_id"],
                "person_code": m["person_code"],
                "group_id": c["group_id"],
                "plan_id": c["plan_id"],
                "employer_id": m["employer_id"],
            }
        )
    open_entries = {
        (r["plan_id"], r["ndc"])
        for r in _table(data, "formulary.csv")
        if r["status"] == "covered"
        and r["prior_authorization_required"] == "false"
        and not r["quantity_limit_thousandths"]
        and not r.get("period_days")
        and not r.get("step_therapy_molecule")
        and r["tier"] in {"1", "2", "3"}
    }
    plans = {p for p, _ in open_entries}
    drugs = [
        {"ndc": d["ndc"], "awp_unit_price_millicents": int(d["awp_unit_price_millicents"])}
        for d in _table(data, "drugs.csv")
        if all((plan, d["ndc"]) in open_entries for plan in plans)
    ]
    pharmacies = [
        p["npi"]
        for p in _table(data, "pharmacies.csv")
        if p["network"] != "out_of_network" and p["kind"] in {"retail", "mail"}
    ]
    hot = [m for m in members if m["employer_id"] == HOT_EMPLOYER]
    return Population(members, hot, drugs, pharmacies, fixtures)


class Mix:
    """The claim stream: mostly new claims, some retransmissions, reversals and rejects.
    ``submits_only``: no reversals (the claim-shaped floor serves Submit alone); the draws that
    would have reversed a claim send a new one."""

    def __init__(
        self,
        population: Population,
        *,
        hot: bool,
        seed: int,
        rx_start: int,
        submits_only: bool = False,
    ) -> None:
        self.population = population
        self.hot = hot
        self.submits_only = submits_only
        self.rng = random.Random(seed)
        self.rx = rx_start
        self.sent: list[pb.ClaimRequest] = []

    def _member(self) -> dict[str, Any]:
        p = self.population
        if self.hot and self.rng.random() < HOT_SHARE:
            return self.rng.choice(p.hot)
        return self.rng.choice(p.members)

    def next(self) -> pb.ClaimRequest | pb.ReversalRequest:
        roll = self.rng.random()
        if self.sent and roll < 0.04:
            return self.rng.choice(self.sent)  # a retransmission: D (or R/83 if reversed)
        if self.sent and roll < 0.07 and not self.submits_only:
            return reversal_for(self.sent.pop(self.rng.randrange(len(self.sent))))
        self.rx += 1
        p = self.population
        drug = self.rng.choice(p.drugs)
        if roll < 0.10:
            drug = {"ndc": "99999999999", "awp_unit_price_millicents": 100_000}  # 54
        request = claim_request(
            p.fixtures,
            self._member(),
            drug,
            pharmacy=self.rng.choice(p.pharmacies),
            rx_number=self.rx,
            date_of_service=f"2026{self.rng.randrange(1, 11):02d}{self.rng.randrange(1, 29):02d}",
        )
        self.sent.append(request)
        if len(self.sent) > 5_000:
            self.sent.pop(0)
        return request

    def shots(self, count: int) -> list[tuple[str, bytes]]:
        """The next ``count`` calls as (method path, serialized request)."""
        out = []
        for _ in range(count):
            message = self.next()
            method = REVERSE if isinstance(message, pb.ReversalRequest) else SUBMIT
            out.append((method, message.SerializeToString()))
        return out
