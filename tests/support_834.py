"""834 files for the tests, written by hand segment by segment (not by the synthetic writer):
an envelope around a body, with SE's count done for you, and 2000/2300 loops as text."""

from __future__ import annotations

from collections.abc import Sequence

# A public-style example, after the implementation guide's "add a subscriber": the sponsor is
# named by its TIN (FI), the subscriber by SSN (NM108 34, never stored), a provider loop
# (2310) and a second, non-pharmacy line (DEN) the gateway skips.
PUBLIC_STYLE_834 = """\
ISA*00*          *00*          *ZZ*ABCCOM         *ZZ*XYZCOM         *260125*1200*^*00501*000000001*0*P*:~
GS*BE*ABCCOM*XYZCOM*20260125*1200*1*X*005010X220A1~
ST*834*0001*005010X220A1~
BGN*00*12456*20260125*1200****2~
REF*38*123456~
N1*P5*ACME MANUFACTURING*FI*999888777~
N1*IN*RX GATEWAY PBM*FI*654456654~
INS*Y*18*021*20*A***FT~
REF*0F*E834PUB0001~
REF*1L*ACME-01~
DTP*356*D8*20260201~
NM1*IL*1*BROWN*BOB*T***34*123456789~
PER*IP**HP*7172343334*WP*7172345678~
N3*2000 UNKNOWN ST~
N4*ANYTOWN*PA*17111**CY*CUMBERLAND~
DMG*D8*19700816*M~
HD*021**PDG*COMM-HRA-2026*FAM~
DTP*348*D8*20260201~
LX*1~
NM1*P3*1*JONES*MARCUS****XX*1234567890*25~
HD*021**DEN**FAM~
DTP*348*D8*20260201~
INS*N*19*021*20*A~
REF*0F*E834PUB0001~
DTP*356*D8*20260201~
NM1*IL*1*BROWN*SUSAN~
DMG*D8*20100405*F~
HD*021**PDG*COMM-HRA-2026*FAM~
DTP*348*D8*20260201~
SE*28*0001~
GE*1*1~
IEA*1*000000001~
"""

ISA = (
    "ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*RXGATEWAY      *261101*1200*^*00501"
    "*{control:09d}*0*P*:~"
)


def interchange(
    body: Sequence[str],
    *,
    control: int = 1,
    sender: str = "E834TEST",
    sponsor: str = "EMP2",
    purpose: str = "00",
    action: str = "2",
    reference: str = "",
) -> str:
    """ISA, GS, ST, BGN, the sponsor and payer, ``body`` (segments without their ~), SE with
    its count, GE, IEA."""
    transaction = [
        "ST*834*0001*005010X220A1",
        f"BGN*{purpose}*{reference or f'T{control}'}*20261101*1200****{action}",
        f"N1*P5*SPONSOR {sponsor}*94*{sponsor}",
        "N1*IN*RX GATEWAY*94*RXGATEWAY",
        *body,
    ]
    transaction.append(f"SE*{len(transaction) + 1}*0001")
    lines = [
        ISA.format(sender=sender, control=control),
        f"GS*BE*{sender}*RXGATEWAY*20261101*1200*{control}*X*005010X220A1~",
        *(s + "~" for s in transaction),
        f"GE*1*{control}~",
        f"IEA*1*{control:09d}~",
    ]
    return "\n".join(lines) + "\n"


def member(
    card: str,
    *,
    maintenance: str = "021",
    subscriber: bool = True,
    relationship: str = "",
    member_id: str = "",
    first: str = "ALEX",
    last: str = "RIVERA",
    born: str = "19800101",
    gender: str = "F",
    group: str = "",
    dates: Sequence[str] = (),
    lines: Sequence[str] = (),
    demographics: bool = True,
) -> list[str]:
    """One 2000 loop: INS, REF*0F (and REF*1L), member DTPs, NM1*IL (NM109 ZZ when a member
    ID is given), DMG, then ``lines`` (2300 loops as segments)."""
    relationship = relationship or ("18" if subscriber else "19")
    loop = [
        f"INS*{'Y' if subscriber else 'N'}*{relationship}*{maintenance}*20*A"
        + ("***FT" if subscriber else ""),
        f"REF*0F*{card}",
    ]
    if group:
        loop.append(f"REF*1L*{group}")
    loop += list(dates)
    loop.append(f"NM1*IL*1*{last}*{first}" + (f"****ZZ*{member_id}" if member_id else ""))
    if demographics:
        loop.append(f"DMG*D8*{born}*{gender}")
    return loop + list(lines)


def coverage(
    plan: str,
    *,
    maintenance: str = "021",
    begin: str = "",
    end: str = "",
    group: str = "",
    line: str = "PDG",
    level: str = "",
) -> list[str]:
    """One 2300 loop: HD, DTP*348, DTP*349, REF*1L (each only when given)."""
    loop = [f"HD*{maintenance}**{line}*{plan}*{level}".rstrip("*")]
    if begin:
        loop.append(f"DTP*348*D8*{begin}")
    if end:
        loop.append(f"DTP*349*D8*{end}")
    if group:
        loop.append(f"REF*1L*{group}")
    return loop
