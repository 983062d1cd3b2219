"""The demo's script: each step is one claim (or reversal, or eligibility check) over the
synthetic fixtures and the answer it must get; an Outcome is what it got."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rx_gateway.client import reversal_for
from rx_gateway.domain.money import format_cents
from rx_gateway.tools.synthetic.claims import add_other_payment, claim_request, make_compound
from rx_gateway.v1 import claims_pb2 as pb

Check = Callable[[pb.ClaimResponse], bool]


@dataclass(frozen=True)
class Step:
    label: str
    request: pb.ClaimRequest | pb.ReversalRequest | pb.EligibilityRequest
    status: str
    rejects: tuple[str, ...] = ()
    check: Check | None = None
    check_text: str = ""


@dataclass(frozen=True)
class Outcome:
    step: Step
    status: str
    rejects: tuple[str, ...]
    patient_pay_cents: int
    plan_paid_cents: int
    purse_paid_cents: int
    detail: str
    passed: bool


def pricing(response: pb.ClaimResponse) -> pb.PricingResponse:
    return response.pricing


def add_sales_tax(request: pb.ClaimRequest, *, rate: int, flat_cents: int = 25) -> None:
    """A flat tax (481-HA) and a percentage tax (482-GE at 483-HE on ingredient + fee, 484-JE
    03) added to a claim, its 430-DU grown to match."""
    pr = request.pricing
    drug = pr.ingredient_cost_submitted_cents + pr.dispensing_fee_submitted_cents
    pr.flat_sales_tax_amount_submitted_cents = flat_cents
    pr.percentage_sales_tax_rate_submitted = rate
    pr.percentage_sales_tax_basis_submitted = "03"
    pr.percentage_sales_tax_amount_submitted_cents = (drug * rate + 500_000) // 1_000_000
    pr.gross_amount_due_cents = drug + flat_cents + pr.percentage_sales_tax_amount_submitted_cents


def script(fx: dict[str, Any]) -> list[Step]:
    """The scripted claims. Rx numbers are unique per step so steps do not collide."""
    members, drugs, pharmacies = fx["members"], fx["drugs"], fx["pharmacies"]
    single, family_head, part_d = (
        members["commercial_single"],
        members["commercial_family_head"],
        members["part_d"],
    )
    hdhp = members["hdhp_family"][0]
    wellness = members["commercial_wellness"]
    limited = {"quantity_thousandths": 12_000, "days_supply": 10}
    preferred, standard = pharmacies["preferred"], pharmacies["standard"]

    def claim(
        member: dict[str, Any], drug: str, rx: int, dos: str = "20261102", **kw: Any
    ) -> pb.ClaimRequest:
        return claim_request(
            fx,
            member,
            drugs[drug],
            pharmacy=kw.pop("pharmacy", preferred),
            rx_number=rx,
            date_of_service=dos,
            **kw,
        )

    generic = claim(single, "generic", 1)
    changed = pb.ClaimRequest()
    changed.CopyFrom(generic)
    changed.claim.quantity_dispensed_thousandths = 60_000
    unknown = claim(single, "generic", 9)
    unknown.insurance.cardholder_id = "RXG000000000"
    bad_date = claim(single, "generic", 10)
    bad_date.header.date_of_service = "20261345"
    orphan = reversal_for(claim(single, "generic", 999))
    eligibility = pb.EligibilityRequest(header=generic.header, insurance=generic.insurance)
    taxed = claim(members["commercial_woman"], "generic_copay", 27)
    child, part_time = members["commercial_child"], members["commercial_part_time"]
    vacation = claim(child, "generic_copay", 29, "20261110")
    vacation.claim.submission_clarification_codes.append(3)  # 420-DK 3: vacation supply
    duplicate = claim(part_time, "duplicate_b", 31, "20261105")
    overridden = pb.ClaimRequest()
    overridden.CopyFrom(duplicate)
    overridden.dur_services.add(  # the pharmacist consulted the prescriber and filled
        reason_for_service="TD", professional_service="M0", result_of_service="1G"
    )
    # A compound: two covered bulk actives and a cream base the plan excludes, billed with
    # 420-DK 8 (pay the approved ingredients), a 474-8E level of effort 13 and a compound
    # preparation fee (479-H8 09)
    actives, base = drugs["compound_ingredients"], drugs["compound_base"]
    compound = claim(members["commercial_woman"], "generic", 34, "20261103")
    make_compound(
        compound, [(actives[0], 30_000, 1_200), (actives[1], 60_000, 4_500), (base, 10_000, 2_000)]
    )
    compound.claim.submission_clarification_codes.append(8)
    compound.dur_services.add(level_of_effort=13)
    compound.pricing.other_amounts_claimed.add(qualifier="09", amount_cents=1_000)
    compound.pricing.gross_amount_due_cents += 1_000
    # Medicaid behind an employer plan this gateway does not process: billed first here, the
    # claim is sent to the employer plan (41); billed after it, Medicaid pays what it left
    medicaid = members["medicaid_other_primary"]
    acme = medicaid["other_payer"]
    medicaid_first = claim(medicaid, "generic_copay", 32)
    medicaid_second = claim(medicaid, "generic_copay", 33)
    add_other_payment(
        medicaid_second,
        other_coverage_code=2,
        payer_bin=acme["bin"],
        paid_on="20261102",
        paid_cents=1_000,
        patient_responsibility_cents=500,
    )
    add_sales_tax(taxed, rate=62_500)  # 6.25%, on ingredient + fee, plus a $0.25 flat tax
    return [
        Step("E1 eligibility, commercial member", eligibility, "A"),
        Step(
            "generic statin at a preferred pharmacy",
            generic,
            "P",
            check=lambda r: pricing(r).patient_pay_amount_cents == 0 and not r.purses,
            check_text="$0 statin program: member and HRA pay nothing",
        ),
        Step("identical retransmission", generic, "D"),
        Step("same Rx/fill/date, different quantity", changed, "R", ("83",)),
        Step("B2 reversal of the generic", reversal_for(generic), "A"),
        Step("B2 repeated", reversal_for(generic), "S"),
        Step("B2 with nothing to reverse", orphan, "R", ("84",)),
        Step("B1 again after the reversal", generic, "P"),
        Step(
            "refill 10 days later",
            claim(single, "generic", 1, "20261112", fill_number=1),
            "R",
            ("79",),
        ),
        Step("unknown cardholder", unknown, "R", ("52",)),
        Step("date of service 20261345", bad_date, "R", ("15",)),
        Step(
            "coverage terminated 2026-06-30",
            claim(members["terminated"], "generic", 11),
            "R",
            ("69",),
        ),
        Step(
            "dated next month (post-dated)", claim(single, "generic", 35, "20261201"), "R", ("82",)
        ),
        Step(
            "dated a year ago (timely filing)",
            claim(single, "generic", 36, "20251101"),
            "R",
            ("81",),
        ),
        Step(
            "out-of-network pharmacy",
            claim(single, "generic", 12, pharmacy=pharmacies["out_of_network"]),
            "R",
            ("40",),
        ),
        Step("excluded drug", claim(single, "excluded", 13), "R", ("70",)),
        Step(
            "drug not on formulary",
            claim(single, "non_formulary", 14),
            "R",
            ("MR",),
            check=lambda r: "covered alternative" in r.message,
            check_text="message names the covered alternative",
        ),
        Step(
            "specialty at a retail pharmacy",
            claim(family_head, "specialty", 30, quantity_thousandths=10_000),
            "R",
            ("G6",),
        ),
        Step(
            "90-day supply at retail",
            claim(single, "preferred_brand", 31, days_supply=90, quantity_thousandths=90_000),
            "R",
            ("G9",),
        ),
        Step(
            "HDHP: DAW 0 on a multi-source brand",
            claim(members["hdhp_family"][1], "multi_source_brand", 32),
            "R",
            ("AJ",),
            check=lambda r: fx["drugs"]["multi_source_brand"]["generic_ndc"] in r.message,
            check_text="message names the generic to dispense",
        ),
        Step(
            "adults-only drug for a child",
            claim(members["commercial_child"], "adults_only", 33),
            "R",
            ("60",),
        ),
        Step(
            "step therapy: brand before the generic",
            claim(members["commercial_woman"], "step_therapy", 37),
            "R",
            ("608",),
            check=lambda r: fx["drugs"]["step_therapy_first"]["molecule"] in r.message,
            check_text="message names the drug to try first",
        ),
        Step(
            "step therapy: the first-line generic",
            claim(members["commercial_woman"], "step_therapy_first", 38, "20261101"),
            "P",
        ),
        Step(
            "step therapy: then the brand",
            claim(members["commercial_woman"], "step_therapy", 39),
            "P",
        ),
        Step(
            "men-only drug for a woman",
            claim(members["commercial_woman"], "men_only", 34),
            "R",
            ("61",),
        ),
        Step(
            "prior authorization required",
            claim(single, "prior_authorization", 15),
            "R",
            ("75",),
            check=lambda r: "PA line" in r.message,
            check_text="message says where to request it",
        ),
        Step(
            "quantity over the plan limit",
            claim(single, "quantity_limited", 16, quantity_thousandths=120_000),
            "R",
            ("76",),
            check=lambda r: "Dispense up to 90" in r.message,
            check_text="message gives the limit and what was asked",
        ),
        Step(
            "period limit: 12 of 18 units per 30 days",
            claim(single, "period_limited", 40, "20261101", **limited),
            "P",
        ),
        Step(
            "period limit: 12 more 9 days later",
            claim(single, "period_limited", 41, "20261110", **limited),
            "R",
            ("9G",),
            check=lambda r: "Up to 6 may be dispensed now" in r.message,
            check_text="message says how much may be dispensed now",
        ),
        Step(
            "period limit: 25 more days supply",
            claim(
                single, "period_limited", 42, "20261112", quantity_thousandths=3_000, days_supply=25
            ),
            "R",
            ("AG",),
        ),
        Step(
            "wellness purse: allotments released",
            claim(wellness, "generic_copay", 43, "20261101", days_supply=5),
            "P",
            check=lambda r: [p.kind for p in r.purses] == ["WELLNESS"],
            check_text="the wellness purse pays the copay",
        ),
        Step(
            "wellness purse: 2nd fill this month",
            claim(wellness, "generic_copay", 44, "20261106", days_supply=5),
            "P",
            check=lambda r: [p.kind for p in r.purses] == ["WELLNESS"],
            check_text="the wellness purse pays again",
        ),
        Step(
            "wellness purse: 3rd fill this month",
            claim(wellness, "generic_copay", 45, "20261111", days_supply=5),
            "P",
            check=lambda r: "WELLNESS" not in [p.kind for p in r.purses],
            check_text="frequency limit: 2 fills a month",
        ),
        Step(
            "non-preferred brand (tier 3)",
            claim(wellness, "multi_source_brand", 46, "20261112", quantity_thousandths=300_000),
            "P",
            check=lambda r: (
                pricing(r).amount_attributed_to_brand_non_preferred_formulary_cents == 2_500
            ),
            check_text="$25 in 136-UN",
        ),
        Step(
            "part-time class: HRA capped per quarter",
            claim(
                members["commercial_part_time"],
                "preferred_brand",
                47,
                quantity_thousandths=300_000,
            ),
            "P",
            check=lambda r: [(p.kind, p.paid_cents) for p in r.purses] == [("HRA", 15_000)],
            check_text="HRA pays $150, the class's quarterly cap",
        ),
        Step(
            "120 days supply by mail",
            claim(
                single,
                "preferred_brand",
                17,
                days_supply=120,
                quantity_thousandths=120_000,
                pharmacy=pharmacies["mail"],
            ),
            "R",
            ("7X",),
        ),
        Step(
            "generic statin at a standard pharmacy",
            claim(family_head, "generic", 18, pharmacy=standard),
            "P",
            check=lambda r: pricing(r).amount_attributed_to_provider_network_selection_cents > 0,
            check_text="network differential in 133-UJ",
        ),
        Step(
            "brand: deductible, copay, HRA pays",
            claim(family_head, "preferred_brand", 19),
            "P",
            check=lambda r: (
                pricing(r).amount_applied_to_periodic_deductible_cents > 0
                and pricing(r).health_plan_funded_assistance_amount_cents < 0
            ),
            check_text="517-FH > 0 and HRA in 129-UD",
        ),
        Step(
            "DAW 1 on a multi-source brand (HDHP)",
            claim(members["hdhp_family"][1], "multi_source_brand", 20, dispense_as_written=1),
            "P",
            check=lambda r: pricing(r).amount_attributed_to_product_selection_brand_cents > 0,
            check_text="brand penalty in 134-UK",
        ),
        Step(
            "specialty with PA, specialty pharmacy",
            claim(
                family_head,
                "specialty",
                21,
                quantity_thousandths=10_000,
                pharmacy=pharmacies["specialty"],
            ),
            "P",
        ),
        Step(
            "insulin, commercial $25 cap",
            claim(single, "insulin", 22, quantity_thousandths=10_000),
            "P",
            check=lambda r: (
                r.pricing.patient_pay_amount_cents
                + -r.pricing.health_plan_funded_assistance_amount_cents
                <= 2_500
            ),
            check_text="member share <= $25",
        ),
        Step(
            "HDHP: inside the deductible",
            claim(hdhp, "preferred_brand", 23),
            "P",
            check=lambda r: pricing(r).amount_applied_to_periodic_deductible_cents > 0,
            check_text="member pays toward the $1,700 deductible",
        ),
        Step(
            "sales tax passed through (481-HA, 482-GE)",
            taxed,
            "P",
            check=lambda r: (
                pricing(r).flat_sales_tax_amount_paid_cents == 25
                and pricing(r).percentage_sales_tax_amount_paid_cents > 0
                and pricing(r).total_amount_paid_cents
                == pricing(r).ingredient_cost_paid_cents
                + pricing(r).dispensing_fee_paid_cents
                + pricing(r).flat_sales_tax_amount_paid_cents
                + pricing(r).percentage_sales_tax_amount_paid_cents
                - pricing(r).patient_pay_amount_cents
            ),
            check_text="558-AW + 559-AX paid by the plan, inside 509-F9",
        ),
        Step("first fill before a vacation", claim(child, "generic_copay", 28), "P"),
        Step(
            "refill too soon, 420-DK 3 vacation supply",
            vacation,
            "P",
            check=lambda r: any("420-DK 3" in line for line in r.rule_trace),
            check_text="79 overridden by the plan's vacation allowance",
        ),
        Step("an antidepressant", claim(part_time, "duplicate_a", 30), "P"),
        Step(
            "a second one: DUR therapeutic duplication",
            duplicate,
            "R",
            ("88",),
            check=lambda r: [c.reason_for_service for c in r.dur_responses] == ["TD"],
            check_text="88 with the conflict in the DUR response",
        ),
        Step(
            "the same, pharmacist overrides (M0/1G)",
            overridden,
            "P",
            check=lambda r: [c.reason_for_service for c in r.dur_responses] == ["TD"],
            check_text="paid, the conflict still reported",
        ),
        Step(
            "compound, base not covered (420-DK 8)",
            compound,
            "P",
            check=lambda r: (
                any("Ingredient 3 not paid" in m for m in r.additional_messages)
                and [(o.qualifier, o.amount_cents) for o in pricing(r).other_amounts_paid]
                == [("09", 1_000)]
                and pricing(r).dispensing_fee_paid_cents == 1_100
            ),
            check_text="priced per ingredient, base dropped, +$10 level 13",
        ),
        Step(
            "Medicaid billed before the employer plan",
            medicaid_first,
            "R",
            ("41",),
            check=lambda r: [p.payer_id for p in r.other_payers] == [acme["bin"]],
            check_text="41 names the primary payer (AM28)",
        ),
        Step(
            "Medicaid as secondary (308-C8 2, COB segment)",
            medicaid_second,
            "P",
            check=lambda r: (
                pricing(r).other_payer_amount_recognized_cents > 0
                and pricing(r).total_amount_paid_cents == 500
                and pricing(r).patient_pay_amount_cents == 0
            ),
            check_text="pays the $5.00 the primary left (566-J5)",
        ),
        Step(
            "Part D insulin, $35 a month",
            claim(part_d, "insulin", 24, quantity_thousandths=10_000),
            "P",
            check=lambda r: (
                0 < pricing(r).patient_pay_amount_cents <= 3_500
                and pricing(r).amount_applied_to_periodic_deductible_cents == 0
            ),
            check_text="<= $35, no deductible",
        ),
        Step(
            "Part D specialty crosses $2,100 OOP",
            claim(part_d, "specialty", 25, quantity_thousandths=10_000),
            "P",
            check=lambda r: (
                r.accumulators.out_of_pocket_individual_remaining_cents == 0
                and pricing(r).amount_applied_to_periodic_deductible_cents == 61_500
            ),
            check_text="$615 deductible, then OOP met",
        ),
        Step(
            "Part D after the OOP threshold",
            claim(part_d, "preferred_brand", 26),
            "P",
            check=lambda r: pricing(r).patient_pay_amount_cents == 0,
            check_text="member pays $0",
        ),
        Step(
            "reward: maintenance drug by 90-day mail",
            claim(
                family_head,
                "generic_copay",
                38,
                "20261104",
                pharmacy=pharmacies["mail"],
                quantity_thousandths=90_000,
                days_supply=90,
            ),
            "P",
            check=lambda r: any(w.amount_cents > 0 for w in r.rewards),
            check_text="$10.00 credited to the HRA, in the same write (a reward program)",
        ),
        *_enrolled_by_834(members, claim),
    ]


def price_check(fx: dict[str, Any]) -> pb.PriceCheckRequest:
    """The demo's price check: an HDHP member asks for a brand as written (DAW 1) at a
    standard pharmacy; the answer shows what the generic, a preferred pharmacy and 90-day mail
    would cost instead."""
    member = fx["members"]["hdhp_single"]
    plan = fx["plans"][member["plan_id"]]
    return pb.PriceCheckRequest(
        header=pb.Header(
            bin=plan["bin"],
            processor_control_number=plan["pcn"],
            service_provider_id=fx["pharmacies"]["standard"],
            date_of_service="20261102",
        ),
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"],
            group_id=member["group_id"],
            person_code=member["person_code"],
        ),
        patient=pb.Patient(date_of_birth=member["date_of_birth"]),
        product_id=fx["drugs"]["multi_source_brand"]["ndc"],
        quantity_thousandths=30_000,
        days_supply=30,
        dispense_as_written=1,
    )


def price_check_line(answer: pb.PriceCheckResponse) -> str:
    """The price check's headline: the fill asked about and the cheapest alternative."""
    quote = answer.quote
    line = (
        f"price check: {quote.product_name} as written, {quote.days_supply} days at a"
        f" {quote.pharmacy_network} pharmacy: member pays {format_cents(quote.member_pay_cents)}"
    )
    if not answer.alternatives:
        return line + "; no alternative the plan would pay"
    best = answer.alternatives[0]
    return (
        f"{line}; cheapest alternative ({', '.join(best.changes)}): {best.product_name},"
        f" {best.days_supply} days, {format_cents(best.member_pay_cents)}"
        f" ({format_cents(best.member_pay_per_30_days_cents)} per 30 days)"
    )


def _enrolled_by_834(members: dict[str, Any], claim: Callable[..., pb.ClaimRequest]) -> list[Step]:
    """The member two 834s enrolled (tools/demo/enrollment.py): Medicaid to June, the
    employer's plan from July; each claim is adjudicated on the coverage of its day."""
    if "enrolled_by_834" not in members:
        return []
    medicaid, employer = members["enrolled_by_834"], members["enrolled_by_834_employer"]
    return [
        Step(
            "834-enrolled: Medicaid in March",
            claim(medicaid, "generic_copay", 35, "20260310"),
            "P",
            check_text="the state's 834: Medicaid Jan-Jun",
        ),
        Step(
            "834-enrolled: Medicaid billed in August",
            claim(medicaid, "generic_copay", 36, "20260810"),
            "R",
            check_text="Medicaid ended June 30 (the state's 834)",
        ),
        Step(
            "834-enrolled: employer plan in August",
            claim(employer, "generic_copay", 37, "20260810"),
            "P",
            check_text="the employer's 834: plan from July 1",
        ),
    ]
