"""The raw door: an NCPDP D.0 transmission in, a D.0 response out.

The transmission is read by the codec and its transactions mapped to the domain's requests
beside it (ncpdp/requests.py); each goes through the same use cases, adjudication and ledger as
the structured RPCs, so a claim gets the same decision and amounts whichever door it came
through; the answers are mapped back to segments by ncpdp/responses.py. Header-level problems
answer 501-F1 = R: R8 when the transmission cannot be read, 1R for a version other than D0, 1S
for a transaction code other than B1, B2, B3 or E1, 01/04 for a BIN/PCN this gateway does not
process, 1U when 109-A9 does not match the transactions sent (or is outside 1-4), 1V for more
than one E1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from rx_gateway.domain.errors import (
    ConcurrencyConflict,
    DeadlineExceeded,
    InvalidRequest,
    StorageUnavailable,
)
from rx_gateway.domain.outcome import ResponseStatus
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.ncpdp import requests
from rx_gateway.ncpdp.codec import (
    TRANSACTIONS_MAX,
    VERSION,
    CodecError,
    RequestHeader,
    Segment,
    Transmission,
    decode_request,
    encode,
)
from rx_gateway.ncpdp.requests import FieldProblem
from rx_gateway.ncpdp.responses import (
    claim_response_segments,
    eligibility_segments,
    header_reject,
    message_segment,
    rejected_transaction,
    response_header,
)
from rx_gateway.observability import record_claim
from rx_gateway.service_layer.claims import ClaimProcessor
from rx_gateway.service_layer.ports import ReferenceSource

TRANSACTION_CODES = frozenset({"B1", "B2", "B3", "E1"})
HOST_ERROR_TEXT = "Host processing error: retransmit this transaction"

# Called with (None, None) before the transmission is read (is the caller a known switch?),
# then with the header's BIN and PCN (may it bill them?). Raises to refuse.
Authorize = Callable[[str | None, str | None], None]
log = logging.getLogger(__name__)

Answer = tuple[tuple[Segment, ...], str, tuple[Segment, ...]]


class Answered(Protocol):
    """A claim response or an eligibility answer: what the metrics count of it."""

    @property
    def transaction_response_status(self) -> ResponseStatus: ...

    @property
    def rejects(self) -> tuple[Reject, ...]: ...


def count_answer(transaction_code: str, answer: Answered) -> None:
    """Count one answered transaction by its code and 112-AN status, and its reject codes."""
    rejects = answer.rejects
    record_claim(
        transaction_code,
        answer.transaction_response_status.value,
        [reject.code.value for reject in rejects] if rejects else (),
    )


def _count_reject(transaction_code: str, code: RejectCode) -> None:
    record_claim(transaction_code, ResponseStatus.REJECTED.value, (code.value,))


def _transactions_sent(transmission: Transmission, code: str) -> int:
    """Transactions in the transmission. An E1 may come without a group separator (its
    segments all at transmission level), as common libraries build one: that is one."""
    sent = len(transmission.transactions)
    return 1 if code == "E1" and sent == 0 else sent


class TransmitHandler:
    def __init__(self, processor: ClaimProcessor, reference: ReferenceSource) -> None:
        self._processor = processor
        self._reference = reference

    def _header_problem(self, transmission: Transmission) -> tuple[RejectCode, str] | None:
        header = transmission.header
        assert isinstance(header, RequestHeader)  # noqa: S101
        if header.version != VERSION:
            return RejectCode.VERSION_NOT_SUPPORTED, f"version {header.version!r}; this is D0"
        if header.transaction_code not in TRANSACTION_CODES:
            return (
                RejectCode.TRANSACTION_CODE_NOT_SUPPORTED,
                f"transaction code {header.transaction_code!r}; B1, B2, B3 and E1 are supported",
            )
        snapshot = self._reference.snapshot
        if (header.bin, header.processor_control_number) not in snapshot.plans_by_bin_pcn:
            if snapshot.known_bin(header.bin):
                return RejectCode.MI_PCN, f"PCN {header.processor_control_number!r} not processed"
            return RejectCode.MI_BIN, f"BIN {header.bin!r} not processed here"
        count = header.transaction_count
        sent = _transactions_sent(transmission, header.transaction_code)
        if not count.isascii() or not count.isdigit() or int(count) != sent:
            return (
                RejectCode.TRANSACTION_COUNT_MISMATCH,
                f"109-A9 says {count!r}; {sent} transactions sent (1-{TRANSACTIONS_MAX})",
            )
        if not 1 <= sent <= TRANSACTIONS_MAX:
            return (
                RejectCode.TRANSACTION_COUNT_MISMATCH,
                f"{sent} transactions sent; 1-{TRANSACTIONS_MAX} are allowed",
            )
        if header.transaction_code == "E1" and sent > 1:
            return RejectCode.MULTIPLE_TRANSACTIONS_NOT_SUPPORTED, "E1 carries one transaction"
        return None

    async def handle(
        self, data: bytes, authorize: Authorize | None = None, *, deadline: float | None = None
    ) -> bytes:
        """Authorize first (a caller that may not bill learns nothing about which BIN/PCNs
        exist), then read the header, then answer each transaction on its own: a field that
        cannot be read rejects its own transaction, never its neighbours."""
        if authorize is not None:
            authorize(None, None)
        try:
            transmission = decode_request(data)
        except CodecError as error:
            _count_reject("", RejectCode.SYNTAX_ERROR)  # no transaction code read: "other"
            return header_reject(None, RejectCode.SYNTAX_ERROR, error.message)
        header = transmission.header
        assert isinstance(header, RequestHeader)  # noqa: S101
        if authorize is not None:
            authorize(header.bin, header.processor_control_number)
        problem = self._header_problem(transmission)
        if problem is not None:
            # refused at the header: counted once, whatever 109-A9 says
            _count_reject(header.transaction_code, problem[0])
            return header_reject(header, *problem)
        message = ""
        groups: list[tuple[Segment, ...]] = []
        transmission_segments: list[Segment] = []
        for index in range(_transactions_sent(transmission, header.transaction_code)):
            segments, text, extra = await self._one(transmission, index, deadline)
            groups.append(segments)
            message = message or text
            transmission_segments += [s for s in extra if s not in transmission_segments]
        if message:
            transmission_segments.insert(0, message_segment(message))
        return encode(
            Transmission(
                response_header(header, "A", len(groups)),
                tuple(transmission_segments),
                tuple(groups),
            )
        )

    async def _one(self, transmission: Transmission, index: int, deadline: float | None) -> Answer:
        """One transaction's answer. Infrastructure failures (database unavailable, conflicts
        past their retries) still fail the call, so the switch retransmits the whole
        transmission and transactions already committed answer D; anything else that goes
        wrong with one transaction answers that transaction alone."""
        header = transmission.header
        assert isinstance(header, RequestHeader)  # noqa: S101 - decode_request made it
        rx_number = requests.segment_of(transmission, index, "07").get("D2").strip(" ")
        code = header.transaction_code
        try:
            requests.check_structure(transmission, index)
            requests.check_required(transmission, index, code)
            if code == "E1":
                answer = await self._processor.check_eligibility(
                    requests.eligibility_request(transmission), deadline=deadline
                )
                count_answer(code, answer.eligibility)
                status, insurance = eligibility_segments(answer.eligibility)
                return status, answer.eligibility.message, insurance
            if code == "B2":
                response = await self._processor.reverse(
                    requests.reversal_request(transmission, index), deadline=deadline
                )
            elif code == "B3":
                # The B3's one claim segment names the product billed now: the paid claim it
                # replaces is found without it (its key), so that a rebill may correct the NDC.
                response = await self._processor.rebill(
                    replace(
                        requests.reversal_request(transmission, index),
                        product_id_qualifier="",
                        product_id="",
                    ),
                    requests.claim_request(transmission, index),
                    deadline=deadline,
                )
            else:
                response = await self._processor.submit(
                    requests.claim_request(transmission, index), deadline=deadline
                )
        except FieldProblem as problem:
            _count_reject(code, problem.code)
            return (
                rejected_transaction(problem.code, problem.message, rx_number, problem.occurrence),
                problem.message,
                (),
            )
        except InvalidRequest as error:
            reason = str(error)
            _count_reject(code, RejectCode.SYNTAX_ERROR)
            return rejected_transaction(RejectCode.SYNTAX_ERROR, reason, rx_number), reason, ()
        except (StorageUnavailable, ConcurrencyConflict, DeadlineExceeded):
            raise
        except Exception:
            log.exception("transaction failed", extra={"transaction": index + 1})
            _count_reject(code, RejectCode.HOST_PROCESSING_ERROR)
            return (
                rejected_transaction(RejectCode.HOST_PROCESSING_ERROR, HOST_ERROR_TEXT, rx_number),
                HOST_ERROR_TEXT,
                (),
            )
        count_answer(code, response)
        return claim_response_segments(response, rx_number), response.message, ()
