"""The raw door: an NCPDP D.0 transmission in, a D.0 response out.

Each transaction is turned into the same protobuf request the structured RPCs take and goes
through the same translation, adjudication and ledger, so a claim gets the same decision and
amounts whichever door it came through. Header-level problems answer 501-F1 = R: R8 when the
transmission cannot be read, 1R for a version other than D0, 1S for a transaction code other
than B1, B2, B3 or E1, 01/04 for a BIN/PCN this gateway does not process, 1U when 109-A9 does
not match the transactions sent (or is outside 1-4), 1V for more than one E1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rx_gateway.domain.errors import (
    ConcurrencyConflict,
    DeadlineExceeded,
    InvalidRequest,
    StorageUnavailable,
)
from rx_gateway.domain.rejects import REJECT_TEXT, RejectCode
from rx_gateway.grpc_api import translate
from rx_gateway.ncpdp.codec import (
    TRANSACTIONS_MAX,
    VERSION,
    CodecError,
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    decode_money,
    decode_number,
    decode_quantity,
    decode_request,
    encode,
    encode_money,
)
from rx_gateway.service_layer.claims import ClaimProcessor
from rx_gateway.service_layer.ports import ReferenceSource
from rx_gateway.v1 import claims_pb2 as pb

TRANSACTION_CODES = frozenset({"B1", "B2", "B3", "E1"})
RX_NUMBER_WIDTH = 12  # 402-D2 is x(12): no longer echo
MESSAGE_CHUNK = 40  # 526-FQ is x(40): longer messages continue in the next occurrence
# A field that cannot be read answers the transaction with that field's M/I reject.
FIELD_REJECTS = {
    "E7": RejectCode.MI_QUANTITY_DISPENSED,
    "D5": RejectCode.MI_DAYS_SUPPLY,
    "D3": RejectCode.MI_FILL_NUMBER,
    "D8": RejectCode.MI_DAW,
    "C5": RejectCode.MI_GENDER,
    "DQ": RejectCode.MI_USUAL_AND_CUSTOMARY,
    "DU": RejectCode.MI_GROSS_AMOUNT_DUE,
    "D9": RejectCode.GAD_FORMULA,
    "DC": RejectCode.GAD_FORMULA,
}

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Fields that are int32 in the structured request; every other number is int64.
INT32_FIELDS = frozenset({"C6", "C5", "D3", "D5", "D8", "DF"})

# Called with (None, None) before the transmission is read (is the caller a known switch?),
# then with the header's BIN and PCN (may it bill them?). Raises to refuse.
Authorize = Callable[[str | None, str | None], None]
log = logging.getLogger(__name__)


class _FieldError(Exception):
    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _get(transmission: Transmission, index: int, segment_id: str) -> Segment:
    return transmission.segment(segment_id, index) or Segment(segment_id)


def _typed(segment: Segment, field_id: str, decoder: Callable[[str], int]) -> int:
    """A numeric field (0 when absent); one that cannot be read, or that no request field can
    hold (403-D3 = 99999999999, 430-DU = 2^63), is the field's M/I reject."""
    raw = segment.get(field_id).strip(" ")
    if raw == "":
        return 0
    code = FIELD_REJECTS.get(field_id, RejectCode.SYNTAX_ERROR)
    try:
        value = decoder(raw)
    except CodecError as error:
        raise _FieldError(code, f"field {field_id}: {error.message}") from error
    limit = INT32_MAX if field_id in INT32_FIELDS else INT64_MAX
    if not -limit <= value <= limit:
        raise _FieldError(code, f"field {field_id}: {len(raw)} digits is out of range")
    return value


def _text(segment: Segment, field_id: str) -> str:
    """A text field without the space padding D.0 allows (fields may be sent at full width)."""
    return segment.get(field_id).strip(" ")


def printable(text: str) -> str:
    """What may be echoed in a response field: printable ASCII only (a framing byte or a
    control character in a request value must not reach the response encoder)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _int(segment: Segment, field_id: str) -> int:
    return _typed(segment, field_id, decode_number)


def _money(segment: Segment, field_id: str) -> int:
    return _typed(segment, field_id, decode_money)


def header_pb(header: RequestHeader) -> pb.Header:
    return pb.Header(
        bin=header.bin.strip(" "),
        processor_control_number=header.processor_control_number.strip(" "),
        service_provider_id=header.service_provider_id.strip(" "),
        service_provider_id_qualifier=header.service_provider_id_qualifier.strip(" "),
        date_of_service=header.date_of_service.strip(" "),
        software_vendor_id=header.software_vendor_id.strip(" "),
    )


def _insurance_pb(insurance: Segment) -> pb.Insurance:
    return pb.Insurance(
        cardholder_id=_text(insurance, "C2"),
        group_id=_text(insurance, "C1"),
        person_code=_text(insurance, "C3"),
        patient_relationship_code=_int(insurance, "C6"),
    )


def _patient_pb(patient: Segment) -> pb.Patient:
    return pb.Patient(date_of_birth=_text(patient, "C4"), gender_code=_int(patient, "C5"))


def claim_pb(transmission: Transmission, index: int) -> pb.ClaimRequest:
    """A B1 (or the billing leg of a B3) as the structured API's request."""
    header = transmission.header
    assert isinstance(header, RequestHeader)  # noqa: S101 - decode_request made it
    claim = _get(transmission, index, "07")
    pricing = _get(transmission, index, "11")
    prescriber = _get(transmission, index, "03")
    return pb.ClaimRequest(
        header=header_pb(header),
        insurance=_insurance_pb(_get(transmission, index, "04")),
        patient=_patient_pb(_get(transmission, index, "01")),
        claim=pb.Claim(
            prescription_reference_number=_text(claim, "D2"),
            fill_number=_int(claim, "D3"),
            product_id_qualifier=_text(claim, "E1"),
            product_id=_text(claim, "D7"),
            quantity_dispensed_thousandths=_typed(claim, "E7", decode_quantity),
            days_supply=_int(claim, "D5"),
            dispense_as_written=_int(claim, "D8"),
            date_prescription_written=_text(claim, "DE"),
            number_of_refills_authorized=_int(claim, "DF"),
            prior_authorization_type_code=_text(claim, "EU"),
            prior_authorization_number=_text(claim, "EV"),
        ),
        prescriber=pb.Prescriber(
            prescriber_id_qualifier=_text(prescriber, "EZ"),
            prescriber_id=_text(prescriber, "DB"),
        ),
        pricing=pb.Pricing(
            ingredient_cost_submitted_cents=_money(pricing, "D9"),
            dispensing_fee_submitted_cents=_money(pricing, "DC"),
            usual_and_customary_charge_cents=_money(pricing, "DQ"),
            gross_amount_due_cents=_money(pricing, "DU"),
            basis_of_cost_determination=_text(pricing, "DN"),
        ),
    )


def reversal_pb(transmission: Transmission, index: int) -> pb.ReversalRequest:
    header = transmission.header
    assert isinstance(header, RequestHeader)  # noqa: S101
    claim = _get(transmission, index, "07")
    return pb.ReversalRequest(
        header=header_pb(header),
        insurance=_insurance_pb(_get(transmission, index, "04")),
        claim=pb.ReversalClaim(
            prescription_reference_number=_text(claim, "D2"),
            fill_number=_int(claim, "D3"),
            product_id_qualifier=_text(claim, "E1"),
            product_id=_text(claim, "D7"),
        ),
    )


def eligibility_pb(transmission: Transmission) -> pb.EligibilityRequest:
    header = transmission.header
    assert isinstance(header, RequestHeader)  # noqa: S101
    return pb.EligibilityRequest(
        header=header_pb(header),
        insurance=_insurance_pb(_get(transmission, 0, "04")),
        patient=_patient_pb(_get(transmission, 0, "01")),
    )


# ------------------------------------------------------------------ response segments


def _messages(texts: list[str]) -> list[tuple[str, str]]:
    """130-UF count, then per 40-character occurrence 132-UH, 526-FQ and (when the text goes
    on in the next occurrence) 131-UG '+'."""
    chunks: list[tuple[str, bool]] = []
    for text in map(printable, texts):
        pieces = [text[i : i + MESSAGE_CHUNK] for i in range(0, len(text), MESSAGE_CHUNK)] or [""]
        chunks += [(piece, n < len(pieces) - 1) for n, piece in enumerate(pieces)]
    chunks = chunks[:25]
    if not chunks:
        return []
    out = [("UF", str(len(chunks)))]
    for number, (piece, continued) in enumerate(chunks, start=1):
        out += [("UH", f"{number:02d}"), ("FQ", piece)]
        if continued:
            out.append(("UG", "+"))
    return out


def status_segment(
    status: str, auth: str, rejects: list[str], texts: list[str], icn: str
) -> Segment:
    fields = [("AN", status)]
    if auth:
        fields.append(("F3", auth))
    if rejects:
        fields.append(("FA", str(len(rejects))))
        fields += [("FB", code) for code in rejects]
    fields += _messages(texts)
    if icn:
        fields.append(("A7", icn))
    return Segment("21", tuple(fields))


PRICING_FIELDS = (
    ("F5", "patient_pay_amount_cents"),
    ("F6", "ingredient_cost_paid_cents"),
    ("F7", "dispensing_fee_paid_cents"),
    ("F9", "total_amount_paid_cents"),
    ("FH", "amount_applied_to_periodic_deductible_cents"),
    ("FI", "amount_of_copay_cents"),
    ("4U", "amount_of_coinsurance_cents"),
    ("FK", "amount_exceeding_periodic_benefit_maximum_cents"),
    ("FC", "accumulated_deductible_amount_cents"),
    ("FD", "remaining_deductible_amount_cents"),
    ("FE", "remaining_benefit_amount_cents"),
    ("UJ", "amount_attributed_to_provider_network_selection_cents"),
    ("UK", "amount_attributed_to_product_selection_brand_cents"),
    ("UM", "amount_attributed_to_non_preferred_formulary_cents"),
    ("UN", "amount_attributed_to_brand_non_preferred_formulary_cents"),
    ("UC", "spending_account_amount_remaining_cents"),
    ("UD", "health_plan_funded_assistance_amount_cents"),
)


# Left out of the answer when the plan has no such figure (proto3 optional).
OPTIONAL_PRICING_FIELDS = frozenset({"FK", "FC", "FD", "FE", "UC"})


def pricing_segment(pricing: pb.PricingResponse) -> Segment:
    present = {descriptor.name for descriptor, _ in pricing.ListFields()}
    fields = [
        (fid, encode_money(getattr(pricing, name)))
        for fid, name in PRICING_FIELDS
        if fid not in OPTIONAL_PRICING_FIELDS or name in present
    ]
    fields.insert(4, ("FM", pricing.basis_of_reimbursement_determination))
    if pricing.benefit_stages:
        fields.append(("MU", str(len(pricing.benefit_stages))))
        for stage in pricing.benefit_stages:
            fields += [("MV", stage.qualifier), ("MW", encode_money(stage.amount_cents))]
    return Segment("23", tuple(fields))


def claim_response_segments(response: pb.ClaimResponse, rx_number: str) -> tuple[Segment, ...]:
    segments = [
        status_segment(
            response.transaction_response_status,
            response.authorization_number,
            [r.code for r in response.rejects],
            list(response.additional_messages) or ([response.message] if response.message else []),
            response.internal_control_number,
        ),
        Segment("22", (("EM", "1"), ("D2", printable(rx_number)[:RX_NUMBER_WIDTH]))),
    ]
    if response.HasField("pricing"):
        segments.append(pricing_segment(response.pricing))
    return tuple(segments)


def _rejected_transaction(code: RejectCode, message: str, rx_number: str) -> tuple[Segment, ...]:
    return (
        status_segment("R", "", [code.value], [message], ""),
        Segment("22", (("EM", "1"), ("D2", printable(rx_number)[:RX_NUMBER_WIDTH]))),
    )


def _response_header(request: RequestHeader | None, status: str, count: int) -> ResponseHeader:
    return ResponseHeader(
        version=VERSION,
        transaction_code=printable(request.transaction_code[:2]) if request else "",
        transaction_count=str(count),
        header_response_status=status,
        service_provider_id_qualifier=(
            printable(request.service_provider_id_qualifier) if request else ""
        ),
        service_provider_id=printable(request.service_provider_id) if request else "",
        date_of_service=printable(request.date_of_service) if request else "",
    )


def header_reject(request: RequestHeader | None, code: RejectCode, message: str) -> bytes:
    """501-F1 = R: the whole transmission is refused with one reject."""
    text = printable(f"{REJECT_TEXT[code]}: {message}")[:200]
    return encode(
        Transmission(
            _response_header(request, "R", 1),
            (Segment("20", (("F4", text),)),),
            ((status_segment("R", "", [code.value], [], ""),),),
        )
    )


# ------------------------------------------------------------------ the handler


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
            return header_reject(None, RejectCode.SYNTAX_ERROR, error.message)
        header = transmission.header
        assert isinstance(header, RequestHeader)  # noqa: S101
        if authorize is not None:
            authorize(header.bin, header.processor_control_number)
        problem = self._header_problem(transmission)
        if problem is not None:
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
            transmission_segments.insert(0, Segment("20", (("F4", printable(message)[:200]),)))
        return encode(
            Transmission(
                _response_header(header, "A", len(groups)),
                tuple(transmission_segments),
                tuple(groups),
            )
        )

    async def _one(
        self, transmission: Transmission, index: int, deadline: float | None
    ) -> tuple[tuple[Segment, ...], str, tuple[Segment, ...]]:
        """One transaction's answer. Infrastructure failures (database unavailable, conflicts
        past their retries) still fail the call, so the switch retransmits the whole
        transmission and transactions already committed answer D; anything else that goes
        wrong with one transaction answers that transaction alone."""
        header = transmission.header
        assert isinstance(header, RequestHeader)  # noqa: S101
        rx_number = _text(_get(transmission, index, "07"), "D2")
        code = header.transaction_code
        try:
            if code == "E1":
                return await self._eligibility(transmission, deadline)
            if code == "B2":
                response = await self._processor.reverse(
                    translate.reversal_request_from_pb(reversal_pb(transmission, index)),
                    deadline=deadline,
                )
            elif code == "B3":
                response = await self._processor.rebill(
                    translate.reversal_request_from_pb(reversal_pb(transmission, index)),
                    translate.claim_request_from_pb(claim_pb(transmission, index)),
                    deadline=deadline,
                )
            else:
                response = await self._processor.submit(
                    translate.claim_request_from_pb(claim_pb(transmission, index)),
                    deadline=deadline,
                )
        except _FieldError as error:
            return _rejected_transaction(error.code, error.message, rx_number), error.message, ()
        except InvalidRequest as error:
            return (
                _rejected_transaction(RejectCode.SYNTAX_ERROR, str(error), rx_number),
                str(error),
                (),
            )
        except (StorageUnavailable, ConcurrencyConflict, DeadlineExceeded):
            raise
        except Exception:
            log.exception("transaction failed", extra={"transaction": index + 1})
            text = "Host processing error: retransmit this transaction"
            return (
                _rejected_transaction(RejectCode.HOST_PROCESSING_ERROR, text, rx_number),
                text,
                (),
            )
        message = translate.claim_response_to_pb(response)
        return claim_response_segments(message, rx_number), message.message, ()

    async def _eligibility(
        self, transmission: Transmission, deadline: float | None
    ) -> tuple[tuple[Segment, ...], str, tuple[Segment, ...]]:
        answer = await self._processor.check_eligibility(
            translate.eligibility_request_from_pb(eligibility_pb(transmission)), deadline=deadline
        )
        reply = translate.eligibility_to_pb(answer.eligibility, answer.purses)
        status = status_segment(
            reply.transaction_response_status,
            "",
            [r.code for r in reply.rejects],
            [reply.message] if reply.message else [],
            "",
        )
        insurance = (
            (Segment("25", (("C1", reply.group_id), ("FO", reply.plan_id))),)
            if reply.plan_id
            else ()
        )
        return (status,), reply.message, insurance


# ------------------------------------------------------------------ building requests


def _header_of(header: pb.Header, code: str, count: int) -> RequestHeader:
    return RequestHeader(
        bin=header.bin,
        version=VERSION,
        transaction_code=code,
        processor_control_number=header.processor_control_number,
        transaction_count=str(count),
        service_provider_id_qualifier=header.service_provider_id_qualifier or "01",
        service_provider_id=header.service_provider_id,
        date_of_service=header.date_of_service,
        software_vendor_id=header.software_vendor_id,
    )


def _insurance_segment(insurance: pb.Insurance) -> Segment:
    return Segment(
        "04",
        (
            ("C2", insurance.cardholder_id),
            ("C1", insurance.group_id),
            ("C3", insurance.person_code),
            ("C6", str(insurance.patient_relationship_code)),
        ),
    )


def _claim_segments(request: pb.ClaimRequest) -> tuple[Segment, ...]:
    c, pr, rx = request.claim, request.pricing, request.prescriber
    claim = [
        ("EM", "1"),
        ("D2", c.prescription_reference_number),
        ("E1", c.product_id_qualifier),
        ("D7", c.product_id),
        ("E7", str(c.quantity_dispensed_thousandths)),
        ("D3", f"{c.fill_number:02d}"),
        ("D5", str(c.days_supply)),
        ("D8", str(c.dispense_as_written)),
    ]
    claim += [(fid, v) for fid, v in (("DE", c.date_prescription_written),) if v]
    claim += [("DF", str(c.number_of_refills_authorized))] if c.number_of_refills_authorized else []
    claim += [(fid, v) for fid, v in (("EU", c.prior_authorization_type_code),) if v]
    claim += [(fid, v) for fid, v in (("EV", c.prior_authorization_number),) if v]
    segments = [Segment("07", tuple(claim))]
    if rx.prescriber_id:
        segments.append(
            Segment("03", (("EZ", rx.prescriber_id_qualifier), ("DB", rx.prescriber_id)))
        )
    pricing = [
        ("D9", encode_money(pr.ingredient_cost_submitted_cents)),
        ("DC", encode_money(pr.dispensing_fee_submitted_cents)),
        ("DQ", encode_money(pr.usual_and_customary_charge_cents)),
        ("DU", encode_money(pr.gross_amount_due_cents)),
    ]
    pricing += [("DN", pr.basis_of_cost_determination)] if pr.basis_of_cost_determination else []
    segments.append(Segment("11", tuple(pricing)))
    return tuple(segments)


def _patient_segment(patient: pb.Patient) -> tuple[Segment, ...]:
    fields = [(fid, v) for fid, v in (("C4", patient.date_of_birth),) if v]
    fields += [("C5", str(patient.gender_code))] if patient.gender_code else []
    return (Segment("01", tuple(fields)),) if fields else ()


def request_transmission(requests: list[pb.ClaimRequest], code: str = "B1") -> Transmission:
    """B1 (or B3) transactions of one patient at one pharmacy as a D.0 transmission; the first
    request's header and insurance are the transmission's."""
    first = requests[0]
    return Transmission(
        _header_of(first.header, code, len(requests)),
        (_insurance_segment(first.insurance), *_patient_segment(first.patient)),
        tuple(_claim_segments(r) for r in requests),
    )


def reversal_transmission(requests: list[pb.ReversalRequest]) -> Transmission:
    first = requests[0]
    return Transmission(
        _header_of(first.header, "B2", len(requests)),
        (_insurance_segment(first.insurance),),
        tuple(
            (
                Segment(
                    "07",
                    (
                        ("EM", "1"),
                        ("D2", r.claim.prescription_reference_number),
                        ("E1", r.claim.product_id_qualifier),
                        ("D7", r.claim.product_id),
                        ("D3", f"{r.claim.fill_number:02d}"),
                    ),
                ),
            )
            for r in requests
        ),
    )


def eligibility_transmission(request: pb.EligibilityRequest) -> Transmission:
    return Transmission(
        _header_of(request.header, "E1", 1),
        (_insurance_segment(request.insurance), *_patient_segment(request.patient)),
        ((),),
    )
