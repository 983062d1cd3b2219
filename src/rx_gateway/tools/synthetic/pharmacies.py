"""The pharmacies: retail in the preferred and standard networks, mail order, specialty, and a
few out of network."""

from __future__ import annotations

import random

from rx_gateway.tools.synthetic.rows import PayeeRow, PharmacyRow

# (network, kind) and how many of each, in NPI order
LAYOUT = (
    (("preferred", "retail"), 120),
    (("standard", "retail"), 60),
    (("preferred", "mail"), 10),
    (("preferred", "specialty"), 5),
    (("out_of_network", "retail"), 5),
)


CHAIN = PayeeRow(
    payee_id="CHAIN-A",
    name="Chain A Central Pay",
    npi="1999999984",
    tin="741234567",
    ncpdp_id="4512345",
    bank_routing_number="021000021",
    bank_account_number="7654321",
)
CHAIN_STORES = 40  # the first preferred retail stores remit through the chain's office


def pharmacy_list(rng: random.Random) -> list[PharmacyRow]:
    kinds = [kind for kind, count in LAYOUT for _ in range(count)]
    rows = []
    for number, (network, kind) in enumerate(kinds):
        npi = f"1{rng.randrange(10**8, 10**9):09d}"[:10]
        npi = f"{npi[:-4]}{number:04d}"  # unique
        payee = CHAIN.payee_id if number < CHAIN_STORES else None
        rows.append(PharmacyRow(npi, f"Pharmacy {number:03d} ({kind})", network, kind, payee))
    return rows


def payee_list() -> list[PayeeRow]:
    """The chain's central office; every other store is paid itself."""
    return [CHAIN]
