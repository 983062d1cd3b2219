"""End to end over a real gRPC channel: the scripted demo, health, reflection, errors, shutdown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rx_gateway.bootstrap import App, build_app
from rx_gateway.client import GatewayClient
from rx_gateway.tools.demo import render, run_script, script
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import TEST_SETTINGS, generic_fill


async def test_demo_script_answers_as_expected(
    fresh_loaded_database: Any, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """Every scripted claim (paid, rejects, duplicate, reversal, HRA, deductible, OOP, insulin)."""
    dsn = await fresh_loaded_database()
    app = await build_app(replace(TEST_SETTINGS), dsn)
    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            outcomes = await run_script(client, script(dataset[1]))
    finally:
        await app.stop()
    assert all(o.passed for o in outcomes), render(outcomes)
    assert len(outcomes) >= 25


async def test_health_and_reflection(app: App, caplog: pytest.LogCaptureFixture) -> None:
    """grpc.health.v1 says SERVING for the server and each service it serves (the benefit
    service was NOT_FOUND while reflection listed it); reflection lists them. A service it
    does not serve is NOT_FOUND, logged as no error (the error guard caught health's own
    abort and logged a traceback for every such probe)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "rx_gateway.v1.ClaimService", "rx_gateway.v1.BenefitService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
        with caplog.at_level("WARNING"), pytest.raises(grpc.aio.AioRpcError) as unknown:
            await health.Check(health_pb2.HealthCheckRequest(service="grpc.health.v1.Health"))
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
        assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        async for response in responses:
            names = {s.name for s in response.list_services_response.service}
            assert "rx_gateway.v1.ClaimService" in names
            break


async def test_missing_segment_is_invalid_argument_naming_the_field(client: GatewayClient) -> None:
    """A claim without a header is not a claim: INVALID_ARGUMENT names the segment."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.submit(pb.ClaimRequest())
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "header" in (caught.value.details() or "")


async def test_oversized_field_is_invalid_argument(
    client: GatewayClient, fixtures: dict[str, Any]
) -> None:
    """A 10 kB cardholder ID is refused with the field's name, never an internal error."""

    request = generic_fill(fixtures, fixtures["members"]["commercial_single"], 77, "20261101")
    request.insurance.cardholder_id = "X" * 10_000
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.submit(request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "insurance.cardholder_id" in (caught.value.details() or "")


async def test_eligibility_reports_accumulators_and_purses(
    client: GatewayClient, fixtures: dict[str, Any]
) -> None:
    """E1 answers A with the plan, coverage dates, accumulators and HRA balance."""
    member = fixtures["members"]["commercial_single"]
    plan = fixtures["plans"][member["plan_id"]]
    reply = await client.check_eligibility(
        pb.EligibilityRequest(
            header=pb.Header(
                bin=plan["bin"],
                processor_control_number=plan["pcn"],
                service_provider_id=fixtures["pharmacies"]["preferred"],
                date_of_service="20261101",
            ),
            insurance=pb.Insurance(
                cardholder_id=member["cardholder_id"],
                person_code=member["person_code"],
                group_id=member["group_id"],
            ),
        )
    )
    assert reply.transaction_response_status == "A"
    assert reply.plan_id == member["plan_id"]
    assert reply.accumulators.deductible_individual_remaining_cents <= 25_000
    assert reply.purses and reply.purses[0].kind == "HRA"
    hra = reply.purses[0]
    assert hra.available_cents > 0
    assert hra.balance_cents == hra.available_cents  # the deprecated name, kept filled
    assert hra.purse_id == ""  # a kind, not the purse's identifier (it names the family)


async def test_graceful_shutdown_reports_not_serving(loaded_dsn: str) -> None:
    """On stop the health service flips to NOT_SERVING before the listener closes."""
    app = await build_app(replace(TEST_SETTINGS), loaded_dsn)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert (
            await health.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.SERVING
        await app.server.health.enter_graceful_shutdown()
        assert (
            await health.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.NOT_SERVING
    await app.stop()
