"""The plan documents (one JSON file each): a commercial copay plan with an employer HRA and a
wellness purse, an HSA-qualified high-deductible plan, the 2026 Medicare Part D defined
standard benefit, and a state Medicaid plan (the payer of last resort: it pays the patient
responsibility other payers leave)."""

from __future__ import annotations

from typing import Any

BIN_COMMERCIAL = "610999"
BIN_PART_D = "610888"
BIN_MEDICAID = "610777"
MEDICAID = "MEDICAID-2026"
PCN_MEDICAID = "RXGMCAID"
MEDICAID_SPONSOR = "STATE-MEDICAID"
MEDICAID_GROUP = "MCAID"
COMMERCIAL = "COMM-HRA-2026"
HDHP = "HDHP-2026"
PART_D = "PARTD-STD-2026"
PCN_COMMERCIAL = "RXGCOMM"
PCN_HDHP = "RXGHDHP"
PCN_PART_D = "RXGPARTD"
# each plan's line of business, as coverages.csv states it
PLAN_LOB = {
    COMMERCIAL: "COMMERCIAL",
    HDHP: "COMMERCIAL",
    PART_D: "MEDICARE_PART_D",
    MEDICAID: "MEDICAID",
}
# BIN and PCN (101-A1, 104-A4) that route a claim to each plan
PLAN_ROUTING = {
    COMMERCIAL: (BIN_COMMERCIAL, PCN_COMMERCIAL),
    HDHP: (BIN_COMMERCIAL, PCN_HDHP),
    PART_D: (BIN_PART_D, PCN_PART_D),
    MEDICAID: (BIN_MEDICAID, PCN_MEDICAID),
}

WELLNESS_RULE = {
    "kind": "WELLNESS",
    "allowed_tiers": [1],
    "allowed_networks": ["preferred"],
    "period": "month",
    "per_period_max_cents": 2_500,
    "fills_per_period_max": 2,
}


# Pharmacies are paid weekly (periods end on Sunday), three days later; a commercial claim
# costs the pharmacy a 25-cent transaction fee. Part D: at most 9 days from receipt to payment.
COMMERCIAL_PAY_CYCLE = {
    "period_days": 7,
    "cutoff_weekday": "sunday",
    "pay_after_days": 3,
    "transaction_fee_cents": 25,
}
PART_D_PAY_CYCLE = {"period_days": 7, "cutoff_weekday": "sunday", "pay_after_days": 3}
PART_D_SPONSOR = "PDP-SPONSOR"
# 420-DK codes past a refill too soon: a vacation supply twice a plan year, lost or stolen
# once, a therapy change whenever it is one.
REFILL_OVERRIDES = {"3": 2, "4": 1, "5": None}
# DUR: two statins at once and a listed interaction are hard edits (88) a pharmacist overrides
# after consulting the prescriber (M0) and filling with the prescriber's approval (1G); an
# early refill (before 90% of the days supply) is paid with a warning.
DUR = {
    "early_refill": "warn",
    "early_refill_threshold_bp": 9_000,
    "therapeutic_duplication": "reject",
    "drug_interaction": "reject",
    "overrides": [["TD", "M0", "1G"], ["DD", "M0", "1G"]],
}


# Compounds: up to 10 ingredients, priced on tier 3, with a compounding fee by the 474-8E
# level of effort the pharmacist reports (on top of the dispensing fee).
COMMERCIAL_COMPOUNDS = {
    "ingredients_max": 10,
    "tier": 3,
    "level_of_effort_fees_cents": {"12": 500, "13": 1_000, "14": 1_500, "15": 2_000},
}


def plan_documents() -> list[dict[str, Any]]:
    """The plan documents, as `rx-gateway load` reads them from plans/*.json."""
    copay_bands_generic = [[34, 10_000], [90, 20_000]]
    copay_bands_brand = [[34, 10_000], [90, 25_000]]
    commercial = {
        "plan_id": COMMERCIAL,
        "name": "Commercial copay plan with employer HRA",
        "bin": BIN_COMMERCIAL,
        "pcn": PCN_COMMERCIAL,
        "line_of_business": "COMMERCIAL",
        "plan_year_start_month": 1,
        "sponsor_id": "employer",
        "pharmacy_payment": COMMERCIAL_PAY_CYCLE,
        "refill_overrides": REFILL_OVERRIDES,
        "dur": DUR,
        "compound": COMMERCIAL_COMPOUNDS,
        "deductible": {"individual_cents": 25_000, "family_cents": 50_000},
        "out_of_pocket": {"individual_cents": 400_000, "family_cents": 800_000},
        "days_supply_max": 90,
        "refill_too_soon_threshold_bp": 8_000,
        "timely_filing_days": 365,
        "claim_cost_max_cents": 5_000_000,  # the high-dollar edit: $50,000 a claim (78)
        "daw_penalty_codes": [1, 2],
        "networks": {
            "preferred": {
                "awp_discount_bp": 1_800,
                "wac_markup_bp": 300,
                "nadac_markup_bp": 1_000,
                "use_mac": True,
                "dispensing_fee_cents": 100,
                "other_amounts_paid_max_cents": {"09": 1_500},  # compound preparation
            },
            "standard": {
                "awp_discount_bp": 1_500,
                "wac_markup_bp": 500,
                "nadac_markup_bp": 1_500,
                "use_mac": True,
                "dispensing_fee_cents": 75,
            },
        },
        "tiers": {
            "1": {
                "kind": "copay",
                "copay_cents": 1_000,
                "deductible_applies": False,
                "standard_network_extra_cents": 500,
                "days_supply_bands": copay_bands_generic,
            },
            "2": {
                "kind": "copay",
                "copay_cents": 4_000,
                "deductible_applies": True,
                "standard_network_extra_cents": 1_500,
                "days_supply_bands": copay_bands_brand,
            },
            "3": {
                # non-preferred brand: the tier-2 copay plus $25 reported in 136-UN (135-UM
                # for a generic on this tier); $80 in all for 30 days
                "kind": "copay",
                "copay_cents": 5_500,
                "non_preferred_extra_cents": 2_500,
                "deductible_applies": True,
                "standard_network_extra_cents": 1_500,
                "days_supply_bands": copay_bands_brand,
            },
            "4": {
                "kind": "coinsurance",
                "coinsurance_bp": 2_500,
                "coinsurance_min_cents": 10_000,
                "coinsurance_max_cents": 25_000,
                "deductible_applies": True,
                "days_supply_bands": [[34, 10_000]],
            },
        },
        # The benefit stack: a wellness purse pays first for generics at preferred pharmacies
        # (at most 2 fills and $25 a month), then the HRA. Part-time employees' HRA is capped
        # at $150 a quarter.
        "purse_order": [WELLNESS_RULE, {"kind": "HRA", "allowed_tiers": [1, 2, 3]}],
        "purse_order_by_class": {
            "PT": [
                WELLNESS_RULE,
                {
                    "kind": "HRA",
                    "allowed_tiers": [1, 2, 3],
                    "period": "quarter",
                    "per_period_max_cents": 15_000,
                },
            ]
        },
        "prior_authorization_contact": "the plan's PA line 1-800-555-0142 or by ePA",
        "specialty_pharmacy_required": True,
        "extended_supply_days_min": 84,
        "programs": [
            {
                "program_id": "STATIN0-PREFERRED",
                "drug_group": "statin",
                "member_cap_per_30_days_cents": 0,
                "preferred_pharmacies_only": True,
                "generics_only": True,
            },
            {
                "program_id": "INSULIN25",
                "drug_group": "insulin",
                "member_cap_per_30_days_cents": 2_500,
                "deductible_applies": False,
            },
        ],
        # A reward for a lower-cost choice: a maintenance drug filled for 84 days or more by mail
        # or at a 90-day retail pharmacy credits $10 to the member's HRA, twice a plan year.
        "rewards": [
            {
                "program_id": "MAIL90-MAINT",
                "amount_cents": 1_000,
                "purse_kind": "HRA",
                "per_year_max": 2,
                "drug_groups": ["cardiovascular", "diabetes", "thyroid", "statin"],
                "pharmacy_kinds": ["mail", "retail90"],
                "days_supply_min": 84,
            }
        ],
    }
    coinsurance_bands = [[34, 10_000], [90, 10_000]]
    high_deductible = {
        "plan_id": HDHP,
        "name": "High-deductible plan (HSA-qualified)",
        "bin": BIN_COMMERCIAL,
        "pcn": PCN_HDHP,
        "line_of_business": "COMMERCIAL",
        "plan_year_start_month": 1,
        "sponsor_id": "employer",
        "pharmacy_payment": COMMERCIAL_PAY_CYCLE,
        "refill_overrides": REFILL_OVERRIDES,
        "dur": DUR,
        # IRS 2026: self-only coverage $1,700; family coverage an aggregate $3,400 (no member
        # of a family meets a deductible below the family minimum). Out of pocket at most
        # $8,500 / $17,000, with an embedded individual limit no higher than self-only.
        "hsa_qualified": True,
        "deductible": {"self_only_cents": 170_000, "family_cents": 340_000},
        "out_of_pocket": {
            "self_only_cents": 850_000,
            "individual_cents": 850_000,
            "family_cents": 1_700_000,
        },
        "days_supply_max": 90,
        "refill_too_soon_threshold_bp": 8_000,
        "timely_filing_days": 365,
        "claim_cost_max_cents": 5_000_000,  # the high-dollar edit: $50,000 a claim (78)
        "daw_penalty_codes": [1, 2],
        "networks": {
            "preferred": {"awp_discount_bp": 1_700, "use_mac": True, "dispensing_fee_cents": 100},
            "standard": {"awp_discount_bp": 1_500, "use_mac": True, "dispensing_fee_cents": 75},
        },
        "generic_required_daw_codes": [0],
        "tiers": {
            "1": {
                "kind": "coinsurance",
                "coinsurance_bp": 2_000,
                "days_supply_bands": coinsurance_bands,
            },
            "2": {
                "kind": "coinsurance",
                "coinsurance_bp": 2_000,
                "days_supply_bands": coinsurance_bands,
            },
            "3": {
                "kind": "coinsurance",
                "coinsurance_bp": 4_000,
                "days_supply_bands": coinsurance_bands,
            },
            "4": {
                "kind": "coinsurance",
                "coinsurance_bp": 3_000,
                "days_supply_bands": [[34, 10_000]],
            },
        },
    }
    part_d_tier = {
        "kind": "coinsurance",
        "coinsurance_bp": 2_500,
        "deductible_applies": True,
        "days_supply_bands": coinsurance_bands,
    }
    part_d = {
        "plan_id": PART_D,
        "name": "Medicare Part D defined standard benefit 2026",
        "bin": BIN_PART_D,
        "pcn": PCN_PART_D,
        "line_of_business": "MEDICARE_PART_D",
        "plan_year_start_month": 1,
        "sponsor_id": PART_D_SPONSOR,
        "pharmacy_payment": PART_D_PAY_CYCLE,
        "deductible": {"individual_cents": 61_500},
        "out_of_pocket": {"individual_cents": 210_000},
        "days_supply_max": 90,
        "refill_too_soon_threshold_bp": 8_000,
        "timely_filing_days": 365,
        "claim_cost_max_cents": 5_000_000,  # the high-dollar edit: $50,000 a claim (78)
        "daw_penalty_codes": [],
        "networks": {
            "preferred": {"awp_discount_bp": 1_900, "use_mac": True, "dispensing_fee_cents": 50},
            "standard": {"awp_discount_bp": 1_700, "use_mac": True, "dispensing_fee_cents": 50},
        },
        "tiers": {str(t): dict(part_d_tier) for t in (1, 2, 3, 4)},
        "programs": [
            {
                "program_id": "PARTD-INSULIN35",
                "drug_group": "insulin",
                "member_cap_per_30_days_cents": 3_500,
                "deductible_applies": False,
            }
        ],
    }
    # Medicaid: nominal copays, a professional dispensing fee on NADAC, and as a secondary
    # payer it pays the patient responsibility the primary left (up to what it pays alone)
    medicaid = {
        "plan_id": MEDICAID,
        "name": "State Medicaid",
        "bin": BIN_MEDICAID,
        "pcn": PCN_MEDICAID,
        "line_of_business": "MEDICAID",
        "plan_year_start_month": 1,
        "sponsor_id": MEDICAID_SPONSOR,
        "pharmacy_payment": PART_D_PAY_CYCLE,
        "cob_method": "patient_responsibility",
        "compound": {"ingredients_max": 6},
        "refill_overrides": REFILL_OVERRIDES,
        "dur": DUR,
        "deductible": {},
        "out_of_pocket": {},
        "days_supply_max": 34,
        "refill_too_soon_threshold_bp": 8_500,
        "timely_filing_days": 365,
        "claim_cost_max_cents": 5_000_000,  # the high-dollar edit: $50,000 a claim (78)
        "daw_penalty_codes": [],
        "networks": {
            "preferred": {
                "awp_discount_bp": 2_000,
                "nadac_markup_bp": 0,
                "use_mac": True,
                "dispensing_fee_cents": 1_049,
            },
            "standard": {
                "awp_discount_bp": 2_000,
                "nadac_markup_bp": 0,
                "use_mac": True,
                "dispensing_fee_cents": 1_049,
            },
        },
        "tiers": {
            "1": {"kind": "copay", "copay_cents": 100},
            "2": {"kind": "copay", "copay_cents": 400},
            "3": {"kind": "copay", "copay_cents": 400},
            "4": {"kind": "copay", "copay_cents": 400},
        },
    }
    return [commercial, high_deductible, part_d, medicaid]
