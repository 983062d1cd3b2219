"""Compounds: the product group of a compound claim, and its price.

The product group checks each ingredient as the formulary sees it (54 not in the drug file,
MR not on the formulary, 70 excluded, 75 prior authorization, 60/61 age and gender), each
reject naming the ingredient by its position. With 420-DK 8 ("process compound for approved
ingredients") the ingredients that fail drop out instead and the claim pays for the rest; at
least one must be left (8A). The plan may not cover compounds (7Y), or fewer ingredients than
were billed (9K). The compound is then one product: its molecule the covered ingredients'
together (a refill of the same compound is a refill), its tier the plan's compound tier (or
its highest ingredient tier).

Price (shared/reference/switch-claims.md §5): each ingredient on its own NDC, the lesser of its
submitted cost (449-EE) and the plan's price for its quantity (the network's lowest basis);
the dispensing fee of the network plus a compounding fee by 474-8E level of effort; then, as
for any claim, the lesser of that, the U&C and the gross amount due (less the dropped
ingredients' costs).
"""

from __future__ import annotations

from dataclasses import dataclass

from rx_gateway.domain.checks import fail
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.compound_segment import Ingredient
from rx_gateway.domain.member import MemberState
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.pricing import BASIS_SUBMITTED, Price, contract_ingredient, lesser_of
from rx_gateway.domain.product import age_on
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    NetworkPricing,
    Plan,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject, RejectCode

APPROVED_INGREDIENTS_ONLY = 8  # 420-DK: process the compound for its approved ingredients
COMPOUND_GROUP = "compound"
BASIS_CONTRACT = "08"  # 522-FM: contract pricing (the ingredients at the plan's prices)


@dataclass(frozen=True, slots=True)
class CoveredIngredient:
    position: int  # from 1, in billed order
    ingredient: Ingredient
    drug: Drug
    entry: FormularyEntry


@dataclass(frozen=True, slots=True)
class CompoundProduct:
    drug: Drug  # the compound as one product (NDC 0)
    entry: FormularyEntry  # its tier
    ingredients: tuple[CoveredIngredient, ...]
    dropped: tuple[tuple[int, Reject], ...] = ()  # (position, why) under 420-DK 8


def _check_ingredient(
    position: int,
    ingredient: Ingredient,
    plan: Plan,
    snapshot: ReferenceSnapshot,
    state: MemberState,
    request: ClaimRequest,
) -> CoveredIngredient | Reject:
    name = f"Ingredient {position} (NDC {ingredient.product_id})"
    drug = snapshot.drugs.get(ingredient.product_id)
    if drug is None:
        return Reject(RejectCode.NON_MATCHED_PRODUCT, f"{name} is not in the drug file", position)
    entry = snapshot.formulary.get((plan.plan_id, drug.ndc))
    if entry is None or entry.status is FormularyStatus.NON_FORMULARY:
        return Reject(
            RejectCode.NOT_ON_FORMULARY, f"{name}, {drug.name}, is not on the formulary", position
        )
    if entry.status is FormularyStatus.EXCLUDED:
        return Reject(
            RejectCode.PRODUCT_NOT_COVERED, f"{name}, {drug.name}, is not covered", position
        )
    age = age_on(state.member.date_of_birth, request.service_date)
    if (entry.age_min is not None and age < entry.age_min) or (
        entry.age_max is not None and age > entry.age_max
    ):
        return Reject(
            RejectCode.NOT_COVERED_FOR_AGE, f"{name} is not covered at this age", position
        )
    if entry.gender_code is not None and state.member.gender_code != entry.gender_code:
        return Reject(
            RejectCode.NOT_COVERED_FOR_GENDER, f"{name} is not covered for this patient", position
        )
    if entry.prior_authorization_required and not any(
        pa.covers(drug.ndc, drug.drug_group, request.service_date)
        for pa in state.prior_authorizations
    ):
        return Reject(
            RejectCode.PRIOR_AUTHORIZATION_REQUIRED, f"{name} needs a prior authorization", position
        )
    return CoveredIngredient(position, ingredient, drug, entry)


def check_compound(
    request: ClaimRequest, plan: Plan, snapshot: ReferenceSnapshot, state: MemberState
) -> CompoundProduct:
    """The product group of a compound claim (406-D6 2): the plan's compound rules and each
    ingredient; the compound as one product (see the module docstring)."""
    compound = request.compound
    if compound is None:  # the syntax checks answer 8B before anyone asks
        msg = "check_compound needs a compound claim"
        raise ValueError(msg)
    rules = plan.compound
    if not rules.covered:
        fail(
            "product",
            [Reject(RejectCode.COMPOUNDS_NOT_COVERED, "The plan does not cover compounds")],
        )
    if len(compound.ingredients) > rules.ingredients_max:
        fail(
            "product",
            [
                Reject(
                    RejectCode.COMPOUND_INGREDIENTS_EXCEED_SUPPORTED,
                    f"The plan pays compounds of at most {rules.ingredients_max} ingredients;"
                    f" {len(compound.ingredients)} were billed",
                )
            ],
        )
    covered: list[CoveredIngredient] = []
    refused: list[tuple[int, Reject]] = []
    for position, ingredient in enumerate(compound.ingredients, start=1):
        result = _check_ingredient(position, ingredient, plan, snapshot, state, request)
        if isinstance(result, Reject):
            refused.append((position, result))
        else:
            covered.append(result)
    approved_only = APPROVED_INGREDIENTS_ONLY in request.submission_clarification_codes
    if refused and not approved_only:
        fail(
            "product",
            [
                Reject(
                    reject.code,
                    f"{reject.message}: resubmit with 420-DK 8 to be paid for the covered"
                    " ingredients",
                    position,
                )
                for position, reject in refused
            ],
        )
    if not covered:
        fail(
            "product",
            [
                Reject(
                    RejectCode.COMPOUND_NEEDS_COVERED_INGREDIENT,
                    "None of the compound's ingredients is covered",
                )
            ],
        )
    tier = rules.tier if rules.tier is not None else max(c.entry.tier for c in covered)
    molecules = sorted({c.drug.molecule for c in covered})
    drug = Drug(
        ndc=request.product_id,
        name=f"compound of {len(compound.ingredients)} ingredients",
        molecule="+".join(molecules),
        drug_group=COMPOUND_GROUP,
        is_brand=any(c.drug.is_brand for c in covered),
        generic_ndc=None,
        is_specialty=any(c.drug.is_specialty for c in covered),
        awp_unit_price_millicents=0,
    )
    entry = FormularyEntry(plan.plan_id, drug.ndc, FormularyStatus.COVERED, tier)
    return CompoundProduct(drug, entry, tuple(covered), tuple(refused))


def level_of_effort_fee(request: ClaimRequest, plan: Plan) -> int:
    """The plan's compounding fee for the highest 474-8E level of effort the claim reports."""
    levels = [s.level_of_effort for s in request.dur_services if s.level_of_effort]
    return plan.compound.level_of_effort_fees_cents.get(max(levels), 0) if levels else 0


def price_compound(
    request: ClaimRequest,
    product: CompoundProduct,
    contract: NetworkPricing,
    compounding_fee_cents: int,
    trace: list[str],
) -> tuple[Price, tuple[tuple[str, int], ...]]:
    """Each covered ingredient at the lesser of its submitted cost and the plan's price; the
    network's dispensing fee plus the compounding fee; then the lesser of that, the U&C and
    the gross amount due for the covered ingredients. Also each covered ingredient's NDC and
    priced amount, the largest first (the 835 names the compound by the first)."""
    ingredient_total = 0
    priced: list[tuple[str, int]] = []
    all_as_submitted = True
    for covered in product.ingredients:
        ingredient = covered.ingredient
        plan_price, _ = contract_ingredient(covered.drug, ingredient.quantity_thousandths, contract)
        paid = min(ingredient.cost_cents, plan_price)
        all_as_submitted &= paid == ingredient.cost_cents
        ingredient_total += paid
        priced.append((ingredient.product_id, paid))
        trace.append(
            f"compound ingredient {covered.position}: {format_cents(paid)}"
            f" (submitted {format_cents(ingredient.cost_cents)},"
            f" plan {format_cents(plan_price)})"
        )
    dropped = sum(
        request.compound.ingredients[position - 1].cost_cents
        for position, _ in product.dropped
        if request.compound is not None
    )
    price = lesser_of(
        ingredient_total,
        BASIS_SUBMITTED if all_as_submitted else BASIS_CONTRACT,
        contract.dispensing_fee_cents + compounding_fee_cents,
        usual_and_customary_cents=request.usual_and_customary_charge_cents,
        gross_amount_due_cents=request.drug_gross_amount_due_cents - dropped,
        ingredient_cost_submitted_cents=request.ingredient_cost_submitted_cents - dropped,
        dispensing_fee_submitted_cents=request.dispensing_fee_submitted_cents,
    )
    return price, tuple(sorted(priced, key=lambda item: -item[1]))
