"""The domain's answers → D.0 response segments: status (21), claim (22), pricing (23),
DUR (24), insurance (25), other payers (28), message (20), and the response header.

Every value echoed from a request goes through :func:`printable` first: a framing byte or a
control character sent by a switch must not reach the response encoder.
"""

from __future__ import annotations

from dataclasses import fields

from rx_gateway.domain.eligibility import Eligibility
from rx_gateway.domain.outcome import ClaimResponse, ResponsePricing
from rx_gateway.domain.pricing import copay_basis
from rx_gateway.domain.rejects import REJECT_TEXT, RejectCode
from rx_gateway.ncpdp.codec import (
    VERSION,
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    encode,
    encode_money,
)

RX_NUMBER_WIDTH = 12  # 402-D2 is x(12): no longer echo
MESSAGE_CHUNK = 40  # 526-FQ is x(40): longer messages continue in the next occurrence
MESSAGE_OCCURRENCES_MAX = 25  # 130-UF
HEADER_MESSAGE_WIDTH = 200  # 504-F4

# 23 (pricing) fields in the order they are sent, and the ResponsePricing field each holds.
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
# Left out of the answer when the plan has no such figure (None in ResponsePricing).
OPTIONAL_PRICING_FIELDS = frozenset({"FK", "FC", "FD", "FE", "UC"})
# Sent only when the claim has them (not zero): taxes, incentive, the tax inside 505-F5.
ADDITIONAL_PRICING_FIELDS = (
    ("AW", "flat_sales_tax_amount_paid_cents"),
    ("AX", "percentage_sales_tax_amount_paid_cents"),
    ("AY", "percentage_sales_tax_rate_paid"),  # s9v9999: the integer is the rate
    ("FL", "incentive_amount_paid_cents"),
    ("FN", "amount_attributed_to_sales_tax_cents"),
    ("EQ", "patient_sales_tax_amount_cents"),
    ("2Y", "plan_sales_tax_amount_cents"),
    ("J5", "other_payer_amount_recognized_cents"),
)
assert {name for _, name in PRICING_FIELDS} <= {f.name for f in fields(ResponsePricing)}  # noqa: S101


def printable(value: str) -> str:
    """What may be echoed in a response field: printable ASCII only."""
    return "".join(c if " " <= c <= "~" else "?" for c in value)


def _messages(texts: list[str]) -> list[tuple[str, str]]:
    """130-UF count, then per 40-character occurrence 132-UH, 526-FQ and (when the text goes
    on in the next occurrence) 131-UG '+'."""
    chunks: list[tuple[str, bool]] = []
    for message in map(printable, texts):
        pieces = [
            message[i : i + MESSAGE_CHUNK] for i in range(0, len(message), MESSAGE_CHUNK)
        ] or [""]
        chunks += [(piece, n < len(pieces) - 1) for n, piece in enumerate(pieces)]
    chunks = chunks[:MESSAGE_OCCURRENCES_MAX]
    if not chunks:
        return []
    out = [("UF", str(len(chunks)))]
    for number, (piece, continued) in enumerate(chunks, start=1):
        out += [("UH", f"{number:02d}"), ("FQ", piece)]
        if continued:
            out.append(("UG", "+"))
    return out


def status_segment(
    status: str,
    authorization_number: str,
    rejects: list[tuple[str, int]],
    texts: list[str],
    icn: str,
) -> Segment:
    """21: 112-AN, 503-F3, 510-FA and each 511-FB (with its 546-4F occurrence when it is about
    one repetition of a repeating group), the messages, 993-A7."""
    out = [("AN", status)]
    if authorization_number:
        out.append(("F3", authorization_number))
    if rejects:
        out.append(("FA", str(len(rejects))))
        for code, occurrence in rejects:
            out.append(("FB", code))
            if occurrence:
                out.append(("4F", str(occurrence)))
    out += _messages(texts)
    if icn:
        out.append(("A7", icn))
    return Segment("21", tuple(out))


def pricing_segment(pricing: ResponsePricing) -> Segment:
    """23: the amounts in PRICING_FIELDS order with 522-FM fifth; the Part D stages last."""
    out = [
        (field_id, encode_money(amount))
        for field_id, name in PRICING_FIELDS
        if (amount := getattr(pricing, name)) is not None
    ]
    out.insert(4, ("FM", pricing.basis_of_reimbursement_determination))
    if basis := copay_basis(
        pricing.basis_of_reimbursement_determination,
        pricing.amount_of_copay_cents,
        pricing.allowed_amount_cents,
    ):
        out.insert(5, ("HJ", basis))
    out += [
        (field_id, encode_money(amount))
        for field_id, name in ADDITIONAL_PRICING_FIELDS
        if (amount := getattr(pricing, name))
    ]
    if pricing.percentage_sales_tax_basis_paid:
        out.append(("AZ", pricing.percentage_sales_tax_basis_paid))
    if pricing.sales_tax_exempt_indicator:
        out.append(("AV", pricing.sales_tax_exempt_indicator))
    if pricing.other_amounts_paid:
        out.append(("J2", str(len(pricing.other_amounts_paid))))
        for qualifier, amount in pricing.other_amounts_paid:
            out += [("J3", qualifier), ("J4", encode_money(amount))]
    if pricing.benefit_stages:
        out.append(("MU", str(len(pricing.benefit_stages))))
        for qualifier, amount in pricing.benefit_stages:
            out += [("MV", qualifier), ("MW", encode_money(amount))]
    return Segment("23", tuple(out))


def _claim_segment(rx_number: str) -> Segment:
    return Segment("22", (("EM", "1"), ("D2", printable(rx_number)[:RX_NUMBER_WIDTH])))


def claim_response_segments(response: ClaimResponse, rx_number: str) -> tuple[Segment, ...]:
    """One B1/B2/B3 transaction's answer: status, claim (the Rx number echoed) and, when
    priced, pricing."""
    texts = list(response.additional_messages) or ([response.message] if response.message else [])
    segments = [
        status_segment(
            response.transaction_response_status.value,
            response.authorization_number,
            [(r.code.value, r.occurrence) for r in response.rejects],
            texts,
            response.internal_control_number,
        ),
        _claim_segment(rx_number),
    ]
    if response.pricing is not None:
        segments.append(pricing_segment(response.pricing))
    if response.dur_conflicts:
        segments.append(dur_segment(response))
    if response.other_payers:
        segments.append(other_payer_segment(response))
    return tuple(segments)


def other_payer_segment(response: ClaimResponse) -> Segment:
    """28: 355-NT count, then per payer 338-5C, 339-6C, 340-7C, 991-MH, 356-NU, 992-MJ,
    142-UV, 127-UB, 144-UX, 145-UY (the fields the gateway knows: blanks left out)."""
    out: list[tuple[str, str]] = [("NT", str(len(response.other_payers)))]
    for payer in response.other_payers:
        for field_id, value in (
            ("5C", payer.coverage_type),
            ("6C", payer.payer_id_qualifier),
            ("7C", payer.payer_id),
            ("MH", payer.processor_control_number),
            ("NU", payer.cardholder_id),
            ("MJ", payer.group_id),
            ("UV", payer.person_code),
            ("UB", payer.help_desk_phone),
            ("UX", payer.effective_date),
            ("UY", payer.termination_date),
        ):
            if value:
                out.append((field_id, printable(value)))
    return Segment("28", tuple(out))


def dur_segment(response: ClaimResponse) -> Segment:
    """24: one occurrence per conflict, each opened by its 567-J6 counter."""
    out: list[tuple[str, str]] = []
    for number, c in enumerate(response.dur_conflicts, start=1):
        out += [
            ("J6", str(number)),
            ("E4", c.reason.value),
            ("FS", c.significance.value),
            ("FT", c.other_pharmacy),
            ("FU", c.previous_fill_date),
            ("FV", str(c.previous_fill_quantity_thousandths)),
            ("FW", c.database),
            ("FX", c.other_prescriber),
            ("FY", printable(c.text)[:30]),
        ]
    return Segment("24", tuple(out))


def eligibility_segments(
    eligibility: Eligibility,
) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """An E1's answer: its status segment, and the transmission-level insurance segment (25:
    301-C1 group, 524-FO plan) when the member was found."""
    message = eligibility.message
    status = status_segment(
        eligibility.transaction_response_status.value,
        "",
        [(r.code.value, r.occurrence) for r in eligibility.rejects],
        [message] if message else [],
        "",
    )
    insurance: tuple[Segment, ...] = ()
    if eligibility.plan is not None and eligibility.coverage is not None:
        insurance = (
            Segment(
                "25", (("C1", eligibility.coverage.group_id), ("FO", eligibility.plan.plan_id))
            ),
        )
    return (status,), insurance


def rejected_transaction(
    code: RejectCode, message: str, rx_number: str, occurrence: int = 0
) -> tuple[Segment, ...]:
    """A transaction answered R with one reject (a field that cannot be read, a host error;
    ``occurrence`` the repetition it is about, 546-4F)."""
    return (
        status_segment("R", "", [(code.value, occurrence)], [message], ""),
        _claim_segment(rx_number),
    )


def response_header(request: RequestHeader | None, status: str, count: int) -> ResponseHeader:
    """The response header: the request's code, provider and date echoed (printable)."""
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


def message_segment(message: str) -> Segment:
    """20: 504-F4, at most 200 printable characters."""
    return Segment("20", (("F4", printable(message)[:HEADER_MESSAGE_WIDTH]),))


def header_reject(request: RequestHeader | None, code: RejectCode, message: str) -> bytes:
    """501-F1 = R: the whole transmission is refused with one reject."""
    return encode(
        Transmission(
            response_header(request, "R", 1),
            (message_segment(f"{REJECT_TEXT[code]}: {message}"),),
            ((status_segment("R", "", [(code.value, 0)], [], ""),),),
        )
    )
