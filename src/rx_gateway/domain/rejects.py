"""NCPDP 511-FB reject codes the gateway emits, their text, and their precedence.

Checks run in groups (:data:`CHECK_GROUPS`); adjudication stops at the first group that fails and
returns every reject of that group, sorted by :data:`REJECT_PRECEDENCE`. Descriptions paraphrase
the public NCPDP reject lists (see shared/reference/ncpdp-d0.md section 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectCode(StrEnum):
    MI_BIN = "01"
    MI_VERSION = "02"
    MI_TRANSACTION_CODE = "03"
    MI_PCN = "04"
    MI_SOFTWARE_VENDOR_ID = "AK"
    MI_SERVICE_PROVIDER_ID = "05"
    MI_SERVICE_PROVIDER_ID_QUALIFIER = "B2"
    MI_GROUP_ID = "06"
    MI_CARDHOLDER_ID = "07"
    MI_PERSON_CODE = "08"
    MI_DATE_OF_BIRTH = "09"
    MI_GENDER = "10"
    MI_PATIENT_RELATIONSHIP = "11"
    MI_DATE_OF_SERVICE = "15"
    MI_PRESCRIPTION_NUMBER = "16"
    MI_FILL_NUMBER = "17"
    MI_DAYS_SUPPLY = "19"
    MI_PRODUCT_ID = "21"
    MI_DAW = "22"
    MI_PRESCRIBER_ID_QUALIFIER = "EZ"
    MI_PRESCRIBER_ID = "25"
    MI_DATE_WRITTEN = "28"
    MI_REFILLS_AUTHORIZED = "29"
    MI_PRIOR_AUTHORIZATION_TYPE = "EU"
    MI_PRIOR_AUTHORIZATION_NUMBER = "EV"
    MI_COMPOUND_CODE = "20"
    COMPOUND_SEGMENT_MISSING = "8B"
    COMPOUND_SEGMENT_ON_NON_COMPOUND = "8D"
    COMPOUND_PRODUCT_ID_NOT_ZERO = "8G"
    MI_COMPOUND_DOSAGE_FORM = "EF"
    MI_COMPOUND_DISPENSING_UNIT = "EG"
    MI_COMPOUND_INGREDIENT_COUNT = "EC"
    COMPOUND_INGREDIENT_COUNT_MISMATCH = "P3"
    COMPOUND_TWO_INGREDIENTS = "7Z"
    COMPOUND_INGREDIENTS_EXCEED_SUPPORTED = "9K"
    MI_COMPOUND_PRODUCT_ID_QUALIFIER = "RE"
    MI_COMPOUND_PRODUCT_ID = "TE"
    MI_COMPOUND_INGREDIENT_QUANTITY = "ED"
    MI_COMPOUND_INGREDIENT_COST = "EE"
    COMPOUND_INGREDIENT_COST_NOT_POSITIVE = "9P"
    MI_COMPOUND_INGREDIENT_BASIS = "UE"
    MI_COMPOUND_INGREDIENT_MODIFIER_COUNT = "2G"
    MI_COMPOUND_INGREDIENT_MODIFIER = "2H"
    COMPOUND_MODIFIER_COUNT_MISMATCH = "4M"
    DUPLICATE_COMPOUND_PRODUCT = "9Z"
    COMPOUND_COST_SUM = "8M"
    COMPOUND_MUST_BE_SINGLE_TRANSACTION = "1W"
    MI_OTHER_COVERAGE_CODE = "13"
    MI_COB_COUNT = "4C"
    MI_OTHER_PAYER_COVERAGE_TYPE = "5C"
    MI_OTHER_PAYER_ID_QUALIFIER = "6C"
    MI_OTHER_PAYER_ID = "7C"
    MI_OTHER_PAYER_DATE = "E8"
    FUTURE_OTHER_PAYER_DATE = "9J"
    MI_OTHER_PAYER_AMOUNT_PAID_COUNT = "HB"
    MI_OTHER_PAYER_AMOUNT_PAID_QUALIFIER = "HC"
    MI_OTHER_PAYER_AMOUNT_PAID = "DV"
    NEGATIVE_OTHER_PAYER_AMOUNT = "8V"
    MI_OTHER_PAYER_REJECT_COUNT = "5E"
    MI_OTHER_PAYER_REJECT_CODE = "6E"
    MI_OTHER_PAYER_RESPONSIBILITY_COUNT = "NR"
    MI_OTHER_PAYER_RESPONSIBILITY_QUALIFIER = "NP"
    MI_OTHER_PAYER_RESPONSIBILITY = "NQ"
    COB_COUNT_MISMATCH = "P4"
    OTHER_PAYER_AMOUNT_COUNT_MISMATCH = "SF"
    OTHER_PAYER_REJECT_COUNT_MISMATCH = "R2"
    OTHER_PAYER_RESPONSIBILITY_COUNT_MISMATCH = "SH"
    COB_SEGMENT_REQUIRED = "6G"
    OTHER_COVERAGE_CODE_AMOUNT_DISCREPANCY = "7K"
    OTHER_COVERAGE_CODE_AMOUNT_PAID_DISCREPANCY = "8W"
    NOT_CONTRACTED = "40"
    SUBMIT_TO_OTHER_PAYER = "41"
    NON_MATCHED_PHARMACY = "50"
    NON_MATCHED_GROUP = "51"
    NON_MATCHED_CARDHOLDER = "52"
    NON_MATCHED_PERSON_CODE = "53"
    NON_MATCHED_PRODUCT = "54"
    NOT_COVERED_FOR_AGE = "60"
    NOT_COVERED_FOR_GENDER = "61"
    PATIENT_NOT_COVERED = "65"
    BEFORE_COVERAGE_EFFECTIVE = "67"
    AFTER_COVERAGE_EXPIRED = "68"
    AFTER_COVERAGE_TERMINATED = "69"
    PRODUCT_NOT_COVERED = "70"
    COMPOUNDS_NOT_COVERED = "7Y"
    COMPOUND_NEEDS_COVERED_INGREDIENT = "8A"
    OTHER_PAYMENT_MEETS_PAYABLE = "74"
    PRIOR_AUTHORIZATION_REQUIRED = "75"
    PLAN_LIMITATIONS_EXCEEDED = "76"
    COST_EXCEEDS_MAXIMUM = "78"
    REFILL_TOO_SOON = "79"
    CLAIM_TOO_OLD = "81"
    CLAIM_POST_DATED = "82"
    DUPLICATE_PAID_CLAIM = "83"
    CLAIM_NOT_PAID = "84"
    HOST_PROCESSING_ERROR = "99"
    DAYS_SUPPLY_EXCEEDS_LIMIT = "7X"
    QUANTITY_EXCEEDS_MAXIMUM = "9G"
    DAYS_SUPPLY_LIMITATION = "AG"
    UC_MUST_BE_POSITIVE = "8T"
    GAD_MUST_BE_POSITIVE = "8U"
    MI_PRODUCT_ID_QUALIFIER = "E1"
    MI_QUANTITY_DISPENSED = "E7"
    NOT_ON_FORMULARY = "MR"
    GENERIC_REQUIRED = "AJ"
    NOT_IN_SPECIALTY_NETWORK = "G6"
    NOT_IN_90_DAY_NETWORK = "G9"
    STEP_THERAPY_REQUIRED = "608"
    GAD_FORMULA = "R9"
    MI_BASIS_OF_COST = "DN"
    MI_USUAL_AND_CUSTOMARY = "DQ"
    MI_GROSS_AMOUNT_DUE = "DU"
    # M/I codes named after their fields (NCPDP's pattern for M/I rejects) [M: the codes' texts
    # are from the reject code list, not checked against the member-only ECL]
    MI_INCENTIVE_AMOUNT = "E3"
    MI_OTHER_AMOUNT_COUNT = "H7"
    MI_OTHER_AMOUNT_QUALIFIER = "H8"
    MI_OTHER_AMOUNT = "H9"
    MI_FLAT_SALES_TAX = "HA"
    MI_PERCENTAGE_SALES_TAX = "GE"
    MI_PERCENTAGE_SALES_TAX_RATE = "HE"
    MI_PERCENTAGE_SALES_TAX_BASIS = "JE"
    MI_PATIENT_PAID_AMOUNT = "DX"
    MI_SUBMISSION_CLARIFICATION = "34"
    SUBMISSION_CLARIFICATION_COUNT_MISMATCH = "SG"
    MI_DUR_COUNTER = "7E"
    MI_DUR_REASON = "E4"
    MI_DUR_SERVICE = "E5"
    MI_DUR_RESULT = "E6"
    MI_DUR_LEVEL_OF_EFFORT = "8E"
    DUR_REJECT = "88"
    SYNTAX_ERROR = "R8"
    VERSION_NOT_SUPPORTED = "1R"
    TRANSACTION_CODE_NOT_SUPPORTED = "1S"
    TRANSACTION_COUNT_MISMATCH = "1U"
    MULTIPLE_TRANSACTIONS_NOT_SUPPORTED = "1V"


REJECT_TEXT: dict[RejectCode, str] = {
    RejectCode.MI_BIN: "M/I BIN Number",
    RejectCode.MI_VERSION: "M/I Version/Release Number",
    RejectCode.MI_PCN: "M/I Processor Control Number",
    RejectCode.MI_SERVICE_PROVIDER_ID: "M/I Service Provider Number",
    RejectCode.MI_SOFTWARE_VENDOR_ID: "M/I Software Vendor/Certification ID",
    RejectCode.MI_SERVICE_PROVIDER_ID_QUALIFIER: "M/I Service Provider ID Qualifier",
    RejectCode.MI_PRIOR_AUTHORIZATION_NUMBER: "M/I Prior Authorization Number Submitted",
    RejectCode.MI_PRIOR_AUTHORIZATION_TYPE: "M/I Prior Authorization Type Code",
    RejectCode.NON_MATCHED_PERSON_CODE: "Non-Matched Person Code",
    RejectCode.MI_COMPOUND_CODE: "M/I Compound Code",
    RejectCode.COMPOUND_SEGMENT_MISSING: "Compound Segment Missing On A Compound Claim",
    RejectCode.COMPOUND_SEGMENT_ON_NON_COMPOUND: "Compound Segment Present On A Non-Compound Claim",
    RejectCode.COMPOUND_PRODUCT_ID_NOT_ZERO: (
        "Product/Service ID (407-D7) Must Be A Single Zero '0' For Compounds"
    ),
    RejectCode.MI_COMPOUND_DOSAGE_FORM: "M/I Compound Dosage Form Description Code",
    RejectCode.MI_COMPOUND_DISPENSING_UNIT: "M/I Compound Dispensing Unit Form Indicator",
    RejectCode.MI_COMPOUND_INGREDIENT_COUNT: "M/I Compound Ingredient Component Count",
    RejectCode.COMPOUND_INGREDIENT_COUNT_MISMATCH: (
        "Compound Ingredient Component Count Does Not Match Number Of Repetitions"
    ),
    RejectCode.COMPOUND_TWO_INGREDIENTS: "Compound Requires Two Or More Ingredients",
    RejectCode.COMPOUND_INGREDIENTS_EXCEED_SUPPORTED: (
        "Compound Ingredient Component Count Exceeds Number Of Ingredients Supported"
    ),
    RejectCode.MI_COMPOUND_PRODUCT_ID_QUALIFIER: "M/I Compound Product ID Qualifier",
    RejectCode.MI_COMPOUND_PRODUCT_ID: "M/I Compound Product ID",
    RejectCode.MI_COMPOUND_INGREDIENT_QUANTITY: "M/I Compound Ingredient Quantity",
    RejectCode.MI_COMPOUND_INGREDIENT_COST: "M/I Compound Ingredient Drug Cost",
    RejectCode.COMPOUND_INGREDIENT_COST_NOT_POSITIVE: (
        "Compound Ingredient Drug Cost Must Be Greater Than Zero"
    ),
    RejectCode.MI_COMPOUND_INGREDIENT_BASIS: (
        "M/I Compound Ingredient Basis Of Cost Determination"
    ),
    RejectCode.MI_COMPOUND_INGREDIENT_MODIFIER_COUNT: (
        "M/I Compound Ingredient Modifier Code Count"
    ),
    RejectCode.MI_COMPOUND_INGREDIENT_MODIFIER: "M/I Compound Ingredient Modifier Code",
    RejectCode.COMPOUND_MODIFIER_COUNT_MISMATCH: (
        "Compound Ingredient Modifier Code Count Does Not Match Number Of Repetitions"
    ),
    RejectCode.DUPLICATE_COMPOUND_PRODUCT: "Duplicate Product ID In Compound",
    RejectCode.COMPOUND_COST_SUM: (
        "Sum Of Compound Ingredient Costs Does Not Equal Ingredient Cost Submitted"
    ),
    RejectCode.COMPOUND_MUST_BE_SINGLE_TRANSACTION: (
        "Multi-Ingredient Compound Must Be A Single Transaction"
    ),
    RejectCode.COMPOUNDS_NOT_COVERED: "Compounds Not Covered",
    RejectCode.COMPOUND_NEEDS_COVERED_INGREDIENT: (
        "Compound Requires At Least One Covered Ingredient"
    ),
    RejectCode.MI_OTHER_COVERAGE_CODE: "M/I Other Coverage Code",
    RejectCode.MI_COB_COUNT: "M/I Coordination Of Benefits/Other Payments Count",
    RejectCode.MI_OTHER_PAYER_COVERAGE_TYPE: "M/I Other Payer Coverage Type",
    RejectCode.MI_OTHER_PAYER_ID_QUALIFIER: "M/I Other Payer ID Qualifier",
    RejectCode.MI_OTHER_PAYER_ID: "M/I Other Payer ID",
    RejectCode.MI_OTHER_PAYER_DATE: "M/I Other Payer Date",
    RejectCode.FUTURE_OTHER_PAYER_DATE: "Future Other Payer Date Not Allowed",
    RejectCode.MI_OTHER_PAYER_AMOUNT_PAID_COUNT: "M/I Other Payer Amount Paid Count",
    RejectCode.MI_OTHER_PAYER_AMOUNT_PAID_QUALIFIER: "M/I Other Payer Amount Paid Qualifier",
    RejectCode.MI_OTHER_PAYER_AMOUNT_PAID: "M/I Other Payer Amount Paid",
    RejectCode.NEGATIVE_OTHER_PAYER_AMOUNT: (
        "Negative Dollar Amount Is Not Supported In Other Payer Amount Paid"
    ),
    RejectCode.MI_OTHER_PAYER_REJECT_COUNT: "M/I Other Payer Reject Count",
    RejectCode.MI_OTHER_PAYER_REJECT_CODE: "M/I Other Payer Reject Code",
    RejectCode.MI_OTHER_PAYER_RESPONSIBILITY_COUNT: (
        "M/I Other Payer-Patient Responsibility Amount Count"
    ),
    RejectCode.MI_OTHER_PAYER_RESPONSIBILITY_QUALIFIER: (
        "M/I Other Payer-Patient Responsibility Amount Qualifier"
    ),
    RejectCode.MI_OTHER_PAYER_RESPONSIBILITY: "M/I Other Payer-Patient Responsibility Amount",
    RejectCode.COB_COUNT_MISMATCH: (
        "COB/Other Payments Count Does Not Match Number Of Repetitions"
    ),
    RejectCode.OTHER_PAYER_AMOUNT_COUNT_MISMATCH: (
        "Other Payer Amount Paid Count Does Not Match Number Of Repetitions"
    ),
    RejectCode.OTHER_PAYER_REJECT_COUNT_MISMATCH: (
        "Other Payer Reject Count Does Not Match Number Of Repetitions"
    ),
    RejectCode.OTHER_PAYER_RESPONSIBILITY_COUNT_MISMATCH: (
        "Other Payer-Patient Responsibility Amount Count Does Not Match Number Of Repetitions"
    ),
    RejectCode.COB_SEGMENT_REQUIRED: "COB/Other Payments Segment Required For Adjudication",
    RejectCode.OTHER_COVERAGE_CODE_AMOUNT_DISCREPANCY: (
        "Discrepancy Between Other Coverage Code And Other Payer Amount"
    ),
    RejectCode.OTHER_COVERAGE_CODE_AMOUNT_PAID_DISCREPANCY: (
        "Discrepancy Between Other Coverage Code And Other Payer Amount Paid"
    ),
    RejectCode.SUBMIT_TO_OTHER_PAYER: "Submit Bill To Other Processor Or Primary Payer",
    RejectCode.OTHER_PAYMENT_MEETS_PAYABLE: "Other Carrier Payment Meets Or Exceeds Payable",
    RejectCode.MI_GROUP_ID: "M/I Group ID",
    RejectCode.MI_CARDHOLDER_ID: "M/I Cardholder ID",
    RejectCode.MI_PERSON_CODE: "M/I Person Code",
    RejectCode.MI_DATE_OF_BIRTH: "M/I Date of Birth",
    RejectCode.MI_GENDER: "M/I Patient Gender Code",
    RejectCode.MI_PATIENT_RELATIONSHIP: "M/I Patient Relationship Code",
    RejectCode.MI_PRESCRIBER_ID_QUALIFIER: "M/I Prescriber ID Qualifier",
    RejectCode.MI_PRESCRIBER_ID: "M/I Prescriber ID",
    RejectCode.MI_BASIS_OF_COST: "M/I Basis Of Cost Determination",
    RejectCode.MI_TRANSACTION_CODE: "M/I Transaction Code",
    RejectCode.MI_USUAL_AND_CUSTOMARY: "M/I Usual And Customary Charge",
    RejectCode.MI_GROSS_AMOUNT_DUE: "M/I Gross Amount Due",
    RejectCode.SYNTAX_ERROR: "Syntax Error",
    RejectCode.VERSION_NOT_SUPPORTED: "Version/Release Not Supported",
    RejectCode.TRANSACTION_CODE_NOT_SUPPORTED: "Transaction Code/Type Not Supported",
    RejectCode.TRANSACTION_COUNT_MISMATCH: (
        "Transaction Count Does Not Match Number of Transactions"
    ),
    RejectCode.MULTIPLE_TRANSACTIONS_NOT_SUPPORTED: "Multiple Transactions Not Supported",
    RejectCode.MI_DATE_OF_SERVICE: "M/I Date of Service",
    RejectCode.MI_PRESCRIPTION_NUMBER: "M/I Prescription/Service Reference Number",
    RejectCode.MI_FILL_NUMBER: "M/I Fill Number",
    RejectCode.MI_DAYS_SUPPLY: "M/I Days Supply",
    RejectCode.MI_PRODUCT_ID: "M/I Product/Service ID",
    RejectCode.MI_DAW: "M/I DAW/Product Selection Code",
    RejectCode.MI_DATE_WRITTEN: "M/I Date Prescription Written",
    RejectCode.MI_REFILLS_AUTHORIZED: "M/I Number of Refills Authorized",
    RejectCode.NOT_CONTRACTED: "Pharmacy Not Contracted With Plan On Date Of Service",
    RejectCode.NON_MATCHED_PHARMACY: "Non-Matched Pharmacy Number",
    RejectCode.NON_MATCHED_GROUP: "Non-Matched Group ID",
    RejectCode.NON_MATCHED_CARDHOLDER: "Non-Matched Cardholder ID",
    RejectCode.NON_MATCHED_PRODUCT: "Non-Matched Product/Service ID Number",
    RejectCode.NOT_COVERED_FOR_AGE: "Product/Service Not Covered For Patient Age",
    RejectCode.NOT_COVERED_FOR_GENDER: "Product/Service Not Covered For Patient Gender",
    RejectCode.PATIENT_NOT_COVERED: "Patient Is Not Covered",
    RejectCode.BEFORE_COVERAGE_EFFECTIVE: "Filled Before Coverage Effective",
    RejectCode.AFTER_COVERAGE_EXPIRED: "Filled After Coverage Expired",
    RejectCode.AFTER_COVERAGE_TERMINATED: "Filled After Coverage Terminated",
    RejectCode.PRODUCT_NOT_COVERED: "Product/Service Not Covered",
    RejectCode.PRIOR_AUTHORIZATION_REQUIRED: "Prior Authorization Required",
    RejectCode.PLAN_LIMITATIONS_EXCEEDED: "Plan Limitations Exceeded",
    RejectCode.COST_EXCEEDS_MAXIMUM: "Cost Exceeds Maximum",
    RejectCode.REFILL_TOO_SOON: "Refill Too Soon",
    RejectCode.CLAIM_TOO_OLD: "Claim Too Old",
    RejectCode.CLAIM_POST_DATED: "Claim Is Post-Dated",
    RejectCode.DUPLICATE_PAID_CLAIM: "Duplicate Paid/Captured Claim",
    RejectCode.CLAIM_NOT_PAID: "Claim Has Not Been Paid/Captured",
    RejectCode.HOST_PROCESSING_ERROR: "Host Processing Error",
    RejectCode.DAYS_SUPPLY_EXCEEDS_LIMIT: "Days Supply Exceeds Plan Limitation",
    RejectCode.QUANTITY_EXCEEDS_MAXIMUM: "Quantity Dispensed Exceeds Maximum Allowed",
    RejectCode.DAYS_SUPPLY_LIMITATION: "Days Supply Limitation For Product/Service",
    RejectCode.UC_MUST_BE_POSITIVE: "U&C Must Be Greater Than Zero",
    RejectCode.GAD_MUST_BE_POSITIVE: "Gross Amount Due Must Be Greater Than Zero",
    RejectCode.MI_PRODUCT_ID_QUALIFIER: "M/I Product/Service ID Qualifier",
    RejectCode.MI_QUANTITY_DISPENSED: "M/I Quantity Dispensed",
    RejectCode.NOT_ON_FORMULARY: "Product Not On Formulary",
    RejectCode.GENERIC_REQUIRED: "Generic Drug Required",
    RejectCode.NOT_IN_SPECIALTY_NETWORK: "Pharmacy Not Contracted in Specialty Network",
    RejectCode.NOT_IN_90_DAY_NETWORK: "Pharmacy Not Contracted in 90-Day Retail Network",
    RejectCode.STEP_THERAPY_REQUIRED: (
        "Step Therapy, Alternate Drug Therapy Required Prior To Use Of Submitted Product Service ID"
    ),
    RejectCode.GAD_FORMULA: "Value In Gross Amount Due Does Not Follow Pricing Formulae",
    RejectCode.MI_INCENTIVE_AMOUNT: "M/I Incentive Amount Submitted",
    RejectCode.MI_OTHER_AMOUNT_COUNT: "M/I Other Amount Claimed Submitted Count",
    RejectCode.MI_OTHER_AMOUNT_QUALIFIER: "M/I Other Amount Claimed Submitted Qualifier",
    RejectCode.MI_OTHER_AMOUNT: "M/I Other Amount Claimed Submitted",
    RejectCode.MI_FLAT_SALES_TAX: "M/I Flat Sales Tax Amount Submitted",
    RejectCode.MI_PERCENTAGE_SALES_TAX: "M/I Percentage Sales Tax Amount Submitted",
    RejectCode.MI_PERCENTAGE_SALES_TAX_RATE: "M/I Percentage Sales Tax Rate Submitted",
    RejectCode.MI_PERCENTAGE_SALES_TAX_BASIS: "M/I Percentage Sales Tax Basis Submitted",
    RejectCode.MI_PATIENT_PAID_AMOUNT: "M/I Patient Paid Amount Submitted",
    RejectCode.MI_SUBMISSION_CLARIFICATION: "M/I Submission Clarification Code",
    RejectCode.SUBMISSION_CLARIFICATION_COUNT_MISMATCH: (
        "Submission Clarification Code Count Does Not Match Number of Repetitions"
    ),
    RejectCode.MI_DUR_COUNTER: "M/I DUR/PPS Code Counter",
    RejectCode.MI_DUR_REASON: "M/I DUR Conflict/Reason For Service Code",
    RejectCode.MI_DUR_SERVICE: "M/I DUR Intervention/Professional Service Code",
    RejectCode.MI_DUR_RESULT: "M/I DUR Outcome/Result Of Service Code",
    RejectCode.MI_DUR_LEVEL_OF_EFFORT: "M/I DUR/PPS Level Of Effort",
    RejectCode.DUR_REJECT: "DUR Reject Error",
}

# Within one failing group, rejects are reported in this order: header identity first, then the
# patient, the pharmacy, the product, the amounts.
REJECT_PRECEDENCE: tuple[RejectCode, ...] = tuple(RejectCode)

# The groups, in the order they run. The first failing group decides the answer.
CHECK_GROUPS: tuple[str, ...] = (
    "syntax",
    "plan",
    "eligibility",
    "filing",
    "cob",
    "network",
    "product",
    "limits",
    "refill",
    "dur",
)

REJECTS_PER_RESPONSE_MAX = 5  # 510-FA allows at most five 511-FB occurrences


@dataclass(frozen=True, slots=True)
class Reject:
    """One 511-FB reject with the message a pharmacist can act on (504-F4/526-FQ), and, when it
    is about one repetition of a repeating group (a compound's ingredient, an other payer, a
    DUR/PPS occurrence, an other amount, a clarification code), which one, from 1 (546-4F
    Reject Field Occurrence Indicator; 0: not about one)."""

    code: RejectCode
    message: str = ""
    occurrence: int = 0

    @property
    def text(self) -> str:
        return REJECT_TEXT[self.code]


def ordered(rejects: list[Reject]) -> tuple[Reject, ...]:
    """Sort rejects by precedence, drop repeated codes and cap the count at the NCPDP limit."""
    seen: set[RejectCode] = set()
    unique = []
    for reject in sorted(rejects, key=lambda r: REJECT_PRECEDENCE.index(r.code)):
        if reject.code not in seen:
            seen.add(reject.code)
            unique.append(reject)
    return tuple(unique[:REJECTS_PER_RESPONSE_MAX])
