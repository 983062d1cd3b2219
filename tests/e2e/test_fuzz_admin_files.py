"""The admin interface's file doors under fuzzing (issue 17): `Enroll` (834 bytes in) and
`ExportEob` (a member's Bundle out), as raw protobuf bytes and as structured requests with
garbage fields. Every answer is a documented status (never INTERNAL or UNKNOWN) and nothing is
logged as an error. On a database of its own: a mutated 834 that still reads is applied."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.bootstrap import App, build_app
from rx_gateway.v1 import admin_pb2 as admin_pb
from tests.support import ADMIN_TOKEN, TEST_SETTINGS
from tests.support_834 import PUBLIC_STYLE_834

EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
ENROLL = "/rx_gateway.v1.AdminService/Enroll"
EXPORT_EOB = "/rx_gateway.v1.AdminService/ExportEob"
AUTH = (("authorization", f"Bearer {ADMIN_TOKEN}"),)


@pytest.fixture(scope="module")
async def admin_app(fresh_loaded_database: Any) -> AsyncIterator[App]:
    app = await build_app(replace(TEST_SETTINGS), await fresh_loaded_database())
    yield app
    await app.stop()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        byte = draw(st.one_of(st.sampled_from(list(b"*~:^\n0123456789")), st.integers(0, 255)))
        if draw(st.booleans()):
            data[at:at + 1] = bytes([byte])  # fmt: skip
        else:
            del data[at:at + draw(st.integers(1, 40))]  # fmt: skip
    return bytes(data)


def _call(target: str, path: str, data: bytes) -> str:
    with grpc.insecure_channel(target) as channel:
        try:
            channel.unary_unary(path)(data, metadata=AUTH, timeout=20)
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            assert code in DOCUMENTED, f"{path}: {code.name} {error.details()}"  # type: ignore[attr-defined]
            return str(code.name)
    return "OK"


def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        (r.name, r.getMessage())
        for r in caplog.records
        if r.exc_info is not None or r.levelno >= logging.ERROR
    ]
    assert not bad, bad


async def test_enroll_with_mutated_files_and_bytes(
    admin_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    target = f"127.0.0.1:{admin_app.admin_port}"
    seed = PUBLIC_STYLE_834.encode()
    seen: set[str] = set()

    @FUZZ
    @given(
        request=st.one_of(
            st.binary(max_size=300),
            mutated(seed).map(
                lambda b: admin_pb.EnrollRequest(content=b, name="fuzz.834").SerializeToString()
            ),
            mutated(admin_pb.EnrollRequest(content=seed, name="x.834").SerializeToString()),
        )
    )
    def run(request: bytes) -> None:
        seen.add(_call(target, ENROLL, request))

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(run)
    assert "INVALID_ARGUMENT" in seen
    _no_errors_logged(caplog)


async def test_export_eob_with_garbage(admin_app: App, caplog: pytest.LogCaptureFixture) -> None:
    target = f"127.0.0.1:{admin_app.admin_port}"
    text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
    seen: set[str] = set()

    @FUZZ
    @given(
        request=st.one_of(
            st.binary(max_size=120),
            st.builds(
                lambda m, f, t: admin_pb.ExportEobRequest(
                    member_id=m, date_from=f, date_to=t
                ).SerializeToString(),
                st.one_of(text, st.sampled_from(["M000001", "M001966", ""])),
                st.one_of(text, st.sampled_from(["20260101", "20261345", "2026011", ""])),
                st.one_of(text, st.sampled_from(["20261231", "20250101", ""])),
            ),
        )
    )
    def run(request: bytes) -> None:
        seen.add(_call(target, EXPORT_EOB, request))

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(run)
    assert seen & {"INVALID_ARGUMENT", "NOT_FOUND"}
    _no_errors_logged(caplog)
