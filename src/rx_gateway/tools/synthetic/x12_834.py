"""The synthetic population as X12 834 enrollment files (005010X220A1): one file per sponsor.

``write_834_files(directory)`` reads a generated dataset's members.csv and coverages.csv and
writes ``directory/834/<sponsor>.834``; `rx-gateway enroll` on each file enrolls the same
members, on the same cards, person codes, families, classes and coverage spans (see
``domain/enrollment.py`` for how an 834 names them). Deterministic: the same dataset writes the
same bytes.

Each family: the subscriber (person code 001, INS*Y*18) then the dependents (002 a spouse,
INS02 01; the others children, 19), each with REF*0F (the card), REF*1L (the group), REF*3H
(the family), REF*17 (the class), DTP*356, NM1*IL with NM109 ZZ (the member ID), DMG, and one
2300 loop per coverage span (HD*021**PDG*plan*level, DTP*348, DTP*349 for a span that ends as
planned, REF*1L). A span that was terminated is added, then terminated later in the same file
(INS03 024, HD*024, DTP*349), as a sponsor's change file would.

Not carried by these files: purses and their funding, prior authorizations, other payers'
coverage, and a coverage's payer order (2320 COB is not read): load those from the dataset's
CSV files after the 834s (their families and members exist then).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rx_gateway.x12.envelope import Envelope, segment, text, wrap

SENDER_ID = "RXGSYNTH"
RECEIVER_ID = "RXGATEWAY"
PRODUCED_AT = dt.datetime(2025, 12, 15, 9, 0, tzinfo=dt.UTC)  # before the dataset's 2026
IMPLEMENTATION = "005010X220A1"
EMPLOYMENT_STATUS = {"FT": "FT", "PT": "PT", "RET": "RT"}  # class → INS08
LEVELS = {"self_only": "IND", "family": "FAM"}  # coverage_level → HD05
GENDERS = {"1": "M", "2": "F"}  # 305-C5 → DMG03 (others U)
PAYER_NAME = "RX GATEWAY"


def _date(value: str) -> str:
    return value.replace("-", "")


def _member_loop(
    member: dict[str, str], coverages: Sequence[dict[str, str]], maintenance: str
) -> list[str]:
    """One 2000 loop: the member and (for an addition) their spans; for a termination
    (024), the terminated spans with their end dates."""
    subscriber = member["person_code"] == "001"
    relationship = "18" if subscriber else ("01" if member["person_code"] == "002" else "19")
    reason = "28" if maintenance == "021" else "07"  # initial enrollment; termination
    employment = EMPLOYMENT_STATUS.get(member["class_code"], "") if subscriber else ""
    group = coverages[0]["group_id"] if coverages else ""
    loop = [
        segment(
            "INS", "Y" if subscriber else "N", relationship, maintenance, reason, "A", "", "",
            employment,
        ),
        segment("REF", "0F", member["cardholder_id"]),
        segment("REF", "1L", group) if group else "",
        segment("REF", "3H", member["family_id"]),
        segment("REF", "17", member["class_code"]),
    ]  # fmt: skip
    if maintenance == "021" and coverages:
        loop.append(segment("DTP", "356", "D8", _date(min(c["start_date"] for c in coverages))))
    loop += [
        segment(
            "NM1", "IL", "1", text(member["last_name"], 60) or "UNKNOWN",
            text(member["first_name"], 35), "", "", "", "ZZ", member["member_id"],
        ),
        segment(
            "DMG", "D8", _date(member["date_of_birth"]),
            GENDERS.get(member["gender_code"], "U"),
        ),
    ]  # fmt: skip
    for c in coverages:
        loop.append(
            segment("HD", maintenance, "", "PDG", c["plan_id"], LEVELS.get(c["coverage_level"], ""))
        )
        if maintenance == "021":
            loop.append(segment("DTP", "348", "D8", _date(c["start_date"])))
            if c["end_date"] and c["end_reason"] != "terminated":
                loop.append(segment("DTP", "349", "D8", _date(c["end_date"])))
        else:
            loop.append(segment("DTP", "349", "D8", _date(c["end_date"])))
        loop.append(segment("REF", "1L", c["group_id"]))
    return [s for s in loop if s]


def enrollment_834(
    sponsor_id: str,
    members: Sequence[dict[str, str]],
    coverages: Sequence[dict[str, str]],
    *,
    control_number: int,
    produced_at: dt.datetime = PRODUCED_AT,
) -> str:
    """One sponsor's members (rows of members.csv, families together, each subscriber
    first) and their coverage spans (rows of coverages.csv) as an 834 interchange."""
    spans: dict[str, list[dict[str, str]]] = defaultdict(list)
    for c in coverages:
        spans[c["member_id"]].append(c)
    ordered = sorted(members, key=lambda m: (m["family_id"], m["person_code"]))
    body = [
        segment(
            "BGN", "00", f"RXG{control_number:09d}", f"{produced_at:%Y%m%d}",
            f"{produced_at:%H%M}", "", "", "", "2",
        ),
        segment("N1", "P5", text(sponsor_id, 60), "94", sponsor_id),
        segment("N1", "IN", PAYER_NAME, "94", RECEIVER_ID),
    ]  # fmt: skip
    for m in ordered:
        body += _member_loop(m, spans[m["member_id"]], "021")
    for m in ordered:
        ended = [c for c in spans[m["member_id"]] if c["end_reason"] == "terminated"]
        if ended:
            body += _member_loop(m, ended, "024")
    envelope = Envelope(
        sender_id=SENDER_ID,
        receiver_id=RECEIVER_ID,
        produced_at=produced_at,
        interchange_control_number=control_number,
        group_control_number=control_number,
        functional_code="BE",
        implementation=IMPLEMENTATION,
        states_implementation=True,
    )
    return wrap(envelope, "834", body)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_834_files(directory: Path, out: Path | None = None) -> list[Path]:
    """A generated dataset's members and coverages as one 834 per sponsor (the members'
    employer), written under ``out`` (default ``directory/834``), in sponsor order."""
    out = out if out is not None else directory / "834"
    out.mkdir(parents=True, exist_ok=True)
    members = _rows(directory / "members.csv")
    coverages = _rows(directory / "coverages.csv")
    by_sponsor: dict[str, list[dict[str, str]]] = defaultdict(list)
    for m in members:
        by_sponsor[m["employer_id"]].append(m)
    written = []
    for number, sponsor_id in enumerate(sorted(by_sponsor), start=1):
        ids = {m["member_id"] for m in by_sponsor[sponsor_id]}
        text_834 = enrollment_834(
            sponsor_id,
            by_sponsor[sponsor_id],
            [c for c in coverages if c["member_id"] in ids],
            control_number=number,
        )
        path = out / f"{sponsor_id}.834"
        path.write_text(text_834, encoding="ascii")
        written.append(path)
    return written
