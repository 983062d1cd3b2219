"""The README's "Send a first claim by hand" answers as the README says, sent as grpcurl sends
it: the README's own JSON, read from README.md, through the proto3 JSON mapping."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from rx_gateway.bootstrap import build_app
from rx_gateway.client import GatewayClient
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import TEST_SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_request() -> pb.ClaimRequest:
    text = README.read_text()
    found = re.search(r"ClaimService/Submit <<'EOF'\n(.*?)\nEOF\n", text, re.DOTALL)
    assert found, "the README's grpcurl example is gone"
    return json_format.ParseDict(json.loads(found.group(1)), pb.ClaimRequest())


def _readme_rule_trace() -> list[str]:
    """The rule trace the README shows for its claim's answer."""
    found = re.search(r'"rule_trace": (\[.*?\])', README.read_text(), re.DOTALL)
    assert found, "the README's answer shows no rule_trace"
    trace: list[str] = json.loads(found.group(1))
    return trace


async def test_the_readme_claim_is_paid_as_the_readme_says(fresh_loaded_database: Any) -> None:
    """On a database loaded with the synthetic data (seed 2026) and the pinned business date:
    P, the README's message, allowed amount and plan paid; sent again, D with the same
    authorization number."""
    dsn = await fresh_loaded_database()  # its own: no other test's fill of this member
    app = await build_app(replace(TEST_SETTINGS, admin_tokens={}), dsn)
    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            request = _readme_request()
            answer = await client.submit(request)
            assert answer.transaction_response_status == "P", answer.rejects
            assert answer.message == "Paid. Collect $0.00 from the patient"
            assert answer.pricing.allowed_amount_cents == 2829
            assert answer.pricing.plan_paid_cents == 2829
            assert answer.pricing.basis_of_reimbursement_determination == "07"
            assert answer.plan_id == "COMM-HRA-2026"
            assert list(answer.rule_trace) == _readme_rule_trace()
            again = await client.submit(request)
            assert again.transaction_response_status == "D"
            assert again.authorization_number == answer.authorization_number
    finally:
        await app.stop()
