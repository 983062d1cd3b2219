"""The independent X12 validator (tests/support_x12.py, pyx12's 5010 maps) can fail.

The worked 835 (005010X221A1) and a one-subscriber 834 (005010X220A1) pass; each broken
variant fails with an error that names what is wrong. The last tests pin what pyx12 does not
check (the 835's balancing, the CARC code list), so that nobody leans on it for those.
"""

from __future__ import annotations

import re

import pytest

from tests.support_x12 import x12_errors

WORKED_835 = """\
ISA*00*          *00*          *ZZ*RXGW           *ZZ*1234567893     *260115*0900*^*00501*000000101*0*P*:~
GS*HP*RXGW*1234567893*20260115*0900*101*X*005010X221A1~
ST*835*0001~
BPR*I*115.70*C*ACH*CCP*01*011000015*DA*1234567*1987654321**01*021000021*DA*7654321*20260116~
TRN*1*PAY20260116001*1987654321~
DTM*405*20260115~
N1*PR*RX GATEWAY PLAN~
N3*1 MAIN ST~
N4*AUSTIN*TX*78701~
PER*BL*EDI*TE*8005550100~
N1*PE*CORNER PHARMACY*XX*1234567893~
REF*D3*1234567~
LX*1~
CLP*100001-00*1*150*110*10*ZZ*F3000001~
NM1*QC*1*DOE*JANE****MI*W12345601~
SVC*N4:00093505601*150*110**30~
DTM*472*20260105~
CAS*CO*45*30~
CAS*PR*3*10~
CLP*100002-00*1*80*35.2*28.8*ZZ*F3000002~
NM1*QC*1*ROE*RICH****MI*W12345602~
SVC*N4:00378018001*80*35.2**60~
DTM*472*20260106~
CAS*CO*45*16~
CAS*PR*1*20**2*8.8~
CLP*100003-01*1*25*13.5*5*ZZ*F3000003~
NM1*QC*1*POE*ANN****MI*W12345603~
SVC*N4:00781107101*25*13.5**30~
DTM*472*20260107~
CAS*CO*45*6.5~
CAS*PR*3*5~
CLP*099876-00*22*-60*-42*-10*ZZ*R3000777~
NM1*QC*1*DOE*JANE****MI*W12345601~
REF*F8*F3000777~
SVC*N4:00093505601*-60*-42~
DTM*472*20251228~
CAS*CO*45*-8~
CAS*PR*3*-10~
PLB*1234567893*20261231*AH*1~
SE*38*0001~
GE*1*101~
IEA*1*000000101~
"""

# One subscriber's enrollment in a drug plan: an addition (021), initial enrollment (28),
# active (A), full-time (FT), drug coverage (HD03 PDG) from 2026-01-01 (DTP*348).
VALID_834 = """\
ISA*00*          *00*          *ZZ*ACMEHR         *ZZ*RXGW           *260115*0900*^*00501*000000201*0*P*:~
GS*BE*ACMEHR*RXGW*20260115*0900*201*X*005010X220A1~
ST*834*0001*005010X220A1~
BGN*00*ENR20260115001*20260115*0900****2~
N1*P5*ACME EMPLOYER*FI*741234567~
N1*IN*RX GATEWAY PLAN*FI*123456789~
INS*Y*18*021*28*A***FT~
REF*0F*W12345601~
NM1*IL*1*DOE*JANE****34*123456789~
DMG*D8*19800101*F~
HD*021**PDG~
DTP*348*D8*20260101~
SE*11*0001~
GE*1*201~
IEA*1*000000201~
"""


def _replace(text: str, old: str, new: str) -> str:
    """Replace one text that occurs exactly once: a variant breaks only what it means to."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _drop(text: str, segment: str) -> str:
    """Remove one segment and keep SE01 right, so the missing segment is the only error."""
    text = _replace(text, f"{segment}~\n", "")
    match = re.search(r"^SE\*(\d+)\*", text, re.MULTILINE)
    assert match is not None
    return _replace(text, match.group(0), f"SE*{int(match.group(1)) - 1}*")


def _one_error_naming(text: str, *names: str) -> str:
    errors = x12_errors(text)
    assert len(errors) == 1, errors
    for name in names:
        assert name in errors[0], errors
    return errors[0]


def test_worked_835_is_valid() -> None:
    assert x12_errors(WORKED_835) == []


def test_valid_834_is_valid() -> None:
    assert x12_errors(VALID_834) == []


def test_835_wrong_se01_segment_count() -> None:
    error = _one_error_naming(_replace(WORKED_835, "SE*38*0001", "SE*37*0001"), "ST 835 0001")
    assert "IK502=4" in error  # number of included segments does not match actual count
    assert "SE count of 37" in error


def test_835_wrong_ge01_transaction_count() -> None:
    error = _one_error_naming(_replace(WORKED_835, "GE*1*101", "GE*2*101"), "GS 101")
    assert "AK905=5" in error  # number of included transaction sets does not match


def test_835_missing_payer_address() -> None:
    error = _one_error_naming(_drop(WORKED_835, "N3*1 MAIN ST"), "N3", "Payer Address")
    assert "IK304=3" in error  # mandatory segment missing
    assert "missing" in error


def test_835_missing_payer_address_without_fixing_se01_gives_both_errors() -> None:
    errors = x12_errors(_replace(WORKED_835, "N3*1 MAIN ST~\n", ""))
    assert any("N3" in e and "missing" in e for e in errors), errors
    assert any("SE count of 38" in e for e in errors), errors


def test_835_bad_claim_status_code() -> None:
    broken = _replace(WORKED_835, "CLP*100001-00*1*", "CLP*100001-00*99*")
    error = _one_error_naming(broken, "CLP02", "Claim Status Code", "(99)")
    assert "IK403=7" in error  # invalid code value


@pytest.mark.parametrize(
    ("old", "new", "element", "value"),
    [
        pytest.param("DTM*472*20260105", "DTM*472*20261305", "DTM02", "20261305", id="month-13"),
        pytest.param(
            "DA*7654321*20260116", "DA*7654321*20260230", "BPR16", "20260230", id="feb-30"
        ),
        pytest.param("*260115*0900*^", "*260132*0900*^", "ISA09", "260132", id="isa-date"),
        pytest.param("*20260115*0900*101", "*20260229*0900*101", "GS04", "20260229", id="gs-date"),
    ],
)
def test_835_bad_date(old: str, new: str, element: str, value: str) -> None:
    error = _one_error_naming(_replace(WORKED_835, old, new), element, value)
    assert "IK403=8" in error  # invalid date
    assert "invalid date" in error


def test_835_st03_is_not_used() -> None:
    """X221A1 marks ST03 Not Used: an 835 carries the guide's version in GS08 only."""
    broken = _replace(WORKED_835, "ST*835*0001~", "ST*835*0001*005010X221A1~")
    error = _one_error_naming(broken, "ST03")
    assert "IK403=10" in error


def test_835_unknown_adjustment_group() -> None:
    error = _one_error_naming(_replace(WORKED_835, "CAS*CO*45*30~", "CAS*XX*45*30~"), "CAS*XX")
    assert "IK304=1" in error  # unrecognized segment


def test_835_missing_product_id() -> None:
    broken = _replace(WORKED_835, "SVC*N4:00781107101*", "SVC*N4:*")
    error = _one_error_naming(broken, "SVC01-2", "missing")
    assert "IK403=1" in error


@pytest.mark.parametrize(
    ("broken", "names"),
    [
        pytest.param(
            _drop(VALID_834, "REF*0F*W12345601"), ("REF", "Subscriber Identifier"), id="no-ref-0f"
        ),
        pytest.param(
            _drop(VALID_834, "DTP*348*D8*20260101"),
            ("DTP", "Health Coverage Dates", "missing"),
            id="no-coverage-dates",
        ),
        pytest.param(
            _replace(VALID_834, "INS*Y*18*021*", "INS*Y*18*099*"), ("INS03", "(099)"), id="ins03"
        ),
        pytest.param(
            _replace(VALID_834, "ST*834*0001*005010X220A1~", "ST*834*0001~"),
            ("ST03", "missing"),
            id="no-st03",
        ),
        pytest.param(
            _replace(VALID_834, "DMG*D8*19800101", "DMG*D8*19800231"),
            ("DMG02", "19800231"),
            id="birth-date",
        ),
    ],
)
def test_broken_834(broken: str, names: tuple[str, ...]) -> None:
    _one_error_naming(broken, *names)


def test_not_x12() -> None:
    assert x12_errors("BPR*I*115.70~") != []


def test_no_map_for_the_guide() -> None:
    errors = x12_errors(_replace(WORKED_835, "*X*005010X221A1~", "*X*005010X999A1~"))
    assert len(errors) == 1
    assert "005010X999A1" in errors[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("BPR*I*115.70*", "BPR*I*999.99*", id="bpr02-against-claims"),
        pytest.param("*1*150*110*10*ZZ*", "*1*150*110*77*ZZ*", id="clp05-against-cas-pr"),
        pytest.param("CAS*CO*45*30~", "CAS*CO*45*31~", id="cas-against-clp"),
        pytest.param("CAS*PR*3*10~", "CAS*PR*Q99*10~", id="unknown-carc"),
    ],
)
def test_what_pyx12_does_not_check(old: str, new: str) -> None:
    """The 835's balancing and the CARC list are not pyx12's: the suite checks them itself."""
    assert x12_errors(_replace(WORKED_835, old, new)) == []
