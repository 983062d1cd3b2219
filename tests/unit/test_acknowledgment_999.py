"""The 999 implementation acknowledgment of an 834 file: written here by hand, segment by
segment, for files whose errors were placed by hand; every 999 the gateway writes is checked by
pyx12 against its 005010X231A1 map (tests/support_x12.py: independent of the writer)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.files.x12_834 import acknowledge, structure_problems
from rx_gateway.domain.errors import InvalidRequest
from tests.support_834 import PUBLIC_STYLE_834
from tests.support_x12 import x12_errors

AT = dt.datetime(2026, 12, 2, 9, 30)
HEADER = (
    "ISA*00*          *00*          *ZZ*XYZCOM         *ZZ*ABCCOM         *261202*0930*^*00501"
    "*000000042*0*P*:~\n"
)
GROUP = "GS*FA*XYZCOM*ABCCOM*20261202*0930*42*X*005010X231A1~\n"


def _ack(text: str) -> tuple[str, bool]:
    answer = acknowledge(text.encode(), "test.834", AT)(42)
    assert x12_errors(answer.text) == [], answer.text  # a valid 999, by pyx12's map
    assert answer.text.isascii()
    return answer.text, answer.accepted


def test_a_conforming_file_is_accepted_and_addressed_back_to_its_sender() -> None:
    text, accepted = _ack(PUBLIC_STYLE_834)
    assert accepted
    assert (
        text
        == (
            HEADER + GROUP + "ST*999*0001*005010X231A1~\n"
            "AK1*BE*1*005010X220A1~\n"  # GS01, GS06, GS08 of the file
            "AK2*834*0001*005010X220A1~\n"  # ST01-03
            "IK5*A~\n"
            "AK9*A*1*1*1~\n"  # included, received, accepted
            "SE*6*0001~\n"
            "GE*1*42~\n"
            "IEA*1*000000042~\n"
        )
    )


def test_each_segment_and_element_in_error_is_named_and_the_file_rejected() -> None:
    bad = (
        PUBLIC_STYLE_834.replace("DMG*D8*19700816*M~", "DMG*D8*19701316*Q~")  # segment 14
        .replace("HD*021**DEN**FAM~", "HD*021**XXX**FAM~")  # segment 19
        .replace("SE*28*0001~", "SE*30*0001~")  # 28 segments ST..SE
        .replace("ST*834*0001*", "ST*834*0002*")  # SE02 says 0001
    )
    text, accepted = _ack(bad)
    assert not accepted
    assert (
        text
        == (
            HEADER + GROUP + "ST*999*0001*005010X231A1~\n"
            "AK1*BE*1*005010X220A1~\n"
            "AK2*834*0002*005010X220A1~\n"
            "IK3*DMG*14**8~\n"  # segment has data element errors
            "IK4*2*1251*8~\n"  # DMG02 (1251) not a valid date; no copy: a date of birth
            "IK4*3*1068*7~\n"  # DMG03 (1068) not a valid code
            "IK3*HD*19**8~\n"
            "IK4*3*1205*7*XXX~\n"  # HD03 (1205): the value may be quoted (no PHI in HD)
            "IK5*R*3*4*5~\n"  # control numbers differ, count wrong, segments in error
            "AK9*R*1*1*0~\n"
            "SE*11*0001~\n"
            "GE*1*42~\n"
            "IEA*1*000000042~\n"
        )
    )


def test_a_missing_required_segment_is_ik3_code_3() -> None:
    bad = PUBLIC_STYLE_834.replace("N1*IN*RX GATEWAY PBM*FI*654456654~\n", "").replace(
        "SE*28*", "SE*27*"
    )
    text, accepted = _ack(bad)
    assert not accepted
    body = text.splitlines()
    assert any(line.startswith("IK3*N1*") and line.endswith("*3~") for line in body), text
    assert "IK5*R*5~" in body and "AK9*R*1*1*0~" in body


def test_a_ta1_answers_the_interchange_when_isa14_asks_for_one() -> None:
    asked = PUBLIC_STYLE_834.replace("*000000001*0*P*", "*000000001*1*P*")
    text, accepted = _ack(asked)
    assert accepted
    assert text.splitlines()[1] == "TA1*000000001*260125*1200*A*000~"  # after the ISA


def test_an_interchange_control_number_mismatch_is_a_rejecting_ta1() -> None:
    bad = PUBLIC_STYLE_834.replace("IEA*1*000000001~", "IEA*1*000000009~")
    text, accepted = _ack(bad)
    assert not accepted
    assert text.splitlines()[1] == "TA1*000000001*260125*1200*R*001~"


def test_test_files_are_answered_as_test_files_and_qualifiers_are_swapped() -> None:
    other = PUBLIC_STYLE_834.replace(
        "*ZZ*ABCCOM         *ZZ*XYZCOM         *260125*1200*^*00501*000000001*0*P*",
        "*30*ABCCOM         *ZZ*XYZCOM         *260125*1200*^*00501*000000001*0*T*",
    )
    text, _ = _ack(other)
    isa = text.splitlines()[0]
    assert isa.startswith("ISA*00*          *00*          *ZZ*XYZCOM         *30*ABCCOM    ")
    assert isa.endswith("*000000042*0*T*:~")


def test_a_file_that_is_no_interchange_has_no_999() -> None:
    with pytest.raises(InvalidRequest, match="not an X12 interchange"):
        acknowledge(b"hello", "test.834", AT)


def _segments() -> list[str]:
    return [s + "~" for s in PUBLIC_STYLE_834.replace("\n", "").split("~") if s]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drop=st.sets(st.integers(min_value=2, max_value=30), max_size=3),
    swap=st.lists(st.integers(min_value=2, max_value=30), max_size=2),
)
def test_any_damage_gets_a_valid_999_that_rejects_exactly_when_the_file_has_problems(
    drop: set[int], swap: list[int]
) -> None:
    """Segments dropped or moved (the envelope's ISA, GS and ST kept): the 999 is valid, and
    it accepts the file exactly when the gateway finds its structure sound."""
    segments = _segments()
    kept = [s for k, s in enumerate(segments) if k not in drop]
    for k in swap:
        if k + 1 < len(kept):
            kept[k], kept[k + 1] = kept[k + 1], kept[k]
    damaged = "\n".join(kept) + "\n"
    _, accepted = _ack(damaged)
    assert accepted == (structure_problems(damaged) == [])


def test_a_group_without_its_trailer_is_rejected_with_ak905_3() -> None:
    text, accepted = _ack(PUBLIC_STYLE_834.replace("GE*1*1~\n", ""))
    assert not accepted
    assert "AK9*R*0*1*0*3~" in text.splitlines()  # GE01 unknown (0); trailer missing


def test_an_envelope_pyx12_cannot_read_is_a_rejecting_ta1_alone() -> None:
    glued = PUBLIC_STYLE_834.replace("005010X220A1~\nST", "005010X220A1\nST", 1)  # GS unended
    text, accepted = _ack(glued)
    assert not accepted
    lines = text.splitlines()
    assert lines[1:] == ["TA1*000000001*260125*1200*R*024~", "IEA*0*000000042~"]


def test_each_functional_group_gets_its_own_999() -> None:
    _, rest = PUBLIC_STYLE_834.split("\n", 1)
    second = rest.replace("*1*X*005010X220A1~", "*2*X*005010X220A1~").replace("GE*1*1~", "GE*1*2~")
    two = PUBLIC_STYLE_834.replace("IEA*1*000000001~\n", "") + second.replace(
        "IEA*1*000000001~", "IEA*2*000000001~"
    )
    text, accepted = _ack(two)
    assert accepted
    lines = text.splitlines()
    assert [x for x in lines if x.startswith(("ST*", "AK1*", "GE*"))] == [
        "ST*999*0001*005010X231A1~",
        "AK1*BE*1*005010X220A1~",
        "ST*999*0002*005010X231A1~",
        "AK1*BE*2*005010X220A1~",
        "GE*2*42~",
    ]


def test_the_readmes_999_is_what_the_readmes_834_born_on_a_13th_month_gets() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("ISA*00*          *00*          *ZZ*EMP2SPONSOR")
    example = [
        re.split(r"~\s{2,}", line)[0].rstrip().removesuffix("~") + "~"
        for line in readme[start : readme.index("```", start)].strip().splitlines()
    ]
    bad_dob = "\n".join(example).replace("DMG*D8*19800816*M", "DMG*D8*19801316*M") + "\n"
    start = readme.index("$ cat emp2-bad-dob.999\n") + len("$ cat emp2-bad-dob.999\n")
    shown = readme[start : readme.index("```", start)]
    answer = acknowledge(bad_dob.encode(), "emp2-bad-dob.834", AT)(7)
    assert answer.text == shown
    assert x12_errors(answer.text) == []


_TWO_SETS = PUBLIC_STYLE_834.replace(
    "SE*28*0001~\n",
    "SE*28*0001~\n"
    + PUBLIC_STYLE_834[PUBLIC_STYLE_834.index("ST*834") : PUBLIC_STYLE_834.index("GE*")]
    .replace("0001", "0002")
    .replace("DMG*D8*19700816*M~", "DMG*D8*19701316*M~"),
).replace("GE*1*1~", "GE*2*1~")
# a reporting-category loop (LS/LE 2700) placed where the guide has none: its DTP is in error
_LS = PUBLIC_STYLE_834.replace(
    "DTP*348*D8*20260201~\nLX*1~",
    "DTP*348*D8*20260201~\nLS*2700~\nLX*1~\nN1*75*CLASS A~\nDTP*007*D8*20261301~\nLE*2700~\nLX*1~",
    1,
).replace("SE*28*", "SE*33*")
_MEMBER_NAME = "NM1*IL*1*BROWN*BOB*T***34*123456789~\nPER*IP**HP*7172343334*WP*7172345678~\n"
_MEMBER_ADDRESS = "N3*2000 UNKNOWN ST~\nN4*ANYTOWN*PA*17111**CY*CUMBERLAND~\n"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        pytest.param(  # pyx12 leaves a set it has no map for out of its report
            PUBLIC_STYLE_834.replace("ST*834*0001*", "ST*835*0001*"),
            ["AK2*834*0001*005010X220A1~".replace("834", "835", 1), "IK5*R*1~", "AK9*R*1*1*0~"],
            id="a set that is not an 834: not supported",
        ),
        pytest.param(  # pyx12 loses its place after such an element: the file's own split
            PUBLIC_STYLE_834.replace("NM1*IL*1*BROWN*BOB", "NM1*IL*1*" + "B" * 300 + "*BOB"),
            ["IK3*NM1*10**8~", "IK4*3**5~", "IK5*R*5~", "AK9*R*1*1*0~"],
            id="an element of 300 characters: too long",
        ),
        pytest.param(
            _LS,
            ["IK3*DTP*20*2700*8~", "IK4*3*1251*8~"],
            id="inside an LS/LE loop: IK303 names it",
        ),
        pytest.param(
            _LS.replace("LE*2700~\n", "").replace("SE*33*", "SE*32*"),
            ["IK3*LE*32*2700*3~"],
            id="an LS without its LE: the LE is missing",
        ),
        pytest.param(
            PUBLIC_STYLE_834.replace(
                _MEMBER_NAME + _MEMBER_ADDRESS + "DMG*D8*19700816*M~\n",
                "DMG*D8*19700816*M~\n" + _MEMBER_NAME + _MEMBER_ADDRESS,
            ),
            ["IK3*DMG*10**2~", "IK5*R*5~"],
            id="a known segment out of place: unexpected, not unrecognized",
        ),
        pytest.param(
            _TWO_SETS,
            ["IK5*A~", "AK2*834*0002*005010X220A1~", "IK5*R*5~", "AK9*P*2*2*1~"],
            id="one set of two in error: partially accepted",
        ),
        pytest.param(
            PUBLIC_STYLE_834.replace("*1*X*005010X220A1~", "*1*X*004010X095A1~"),
            ["AK1*BE*1*004010X095A1~", "AK9*R*1*1*0*2~"],
            id="another version: the group is not examined",
        ),
        pytest.param(
            PUBLIC_STYLE_834.replace("SE*28*0001~\n", ""),
            ["IK5*R*2~", "AK9*R*1*1*0~"],
            id="a set without its SE: its trailer, not the group's",
        ),
        pytest.param(
            PUBLIC_STYLE_834.replace("INS*Y*18*021*20*A***FT~", "INS*Y*18*021*20*A***FT***D8*19801316~"),
            ["IK3*INS*6**8~", "IK4*12*1251*8~"],
            id="a date of death in error is not quoted",
        ),
    ],
)  # fmt: skip
def test_what_pyx12_leaves_out_the_999_still_says(damage: str, expected: list[str]) -> None:
    text, accepted = _ack(damage)
    assert not accepted
    lines = text.splitlines()
    assert all(line in lines for line in expected), lines


@pytest.mark.parametrize(
    ("damage", "ta1"),
    [
        (PUBLIC_STYLE_834.replace("IEA*1*000000001~", "IEA*1*000000009~"), "R*001"),
        (PUBLIC_STYLE_834.replace("*ZZ*ABCCOM         *", "*ZZ*               *"), "R*006"),
    ],
)
def test_an_interchange_its_ta1_rejects_gets_the_ta1_alone(damage: str, ta1: str) -> None:
    text, accepted = _ack(damage)
    assert not accepted
    assert text.splitlines()[1:] == [f"TA1*000000001*260125*1200*{ta1}~", "IEA*0*000000042~"]
