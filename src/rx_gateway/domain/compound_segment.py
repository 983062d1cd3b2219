"""A compound claim's values (406-D6 = 2 and the Compound segment, AM10) and their syntax checks
(M/I rejects, each naming the ingredient by its position). How a compound is covered and
priced is in domain/compound.py.

    406-D6 compound code (claim segment): 1 not a compound, 2 compound; 436-E1 00, 407-D7 0
    450-EF dosage form · 451-EG dispensing unit (1 each, 2 grams, 3 mL) · 447-EC count
    per ingredient: 488-RE qualifier (03 NDC), 489-TE product ID, 448-ED quantity,
                    449-EE drug cost, 490-UE basis of cost, 362-2G/363-2H modifiers
"""

from __future__ import annotations

from dataclasses import dataclass

from rx_gateway.domain.additional_amounts import AMOUNT_MAX_CENTS
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.values import is_digits

NOT_A_COMPOUND, COMPOUND = 1, 2  # 406-D6 (0: not sent, as not a compound)
COMPOUND_PRODUCT_QUALIFIER = "00"  # 436-E1 on a compound claim
COMPOUND_PRODUCT_ID = "0"  # 407-D7 on a compound claim
NDC_QUALIFIER = "03"  # 488-RE
INGREDIENTS_MIN = 2  # 7Z / 9M below it
INGREDIENTS_MAX = 25  # 447-EC: D.0 carries up to 25 (9K above it)
MODIFIERS_MAX = 10  # 362-2G
DISPENSING_UNITS = {"1": "each", "2": "grams", "3": "milliliters"}  # 451-EG
QUANTITY_MAX_THOUSANDTHS = 9_999_999_999  # 448-ED 9(7)v999
# 490-UE: as 423-DN (blank, 00-09, 11-15)
BASIS_OF_COST_CODES = frozenset({"", *(f"{n:02d}" for n in (*range(10), *range(11, 16)))})


@dataclass(frozen=True, slots=True)
class Ingredient:
    """One ingredient of a compound, as the pharmacy billed it."""

    product_id_qualifier: str  # 488-RE
    product_id: str  # 489-TE (an NDC)
    quantity_thousandths: int  # 448-ED
    cost_cents: int  # 449-EE
    basis_of_cost: str = ""  # 490-UE
    modifiers: tuple[str, ...] = ()  # 363-2H (362-2G counts them)


@dataclass(frozen=True, slots=True)
class Compound:
    """The Compound segment: the dosage form, the unit and the ingredients in billed order
    (an ingredient's position, from 1, is how messages name it)."""

    dosage_form: str  # 450-EF
    dispensing_unit: str  # 451-EG
    ingredients: tuple[Ingredient, ...]


def _ingredient_rejects(position: int, ingredient: Ingredient) -> list[Reject]:
    name = f"Ingredient {position}"
    rejects = []
    if ingredient.product_id_qualifier != NDC_QUALIFIER:
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_PRODUCT_ID_QUALIFIER,
                f"{name}: product ID qualifier (488-RE) must be 03 (NDC)",
            )
        )
    if not (len(ingredient.product_id) == 11 and is_digits(ingredient.product_id)):
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_PRODUCT_ID, f"{name}: product ID (489-TE) is an 11-digit NDC"
            )
        )
    if not 0 < ingredient.quantity_thousandths <= QUANTITY_MAX_THOUSANDTHS:
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_INGREDIENT_QUANTITY,
                f"{name}: quantity (448-ED) must be positive",
            )
        )
    if ingredient.cost_cents <= 0:
        rejects.append(
            Reject(
                RejectCode.COMPOUND_INGREDIENT_COST_NOT_POSITIVE,
                f"{name}: drug cost (449-EE) must be greater than zero",
            )
        )
    elif ingredient.cost_cents > AMOUNT_MAX_CENTS:
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_INGREDIENT_COST,
                f"{name}: drug cost (449-EE) is over $999,999.99",
            )
        )
    if ingredient.basis_of_cost not in BASIS_OF_COST_CODES:
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_INGREDIENT_BASIS,
                f"{name}: basis of cost (490-UE) must be 00-15 or blank",
            )
        )
    if len(ingredient.modifiers) > MODIFIERS_MAX or any(
        not (1 <= len(m) <= 2 and m.isascii() and m.isalnum()) for m in ingredient.modifiers
    ):
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_INGREDIENT_MODIFIER,
                f"{name}: modifier codes (363-2H) are 2 characters, at most {MODIFIERS_MAX}",
            )
        )
    return rejects


def compound_rejects(
    compound_code: int,
    product_id_qualifier: str,
    product_id: str,
    compound: Compound | None,
    ingredient_cost_submitted_cents: int,
) -> list[Reject]:
    """406-D6 and the Compound segment: the segment on a compound claim only (8B, 8D), 436-E1
    00 and 407-D7 0, or 03 and one of the ingredients' NDCs (E1, 8G), a dosage form and unit
    (EF, EG), two ingredients at least (7Z) and 25 at most (9K), each ingredient well formed
    and named once (9Z), and 409-D9 the sum of the ingredients' costs (8M)."""
    if compound_code not in (0, NOT_A_COMPOUND, COMPOUND):
        return [Reject(RejectCode.MI_COMPOUND_CODE, "Compound code (406-D6) is 1 or 2")]
    if compound_code != COMPOUND:
        if compound is not None:
            return [
                Reject(
                    RejectCode.COMPOUND_SEGMENT_ON_NON_COMPOUND,
                    "A Compound segment on a claim whose 406-D6 is not 2 (compound)",
                )
            ]
        return []
    if compound is None:
        return [
            Reject(
                RejectCode.COMPOUND_SEGMENT_MISSING,
                "Compound code (406-D6) 2 needs the Compound segment with its ingredients",
            )
        ]
    rejects = []
    # D.0 names a compound 436-E1 00 and 407-D7 0; the older way, still sent, names it by one
    # of its ingredients' NDCs (436-E1 03): either is read as the same compound
    legacy = product_id_qualifier == NDC_QUALIFIER and any(
        i.product_id == product_id for i in compound.ingredients
    )
    if product_id_qualifier != COMPOUND_PRODUCT_QUALIFIER and not legacy:
        rejects.append(
            Reject(
                RejectCode.MI_PRODUCT_ID_QUALIFIER,
                "Product ID qualifier (436-E1) must be 00 on a compound claim",
            )
        )
    if product_id != COMPOUND_PRODUCT_ID and not legacy:
        rejects.append(
            Reject(
                RejectCode.COMPOUND_PRODUCT_ID_NOT_ZERO,
                "Product ID (407-D7) must be a single 0 on a compound claim (or, with 436-E1"
                " 03, the NDC of one of its ingredients)",
            )
        )
    if not (len(compound.dosage_form) == 2 and is_digits(compound.dosage_form)):
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_DOSAGE_FORM,
                "Compound dosage form (450-EF) is a 2-digit code",
            )
        )
    if compound.dispensing_unit not in DISPENSING_UNITS:
        rejects.append(
            Reject(
                RejectCode.MI_COMPOUND_DISPENSING_UNIT,
                "Compound dispensing unit (451-EG) is 1 each, 2 grams or 3 milliliters",
            )
        )
    ingredients = compound.ingredients
    if len(ingredients) < INGREDIENTS_MIN:
        rejects.append(
            Reject(RejectCode.COMPOUND_TWO_INGREDIENTS, "A compound has two or more ingredients")
        )
    elif len(ingredients) > INGREDIENTS_MAX:
        return [
            Reject(
                RejectCode.COMPOUND_INGREDIENTS_EXCEED_SUPPORTED,
                f"At most {INGREDIENTS_MAX} ingredients (447-EC)",
            )
        ]
    seen: dict[str, int] = {}
    for position, ingredient in enumerate(ingredients, start=1):
        rejects += _ingredient_rejects(position, ingredient)
        first = seen.setdefault(ingredient.product_id, position)
        if first != position:
            rejects.append(
                Reject(
                    RejectCode.DUPLICATE_COMPOUND_PRODUCT,
                    f"Ingredient {position} repeats ingredient {first} (489-TE"
                    f" {ingredient.product_id}): bill each NDC once",
                )
            )
    if not rejects and ingredient_cost_submitted_cents != sum(i.cost_cents for i in ingredients):
        rejects.append(
            Reject(
                RejectCode.COMPOUND_COST_SUM,
                "Ingredient cost submitted (409-D9) must be the sum of the ingredients' drug"
                " costs (449-EE)",
            )
        )
    return rejects
