"""The benchmark's summary arithmetic (pure): the claim-shaped floor's keys and ratios, CPU per
call at saturation (and per worker), the overload run's goodput, the gateway's metrics from the
difference of two scrapes, and the existing keys kept."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace

import pytest

from rx_gateway.tools.bench.floor_server import FLOOR_CLAIM_SQL, claim_arguments
from rx_gateway.tools.bench.meter import RateResult
from rx_gateway.tools.bench.summary import (
    CAPACITY_FLOOR,
    CAPACITY_FRONT,
    CAPACITY_HOT,
    CAPACITY_NO_HOT,
    FLOOR_CLAIM,
    FLOOR_COMMIT,
    FLOOR_ECHO,
    HOT,
    OVERLOAD,
    OVERLOAD_FRONT,
    add_deltas,
    cpu_ms_per_call,
    cpu_ms_per_call_by_worker,
    floor_keys,
    front_keys,
    histogram_buckets,
    histogram_mean,
    histogram_quantile,
    metrics_keys,
    overload_keys,
    overload_rate,
    parse_sample_key,
    ratio,
    scrape_delta,
    step_metrics,
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


# --- refusals, overload, workers -----------------------------------------------------------


def test_a_refused_call_misses_the_target_but_is_not_an_error() -> None:
    refused = replace(run(HOT, 100, 99.0), refused=3)
    assert refused.errors == 0
    assert not refused.holds_target
    assert not refused.holds_p90


def test_overload_goodput_counts_admitted_answers_over_the_send_window() -> None:
    # capacity 550/s; offered 1,100/s for 4 s (4,400 sent): 2,000 admitted and answered,
    # 2,390 refused, 10 errors; the last admitted answer 3.98 s after the first send
    overload = replace(
        run(OVERLOAD, 1_100, 400.0, p99=30.0, completed=2_000),
        sent=4_400,
        refused=2_390,
        errors=10,
        answered_seconds=3.98,
    )
    assert overload_rate(550.0) == 1_100
    assert overload_rate(0.0) == 1
    assert overload_keys([*RESULTS, overload]) == {
        "overload_offered_per_s": 1_100,
        "overload_goodput_per_s": 500.0,  # 2,000 / 4 s (not over the failed calls' tail)
        "overload_goodput_ratio": 0.909,  # 500 / 550
        "overload_p99_admitted_ms": 30.0,
        "overload_refused": 2_390,
        "overload_errors": 10,
        "overload_server_p99_ms": 0.0,  # not scraped
        "overload_send_lag_p99_ms": 0.0,
    }
    scraped = replace(overload, server_p99_ms=24.5, send_lag_p99_ms=3.2)
    assert overload_keys([*RESULTS, scraped])["overload_server_p99_ms"] == 24.5
    assert overload_keys([*RESULTS, scraped])["overload_send_lag_p99_ms"] == 3.2
    # admitted answers trailing past the send window stretch it
    late = replace(overload, answered_seconds=5.0)
    assert overload_keys([*RESULTS, late])["overload_goodput_per_s"] == 400.0


def test_the_front_keys_compare_its_goodput_with_both_capacities() -> None:
    # the gateway's own hot capacity 550/s (RESULTS); through HAProxy with 8 in flight 400/s
    # and 420/s; offered 1,100/s for 4 s through it: 1,600 admitted, 2,800 refused by HAProxy,
    # HAProxy's own CPU 0.25 ms per admitted call
    through = [
        run(CAPACITY_FRONT, 0, 400.0, completed=1_200),
        run(CAPACITY_FRONT, 0, 420.0, completed=1_260),
        replace(
            run(OVERLOAD_FRONT, 1_100, 400.0, p99=45.0, completed=1_600),
            sent=4_400,
            refused=2_800,
            answered_seconds=4.0,
            server_cpu_ms_per_call_by_worker=[0.25],
        ),
    ]
    keys = front_keys([*RESULTS, *through], 8, 15)
    assert keys == {
        "front_inflight": 8,
        "front_queue_ms": 15,
        "front_capacity_per_s": 410.0,
        "overload_front_offered_per_s": 1_100,
        "overload_front_goodput_per_s": 400.0,  # 1,600 / 4 s
        "overload_front_goodput_ratio": 0.727,  # 400 / 550: the gateway's own capacity
        "overload_front_p99_admitted_ms": 45.0,
        "overload_front_refused": 2_800,
        "overload_front_errors": 0,
        "overload_front_server_p99_ms": 0.0,
        "overload_front_send_lag_p99_ms": 0.0,
        "overload_front_goodput_ratio_to_front_capacity": 0.976,  # 400 / 410
        "cpu_ms_per_admitted_call_front": 0.25,
    }
    # the gateway's own overload keys do not read the front's runs
    assert overload_keys([*RESULTS, *through])["overload_offered_per_s"] == 0
    # no front run: its keys are zeros, and the summary has them only when it ran
    assert front_keys(RESULTS, 16, 20)["overload_front_goodput_per_s"] == 0.0
    common = {"echo": 3_000.0, "commit": 15_000.0, "at_1000": RESULTS[3], "peak_memory_mb": 80.0}
    assert "front_capacity_per_s" not in summarize(RESULTS, **common, workers=1, quick=True)
    with_front = summarize([*RESULTS, *through], **common, workers=1, quick=True, front=(8, 15))
    assert with_front.items() >= keys.items()


def test_no_overload_run_gives_zeros() -> None:
    keys = overload_keys(RESULTS)
    assert keys["overload_offered_per_s"] == 0
    assert keys["overload_goodput_ratio"] == 0.0


def test_cpu_per_claim_by_worker_is_weighted_like_the_total() -> None:
    runs = [
        replace(
            run(CAPACITY_HOT, 0, 500.0, completed=1_500),
            server_cpu_ms_per_call_by_worker=[0.6, 0.7],
        ),
        replace(
            run(CAPACITY_HOT, 0, 600.0, completed=500), server_cpu_ms_per_call_by_worker=[1.0, 0.5]
        ),
        replace(run(CAPACITY_NO_HOT, 0, 520.0), server_cpu_ms_per_call_by_worker=[9.0, 9.0]),
    ]
    # (0.6 * 1,500 + 1.0 * 500) / 2,000 and (0.7 * 1,500 + 0.5 * 500) / 2,000
    assert cpu_ms_per_call_by_worker(runs, CAPACITY_HOT) == [0.7, 0.65]
    assert cpu_ms_per_call_by_worker(RESULTS, CAPACITY_HOT) == []


# --- scrapes ---------------------------------------------------------------------------------

BEFORE = {
    'rxgw_db_batch_size_count{kind="read"}': 10.0,
    'rxgw_db_batch_size_sum{kind="read"}': 15.0,
    'rxgw_db_batch_size_count{kind="write"}': 10.0,
    'rxgw_db_batch_size_sum{kind="write"}': 10.0,
    'rxgw_db_acquire_seconds_bucket{le="0.001"}': 100.0,
    'rxgw_db_acquire_seconds_bucket{le="0.005"}': 100.0,
    'rxgw_db_acquire_seconds_bucket{le="0.01"}': 100.0,
    'rxgw_db_acquire_seconds_bucket{le="+Inf"}': 100.0,
    "rxgw_db_acquire_seconds_count": 100.0,
    "rxgw_db_acquire_seconds_sum": 0.01,
    "rxgw_refused_requests_total": 4.0,
    "rxgw_inflight_requests": 3.0,
    'grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Submit",le="0.01"}': 50.0,
    'grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Submit",le="0.025"}': 50.0,
    'grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Submit",le="+Inf"}': 50.0,
}
# the run: 100 reads of 400 claims, 50 writes of 200; 1,000 acquires (900 within 1 ms, 90 in
# 1-5 ms, 10 in 5-10 ms) waiting 1.5 s in all; 7 refused; a series new in this scrape
AFTER = {
    'rxgw_db_batch_size_count{kind="read"}': 110.0,
    'rxgw_db_batch_size_sum{kind="read"}': 415.0,
    'rxgw_db_batch_size_count{kind="write"}': 60.0,
    'rxgw_db_batch_size_sum{kind="write"}': 210.0,
    'rxgw_db_acquire_seconds_bucket{le="0.001"}': 1_000.0,
    'rxgw_db_acquire_seconds_bucket{le="0.005"}': 1_090.0,
    'rxgw_db_acquire_seconds_bucket{le="0.01"}': 1_100.0,
    'rxgw_db_acquire_seconds_bucket{le="+Inf"}': 1_100.0,
    "rxgw_db_acquire_seconds_count": 1_100.0,
    "rxgw_db_acquire_seconds_sum": 1.51,
    "rxgw_refused_requests_total": 11.0,
    "rxgw_inflight_requests": 0.0,
    'rxgw_claims_total{status="P",txn="B1"}': 500.0,
    # 500 answered Submits: 400 within 10 ms, 100 in 10-25 ms; 30 refused (not counted)
    'grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Submit",le="0.01"}': 450.0,
    'grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Submit",le="0.025"}': 550.0,
    'grpc_server_handling_seconds_bucket{grpc_code="OK",grpc_method="Submit",le="+Inf"}': 550.0,
    'grpc_server_handling_seconds_bucket{grpc_code="RESOURCE_EXHAUSTED",grpc_method="Submit",'
    'le="0.01"}': 30.0,
    'grpc_server_handling_seconds_bucket{grpc_code="RESOURCE_EXHAUSTED",grpc_method="Submit",'
    'le="+Inf"}': 30.0,
}


def test_a_sample_key_parses_into_name_and_labels() -> None:
    assert parse_sample_key("rxgw_inflight_requests") == ("rxgw_inflight_requests", {})
    assert parse_sample_key('rxgw_claims_total{status="P",txn="B1"}') == (
        "rxgw_claims_total",
        {"status": "P", "txn": "B1"},
    )
    assert parse_sample_key('m{a="x\\"y\\\\",b=""}') == ("m", {"a": 'x"y\\', "b": ""})


def test_the_delta_of_two_scrapes_is_what_the_run_added() -> None:
    delta = scrape_delta(BEFORE, AFTER)
    assert delta['rxgw_db_batch_size_count{kind="read"}'] == 100.0
    assert delta['rxgw_claims_total{status="P",txn="B1"}'] == 500.0
    assert add_deltas([delta, delta])["rxgw_refused_requests_total"] == 14.0


def test_histogram_mean_and_buckets_from_a_delta() -> None:
    delta = scrape_delta(BEFORE, AFTER)
    assert histogram_mean(delta, "rxgw_db_batch_size", kind="read") == 4.0
    assert histogram_mean(delta, "rxgw_db_batch_size", kind="write") == 4.0
    # both kinds together: 600 claims over 150 round trips
    assert histogram_mean(delta, "rxgw_db_batch_size") == 4.0
    assert histogram_mean(delta, "rxgw_db_batch_size", kind="other") is None
    assert histogram_buckets(delta, "rxgw_db_acquire_seconds") == [
        (0.001, 900.0),
        (0.005, 990.0),
        (0.01, 1_000.0),
        (math.inf, 1_000.0),
    ]


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    buckets = [(0.001, 900.0), (0.005, 990.0), (0.01, 1_000.0), (math.inf, 1_000.0)]
    # rank 990 is the top of the 1-5 ms bucket; rank 500 is 5/9 of the first (from 0)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.005)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001 * 500 / 900)
    assert histogram_quantile(0.995, buckets) == pytest.approx(0.0075)
    # in the +Inf bucket: the highest finite bound
    assert histogram_quantile(0.99, [(0.001, 10.0), (math.inf, 100.0)]) == 0.001
    assert histogram_quantile(0.99, [(0.001, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.99, []) is None


def test_step_metrics_and_the_final_keys() -> None:
    delta = scrape_delta(BEFORE, AFTER)
    metrics = step_metrics(delta)
    assert metrics.batch_size_read_mean == 4.0
    assert metrics.batch_size_write_mean == 4.0
    assert metrics.pool_wait_ms_mean == 1.5  # 1.5 s over 1,000 acquires
    assert metrics.pool_wait_ms_p99 == 5.0
    assert metrics.server_refused == 7
    # rank 495 of 500: 95/100 into the 10-25 ms bucket (the refused calls are not counted)
    assert metrics.server_p99_ms == pytest.approx(24.2)
    assert metrics_keys(add_deltas([delta, delta])) == {
        "batch_size_read_mean_at_capacity": 4.0,
        "batch_size_write_mean_at_capacity": 4.0,
        "pool_wait_ms_p99_at_capacity": 5.0,
    }
    nothing = step_metrics({})
    assert nothing.batch_size_read_mean is None
    assert nothing.pool_wait_ms_p99 is None
    assert nothing.server_refused == 0
    assert nothing.server_p99_ms is None
    assert metrics_keys({})["pool_wait_ms_p99_at_capacity"] == 0.0


def test_summary_has_the_new_keys() -> None:
    overload = replace(run(OVERLOAD, 1_100, 500.0, completed=2_000), sent=4_400, refused=2_400)
    workers = [
        replace(r, server_cpu_ms_per_call_by_worker=[0.5, 0.5]) if r.mix == CAPACITY_HOT else r
        for r in RESULTS
    ]
    at_1000 = replace(RESULTS[3], errors=2, refused=5)
    summary = summarize(
        [*workers, overload],
        echo=3_000.0,
        commit=15_000.0,
        at_1000=at_1000,
        peak_memory_mb=80.0,
        workers=2,
        quick=True,
        capacity_metrics=scrape_delta(BEFORE, AFTER),
    )
    assert summary["errors_at_1000"] == 7
    assert summary["refused_at_1000"] == 5
    assert summary["cpu_ms_per_claim_by_worker"] == [0.5, 0.5]
    assert summary["overload_goodput_per_s"] == 500.0
    assert summary["overload_refused"] == 2_400
    assert summary["batch_size_write_mean_at_capacity"] == 4.0
