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
    answer = acknowledge(text.encode(), "test.834", AT).write(42, False)
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
    bad_dob = (
        "\n".join(example)
        .replace("DMG*D8*19800816*M", "DMG*D8*19801316*M")
        .replace("*000000101*", "*000000102*")  # a file of its own: ISA13, GS06, GE02, IEA02
        .replace("*101*X*", "*102*X*")
        .replace("GE*1*101~", "GE*1*102~")
        .replace("IEA*1*000000101~", "IEA*1*000000102~")
        + "\n"
    )
    start = readme.index("$ cat emp2-bad-dob.999\n") + len("$ cat emp2-bad-dob.999\n")
    shown = readme[start : readme.index("```", start)]
    answer = acknowledge(bad_dob.encode(), "emp2-bad-dob.834", AT).write(7, False)
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


def _between(lines: list[str], first: str, last: str) -> list[str]:
    start = next(k for k, line in enumerate(lines) if line.startswith(first))
    end = next(k for k, line in enumerate(lines) if k > start and line.startswith(last))
    return lines[start : end + 1]


@pytest.mark.parametrize(
    "damage",
    [
        PUBLIC_STYLE_834.replace("*20260125*1200*1*X*", "*20261325*1200*1*X*"),  # GS04
        PUBLIC_STYLE_834.replace("*1*X*005010X220A1~", "*1*T*005010X220A1~"),  # GS07
        PUBLIC_STYLE_834.replace("GS*BE*ABCCOM*", "GS*BE*ABCCOMABCCOMABCCOMAB*"),  # GS02
    ],
    ids=["GS04 not a date", "GS07 not X", "GS02 too long"],
)
def test_a_group_envelope_pyx12_refuses_is_never_accepted(damage: str) -> None:
    """No AK905 code names these: the group is rejected all the same (it was AK9 A)."""
    assert structure_problems(damage) != []
    text, accepted = _ack(damage)
    assert not accepted
    assert any(line.startswith("AK9*R*1*1*0") for line in text.splitlines()), text


def test_the_sets_of_two_are_told_apart_in_order_even_under_one_control_number() -> None:
    same_number = _TWO_SETS.replace("ST*834*0002*", "ST*834*0001*").replace(
        "SE*28*0002~", "SE*28*0001~"
    )
    for two in (_TWO_SETS, same_number):
        text, _ = _ack(two)
        lines = text.splitlines()
        control = "0001" if two is same_number else "0002"
        assert _between(lines, "AK2*", "AK9*") == [
            "AK2*834*0001*005010X220A1~",
            "IK5*A~",
            f"AK2*834*{control}*005010X220A1~",
            "IK3*DMG*14**8~",
            "IK4*2*1251*8~",
            "IK5*R*5~" if two is _TWO_SETS else "IK5*R*23*5~",  # 23: its number not unique
            "AK9*P*2*2*1~",
        ]


def test_an_overlong_element_leaves_the_other_sets_unexamined_not_accepted() -> None:
    long_first = _TWO_SETS.replace("NM1*IL*1*BROWN*BOB", "NM1*IL*1*" + "B" * 300 + "*BOB", 1)
    text, accepted = _ack(long_first)
    assert not accepted
    assert _between(text.splitlines(), "AK2*", "AK9*") == [
        "AK2*834*0001*005010X220A1~",
        "IK3*NM1*10**8~",
        "IK4*3**5~",
        "IK5*R*5~",
        "AK9*R*2*2*0~",  # the second set (its date of birth bad too) is not said accepted
    ]


@pytest.mark.parametrize(
    ("damage", "ta1"),
    [
        (PUBLIC_STYLE_834.replace("*000000001*0*P*", "*00000000é*0*P*"), "000000000*260125*1200*R*018"),
        (PUBLIC_STYLE_834.replace("*000000001*0*P*", "*0000:0001*0*P*"), "000000000*260125*1200*R*018"),
        (PUBLIC_STYLE_834.replace("*260125*1200*^", "*261325*12:0*^"), "000000001*261202*0930*R*015"),
        (PUBLIC_STYLE_834.replace("*260125*1200*^", "*261325*1200*^"), "000000001*261202*1200*R*014"),
    ],
    ids=["ISA13 not ASCII", "ISA13 with a separator", "ISA09 and ISA10 malformed", "ISA09"],
)  # fmt: skip
def test_a_ta1_never_echoes_what_its_elements_cannot_hold(damage: str, ta1: str) -> None:
    text, accepted = _ack(damage)
    assert not accepted
    assert text.splitlines()[1] == f"TA1*{ta1}~"


def test_an_ls_loop_id_with_a_separator_is_not_echoed_as_one() -> None:
    text, _ = _ack(_LS.replace("LS*2700~", "LS*27:0~").replace("LE*2700~", "LE*27:0~"))
    assert all(line.count(":") == 0 for line in text.splitlines()[1:]), text


def test_a_group_of_another_version_with_a_unicode_count_is_answered() -> None:
    other = PUBLIC_STYLE_834.replace("*1*X*005010X220A1~", "*1*X*004010X095A1~")
    text, accepted = _ack(other.replace("GE*1*1~", "GE*²*1~"))
    assert not accepted
    assert "AK9*R*0*1*0*2~" in text.splitlines()


def test_an_interchange_without_a_group_is_a_rejecting_ta1() -> None:
    bare = PUBLIC_STYLE_834[: PUBLIC_STYLE_834.index("GS*")] + "IEA*0*000000001~\n"
    text, accepted = _ack(bare)
    assert not accepted
    assert text.splitlines()[1:] == ["TA1*000000001*260125*1200*R*024~", "IEA*0*000000042~"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.tuples(st.integers(min_value=1, max_value=31), st.integers(min_value=1, max_value=9)),
    value=st.text(alphabet="0123456789ABCZ -é:", max_size=12),
)
def test_any_damaged_element_gets_a_valid_999_that_never_accepts_what_pyx12_refuses(
    where: tuple[int, int], value: str
) -> None:
    segments = _segments()
    number, position = where
    number = min(number, len(segments) - 1)
    elements = segments[number].removesuffix("~").split("*")
    if position < len(elements):
        elements[position] = value
    segments[number] = "*".join(elements) + "~"
    damaged = "\n".join(segments) + "\n"
    try:
        text, accepted = _ack(damaged)
    except InvalidRequest:
        return  # no interchange left to answer (the ISA itself broken)
    if structure_problems(damaged):
        assert not accepted, text


@pytest.mark.parametrize(
    ("shifted", "value"),
    [
        (("INS*Y*18*021*20*A***FT~", "INS*Y*18*021*20*A***FT****D8*19991231~"), "19991231"),
        (("INS*N*19*021*20*A~", "INS*N*123456789*021*20*A~"), "123456789"),  # an SSN
        (("DTP*356*D8*20260201~", "DTP*356*20260201~"), "20260201"),  # a date into DTP02
        (("N1*P5*ACME MANUFACTURING*FI*999888777~", "N1*P5*ACME MANUFACTURING*999888777~"),
         "999888777"),
    ],
    ids=["date of death", "SSN", "date", "TIN"],
)  # fmt: skip
def test_a_value_shifted_into_a_codes_place_is_not_quoted(
    shifted: tuple[str, str], value: str
) -> None:
    """A code position holding a date, an identifier or a name: wrong as a code, and never
    echoed (it was, in IK404 and in the error line)."""
    damaged = PUBLIC_STYLE_834.replace(*shifted)
    assert damaged != PUBLIC_STYLE_834
    text, accepted = _ack(damaged)
    assert not accepted
    assert value not in text, text
    assert all(value not in problem.text() for problem in structure_problems(damaged))


def test_after_a_set_without_its_se_the_next_set_is_named_by_its_own_st02() -> None:
    header, rest = PUBLIC_STYLE_834.split("ST*834*0001*005010X220A1~\n")
    body = "ST*834*0001*005010X220A1~\n" + rest.split("GE*")[0]
    second = body.replace("0001", "0002").replace("19700816", "19701316")
    text, _ = _ack(
        header + body.replace("SE*28*0001~\n", "") + second + "GE*2*1~\nIEA*1*000000001~\n"
    )
    lines = text.splitlines()
    assert _between(lines, "AK2*", "AK9*") == [
        "AK2*834*0001*005010X220A1~",
        "IK5*R*2~",
        "AK2*834*0002*005010X220A1~",
        "IK3*DMG*14**8~",
        "IK4*2*1251*8~",
        "IK5*R*5~",
        "AK9*R*2*2*0~",
    ]


def test_a_qualifier_x12_does_not_list_is_answered_as_zz_and_rejected() -> None:
    text, accepted = _ack(PUBLIC_STYLE_834.replace("*ZZ*ABCCOM    ", "*QQ*ABCCOM    "))
    assert not accepted
    isa, ta1 = text.splitlines()[:2]
    assert isa.startswith("ISA*00*          *00*          *ZZ*XYZCOM         *ZZ*ABCCOM ")
    assert ta1 == "TA1*000000001*260125*1200*R*005~"


@pytest.mark.parametrize("segment_id", ["W", "", "REFX", "RÉF"])
def test_a_segment_id_no_ik301_can_hold_is_not_echoed_but_rejects_its_set(
    segment_id: str,
) -> None:
    text, accepted = _ack(PUBLIC_STYLE_834.replace("REF*38*123456~", f"{segment_id}*38*123456~"))
    assert not accepted
    lines = text.splitlines()
    assert not any(line.startswith("IK3*") and "*3*" in line for line in lines), lines
    assert "IK5*R*5~" in lines


def test_a_group_control_number_used_twice_is_ak905_19() -> None:
    _, rest = PUBLIC_STYLE_834.split("\n", 1)
    two = PUBLIC_STYLE_834.replace("IEA*1*000000001~\n", "") + rest.replace(
        "IEA*1*000000001~", "IEA*2*000000001~"
    )
    text, _ = _ack(two)
    assert text.splitlines().count("AK9*R*1*1*0*19~") == 1, text


def test_a_reused_interchange_control_number_is_a_rejecting_ta1_alone() -> None:
    """The store says the sender's ISA13 already names another file: TA1 R 025."""
    answer = acknowledge(PUBLIC_STYLE_834.encode(), "test.834", AT).write(42, True)
    assert not answer.accepted
    assert answer.text.splitlines()[1:] == [
        "TA1*000000001*260125*1200*R*025~",
        "IEA*0*000000042~",
    ]
    assert x12_errors(answer.text) == []
