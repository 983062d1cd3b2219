"""OpenTelemetry traces with the otel extra (issue 16): a claim over a real gRPC channel makes a
SERVER span for the RPC and a CLIENT span per database call in the same trace, and no span
carries a query parameter (member IDs, dates of birth and Rx numbers are PHI)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rx_gateway.adapters.postgres.batching import Coalescer
from rx_gateway.bootstrap import build_app
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.config import Settings
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.observability import tracing
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import TEST_SETTINGS

pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra")
pytest.importorskip("opentelemetry.instrumentation.grpc", reason="needs the otel extra")
pytest.importorskip("opentelemetry.instrumentation.asyncpg", reason="needs the otel extra")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode


def _values(attributes: Any) -> list[str]:
    out: list[str] = []
    for value in (attributes or {}).values():
        out.extend(str(v) for v in value) if isinstance(value, tuple) else out.append(str(value))
    return out


async def test_a_claim_makes_rpc_and_database_spans_without_parameters(
    loaded_dsn: str, dataset: tuple[Path, dict[str, Any]], rx_number: Any
) -> None:
    fixtures = dataset[1]
    member = next(m for m in active_members(dataset[0])[1700:] if m["plan_id"] == "COMM-HRA-2026")
    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service="20261110",
    )
    exporter = InMemorySpanExporter()
    tracing.configure(span_exporter=exporter)
    try:
        app = await build_app(
            replace(TEST_SETTINGS, admin_tokens={}, otel_enabled=True), loaded_dsn
        )
        try:
            # start-up's own queries (migrate, reference load); the connections' warm-up
            # (about 176 root spans of prepared statements) makes none
            startup = exporter.get_finished_spans()
            assert len(startup) < 60, len(startup)  # 24 here; 175 with the warm-up's
            exporter.clear()
            async with GatewayClient(f"127.0.0.1:{app.port}") as client:
                with tracing.span("test.client"):
                    reply = await client.submit(request)
                # a reversal, an E1 and a syntax reject have their adjudication spans too
                await client.reverse(reversal_for(request))
                await client.check_eligibility(
                    pb.EligibilityRequest(header=request.header, insurance=request.insurance)
                )
                bad = pb.ClaimRequest()
                bad.CopyFrom(request)
                bad.claim.days_supply = 0
                await client.submit(bad)
        finally:
            await app.stop()  # RX_GATEWAY_OTEL: stopping the app stops tracing
    finally:
        tracing.shutdown()
    assert not tracing.enabled()
    assert reply.transaction_response_status == "P"
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
    rpc = [s for s in spans if s.name == "/rx_gateway.v1.ClaimService/Submit"]
    assert len(rpc) == 2, [s.name for s in spans]  # the claim, then the syntax reject
    # a reversal, an E1 and a syntax reject have their adjudication spans too
    others = [
        dict(s.attributes or {})
        for s in spans
        if s.name == "adjudicate" and s.context.trace_id != rpc[0].context.trace_id
    ]
    assert [(o["rx.transaction"], o["rx.status"]) for o in others] == [
        ("B2", "A"),
        ("E1", "A"),
        ("B1", "R"),
    ], others
    every = spans
    spans = [
        s for s in spans if s.context.trace_id == rpc[0].context.trace_id or s.name == "test.client"
    ]
    assert any(s.name == "test.client" for s in spans)  # span() once tracing is on
    assert rpc[0].attributes is not None
    assert rpc[0].attributes["rpc.method"] == "Submit"
    adjudicate = [s for s in spans if s.name == "adjudicate"]
    assert len(adjudicate) == 1 and adjudicate[0].attributes is not None
    assert dict(adjudicate[0].attributes) == {
        "rx.transaction": "B1",
        "rx.status": "P",
        "rx.reject_count": 0,
        "rx.plan_id": "COMM-HRA-2026",
    }
    assert adjudicate[0].parent is not None
    assert adjudicate[0].parent.span_id == rpc[0].context.span_id
    database = [s for s in spans if s.attributes and s.attributes.get("db.system") == "postgresql"]
    assert database, [s.name for s in spans]
    assert {s.context.trace_id for s in database} == {rpc[0].context.trace_id}
    assert all(s.parent is not None for s in database)
    # no parameter, and no PHI in any attribute or event of any span
    phi = {
        request.insurance.cardholder_id,
        member["member_id"],
        request.patient.date_of_birth,
        request.claim.prescription_reference_number,
    } - {""}
    for span in every:  # the reversal's, the E1's and the reject's too
        assert span.attributes is not None
        assert "db.statement.parameters" not in span.attributes, span.name
        values = _values(span.attributes)
        values += [v for event in span.events for v in _values(event.attributes)]
        for value in values:
            assert not any(secret in value for secret in phi), (span.name, value)


def test_span_is_a_no_op_without_tracing() -> None:
    """Before configure (or without the extra) span() opens nothing and costs nothing."""
    assert not tracing.enabled()
    first = tracing.span("adjudicate")
    with first:
        pass
    assert tracing.span("adjudicate", {"txn": "B1"}) is first
    assert tracing.server_interceptor() is None


def test_otel_settings() -> None:
    """RX_GATEWAY_OTEL=1 with the extra installed; a bad exporter names the variable."""
    assert not Settings.from_env({}).otel_enabled
    settings = Settings.from_env({"RX_GATEWAY_OTEL": "1", "OTEL_TRACES_EXPORTER": "console"})
    assert settings.otel_enabled
    assert settings.otel_traces_exporter == "console"
    with pytest.raises(InvalidRequest, match="OTEL_TRACES_EXPORTER"):
        Settings.from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_a_collector_that_does_not_answer_delays_a_stop_two_seconds_at_most() -> None:
    """OTLP to an address nothing answers: the last spans' export waited 10 s and more on
    shutdown (a serve's SIGTERM took 12.3 s, past Docker's 10 s grace). The flush is waited
    for FLUSH_ON_SHUTDOWN_S at most, and says it gave up."""
    import os
    import subprocess
    import sys

    script = (
        "import time\n"
        "from rx_gateway.observability import tracing\n"
        "tracing.configure('otlp')\n"
        "with tracing.span('one'):\n"
        "    pass\n"
        "began = time.monotonic()\n"
        "tracing.shutdown()\n"
        "print(round(time.monotonic() - began, 2))\n"
    )
    env = dict(
        os.environ,
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1",
        OTEL_BSP_SCHEDULE_DELAY="60000",
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    took = float(result.stdout.strip().splitlines()[-1])
    assert took < tracing.FLUSH_ON_SHUTDOWN_S + 1.0, (took, result.stderr[-2000:])


async def test_a_shared_round_trip_is_its_own_trace_linked_to_each_claims_wait() -> None:
    """Batched: claim 1 goes alone, claims 2 and 3 arrive while it is in flight and share the
    next round trip. Each claim's wait ("db write") is in its own trace; claim 1's round trip
    is the child of its wait; the shared one is a root span linked to both waits, and the
    database calls inside a round trip are its children (before, they were children of
    whichever claim had started the sender, in that claim's trace)."""
    exporter = InMemorySpanExporter()
    tracing.configure(span_exporter=exporter)
    try:
        tracer = tracing.batch_tracing()
        assert tracer is not None

        async def run(items: list[int], deadline: float | None) -> Sequence[int]:
            with tracing.span("query"):  # stands for the asyncpg call
                await asyncio.sleep(0.01)
            return [i * 10 for i in items]

        coalescer: Coalescer[int, int] = Coalescer(run, tracing=tracer, kind="write")

        async def claim(n: int) -> int:
            with tracing.span(f"claim {n}"):
                return await coalescer.call(n)

        first = asyncio.ensure_future(claim(1))
        await asyncio.sleep(0.002)  # claim 1's round trip is in flight
        assert await asyncio.gather(first, claim(2), claim(3)) == [10, 20, 30]
    finally:
        tracing.shutdown()
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    claims = {s.name: s for s in spans if s.name.startswith("claim ")}
    waits = {by_id[s.parent.span_id].name: s for s in spans if s.name == "db write" and s.parent}
    assert set(waits) == {"claim 1", "claim 2", "claim 3"}
    for name, wait in waits.items():
        assert wait.context.trace_id == claims[name].context.trace_id
    rounds = sorted(
        (s for s in spans if s.name == "db write batch"),
        key=lambda s: (s.attributes or {})["rx.batch.size"],
    )
    assert [(s.attributes or {})["rx.batch.size"] for s in rounds] == [1, 2]
    alone, shared = rounds
    assert alone.parent is not None and alone.parent.span_id == waits["claim 1"].context.span_id
    assert alone.context.trace_id == claims["claim 1"].context.trace_id
    assert alone.links == () or not alone.links
    assert shared.parent is None  # a root of its own
    assert {link.context.span_id for link in shared.links} == {
        waits["claim 2"].context.span_id,
        waits["claim 3"].context.span_id,
    }
    assert shared.context.trace_id not in {c.context.trace_id for c in claims.values()}
    queries = [s for s in spans if s.name == "query"]
    assert sorted(by_id[q.parent.span_id].name for q in queries if q.parent) == [
        "db write batch",
        "db write batch",
    ]
    assert {q.parent.span_id for q in queries if q.parent} == {
        alone.context.span_id,
        shared.context.span_id,
    }


async def test_claims_in_flight_together_keep_each_others_calls_out_of_their_traces(
    loaded_dsn: str, dataset: tuple[Path, dict[str, Any]], rx_number: Any
) -> None:
    """Eight claims at once over gRPC, batching on: every database call is the child of a
    round trip ("db read batch" / "db write batch"); a round trip of one claim is in that
    claim's trace, one of several is linked to each claim's wait; no claim's trace holds a
    round trip that carried another claim."""
    fixtures = dataset[1]
    # members no other test bills for: 1700-1779 (the first is the test above's)
    everyone = active_members(dataset[0])[1700:1780]
    members = [m for m in everyone if m["plan_id"] == "COMM-HRA-2026"][1:]
    requests = [
        claim_request(
            fixtures,
            member,
            fixtures["drugs"]["generic"],
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service="20261111",
        )
        for member in members[:8]
    ]
    exporter = InMemorySpanExporter()
    tracing.configure(span_exporter=exporter)
    try:
        app = await build_app(
            replace(TEST_SETTINGS, admin_tokens={}, otel_enabled=True), loaded_dsn
        )
        try:
            exporter.clear()
            async with GatewayClient(f"127.0.0.1:{app.port}") as client:
                replies = await asyncio.gather(*(client.submit(r) for r in requests))
        finally:
            await app.stop()
    finally:
        tracing.shutdown()
    assert [r.transaction_response_status for r in replies] == ["P"] * 8
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    rpc_traces = {
        s.context.trace_id for s in spans if s.name == "/rx_gateway.v1.ClaimService/Submit"
    }
    assert len(rpc_traces) == 8
    rounds = [s for s in spans if s.name in {"db read batch", "db write batch"}]
    assert {s.name for s in rounds} == {"db read batch", "db write batch"}
    for round_trip in rounds:
        size = (round_trip.attributes or {})["rx.batch.size"]
        assert size >= 1
        if size == 1:
            assert round_trip.context.trace_id in rpc_traces
            assert round_trip.parent is not None
            assert by_id[round_trip.parent.span_id].name in {"db read", "db write"}
        else:
            assert round_trip.parent is None
            assert round_trip.context.trace_id not in rpc_traces
            linked = [by_id[link.context.span_id] for link in round_trip.links]
            assert len(linked) == size
            assert {w.name for w in linked} <= {"db read", "db write"}
            assert len({w.context.trace_id for w in linked}) == size  # one per claim
    database = [s for s in spans if s.attributes and s.attributes.get("db.system") == "postgresql"]
    assert database
    for call in database:  # each under a round trip, none a root, none under a claim directly
        assert call.parent is not None, call.name
        assert by_id[call.parent.span_id].name in {"db read batch", "db write batch"}, call.name


async def test_a_failure_is_a_spans_status_by_type_never_its_text() -> None:
    """A database error's text may carry its DETAIL ("Failing row contains (...)": a row's
    values). Our spans (the adjudication, each claim's wait, each round trip) say that they
    failed and with what type, and record neither the text nor a traceback; before, the
    default recorded both, the chained cause's text included."""
    exporter = InMemorySpanExporter()
    tracing.configure(span_exporter=exporter)
    detail = "Failing row contains (RXG777000111, 19800101)"
    try:
        tracer = tracing.batch_tracing()
        assert tracer is not None

        def database() -> None:
            raise ValueError(detail)

        async def run(items: list[int], deadline: float | None) -> Sequence[int]:
            try:
                database()
            except ValueError as error:
                raise RuntimeError("write failed") from error
            return items

        coalescer: Coalescer[int, int] = Coalescer(run, tracing=tracer, kind="write")
        with pytest.raises(RuntimeError), tracing.span("adjudicate"):
            await coalescer.call(1)
    finally:
        tracing.shutdown()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"adjudicate", "db write", "db write batch"}
    for span in spans.values():
        assert span.status.status_code is StatusCode.ERROR, span.name
        assert span.status.description == "RuntimeError", span.name
        assert not span.events, (span.name, span.events)
        assert "RXG777" not in repr(span.to_json())
