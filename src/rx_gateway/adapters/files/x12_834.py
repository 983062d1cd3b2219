"""An 834 file read for enrollment: its structure validated by pyx12, then read and checked by
``x12/enrollment_834.py``.

pyx12 (its HIPAA implementation-guide map 834.5010.X220.A1 and its validation driver, the
function behind its ``x12valid`` command) checks the envelope and control counts, the loop and
segment structure (order, required segments and loops, repeats), each element's usage, length,
type, dates and the code values the guide lists. A file with any such error is refused with
the first one, named as a 999 names it: the segment's position in its transaction set (ST is
1), its ID and the element. An error never quotes a value from a segment that may hold PHI
(names, addresses, demographics, identifiers), and pyx12's own log lines (which do) never
reach the gateway's log.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rx_gateway.domain.enrollment import (
    Acknowledgment,
    Enrollment,
    PendingAcknowledgment,
    Where,
)
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.reference import Plan
from rx_gateway.x12 import acknowledgment_999 as ack
from rx_gateway.x12.enrollment_834 import (
    ELEMENT_CHARS_MAX,
    IMPLEMENTATION,
    Segment,
    identity,
    read_834,
    split,
)
from rx_gateway.x12.envelope import Envelope
from rx_gateway.x12.envelope import text as element_text

ENROLLMENT_BYTES_MAX = 256 * 1024 * 1024  # about 300,000 members; larger files are split
_LOGGER = "pyx12"
_LOCK = threading.Lock()  # pyx12's log is process-wide: one validation at a time
_LAST: dict[bytes, Validation] = {}  # the last validation, by the text's SHA-256
_LAST_LOCK = threading.Lock()
_ELEMENT_LOG = re.compile(r"^Line:(\d+) ELE:(\S+) - (.*)$", re.DOTALL)
_REFDES = re.compile(r"\(((?:ISA|IEA|GS|GE|ST|SE)\d{2})\)")
# segments whose values an error may quote: none of them holds a name, an address, a date of
# birth or a member's identifier
QUOTABLE_SEGMENTS = frozenset(
    {"ISA", "GS", "ST", "BGN", "QTY", "N1", "INS", "HD", "DTP", "LX", "LS", "LE", "SE", "GE", "IEA"}
)
ELEMENT_ERRORS = {  # 999 IK403
    "1": "is required",
    "2": "is required when another element is sent",
    "3": "is one element too many",
    "4": "is too short",
    "5": "is too long",
    "6": "has an invalid character",
    "7": "is not a valid code",
    "8": "is not a valid date",
    "9": "is not a valid time",
    "10": "must not be sent with another element",
    "12": "repeats too many times",
    "13": "has too many components",
    "I10": "is not used in this implementation",
    "I11": "repeats too many times",
    "I12": "does not match its pattern",
    "I13": "is required in this situation",
    "I6": "is a code not used in this implementation",
    "I9": "is required in this implementation",
}


# Envelope errors as pyx12 codes them (a TA1's note codes, a 999's AK905 and IK502): the
# segment and element each is about
INTERCHANGE_ERRORS = {"001": ("IEA", "IEA02"), "021": ("IEA", "IEA01")}
GROUP_ERRORS = {
    "1": ("GS", "GS01"),
    "2": ("GS", "GS08"),
    "3": ("GE", ""),
    "4": ("GE", "GE02"),
    "5": ("GE", "GE01"),
    "6": ("GS", "GS06"),
}
TRANSACTION_ERRORS = {
    "1": ("ST", "ST01"),
    "2": ("SE", ""),
    "3": ("SE", "SE02"),
    "4": ("SE", "SE01"),
    "6": ("ST", "ST01"),
    "7": ("ST", "ST02"),
    "23": ("ST", "ST02"),
}


def _envelope_problem(
    line: Any, error: dict[str, Any], codes: dict[str, tuple[str, str]], default: str, control: str
) -> StructureProblem:
    segment, element = codes.get(str(error["err_cde"]), (default, ""))
    return StructureProblem(
        int(line or 0), Where(0, segment, control), element, str(error["err_str"])
    )


@dataclass(frozen=True, slots=True)
class StructureProblem:
    line: int  # the segment's number in the interchange (for ordering)
    where: Where
    element: str
    message: str

    def text(self) -> str:
        """One line: pyx12's messages may carry line breaks (found by fuzzing)."""
        return " ".join(self.where.problem(self.element, self.message).split())


class _ErrorLog(logging.Handler):
    """Keeps the messages pyx12 logs while one document is validated."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _without_value(segment_id: str, text: str, value: object) -> str:
    if segment_id in QUOTABLE_SEGMENTS or value in (None, ""):
        return text
    return text.replace(f"({value})", "(value not shown)").replace(str(value), "...")


def _segment_problems(segment: dict[str, Any], transaction: str) -> list[StructureProblem]:
    seg_id = str(segment["seg_id"])
    where = Where(int(segment["seg_count"] or 0), seg_id, transaction)
    line = int(segment["cur_line"] or 0)
    problems = [
        StructureProblem(
            line, where, "", _without_value(seg_id, str(err["err_str"]), err.get("err_val"))
        )
        for err in segment["errors"]
        if str(err["err_cde"]) != "8"  # "has data element errors": the element says which
    ]
    for element in segment["elements"]:
        ref = f"{seg_id}{int(element['ele_pos']):02d}"
        if element.get("subele_pos") is not None:
            ref += f"-{int(element['subele_pos'])}"
        for err in element["errors"]:
            value = err.get("err_val")
            described = ELEMENT_ERRORS.get(str(err["err_cde"]))
            if described is None:
                message = _without_value(seg_id, str(err["err_str"]), value)
            else:
                shown = f" ({value!r})" if quotable(seg_id, str(err["err_cde"]), value) else ""
                message = f"({element['name']}){shown} {described}"
            problems.append(StructureProblem(line, where, ref, message))
    return problems


def _report_problems(report: dict[str, Any]) -> list[StructureProblem]:
    problems: list[StructureProblem] = []
    for isa in report["interchanges"]:
        problems += [
            _envelope_problem(isa["cur_line"], err, INTERCHANGE_ERRORS, "ISA", "")
            for err in isa["errors"]
        ]
        for gs in isa["groups"]:
            problems += [
                _envelope_problem(gs["cur_line"], err, GROUP_ERRORS, "GS", "")
                for err in gs["errors"]
            ]
            several = len(gs["transactions"]) > 1 or len(isa["groups"]) > 1
            for st in gs["transactions"]:
                control = str(st["trn_set_control_num"]) if several else ""
                problems += [
                    _envelope_problem(st["cur_line"], err, TRANSACTION_ERRORS, "SE", control)
                    for err in st["errors"]
                ]
                for segment in st["segments"]:
                    problems += _segment_problems(segment, control)
    return problems


def _logged_element_errors(messages: Sequence[str]) -> list[tuple[int, str, str]]:
    """Element errors of ISA, GS, ST, SE, GE and IEA, which pyx12 logs but leaves out of its
    JSON report: (line, element such as GS04 or "", pyx12's text) each."""
    found = []
    for message in messages:
        match = _ELEMENT_LOG.match(message)
        if match is not None:
            line, _code, text = match.groups()
            ref = _REFDES.search(text)
            found.append((int(line), ref.group(1) if ref is not None else "", text))
    return found


def _envelope_problems(messages: list[str], reported: set[int]) -> list[StructureProblem]:
    """The envelope's element errors as problems (those on lines the report has not)."""
    return [
        StructureProblem(line, Where(0, element[:-2] if element else "envelope"), element, text)
        for line, element, text in _logged_element_errors(messages)
        if line not in reported
    ]


@dataclass(frozen=True, slots=True)
class Validation:
    """What pyx12 said of one interchange: its report (None when it could not read the file:
    ``unreadable`` says why) and the error lines it logged (element errors of the envelope's
    segments, which its report leaves out)."""

    valid: bool
    report: dict[str, Any] | None
    messages: tuple[str, ...]
    unreadable: StructureProblem | None = None


def validate(text: str) -> Validation:
    """pyx12's validation of one interchange against the 834 5010 X220A1 map (the last one is
    kept: a file acknowledged and then applied is validated once)."""
    text = text.lstrip("\ufeff\r\n\t ")
    digest = hashlib.sha256(text.encode()).digest()
    with _LAST_LOCK:
        kept = _LAST.get(digest)
    if kept is not None:
        return kept
    validation = _validate(text)
    with _LAST_LOCK:
        _LAST.clear()
        _LAST[digest] = validation
    return validation


def _validate(text: str) -> Validation:
    # imported on first use: a gateway that never enrolls never loads it
    import pyx12.errors  # type: ignore[import-untyped]  # noqa: PLC0415
    import pyx12.params  # type: ignore[import-untyped]  # noqa: PLC0415
    import pyx12.x12n_document  # type: ignore[import-untyped]  # noqa: PLC0415

    report = io.StringIO()
    capture = _ErrorLog()
    logger = logging.getLogger(_LOGGER)
    with _LOCK:
        propagate, level = logger.propagate, logger.level
        logger.propagate = False  # pyx12 logs the file's values (PHI): never to our log
        logger.setLevel(logging.ERROR)
        logger.addHandler(capture)
        try:
            valid: bool = pyx12.x12n_document.x12n_document(
                param=pyx12.params.ParamsBase(),  # defaults only: no ~/.pyx12.conf.xml
                src_file=io.StringIO(text),
                fd_997=None,
                fd_html=None,
                fd_json=report,
            )
        except (pyx12.errors.EngineError, pyx12.errors.X12Error) as error:
            name = type(error).__name__
            problem = StructureProblem(0, Where(0, "ISA"), "", f"pyx12 cannot read it ({name})")
            return Validation(False, None, (), problem)
        except Exception as error:  # pyx12 itself breaks on some malformed envelopes
            # (found by fuzzing: a segment terminator lost in GS or ST leaves its loop stack
            # empty: IndexError, AttributeError): the file's structure is what is wrong
            name = type(error).__name__
            problem = StructureProblem(
                0,
                Where(0, "ISA"),
                "",
                f"the envelope (ISA/GS/ST..SE/GE/IEA) is malformed: pyx12 cannot read it ({name})",
            )
            return Validation(False, None, (), problem)
        finally:
            logger.removeHandler(capture)
            logger.propagate, logger.level = propagate, level
    parsed = json.loads(report.getvalue()) if report.getvalue() else None
    return Validation(valid, parsed, tuple(capture.messages))


def structure_problems(text: str) -> list[StructureProblem]:
    """pyx12's validation of one interchange against the 834 5010 X220A1 map, in file order
    (empty: valid)."""
    return _problems(validate(text))


def _problems(validation: Validation) -> list[StructureProblem]:
    if validation.unreadable is not None:
        return [validation.unreadable]
    problems: list[StructureProblem] = []
    if validation.report is not None:
        problems = _report_problems(validation.report)
        reported = {p.line for p in problems}
        problems += _envelope_problems(list(validation.messages), reported)
    if not validation.valid and not problems:
        problems = [StructureProblem(0, Where(0, "ISA"), "", "pyx12 found it invalid")]
    return sorted(problems, key=lambda p: p.line)


# The 999's codes for errors of the envelope's own elements, which pyx12 logs only: IK5 of a
# transaction set's ST and SE, AK9 of a group's GS and GE (pyx12's 999 maps them so too), TA1
# of the ISA and IEA.
TRANSACTION_ELEMENT_CODES = {"ST01": "6", "ST02": "7", "ST03": "I6", "SE01": "4", "SE02": "3"}
GROUP_ELEMENT_CODES = {"GS01": "1", "GS06": "6", "GS08": "2", "GE01": "5", "GE02": "4"}
INTERCHANGE_ELEMENT_CODES = {
    **{f"ISA{n:02d}": code for n, code in enumerate(
        ("010", "011", "012", "013", "005", "006", "007", "008", "014", "015", "016", "017",
         "018", "019", "020", "027"), 1)},
    "IEA01": "021",
    "IEA02": "018",
}  # fmt: skip
GROUP_NOT_SUPPORTED, VERSION_NOT_SUPPORTED, GROUP_TRAILER_MISSING = "1", "2", "3"  # AK905
GROUP_CONTROL_NOT_UNIQUE = "19"  # AK905
SET_NOT_SUPPORTED, SET_TRAILER_MISSING = "1", "2"  # IK502
REQUIRED_SEGMENT_MISSING = "3"  # IK304
UNRECOGNIZED_SEGMENT, UNEXPECTED_SEGMENT = "1", "2"  # IK304
TOO_LONG = "5"  # IK403
ELEMENTS_KEPT_CHARS_MAX = ELEMENT_CHARS_MAX  # longer, and pyx12 loses its place
INVALID_CONTENT = "024"  # TA105: invalid interchange content (pyx12 could not read it)
DUPLICATE_INTERCHANGE = "025"  # TA105: the sender's ISA13 names another file already
NO_ERROR = ack.NO_ERROR
IK403_CODES = frozenset(ELEMENT_ERRORS)  # the IK403 codes the messages describe
# the element errors whose value a message or a 999 may quote: a code that is not in its list
# (an identifier, a name or a date is PHI even in a quotable segment: INS12 is a date of death)
QUOTABLE_ERRORS = frozenset({"7", "I6"})
_CODE_SHAPED = re.compile(r"[A-Z0-9]{1,4}")


def quotable(segment_id: str, code: str, value: object) -> bool:
    """Whether an element's bad value may be shown: one shaped like a code (a few capitals
    or digits: a date, an identifier or a name shifted into a code's place is not), wrong as
    a code, in a segment of no PHI."""
    return (
        segment_id in QUOTABLE_SEGMENTS
        and code in QUOTABLE_ERRORS
        and isinstance(value, str)
        and _CODE_SHAPED.fullmatch(value) is not None
    )


@dataclass(frozen=True, slots=True)
class _Set:
    """A transaction set as the file holds it (from its own segments, not pyx12's report)."""

    st: Segment
    segments: list[Segment]  # ST .. SE (SE absent: its trailer is missing)
    has_trailer: bool
    loops: dict[int, str] = field(default_factory=dict)  # position -> its LS/LE loop's ID

    @property
    def control(self) -> str:
        return self.st.get(2)

    def loop_of(self, position: int) -> str:
        """IK303: the LS/LE loop's identifier around the segment at ``position``."""
        if not self.loops:
            loop = ""
            for segment in self.segments:  # once per set (it was once per error: quadratic)
                self.loops[segment.where.segment] = loop
                if segment.segment_id == "LS":
                    loop = segment.get(1)
                elif segment.segment_id == "LE":
                    loop = ""  # the LE itself is in the loop it closes
            self.loops[-1] = loop  # past the last segment
        return self.loops.get(position, self.loops[-1])


@dataclass(frozen=True, slots=True)
class _Group:
    gs: Segment
    sets: list[_Set]
    has_trailer: bool
    ge: Segment | None


def _groups(segments: list[Segment]) -> list[_Group]:
    groups: list[_Group] = []
    for segment in segments:
        kind = segment.segment_id
        if kind == "GS":
            groups.append(_Group(segment, [], False, None))
        elif not groups:
            continue
        elif kind == "GE":
            groups[-1] = _Group(groups[-1].gs, groups[-1].sets, True, segment)
        elif kind == "ST":
            groups[-1].sets.append(_Set(segment, [segment], False))
        elif groups[-1].sets and not groups[-1].sets[-1].has_trailer and kind != "IEA":
            current = groups[-1].sets[-1]
            current.segments.append(segment)
            if kind == "SE":
                groups[-1].sets[-1] = _Set(current.st, current.segments, True)
    return groups


@functools.cache
def _pyx12_map(name: str) -> Any:
    """One of pyx12's implementation-guide maps (its XML), read once."""
    import importlib.resources  # noqa: PLC0415
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    path = importlib.resources.files("pyx12") / "map" / name
    return ET.fromstring(path.read_text())  # noqa: S314 - pyx12's own map, not input


@functools.cache
def _codes_999(element: str) -> frozenset[str]:
    """The codes the 999's guide lists for ``element`` (AK101: the HIPAA functional groups,
    AK201: their transaction sets, IK304, IK502, AK905: the error codes), from pyx12's map."""
    return frozenset(
        code.text or ""
        for node in _pyx12_map("999.5010X231.A1.xml").iter("element")
        if node.get("xid") == element
        for code in node.iter("code")
    )


@functools.cache
def _known_segment_ids() -> frozenset[str]:
    """The segment IDs the 834's implementation guide uses (pyx12's map)."""
    return frozenset(
        segment.get("xid") or ""
        for segment in _pyx12_map("834.5010.X220.A1.xml").iter("segment")
        if segment.get("xid")
    )


def _segment_notes(segment: dict[str, Any], known: frozenset[str]) -> list[ack.SegmentNote]:
    seg_id = str(segment["seg_id"])
    elements = tuple(
        ack.ElementNote(
            position=int(element["ele_pos"]),
            code=str(err["err_cde"]),
            reference=str(element.get("ele_ref_num") or ""),
            component=element.get("subele_pos"),
            repeat=element.get("repeat_pos"),
            # the sender's own value, quoted only where it is a code of a segment of no PHI
            copy=str(err.get("err_val"))
            if quotable(seg_id, str(err["err_cde"]), err.get("err_val"))
            else "",
        )
        for element in segment["elements"]
        for err in element["errors"]
        if str(err["err_cde"]) in IK403_CODES
    )
    codes = []
    for error in segment["errors"]:
        code = str(error["err_cde"])
        if code == "SEG1":
            code = ack.SEGMENT_HAS_ELEMENT_ERRORS
        elif code == UNRECOGNIZED_SEGMENT and seg_id in known:
            code = UNEXPECTED_SEGMENT  # the guide's segment, where the guide has none
        codes.append(code)
    if elements:
        codes.append(ack.SEGMENT_HAS_ELEMENT_ERRORS)
    position = int(segment["seg_count"] or 0)
    return [
        ack.SegmentNote(
            seg_id, position, code, "", elements if code == ack.SEGMENT_HAS_ELEMENT_ERRORS else ()
        )
        for code in dict.fromkeys(codes)
        if code in _codes_999("IK304")
    ]


def _unclosed_loops(found: _Set) -> list[ack.SegmentNote]:
    """An LS with no LE before the set's end: the LE is a required segment missing (pyx12
    does not see it)."""
    notes: list[ack.SegmentNote] = []
    open_loop: str | None = None
    for segment in found.segments:
        if segment.segment_id == "LS":
            open_loop = segment.get(1)
        elif segment.segment_id == "LE":
            open_loop = None
        elif segment.segment_id == "SE" and open_loop is not None:
            notes.append(
                ack.SegmentNote("LE", segment.where.segment, REQUIRED_SEGMENT_MISSING, open_loop)
            )
    return notes


def _enclosing(items: list[dict[str, Any]], line: int) -> dict[str, Any] | None:
    """The first of ``items`` (in file order, each ending at its cur_line) holding ``line``."""
    return next((i for i in items if int(i["cur_line"] or 0) >= line), None)


def _overlong(groups: list[_Group]) -> list[ack.GroupNote] | None:
    """An element longer than any the guide has (pyx12 then loses its place): that element's
    IK4, the first one found, and its set's verdict; no set of the file was examined, so none
    is acknowledged but that one, and each group is rejected. None when there is none."""
    for number, group in enumerate(groups):
        for found in group.sets:
            for segment in found.segments:
                for index, element in enumerate(segment.elements[1:], 1):
                    if len(element) > ELEMENTS_KEPT_CHARS_MAX:
                        note = ack.SegmentNote(
                            segment.segment_id,
                            segment.where.segment,
                            ack.SEGMENT_HAS_ELEMENT_ERRORS,
                            found.loop_of(segment.where.segment),
                            (ack.ElementNote(index, TOO_LONG),),
                        )
                        bad = ack.TransactionNote(
                            found.st.get(1), found.control, found.st.get(3), (note,)
                        )
                        notes = [_unexamined(g) for g in groups]
                        notes[number] = replace(notes[number], transactions=(bad,))
                        return notes
    return None


def _unexamined(group: _Group, *codes: str) -> ack.GroupNote:
    """A group whose sets were not examined one by one: rejected, its sets counted only."""
    return ack.GroupNote(
        functional_id=group.gs.get(1),
        control=group.gs.get(6),
        implementation=group.gs.get(8),
        included=_count(group.ge.get(1) if group.ge is not None else ""),
        transactions=(),
        codes=codes,
        received=len(group.sets),
        in_error=True,
    )


_CONTROL = re.compile(r"[A-Za-z0-9]{4,9}")  # ST02 as AK202 can hold it
_NUMBER = re.compile(r"[0-9]{1,9}")  # GS06 as AK102 can hold it; GE01 as AK902


def _count(value: str) -> int:
    return int(value) if _NUMBER.fullmatch(value) else 0


def _is_834(gs: Segment) -> bool:
    return gs.get(1) == "BE" and gs.get(8) == IMPLEMENTATION


def _group_note(group: _Group, examined: list[ack.TransactionNote | None]) -> ack.GroupNote:
    """The group as the file holds it: each set's note as examined (in file order), a set
    pyx12 did not examine (None) not supported when it is not an 834 (IK502 1); a group of
    another kind or version not examined at all (AK905 1 or 2)."""
    trailer: tuple[str, ...] = () if group.has_trailer else (GROUP_TRAILER_MISSING,)
    if not _is_834(group.gs):
        unsupported = GROUP_NOT_SUPPORTED if group.gs.get(1) != "BE" else VERSION_NOT_SUPPORTED
        return _unexamined(group, *trailer, unsupported)
    sets = []
    for found, note in zip(group.sets, examined, strict=True):
        if found.st.get(1) not in _codes_999("AK201") or not _CONTROL.fullmatch(found.control):
            # no AK2 can name it (a set ID the 999 does not list, a control number that is
            # not one): not acknowledged, and the group is R
            continue
        if note is not None:
            sets.append(note)
            continue
        codes: tuple[str, ...] = () if found.st.get(1) == "834" else (SET_NOT_SUPPORTED,)
        if not found.has_trailer:
            codes += (SET_TRAILER_MISSING,)
        sets.append(ack.TransactionNote(found.st.get(1), found.control, found.st.get(3), (), codes))
    unnamed = len(sets) < len(group.sets)
    return ack.GroupNote(
        functional_id=group.gs.get(1),
        control=group.gs.get(6),
        implementation=group.gs.get(8),
        included=_count(group.ge.get(1) if group.ge is not None else ""),
        transactions=tuple(sets),
        codes=trailer,
        received=len(group.sets) if unnamed else None,
        in_error=unnamed,
    )


def _sound(gs: Segment) -> bool:
    """A GS whose group can be named in an AK1: its code, control number and version are
    what those elements can hold."""
    return (
        len(gs.elements) == 9
        and gs.get(1) in _codes_999("AK101")
        and _NUMBER.fullmatch(gs.get(6)) is not None
        and IMPLEMENTATION_SHAPE.fullmatch(gs.get(8)) is not None
    )


# ISA05/ISA07: the interchange ID qualifiers X12 lists (anything else is answered as ZZ,
# mutually defined, and the TA1 rejects it)
QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})


def _application_id(value: str, fallback: str) -> str:
    """A GS02/GS03 as the 999's GS can hold it (2-15 characters), else the interchange's ID
    (else a placeholder): the file's own may be anything."""
    for candidate in (value, fallback):
        cleaned = element_text(candidate, 15)
        if len(cleaned) >= 2 and cleaned == candidate.strip():
            return cleaned
    return "UNKNOWN"


def _qualifier(value: str) -> str:
    return value if value in QUALIFIERS else "ZZ"


def _is_time(value: str, shape: str, length: int) -> bool:
    if re.fullmatch(f"[0-9]{{{length}}}", value) is None:
        return False
    try:
        dt.datetime.strptime(value, shape)  # noqa: DTZ007 - a date or a time of day, no zone
    except ValueError:
        return False
    return True


def _interchange_note(isa: Segment, at: dt.datetime) -> ack.InterchangeNote:
    """The TA1's echo of ISA13, ISA09 and ISA10, each as sent when it is what the element
    can hold (else the TA1 rejects it with its note code, echoing a placeholder)."""
    control, day, time = isa.get(13), isa.get(9), isa.get(10)
    code = NO_ERROR
    if not isa.get(6):
        code = "006"  # invalid interchange sender ID
    elif not isa.get(8):
        code = "008"  # invalid interchange receiver ID
    if re.fullmatch(r"[0-9]{9}", control) is None:
        control, code = "000000000", "018"  # invalid interchange control number value
    if not _is_time(day, "%y%m%d", 6):
        day, code = f"{at:%y%m%d}", "014"  # invalid interchange date value
    if not _is_time(time, "%H%M", 4):
        time, code = f"{at:%H%M}", "015"  # invalid interchange time value
    return ack.InterchangeNote(control, day, time, code, requested=isa.get(14) == "1")


def _set_note(
    st: dict[str, Any], found: _Set | None, extra: list[str], known: frozenset[str]
) -> ack.TransactionNote:
    """One set as pyx12 examined it, with what its own segments add (its LS/LE loops, a
    missing SE)."""
    segment_notes = [n for seg in st["segments"] for n in _segment_notes(seg, known)]
    codes = [str(e["err_cde"]) for e in st["errors"]] + extra
    if found is not None:
        segment_notes = [
            replace(n, loop_id=found.loop_of(n.position)) for n in segment_notes
        ] + _unclosed_loops(found)
        if not found.has_trailer:
            codes.append(SET_TRAILER_MISSING)
            segment_notes = [n for n in segment_notes if n.segment_id != "SE"]
    return ack.TransactionNote(
        set_id=str(st["trn_set_id"] or ""),
        # the file's own ST02: pyx12 gives the last SE's number to a set after one without
        control=found.control if found is not None else str(st["trn_set_control_num"] or ""),
        implementation=str(st["vriic"] or ""),
        segments=tuple(segment_notes),
        codes=tuple(c for c in codes if c in _codes_999("IK502")),
    )


def _notes(
    validation: Validation, segments: list[Segment], at: dt.datetime
) -> tuple[list[ack.GroupNote], ack.InterchangeNote]:
    """The 999's notes: pyx12's report laid over the file's own groups and sets (which say
    what pyx12 leaves out: a set it does not map, a missing SE or GE, an LS/LE loop)."""
    interchange = _interchange_note(segments[0], at)
    groups = _groups(segments)
    if not groups or not all(_sound(g.gs) for g in groups):
        # nothing to acknowledge, or a group no AK1 can name
        return [], replace(interchange, note_code=INVALID_CONTENT)
    if (overlong := _overlong(groups)) is not None:
        return overlong, interchange
    report = validation.report
    if validation.unreadable is not None or report is None or not report["interchanges"]:
        if not all(_is_834(g.gs) for g in groups):
            # groups of another kind or version than the 834's: their AK905 says so
            return [_group_note(g, [None] * len(g.sets)) for g in groups], interchange
        return [], replace(interchange, note_code=INVALID_CONTENT)
    isa_report = report["interchanges"][0]
    isa_codes = [str(e["err_cde"]) for e in isa_report["errors"]]
    reported = isa_report["groups"]
    extra_group: dict[int, list[str]] = {}
    group_in_error: set[int] = set()
    extra_set: dict[int, list[str]] = {}
    for line, element, _ in _logged_element_errors(validation.messages):
        if not element:
            continue
        if element in INTERCHANGE_ELEMENT_CODES:
            isa_codes.append(INTERCHANGE_ELEMENT_CODES[element])
        elif (in_group := _enclosing(reported, line)) is not None:
            if element in GROUP_ELEMENT_CODES:
                extra_group.setdefault(id(in_group), []).append(GROUP_ELEMENT_CODES[element])
            elif element.startswith(("GS", "GE")):
                group_in_error.add(id(in_group))  # no AK905 code names it: rejected
            elif element in TRANSACTION_ELEMENT_CODES:
                st = _enclosing(in_group["transactions"], line)
                if st is not None:
                    extra_set.setdefault(id(st), []).append(TRANSACTION_ELEMENT_CODES[element])
    known = _known_segment_ids()
    notes = []
    for number, group in enumerate(groups):
        pyx12_group = reported[number] if number < len(reported) else None
        # pyx12 reports the 834 sets it examined, in file order (not another kind's)
        examined = iter(pyx12_group["transactions"] if pyx12_group is not None else ())
        by_set: list[ack.TransactionNote | None] = []
        for found in group.sets:
            st = next(examined, None) if found.st.get(1) == "834" else None
            by_set.append(
                None if st is None else _set_note(st, found, extra_set.get(id(st), []), known)
            )
        note = _group_note(group, by_set)
        codes = list(note.codes)
        if pyx12_group is not None:
            codes += [
                # pyx12 codes a GS06 used twice 6 (violates syntax); the 999's code is 19
                GROUP_CONTROL_NOT_UNIQUE
                if str(e["err_cde"]) == "6" and "not unique" in str(e["err_str"])
                else str(e["err_cde"])
                for e in pyx12_group["errors"]
            ]
            codes += extra_group.get(id(pyx12_group), [])
        if group.has_trailer:  # pyx12 says so of a missing SE too: the set's IK5 says it
            codes = [c for c in codes if c != GROUP_TRAILER_MISSING]
        in_error = note.in_error or (pyx12_group is not None and id(pyx12_group) in group_in_error)
        notes.append(
            replace(
                note, codes=tuple(c for c in codes if c in _codes_999("AK905")), in_error=in_error
            )
        )
    if isa_codes == [INVALID_CONTENT] and not all(g.has_trailer for g in groups):
        isa_codes = []  # pyx12's answer to a missing GE: the group's AK905 3 says it
    if isa_codes and interchange.accepted:
        interchange = replace(interchange, note_code=isa_codes[0])
    if not validation.valid and interchange.accepted and all(g.accepted for g in notes):
        # pyx12 found the file invalid where no note above says why: never an acceptance
        notes = [replace(g, in_error=True) for g in notes]
    return notes, interchange


def acknowledge(data: bytes, source: str, at: dt.datetime) -> PendingAcknowledgment:
    """The 999 (with a TA1 where one is due) answering an 834 file's structure as pyx12
    validated it: addressed back to its sender (ISA and GS sender and receiver swapped, its
    usage indicator kept). What it returns writes it under an interchange control number (ISA13
    and GS06), taken only once the file was found to have an envelope to answer. A file that
    is no X12 interchange at all has none: InvalidRequest, as for reading it."""
    text = decode(data, source)
    found, segments = split(text, source, element_chars_max=None)
    isa = segments[0]
    gs = next((s for s in segments if s.segment_id == "GS"), None)
    groups, interchange = _notes(validate(text), segments, at)

    def numbered(control_number: int, reused: bool) -> Acknowledgment:
        answered = interchange
        if reused and answered.accepted:
            answered = replace(answered, note_code=DUPLICATE_INTERCHANGE)
        envelope = Envelope(
            sender_id=isa.get(8) or "RXGATEWAY",
            receiver_id=isa.get(6) or "UNKNOWN",
            produced_at=at,
            interchange_control_number=control_number,
            group_control_number=control_number,
            functional_code="FA",
            implementation=ack.IMPLEMENTATION,
            sender_qualifier=_qualifier(isa.get(7)),
            receiver_qualifier=_qualifier(isa.get(5)),
            usage=isa.get(15),
            group_sender_id=_application_id(gs.get(3) if gs is not None else "", isa.get(8)),
            group_receiver_id=_application_id(gs.get(2) if gs is not None else "", isa.get(6)),
        )
        accepted = bool(groups) and answered.accepted and all(g.accepted for g in groups)
        return Acknowledgment(ack.acknowledgment(envelope, groups, answered), accepted)

    return PendingAcknowledgment(identity(isa, segments, found), numbered)


def decode(data: bytes, source: str) -> str:
    """The file's text: X12's character sets are within UTF-8 (the basic set within ASCII)."""
    if len(data) > ENROLLMENT_BYTES_MAX:
        msg = f"{len(data)} bytes: at most {ENROLLMENT_BYTES_MAX} (split the file)"
        raise InvalidRequest(source, msg)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        msg = f"byte {error.start} is not UTF-8 text: an 834 is X12 text"
        raise InvalidRequest(source, msg) from None


# ISA, GS, ST, BGN, N1 (sponsor), N1 (payer), SE, GE, IEA: fewer, and the file's segments
# were not told apart
ENVELOPE_SEGMENTS_MIN = 9
# GS08 as an implementation guide names itself (005010X220A1, 005010X221A1, ...)
IMPLEMENTATION_SHAPE = re.compile(r"\d{6}X\d{3}[A-Z0-9]*")


def read_enrollment(data: bytes, source: str, plans: Mapping[str, Plan]) -> Enrollment:
    """Validate the whole file, structure first (pyx12), then meaning; the Enrollment it
    says, or InvalidRequest naming the file, segment and element of the first problem."""
    text = decode(data, source)
    found, segments = split(text, source)  # an X12 interchange at all, before pyx12 reads it
    gs = next((s for s in segments if s.segment_id == "GS"), None)
    if gs is None or gs.get(1) != "BE" or gs.get(8) != IMPLEMENTATION:
        # not an 834, or no GS08 at all: a file whose segments end with another character
        # than its ISA declares, or whose ISA is short of a separator, has no GS of its own
        # to blame (its GS is glued to the segments around it)
        if gs is None or not IMPLEMENTATION_SHAPE.fullmatch(gs.get(8).strip()):
            if len(segments) < ENVELOPE_SEGMENTS_MIN:
                shown = repr(found.segment)
                raise InvalidRequest(
                    source,
                    f"ISA: only {len(segments)} segment(s) end with the segment terminator the"
                    f" ISA declares ({shown}, its 106th character): a file cut short, or"
                    " segments ended by another character (end every segment with it)",
                )
            _raise_structure_problems(source, text)
        raise InvalidRequest(
            source, f"GS: GS08 must be {IMPLEMENTATION} with GS01 BE (an 834 enrollment)"
        )
    _raise_structure_problems(source, text)
    return read_834(text, source, plans)


def _raise_structure_problems(source: str, text: str) -> None:
    """The first problem pyx12 finds (and how many more), as one line; nothing if none."""
    problems = structure_problems(text)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidRequest(source, problems[0].text() + more)


class X12EnrollmentReader:
    """The service layer's EnrollmentReader: bytes of an 834 file → Enrollment."""

    def read(self, data: bytes, source: str, plans: Mapping[str, Plan]) -> Enrollment:
        return read_enrollment(data, source, plans)

    def acknowledge(self, data: bytes, source: str, at: dt.datetime) -> PendingAcknowledgment:
        return acknowledge(data, source, at)
