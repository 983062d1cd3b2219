"""Who pays and who is billed in the synthetic data: the processor (the 835's payer) and the
sponsors. EMP1 is billed weekly in arrears with a $1.50 admin fee per paid claim; EMP2 pre-funds
a deposit every two weeks; EMP3 takes the defaults; the Part D plan's sponsor and the state
Medicaid agency are billed weekly.
(Names, bank and tax numbers are fictitious.)"""

from __future__ import annotations

from typing import Any

from rx_gateway.tools.synthetic.plans import MEDICAID_SPONSOR, PART_D_SPONSOR
from rx_gateway.tools.synthetic.rows import SponsorRow

PROCESSOR: dict[str, Any] = {
    "name": "RX GATEWAY PLAN",
    "address": "1 MAIN ST",
    "city": "AUSTIN",
    "state": "TX",
    "postal_code": "78701",
    "tin": "987654321",
    "contact_name": "EDI SUPPORT",
    "contact_phone": "8005550100",
    "interchange_id": "RXGW",
    "bank_routing_number": "011000015",
    "bank_account_number": "1234567",
}


def sponsor_list() -> list[SponsorRow]:
    return [
        SponsorRow("EMP1", "Employer One", 7, "sunday", 2, 150, "arrears", None),
        SponsorRow("EMP2", "Employer Two", 14, "sunday", 2, 0, "prefunded", 2_000_000),
        SponsorRow("EMP3", "Employer Three", None, None, None, None, None, None),
        SponsorRow(PART_D_SPONSOR, "Part D Plan Sponsor", 7, "sunday", 5, 0, "arrears", None),
        SponsorRow(MEDICAID_SPONSOR, "State Medicaid Agency", 7, "sunday", 5, 0, "arrears", None),
    ]
