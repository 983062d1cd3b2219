"""An independent X12 validator for the tests: pyx12's HIPAA implementation-guide maps.

`x12_errors` runs pyx12's own validation driver (`pyx12.x12n_document.x12n_document`, the
function behind its `x12valid` command) on a document held in memory and returns one line per
error. The map is chosen by pyx12 from ISA12/GS01/GS08: 005010X221A1 (835) and 005010X220A1
(834) are the ones the tests use. No network, no files: everything pyx12 needs ships in its
wheel.

What pyx12 checks: the envelope (ISA/IEA, GS/GE, ST/SE control numbers and counts), the
transaction set's loop and segment structure (order, required segments and loops, repeats),
each element's usage (required, not used), length, data type, dates and times, and the code
values listed in the implementation guide. What it does not check: the 835's balancing (BPR02
against the claims and PLB, CLP03 - CLP04 against the CAS amounts, SVC against CAS), the
Claim Adjustment Reason Codes in CAS02/05/08... (data element 1034 has no code list in its
maps), and identifier check digits such as the NPI's.

Errors are collected from pyx12's JSON error report (`fd_json`, issue #50), which names the
segment, element, error code and bad value. That report leaves out element errors in the
envelope segments (ISA, GS, ST, SE, GE, IEA: pyx12 files them on the envelope node, which its
visitors do not walk), so those are taken from the error lines pyx12 logs as it validates.
The error codes are the 999's: IK304 for segments, IK403 for elements, IK502 for a
transaction set, AK905 for a group, TA105 for an interchange.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from typing import Any

import pyx12.errors  # type: ignore[import-untyped]
import pyx12.params  # type: ignore[import-untyped]
import pyx12.x12n_document  # type: ignore[import-untyped]

__all__ = ["x12_errors"]

_LOGGER = "pyx12"
_ELEMENT_LOG = re.compile(r"^Line:(\d+) ELE:(\S+) - (.*)$", re.DOTALL)
_TRAILING_VALUE = re.compile(r"^(.*) \(([^()]*)\)$", re.DOTALL)
_REFDES = re.compile(r"\(((?:ISA|IEA|GS|GE|ST|SE)\d{2})\)")
_LOCK = threading.Lock()  # the log capture is process-wide: one validation at a time


class _ErrorLog(logging.Handler):
    """Keeps the messages pyx12 logs at ERROR while one document is validated."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _value(err_str: str, err_val: object) -> str:
    """The bad value, when pyx12 gave one that its message does not already show."""
    if err_val is None or err_val == "" or f"({err_val})" in err_str:
        return ""
    return f" (value {err_val!r})"


def _element_ref(seg_id: str, element: dict[str, Any]) -> str:
    ref = f"{seg_id}{int(element['ele_pos']):02d}"
    if element.get("subele_pos") is not None:
        ref += f"-{int(element['subele_pos'])}"
    if element.get("repeat_pos") is not None:
        ref += f" repeat {int(element['repeat_pos'])}"
    return ref


def _segment_lines(segment: dict[str, Any]) -> list[str]:
    seg_id = str(segment["seg_id"])
    where = f"line {segment['cur_line']} {seg_id} ({segment['name']})"
    lines = [
        f"{where}: segment error IK304={err['err_cde']}: {err['err_str']}"
        f"{_value(err['err_str'], err.get('err_val'))}"
        for err in segment["errors"]
    ]
    for element in segment["elements"]:
        ref = _element_ref(seg_id, element)
        lines.extend(
            f"line {segment['cur_line']} {ref} ({element['name']}): element error "
            f"IK403={err['err_cde']}: {err['err_str']}{_value(err['err_str'], err.get('err_val'))}"
            for err in element["errors"]
        )
    return lines


def _report_lines(report: dict[str, Any]) -> tuple[list[str], set[int]]:
    """Lines for every error in pyx12's JSON report, and the lines of the segments whose
    element errors it holds."""
    lines: list[str] = []
    element_lines: set[int] = set()
    for isa in report["interchanges"]:
        lines.extend(
            f"ISA {isa['isa_trn_set_id']}: interchange error TA105={err['err_cde']}: "
            f"{err['err_str']}"
            for err in isa["errors"]
        )
        for gs in isa["groups"]:
            lines.extend(
                f"GS {gs['gs_control_num']} ({gs['fic']} {gs['vriic']}): group error "
                f"AK905={err['err_cde']}: {err['err_str']}"
                for err in gs["errors"]
            )
            for st in gs["transactions"]:
                lines.extend(
                    f"ST {st['trn_set_id']} {st['trn_set_control_num']}: transaction set error "
                    f"IK502={err['err_cde']}: {err['err_str']}"
                    for err in st["errors"]
                )
                for segment in st["segments"]:
                    lines.extend(_segment_lines(segment))
                    if any(element["errors"] for element in segment["elements"]):
                        element_lines.add(int(segment["cur_line"]))
    return lines, element_lines


def _envelope_element_lines(messages: list[str], reported: set[int]) -> list[str]:
    """Element errors pyx12 logged but left out of its JSON report: those of ISA, GS, ST, SE,
    GE and IEA (each message names the element, e.g. "(ISA09)")."""
    lines: list[str] = []
    for message in messages:
        match = _ELEMENT_LOG.match(message)
        if match is None or int(match.group(1)) in reported:
            continue
        line, code, text = match.groups()
        value = _TRAILING_VALUE.match(text)
        if value is not None and value.group(2) in value.group(1):
            text = value.group(1)  # the log appends the bad value its message already shows
        ref = _REFDES.search(text)
        where = ref.group(1) if ref is not None else "(envelope)"
        lines.append(f"line {line} {where}: element error IK403={code}: {text}")
    return lines


def x12_errors(text: str) -> list[str]:
    """Validate one X12 document (an interchange: ISA ... IEA) with pyx12.

    Returns one human-readable line per error, naming where it is (line = segment number in
    the interchange, segment and element), the 999 error code and pyx12's message; an empty
    list means pyx12 found the document valid.
    """
    if not text.lstrip().startswith("ISA"):
        return ["not an X12 interchange: the text does not begin with an ISA segment"]
    report = io.StringIO()
    log = _ErrorLog()
    logger = logging.getLogger(_LOGGER)
    with _LOCK:
        old_level = logger.level
        if logger.getEffectiveLevel() > logging.ERROR:
            logger.setLevel(logging.ERROR)
        logger.addHandler(log)
        try:
            valid: bool = pyx12.x12n_document.x12n_document(
                param=pyx12.params.ParamsBase(),  # defaults only: no ~/.pyx12.conf.xml
                src_file=io.StringIO(text),
                fd_997=None,
                fd_html=None,
                fd_json=report,
            )
        except (pyx12.errors.EngineError, pyx12.errors.X12Error) as exc:
            return [f"pyx12 could not validate the document: {exc}"]
        finally:
            logger.removeHandler(log)
            logger.setLevel(old_level)
    lines: list[str] = []
    if report.getvalue():
        parsed: dict[str, Any] = json.loads(report.getvalue())
        lines, reported = _report_lines(parsed)
        lines.extend(_envelope_element_lines(log.messages, reported))
    if not valid and not lines:
        # e.g. not an X12 document at all: pyx12 only logs why
        lines = [f"pyx12: {message}" for message in log.messages] or [
            "pyx12 found the document invalid but reported no error"
        ]
    return lines
