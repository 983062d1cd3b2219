"""Settings every test server uses: an ephemeral port and a pinned business date.

The synthetic claims are dated in 2026; pinning the business date keeps the 81/82 timely-filing
checks deterministic whenever the suite runs.
"""

import datetime as dt
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from rx_gateway.config import Settings
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb

BUSINESS_DATE = dt.date(2026, 11, 23)
ADMIN_TOKEN, ADMIN_OPERATOR = "test-admin-token-0001", "ops-alice"
# Test gateways run as the application role, so a missing grant fails the suite.
TEST_SETTINGS = replace(
    Settings(),
    listen_address="127.0.0.1:0",
    business_date=BUSINESS_DATE,
    pool=replace(Settings().pool, role="rx_gateway_app"),
    admin_listen_address="127.0.0.1:0",
    admin_tokens={ADMIN_TOKEN: ADMIN_OPERATOR},
    dev_mode=True,  # plaintext on 127.0.0.1; tests/e2e/test_tls.py covers TLS and mTLS
    settlement_dir=Path(tempfile.gettempdir()) / "rxgw-test-settlement",
)


def generic_fill(
    fixtures: dict[str, Any],
    member: dict[str, Any],
    rx_number: int,
    date_of_service: str,
    *,
    drug: str = "generic",
    **claim: Any,
) -> pb.ClaimRequest:
    """The tests' plain claim: a fixture drug (the generic unless named) at the preferred
    pharmacy, 30 days; ``claim``: claim_request's other arguments (quantity, U&C ...)."""
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][drug],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number,
        date_of_service=date_of_service,
        **claim,
    )


def benefit_request(
    fixtures: dict[str, Any], member: dict[str, Any], as_of: str, **overrides: Any
) -> pb.BenefitRequest:
    """GetBenefits for a fixture member, scoped like a claim: the plan's BIN/PCN and the
    member's date of birth."""
    plan = fixtures["plans"][member["plan_id"]]
    fields = {
        "cardholder_id": member["cardholder_id"],
        "person_code": member["person_code"],
        "as_of_date": as_of,
        "bin": plan["bin"],
        "processor_control_number": plan["pcn"],
        "date_of_birth": member["date_of_birth"],
    } | overrides
    return pb.BenefitRequest(**fields)


def commercial_subscribers(
    dataset: tuple[Path, dict[str, Any]], start: int, end: int | None = None
) -> list[dict[str, Any]]:
    """The commercial (COMM-HRA-2026) subscribers among active members ``start``..``end``
    whose whole family is in that range, none of fixtures.json's named members: cardholders
    that tests billing other ranges never touch."""
    everyone = active_members(dataset[0])
    rest = everyone[:start] + (everyone[end:] if end is not None else [])
    outside = {m["cardholder_id"] for m in rest}
    named = dataset[1]["members"].values()
    outside |= {m["cardholder_id"] for v in named for m in (v if isinstance(v, list) else [v])}
    return [
        m
        for m in everyone[start:end]
        if m["plan_id"] == "COMM-HRA-2026"
        and m["person_code"] == "001"
        and m["cardholder_id"] not in outside
    ]
