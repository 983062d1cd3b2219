"""The benchmark's summary arithmetic (pure): the claim-shaped floor's keys and ratios, CPU per
call at saturation, and the existing keys kept."""

from __future__ import annotations

import datetime as dt
import re

from rx_gateway.tools.bench.floor_server import FLOOR_CLAIM_SQL, claim_arguments
from rx_gateway.tools.bench.meter import RateResult
from rx_gateway.tools.bench.summary import (
    CAPACITY_FLOOR,
    CAPACITY_HOT,
    CAPACITY_NO_HOT,
    FLOOR_CLAIM,
    FLOOR_COMMIT,
    FLOOR_ECHO,
    HOT,
    cpu_ms_per_call,
    floor_keys,
    ratio,
    summarize,
)
from rx_gateway.v1 import claims_pb2 as pb


def run(
    mix: str,
    offered: int,
    achieved: float,
    *,
    p99: float = 5.0,
    completed: int = 1_000,
    server_ms: float = 0.0,
    postgres_ms: float = 0.0,
) -> RateResult:
    return RateResult(
        mix,
        offered,
        1.0,
        completed,
        completed,
        achieved,
        1.0,
        2.0,
        p99,
        p99,
        p99,
        0,
        server_cpu_ms_per_call=server_ms,
        postgres_cpu_ms_per_call=postgres_ms,
    )


RESULTS = [
    run(HOT, 100, 99.0),
    run(HOT, 200, 198.0),
    run(HOT, 300, 290.0, p99=30.0),
    run(HOT, 1_000, 500.0, p99=900.0),
    run(FLOOR_CLAIM, 100, 100.0),
    run(FLOOR_CLAIM, 200, 199.0),
    run(FLOOR_CLAIM, 300, 297.0),
    run(FLOOR_CLAIM, 400, 380.0, p99=12.0),
    run(FLOOR_ECHO, 300, 300.0, p99=4.0),
    run(FLOOR_COMMIT, 300, 300.0, p99=3.0),
    run(CAPACITY_HOT, 0, 500.0, completed=1_500, server_ms=1.2, postgres_ms=1.6),
    run(CAPACITY_HOT, 0, 600.0, completed=500, server_ms=1.6, postgres_ms=2.0),
    run(CAPACITY_NO_HOT, 0, 520.0, server_ms=9.0, postgres_ms=9.0),
    run(CAPACITY_FLOOR, 0, 1_000.0, completed=3_000, server_ms=0.6, postgres_ms=0.8),
    run(CAPACITY_FLOOR, 0, 1_200.0, completed=1_000, server_ms=0.8, postgres_ms=1.2),
]


def test_ratio_of_nothing_is_zero() -> None:
    assert ratio(1.0, 0.0) == 0.0
    assert ratio(2.0, 3.0) == 0.667


def test_cpu_per_call_is_weighted_by_the_calls_of_each_run() -> None:
    # (1.2 * 1,500 + 1.6 * 500) / 2,000
    assert cpu_ms_per_call(RESULTS, CAPACITY_HOT, "server_cpu_ms_per_call") == 1.3
    assert cpu_ms_per_call(RESULTS, "nothing", "server_cpu_ms_per_call") == 0.0


def test_floor_keys() -> None:
    keys = floor_keys(RESULTS)
    assert keys == {
        "floor_claim_capacity_per_s": 1_100.0,
        "floor_claim_per_s_at_p99_10ms": 297.0,
        "capacity_ratio": 0.5,  # 550 / 1,100
        "p99_rate_ratio": 0.667,  # 198 / 297
        "cpu_ms_per_claim_gateway": 1.3,
        "cpu_ms_per_claim_postgres": 1.7,  # (1.6 * 1,500 + 2.0 * 500) / 2,000
        "cpu_ms_per_call_floor_server": 0.65,  # (0.6 * 3,000 + 0.8 * 1,000) / 4,000
        "cpu_ms_per_call_floor_postgres": 0.9,
        "cpu_ratio_gateway": 2.0,
        "cpu_ratio_postgres": 1.889,
    }


def test_summary_keeps_the_existing_keys_and_adds_the_floors() -> None:
    at_1000 = RESULTS[3]
    summary = summarize(
        RESULTS,
        echo=3_000.0,
        commit=15_000.0,
        at_1000=at_1000,
        peak_memory_mb=80.0,
        workers=1,
        quick=True,
    )
    assert summary["claims_per_s_at_p99_10ms"] == 198.0
    assert summary["ratio_to_floor"] == 0.066
    assert summary["hot_capacity_per_s"] == 550.0
    assert summary["no_hot_capacity_per_s"] == 520.0
    assert summary["hot_vs_no_hot"] == 1.058
    assert summary["p99_ms_at_1000"] == 900.0
    assert summary["floor_p99_ms"] == {"echo@300": 4.0, "commit@300": 3.0}
    assert summary["capacity_runs_per_s"]["floor-claim"] == [1_000.0, 1_200.0]
    assert summary["capacity_ratio"] == 0.5
    assert summary["mode"] == "quick"


def test_no_floor_run_gives_zero_ratios() -> None:
    keys = floor_keys([r for r in RESULTS if not r.mix.endswith("claim")])
    assert keys["floor_claim_capacity_per_s"] == 0.0
    assert keys["capacity_ratio"] == 0.0
    assert keys["cpu_ratio_gateway"] == 0.0


def test_the_floors_one_statement_gets_a_balanced_claim_row_set() -> None:
    request = pb.ClaimRequest()
    request.header.bin = "610011"
    request.header.service_provider_id = "1234567893"
    request.header.date_of_service = "20260315"
    request.insurance.cardholder_id = "CARD1"
    request.insurance.person_code = "01"
    request.claim.prescription_reference_number = "42"
    request.pricing.gross_amount_due_cents = 10_001
    template = {"plan_id": "P1", "reference_data_version": "v9", "rule_trace": ["a"]}
    arguments = claim_arguments(request, request.SerializeToString(), 7, template)
    assert len(arguments) == max(int(n) for n in re.findall(r"\$(\d+)", FLOOR_CLAIM_SQL))
    assert arguments[0] == "CARD1"
    assert arguments[10] == dt.date(2026, 3, 15)
    assert sum(arguments[13]) == 0
    assert len(arguments[12]) == len(arguments[13]) == 4
    response, audit = arguments[15], arguments[16]
    assert response["internal_control_number"] == arguments[4] == "F000000000007"
    assert response["prescription_reference_number"] == "42"
    assert audit["rule_trace"] == ["a"]
    assert template == {"plan_id": "P1", "reference_data_version": "v9", "rule_trace": ["a"]}
