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
import hashlib
import io
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rx_gateway.domain.enrollment import Acknowledgment, Enrollment, Where
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.reference import Plan
from rx_gateway.x12 import acknowledgment_999 as ack
from rx_gateway.x12.enrollment_834 import IMPLEMENTATION, Segment, read_834, split
from rx_gateway.x12.envelope import Envelope

ENROLLMENT_BYTES_MAX = 256 * 1024 * 1024  # about 300,000 members; larger files are split
_LOGGER = "pyx12"
_LOCK = threading.Lock()  # pyx12's log is process-wide: one validation at a time
_LAST: dict[bytes, Validation] = {}  # the last validation, by the text's SHA-256
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
                shown = f" ({value!r})" if value and seg_id in QUOTABLE_SEGMENTS else ""
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


def _envelope_problems(messages: list[str], reported: set[int]) -> list[StructureProblem]:
    """Element errors of ISA, GS, ST, SE, GE and IEA: pyx12 logs them but leaves them out of
    its JSON report."""
    problems: list[StructureProblem] = []
    for message in messages:
        match = _ELEMENT_LOG.match(message)
        if match is None or int(match.group(1)) in reported:
            continue
        line, _code, text = match.groups()
        ref = _REFDES.search(text)
        element = ref.group(1) if ref is not None else ""
        where = Where(0, element[:-2] if element else "envelope")
        problems.append(StructureProblem(int(line), where, element, text))
    return problems


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
    digest = hashlib.sha256(text.encode()).digest()
    with _LOCK:
        kept = _LAST.get(digest)
    if kept is not None:
        return kept
    validation = _validate(text)
    with _LOCK:
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
GROUP_TRAILER_MISSING = "3"  # AK905
INVALID_CONTENT = "024"  # TA105: invalid interchange content (pyx12 could not read it)
IK304_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "I4", "I6", "I7", "I8", "I9"})
IK403_CODES = frozenset(ELEMENT_ERRORS)
IK502_CODES = frozenset((
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "15", "16", "17", "18",
    "19", "23", "24", "25", "26", "27", "I5", "I6",
))  # fmt: skip
AK905_CODES = frozenset((
    "1", "2", "3", "4", "5", "6", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
    "23", "24", "25", "26",
))  # fmt: skip


def _segment_notes(segment: dict[str, Any]) -> list[ack.SegmentNote]:
    seg_id = str(segment["seg_id"])
    elements = tuple(
        ack.ElementNote(
            position=int(element["ele_pos"]),
            code=str(err["err_cde"]),
            reference=str(element.get("ele_ref_num") or ""),
            component=element.get("subele_pos"),
            repeat=element.get("repeat_pos"),
            # the sender's own value, quoted only where no PHI can be (as an error line)
            copy=str(err.get("err_val") or "") if seg_id in QUOTABLE_SEGMENTS else "",
        )
        for element in segment["elements"]
        for err in element["errors"]
        if str(err["err_cde"]) in IK403_CODES
    )
    codes = [
        ack.SEGMENT_HAS_ELEMENT_ERRORS if str(e["err_cde"]) == "SEG1" else str(e["err_cde"])
        for e in segment["errors"]
    ]
    if elements:
        codes.append(ack.SEGMENT_HAS_ELEMENT_ERRORS)
    position = int(segment["seg_count"] or 0)
    loop = str(segment.get("ls_id") or "")
    return [
        ack.SegmentNote(
            seg_id,
            position,
            code,
            loop,
            elements if code == ack.SEGMENT_HAS_ELEMENT_ERRORS else (),
        )
        for code in dict.fromkeys(codes)
        if code in IK304_CODES
    ]


def _envelope_codes(messages: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, element) of each envelope element error pyx12 logged."""
    found = []
    for message in messages:
        match = _ELEMENT_LOG.match(message)
        ref = _REFDES.search(match.group(3)) if match is not None else None
        if match is not None and ref is not None:
            found.append((int(match.group(1)), ref.group(1)))
    return found


def _enclosing(items: list[dict[str, Any]], line: int) -> dict[str, Any] | None:
    """The first of ``items`` (in file order, each ending at its cur_line) holding ``line``."""
    return next((i for i in items if int(i["cur_line"] or 0) >= line), None)


def _notes(
    validation: Validation, isa: Segment, trailers: int
) -> tuple[list[ack.GroupNote], ack.InterchangeNote]:
    """The 999's notes from pyx12's report; ``trailers``: the GE segments the file holds (a
    group past them has none: AK905 3, which pyx12 files at the interchange only)."""
    interchange = ack.InterchangeNote(
        isa.get(13), isa.get(9), isa.get(10), requested=isa.get(14) == "1"
    )
    report = validation.report
    if validation.unreadable is not None or report is None or not report["interchanges"]:
        return [], replace(interchange, note_code=INVALID_CONTENT)
    isa_report = report["interchanges"][0]
    isa_codes = [str(e["err_cde"]) for e in isa_report["errors"]]
    groups = isa_report["groups"]
    extra_group: dict[int, list[str]] = {}
    extra_transaction: dict[int, list[str]] = {}
    for line, element in _envelope_codes(validation.messages):
        if element in INTERCHANGE_ELEMENT_CODES:
            isa_codes.append(INTERCHANGE_ELEMENT_CODES[element])
        elif (group := _enclosing(groups, line)) is not None:
            if element in GROUP_ELEMENT_CODES:
                extra_group.setdefault(id(group), []).append(GROUP_ELEMENT_CODES[element])
            elif element in TRANSACTION_ELEMENT_CODES:
                transaction = _enclosing(group["transactions"], line)
                if transaction is not None:
                    code = TRANSACTION_ELEMENT_CODES[element]
                    extra_transaction.setdefault(id(transaction), []).append(code)
    notes = []
    for number, group in enumerate(groups, 1):
        transactions = tuple(
            ack.TransactionNote(
                set_id=str(st["trn_set_id"] or ""),
                control=str(st["trn_set_control_num"] or "").strip(),
                implementation=str(st["vriic"] or ""),
                segments=tuple(n for seg in st["segments"] for n in _segment_notes(seg)),
                codes=tuple(
                    code
                    for code in [str(e["err_cde"]) for e in st["errors"]]
                    + extra_transaction.get(id(st), [])
                    if code in IK502_CODES
                ),
            )
            for st in group["transactions"]
        )
        codes = [str(e["err_cde"]) for e in group["errors"]] + extra_group.get(id(group), [])
        if number > trailers:
            codes.append(GROUP_TRAILER_MISSING)
        notes.append(
            ack.GroupNote(
                functional_id=str(group["fic"] or ""),
                control=str(group["gs_control_num"] or ""),
                implementation=str(group["vriic"] or ""),
                included=int(group["st_count_orig"] or 0),
                transactions=transactions,
                codes=tuple(c for c in codes if c in AK905_CODES),
            )
        )
    if isa_codes:
        interchange = replace(interchange, note_code=isa_codes[0])
    return notes, interchange


def acknowledge(data: bytes, source: str, control_number: int, at: dt.datetime) -> Acknowledgment:
    """The 999 (with a TA1 where one is due) answering an 834 file's structure as pyx12
    validated it: addressed back to its sender (ISA and GS sender and receiver swapped, its
    usage indicator kept), under ``control_number`` as ISA13 and GS06. A file that is no X12
    interchange at all has no envelope to answer: InvalidRequest, as for reading it."""
    text = decode(data, source)
    _, segments = split(text, source)
    isa = segments[0]
    gs = next((s for s in segments if s.segment_id == "GS"), None)
    trailers = sum(1 for s in segments if s.segment_id == "GE")
    groups, interchange = _notes(validate(text.lstrip("\ufeff\r\n\t ")), isa, trailers)
    envelope = Envelope(
        sender_id=isa.get(8) or "RXGATEWAY",
        receiver_id=isa.get(6) or "UNKNOWN",
        produced_at=at,
        interchange_control_number=control_number,
        group_control_number=control_number,
        functional_code="FA",
        implementation=ack.IMPLEMENTATION,
        sender_qualifier=isa.get(7),
        receiver_qualifier=isa.get(5),
        usage=isa.get(15),
        group_sender_id=gs.get(3) if gs is not None else "",
        group_receiver_id=gs.get(2) if gs is not None else "",
    )
    accepted = bool(groups) and interchange.accepted and all(g.accepted for g in groups)
    return Acknowledgment(ack.acknowledgment(envelope, groups, interchange), accepted)


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
    problems = structure_problems(text.lstrip("\ufeff\r\n\t "))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidRequest(source, problems[0].text() + more)


class X12EnrollmentReader:
    """The service layer's EnrollmentReader: bytes of an 834 file → Enrollment."""

    def read(self, data: bytes, source: str, plans: Mapping[str, Plan]) -> Enrollment:
        return read_enrollment(data, source, plans)

    def acknowledge(
        self, data: bytes, source: str, control_number: int, at: dt.datetime
    ) -> Acknowledgment:
        return acknowledge(data, source, control_number, at)
