"""The 834 door under fuzzing: whatever bytes arrive, reading and planning an enrollment file
gives either a file or one InvalidRequest naming where it is wrong (the CLI prints it as one
line, the admin RPC answers INVALID_ARGUMENT), never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.files.x12_834 import read_enrollment
from rx_gateway.domain.enrollment import plan_enrollment
from rx_gateway.domain.errors import InvalidRequest
from tests.support_834 import PUBLIC_STYLE_834
from tests.unit.test_enrollment_834 import PLANS, STORED

SEED = PUBLIC_STYLE_834.encode()
SEPARATORS = b"*~:^\r\n "


def _door(data: bytes) -> None:
    try:
        enrollment = read_enrollment(data, "fuzz.834", PLANS)
        plan_enrollment(enrollment, STORED, PLANS)
    except InvalidRequest as error:
        text = str(error)
        assert text and "\n" not in text and "Traceback" not in text, text


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """The public-style 834 with a few bytes replaced, inserted or deleted (separators and
    digits favoured), or cut short."""
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        byte = draw(
            st.one_of(st.sampled_from(list(SEPARATORS + b"0123456789")), st.integers(0, 255))
        )
        if kind == "replace":
            data[at] = byte
        elif kind == "insert":
            data.insert(at, byte)
        elif kind == "delete":
            del data[at]
        else:
            del data[at:]
            break
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_834_is_a_file_or_one_clear_error(data: bytes) -> None:
    _door(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_one_clear_error(data: bytes) -> None:
    _door(data)


def test_the_seed_itself_reads() -> None:
    read_enrollment(SEED, "seed.834", PLANS)
