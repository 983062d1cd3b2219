"""Each plan's formulary entry for each drug: status, tier, prior authorization, limits and
patient edits."""

from __future__ import annotations

import random
from collections.abc import Iterable

from rx_gateway.tools.synthetic.catalogue import INSULIN_GROUP
from rx_gateway.tools.synthetic.rows import DrugRow, FormularyRow

QUANTITY_LIMIT_THOUSANDTHS = 90_000  # 90 units per fill, on about a tenth of the drugs
# Migraine-style limits on some neuro generics: 18 units and 30 days supplied per 30 days.
PERIOD_DAYS = 30
PERIOD_QUANTITY_LIMIT_THOUSANDTHS = 18_000
PERIOD_DAYS_SUPPLY_MAX = 30
ADULT_AGE = 18


def formulary_entries(
    plan_ids: Iterable[str], drugs: list[DrugRow], rng: random.Random
) -> list[FormularyRow]:
    """Every drug on every plan, plan by plan."""
    rows = []
    # step therapy: some single-source brands require a generic of their group first (608);
    # chosen from the NDC, not the random stream, so the rest of the data does not shift
    first_generic: dict[str, str] = {}
    for drug in drugs:
        if not drug.is_brand:
            first_generic.setdefault(drug.drug_group, drug.molecule)
    for plan_id in plan_ids:
        for drug in drugs:
            status, tier, pa = "covered", 1, False
            quantity_limit = None
            if drug.is_specialty:
                tier, pa = 4, True
            elif drug.drug_group == INSULIN_GROUP:
                tier = 2
            elif drug.is_brand:
                tier = 3 if drug.generic_ndc else rng.choice((2, 2, 3))
                roll = rng.random()
                if roll < 0.03:
                    status = "excluded"
                elif roll < 0.06:
                    status = "non_formulary"
                elif roll < 0.10:
                    pa = True
            if not drug.is_specialty and rng.random() < 0.1:
                quantity_limit = QUANTITY_LIMIT_THOUSANDTHS
            single_source = drug.is_brand and not drug.generic_ndc and not drug.is_specialty
            stepped = single_source and int(drug.ndc) % 11 == 0
            # rolling-period limits (9G, AG), chosen from the NDC like step therapy
            limited = drug.drug_group == "neuro" and not drug.is_brand and int(drug.ndc) % 7 == 0
            rows.append(
                FormularyRow(
                    plan_id=plan_id,
                    ndc=drug.ndc,
                    status=status,
                    tier=tier,
                    prior_authorization_required=pa,
                    quantity_limit_thousandths=quantity_limit,
                    days_supply_max=None,
                    # patient edits: neuro brands for adults (60), urology for men only (61)
                    age_min=ADULT_AGE if drug.drug_group == "neuro" and drug.is_brand else None,
                    age_max=None,
                    gender_code=1 if drug.drug_group == "urology" else None,
                    step_therapy_molecule=first_generic.get(drug.drug_group) if stepped else None,
                    period_days=PERIOD_DAYS if limited else None,
                    period_quantity_limit_thousandths=(
                        PERIOD_QUANTITY_LIMIT_THOUSANDTHS if limited else None
                    ),
                    period_days_supply_max=PERIOD_DAYS_SUPPLY_MAX if limited else None,
                )
            )
    return rows
