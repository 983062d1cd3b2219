"""Protobuf ↔ domain, pure functions. The only module that knows both shapes."""

from __future__ import annotations

from google.protobuf.message import Message

from rx_gateway.domain.additional_amounts import AdditionalAmounts, OtherAmount
from rx_gateway.domain.claim import ClaimRequest, EligibilityRequest, Header, ReversalRequest
from rx_gateway.domain.compound_segment import Compound, Ingredient
from rx_gateway.domain.dur import DurService
from rx_gateway.domain.eligibility import Eligibility
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.member import PurseState
from rx_gateway.domain.other_payments import OtherPayment
from rx_gateway.domain.outcome import AccumulatorView, ClaimResponse
from rx_gateway.domain.price_check import PriceCheck, PriceInquiry, Quote
from rx_gateway.domain.pricing import copay_basis
from rx_gateway.domain.values import format_ccyymmdd
from rx_gateway.domain.views import BenefitView
from rx_gateway.service_layer.claims import BenefitInquiry
from rx_gateway.v1 import claims_pb2 as pb

REQUEST_STRING_LENGTH_MAX = 200  # no NCPDP field is longer; anything past this is not a claim


def _require(message: object, field: str) -> None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        raise InvalidRequest(field, "segment is required")


def _check_lengths(message: Message, path: str = "") -> None:
    """No string anywhere in the request (segments, their occurrences, repeated codes) is
    longer than any NCPDP field: INVALID_ARGUMENT names the first that is. Trailing spaces are
    removed, in place: D.0's text fields are left-justified and space-filled, so a value padded
    to its field's width means what it means unpadded, on this door as on the raw one (a
    leading space is content: the field's own checks answer it on both)."""
    for descriptor, value in message.ListFields():
        if isinstance(value, str):  # the usual field: no name built unless it is too long
            if len(value) > REQUEST_STRING_LENGTH_MAX:
                raise InvalidRequest(
                    f"{path}{descriptor.name}",
                    f"longer than {REQUEST_STRING_LENGTH_MAX} characters",
                )
            if value[-1:] == " ":
                setattr(message, descriptor.name, value.rstrip(" "))
            continue
        if isinstance(value, (bytes, int, float)):
            continue
        if isinstance(value, Message):
            _check_lengths(value, f"{path}{descriptor.name}.")
            continue
        for position, item in enumerate(value):  # a repeated field
            if isinstance(item, str):
                if len(item) > REQUEST_STRING_LENGTH_MAX:
                    raise InvalidRequest(
                        f"{path}{descriptor.name}",
                        f"longer than {REQUEST_STRING_LENGTH_MAX} characters",
                    )
                if item[-1:] == " ":
                    value[position] = item.rstrip(" ")
            elif isinstance(item, Message):
                _check_lengths(item, f"{path}{descriptor.name}.")


def _header_from_pb(h: pb.Header) -> Header:
    return Header(
        bin=h.bin,
        processor_control_number=h.processor_control_number,
        service_provider_id=h.service_provider_id,
        date_of_service=h.date_of_service,
        service_provider_id_qualifier=h.service_provider_id_qualifier,
        software_vendor_id=h.software_vendor_id,
    )


def claim_request_from_pb(message: pb.ClaimRequest) -> ClaimRequest:
    for field in ("header", "insurance", "claim", "pricing"):
        _require(message, field)
    _check_lengths(message)
    h, i, p, c, rx, pr = (
        message.header,
        message.insurance,
        message.patient,
        message.claim,
        message.prescriber,
        message.pricing,
    )
    return ClaimRequest(
        header=_header_from_pb(h),
        cardholder_id=i.cardholder_id,
        group_id=i.group_id,
        person_code=i.person_code,
        patient_relationship_code=i.patient_relationship_code,
        date_of_birth=p.date_of_birth,
        gender_code=p.gender_code,
        prescription_reference_number=c.prescription_reference_number,
        fill_number=c.fill_number,
        product_id_qualifier=c.product_id_qualifier,
        product_id=c.product_id,
        quantity_dispensed_thousandths=c.quantity_dispensed_thousandths,
        days_supply=c.days_supply,
        dispense_as_written=c.dispense_as_written,
        date_prescription_written=c.date_prescription_written,
        number_of_refills_authorized=(
            c.number_of_refills_authorized if c.HasField("number_of_refills_authorized") else None
        ),
        prior_authorization_number=c.prior_authorization_number,
        prior_authorization_type_code=c.prior_authorization_type_code,
        prescriber_id=rx.prescriber_id,
        prescriber_id_qualifier=rx.prescriber_id_qualifier,
        ingredient_cost_submitted_cents=pr.ingredient_cost_submitted_cents,
        dispensing_fee_submitted_cents=pr.dispensing_fee_submitted_cents,
        usual_and_customary_charge_cents=pr.usual_and_customary_charge_cents,
        gross_amount_due_cents=pr.gross_amount_due_cents,
        basis_of_cost_determination=pr.basis_of_cost_determination,
        additional_amounts=AdditionalAmounts(
            incentive_cents=pr.incentive_amount_submitted_cents,
            other_amounts=tuple(
                OtherAmount(o.qualifier, o.amount_cents) for o in pr.other_amounts_claimed
            ),
            flat_sales_tax_cents=pr.flat_sales_tax_amount_submitted_cents,
            percentage_sales_tax_cents=pr.percentage_sales_tax_amount_submitted_cents,
            percentage_sales_tax_rate=pr.percentage_sales_tax_rate_submitted,
            percentage_sales_tax_basis=pr.percentage_sales_tax_basis_submitted,
            patient_paid_cents=pr.patient_paid_amount_submitted_cents,
        ),
        submission_clarification_codes=tuple(c.submission_clarification_codes),
        dur_services=tuple(
            DurService(
                d.reason_for_service, d.professional_service, d.result_of_service, d.level_of_effort
            )
            for d in message.dur_services
        ),
        other_coverage_code=c.other_coverage_code,
        other_payments=tuple(
            OtherPayment(
                coverage_type=o.coverage_type,
                payer_id_qualifier=o.payer_id_qualifier,
                payer_id=o.payer_id,
                date=o.date,
                amounts_paid=tuple((a.qualifier, a.amount_cents) for a in o.amounts_paid),
                reject_codes=tuple(o.reject_codes),
                patient_responsibility=tuple(
                    (a.qualifier, a.amount_cents) for a in o.patient_responsibility
                ),
            )
            for o in message.other_payments
        ),
        compound_code=c.compound_code,
        compound=_compound_from_pb(message.compound) if message.HasField("compound") else None,
    )


def _compound_from_pb(message: pb.Compound) -> Compound:
    return Compound(
        dosage_form=message.dosage_form_description_code,
        dispensing_unit=message.dispensing_unit_form_indicator,
        ingredients=tuple(
            Ingredient(
                product_id_qualifier=i.product_id_qualifier,
                product_id=i.product_id,
                quantity_thousandths=i.quantity_thousandths,
                cost_cents=i.cost_cents,
                basis_of_cost=i.basis_of_cost_determination,
                modifiers=tuple(i.modifier_codes),
            )
            for i in message.ingredients
        ),
    )


def reversal_request_from_pb(message: pb.ReversalRequest) -> ReversalRequest:
    for field in ("header", "claim"):
        _require(message, field)
    _check_lengths(message)
    h, c = message.header, message.claim
    return ReversalRequest(
        header=_header_from_pb(h),
        prescription_reference_number=c.prescription_reference_number,
        fill_number=c.fill_number,
        product_id_qualifier=c.product_id_qualifier,
        product_id=c.product_id,
        cardholder_id=message.insurance.cardholder_id,
        person_code=message.insurance.person_code,
    )


def eligibility_request_from_pb(message: pb.EligibilityRequest) -> EligibilityRequest:
    for field in ("header", "insurance"):
        _require(message, field)
    _check_lengths(message)
    h, i = message.header, message.insurance
    return EligibilityRequest(
        header=_header_from_pb(h),
        cardholder_id=i.cardholder_id,
        group_id=i.group_id,
        person_code=i.person_code,
        date_of_birth=message.patient.date_of_birth,
        gender_code=message.patient.gender_code,
        patient_relationship_code=i.patient_relationship_code,
    )


def price_inquiry_from_pb(message: pb.PriceCheckRequest) -> PriceInquiry:
    for field in ("header", "insurance", "patient"):
        _require(message, field)
    _check_lengths(message)
    i, p = message.insurance, message.patient
    return PriceInquiry(
        header=_header_from_pb(message.header),
        cardholder_id=i.cardholder_id,
        group_id=i.group_id,
        person_code=i.person_code,
        patient_relationship_code=i.patient_relationship_code,
        date_of_birth=p.date_of_birth,
        gender_code=p.gender_code,
        product_id=message.product_id,
        quantity_thousandths=message.quantity_thousandths,
        days_supply=message.days_supply,
        dispense_as_written=message.dispense_as_written,
        prescriber_id=message.prescriber_id,
    )


def _quote_to_pb(quote: Quote) -> pb.PriceQuote:
    """A quote: the claim's answer as Submit would send it, and what it means for the member."""
    answer = claim_response_to_pb(quote.response)
    option, drug, pharmacy = quote.option, quote.option.drug, quote.option.pharmacy
    message = pb.PriceQuote(
        changes=[change.value for change in option.changes],
        product_id=option.request.product_id,
        product_name=drug.name if drug is not None else "",
        brand=drug is not None and drug.is_brand,
        formulary_status=quote.formulary_status.value,
        tier=quote.tier,
        service_provider_id=option.request.header.service_provider_id,
        pharmacy_name=pharmacy.name if pharmacy is not None else "",
        pharmacy_network=pharmacy.network.value if pharmacy is not None else "",
        pharmacy_kind=pharmacy.kind if pharmacy is not None else "",
        quantity_thousandths=option.request.quantity_dispensed_thousandths,
        days_supply=option.request.days_supply,
        transaction_response_status=answer.transaction_response_status,
        rejects=answer.rejects,
        benefit_restrictions=[r.value for r in quote.restrictions],
        member_pay_cents=quote.member_pay_cents,
        plan_cost_cents=quote.plan_cost_cents,
        member_pay_per_30_days_cents=quote.member_pay_per_30_days_cents,
        purses=answer.purses,
        program_id=quote.program_id,
        program_reduction_cents=quote.program_reduction_cents,
        message=answer.message,
        additional_messages=answer.additional_messages,
    )
    if answer.HasField("pricing"):
        message.pricing.CopyFrom(answer.pricing)
    if answer.HasField("accumulators"):
        message.accumulators.CopyFrom(answer.accumulators)
    return message


def price_check_to_pb(check: PriceCheck) -> pb.PriceCheckResponse:
    return pb.PriceCheckResponse(
        quote=_quote_to_pb(check.asked),
        alternatives=[_quote_to_pb(q) for q in check.alternatives],
        date_of_service=check.date_of_service,
        plan_id=check.plan_id,
        reference_data_version=check.reference_data_version,
    )


def benefit_inquiry_from_pb(message: pb.BenefitRequest) -> BenefitInquiry:
    _check_lengths(message)
    return BenefitInquiry(
        bin=message.bin,
        processor_control_number=message.processor_control_number,
        cardholder_id=message.cardholder_id,
        person_code=message.person_code,
        date_of_birth=message.date_of_birth,
        as_of_date=message.as_of_date,
    )


def _accumulators_to_pb(view: AccumulatorView) -> pb.Accumulators:
    return pb.Accumulators(
        plan_year=view.plan_year,
        deductible_individual_met_cents=view.deductible_individual_met_cents,
        deductible_individual_remaining_cents=view.deductible_individual_remaining_cents,
        deductible_family_met_cents=view.deductible_family_met_cents,
        deductible_family_remaining_cents=view.deductible_family_remaining_cents,
        out_of_pocket_individual_met_cents=view.out_of_pocket_individual_met_cents,
        out_of_pocket_individual_remaining_cents=view.out_of_pocket_individual_remaining_cents,
        out_of_pocket_family_met_cents=view.out_of_pocket_family_met_cents,
        out_of_pocket_family_remaining_cents=view.out_of_pocket_family_remaining_cents,
    )


def claim_response_to_pb(response: ClaimResponse) -> pb.ClaimResponse:
    message = pb.ClaimResponse(
        transaction_response_status=response.transaction_response_status.value,
        authorization_number=response.authorization_number,
        rejects=[
            pb.Reject(code=r.code.value, text=r.text, occurrence=r.occurrence)
            for r in response.rejects
        ],
        message=response.message,
        additional_messages=list(response.additional_messages),
        # internal identifiers (purse IDs) stay in the stored response and the audit row
        purses=[
            pb.PurseLine(
                kind=line.kind,
                paid_cents=line.paid_cents,
                available_cents=line.available_cents,
                balance_remaining_cents=line.available_cents,
            )
            for line in response.purses
        ],
        internal_control_number=response.internal_control_number,
        plan_id=response.plan_id,
        reference_data_version=response.reference_data_version,
        rule_trace=list(response.rule_trace),
        prescription_reference_number=response.prescription_reference_number,
        dur_responses=[
            pb.DurResponse(
                reason_for_service=c.reason.value,
                clinical_significance=c.significance.value,
                other_pharmacy_indicator=c.other_pharmacy,
                previous_date_of_fill=c.previous_fill_date,
                quantity_of_previous_fill_thousandths=c.previous_fill_quantity_thousandths,
                database_indicator=c.database,
                other_prescriber_indicator=c.other_prescriber,
                free_text=c.text,
            )
            for c in response.dur_conflicts
        ],
        other_payers=[
            pb.OtherPayer(
                coverage_type=o.coverage_type,
                payer_id_qualifier=o.payer_id_qualifier,
                payer_id=o.payer_id,
                processor_control_number=o.processor_control_number,
                cardholder_id=o.cardholder_id,
                group_id=o.group_id,
                person_code=o.person_code,
                help_desk_phone=o.help_desk_phone,
                benefit_effective_date=o.effective_date,
                benefit_termination_date=o.termination_date,
                name=o.name,
            )
            for o in response.other_payers
        ],
        rewards=[
            pb.Reward(
                program_id=r.program_id,
                purse_kind=r.purse_kind,
                amount_cents=r.amount_cents,
                plan_year=r.plan_year_start,
                earned_this_year=r.earned_this_year,
            )
            for r in response.rewards
        ],
    )
    if response.pricing is not None:
        fields = _fields(response.pricing)
        stages = fields.pop("benefit_stages")
        others = fields.pop("other_amounts_paid")
        message.pricing.CopyFrom(pb.PricingResponse(**fields))  # type: ignore[arg-type]
        message.pricing.basis_of_calculation_copay = copay_basis(
            response.pricing.basis_of_reimbursement_determination,
            response.pricing.amount_of_copay_cents,
            response.pricing.allowed_amount_cents,
        )
        message.pricing.benefit_stages.extend(
            pb.BenefitStage(qualifier=q, amount_cents=a)
            for q, a in stages  # type: ignore[attr-defined]
        )
        message.pricing.other_amounts_paid.extend(
            pb.OtherAmount(qualifier=q, amount_cents=a)
            for q, a in others  # type: ignore[attr-defined]
        )
    if response.accumulators is not None:
        message.accumulators.CopyFrom(_accumulators_to_pb(response.accumulators))
    return message


def _fields(value: object) -> dict[str, object]:
    return {name: getattr(value, name) for name in value.__slots__}  # type: ignore[attr-defined]


def eligibility_to_pb(
    result: Eligibility, purses: tuple[PurseState, ...]
) -> pb.EligibilityResponse:
    message = pb.EligibilityResponse(
        transaction_response_status=result.transaction_response_status.value,
        rejects=[pb.Reject(code=r.code.value, text=r.text) for r in result.rejects],
        message=result.message,
        purses=[
            pb.PurseBalance(  # kinds, not purse (family) identifiers: purse_id left empty
                kind=p.kind,
                available_cents=p.available_cents,
                balance_cents=p.available_cents,
            )
            for p in purses
        ],
    )
    if result.plan is not None and result.coverage is not None:
        message.plan_id = result.plan.plan_id
        message.group_id = result.coverage.group_id
        message.coverage_start = format_ccyymmdd(result.coverage.start)
        message.coverage_end = format_ccyymmdd(result.coverage.end) if result.coverage.end else ""
        message.line_of_business = result.coverage.line_of_business
    if result.accumulators is not None:
        message.accumulators.CopyFrom(_accumulators_to_pb(result.accumulators))
    return message


def benefits_to_pb(view: BenefitView, purses: tuple[PurseState, ...]) -> pb.BenefitResponse:
    message = pb.BenefitResponse(
        coverages=[
            pb.CoverageSpan(
                plan_id=c.plan_id,
                group_id=c.group_id,
                start=format_ccyymmdd(c.start),
                end=format_ccyymmdd(c.end) if c.end else "",
                line_of_business=c.line_of_business,
                in_force=in_force,
            )
            for c, in_force in view.coverages
        ],
        purses=[
            pb.PurseAccount(  # kinds, not purse (family) identifiers: purse_id left empty
                kind=p.kind,
                posted_cents=p.posted_cents,
                pending_cents=p.pending_cents,
                available_cents=p.available_cents,
            )
            for p in purses
        ],
        accumulators=[
            pb.AccumulatorLine(
                kind=a.kind,
                level=a.level,
                has_limit=a.limit_cents is not None,
                limit_cents=a.limit_cents or 0,
                met_cents=a.met_cents,
                remaining_cents=a.remaining_cents,
            )
            for a in view.accumulators
        ],
    )
    if view.plan is not None and view.plan_year_start is not None:
        message.plan_id = view.plan.plan_id
        message.line_of_business = view.plan.line_of_business
        message.plan_year = format_ccyymmdd(view.plan_year_start)
    return message
