"""The data files' columns: the parser of each column (what a value must look like), which
columns a file may leave out, which hold PHI (an error never shows their value), and the rules
that look at a whole row.

    plans/*.json                 one plan document per file
    drugs.csv                    ndc,name,molecule,drug_group,is_brand,generic_ndc,is_specialty,
                                 awp_unit_price_millicents,wac_unit_price_millicents,
                                 nadac_unit_price_millicents,mac_unit_price_millicents
                                 [,therapeutic_class]  (optional: DUR TD)
    formulary.csv                plan_id,ndc,status,tier,prior_authorization_required,
                                 quantity_limit_thousandths,days_supply_max
                                 [,age_min,age_max,gender_code]  (optional: 60/61 edits)
                                 [,step_therapy_molecule]        (optional: 608)
                                 [,period_days,period_quantity_limit_thousandths,
                                  period_days_supply_max]        (optional: 9G, AG)
    pharmacies.csv               npi,name,network,kind
                                 [,payee_id]  (optional: the remit-to payee; blank: the store)
    payees.csv                   payee_id,name,npi,tin[,ncpdp_id,bank_routing_number,
                                 bank_account_number]  (an NPI or a TIN is required)
    sponsors.csv                 sponsor_id,name[,billing_period_days,billing_cutoff_weekday,
                                 payment_terms_days,admin_fee_cents,funding_model,
                                 low_balance_threshold_cents]
    processor.json               the 835's payer (see adapters/files/processor.py)

Files the settlement commands read (not part of a data directory):
    sponsor payments             sponsor_id,invoice_id,amount_cents,received_on,reference
                                 (`rx-gateway funding receive`; blank invoice_id: a deposit)
    bank confirmations           direction,trace,amount_cents,posted_on
                                 (`rx-gateway reconcile --bank`; direction debit or credit)
    members.csv                  member_id,cardholder_id,person_code,family_id,employer_id,
                                 class_code,first_name,last_name,date_of_birth,gender_code
    coverages.csv                member_id,plan_id,group_id,start_date,end_date,end_reason,
                                 line_of_business
                                 [,coverage_level]  (optional: self_only or family)
                                 [,payer_order]     (optional: 1 primary (blank), 2 ...)
    other_coverages.csv          member_id,payer_order,payer_name,bin,pcn,group_id,
                                 cardholder_id,person_code,help_desk_phone,start_date,end_date
                                 (coverage by payers this gateway does not process: a claim
                                 billed here before them is answered 41 naming them)
    purses.csv                   purse_id,family_id,kind,employer_id
    funding.csv                  funding_id,purse_id,amount_cents,memo
                                 [,available_on]  (optional: an allotment from that date)
    interactions.csv             molecule_a,molecule_b,significance,text  (DUR DD: 528-FS
                                 1 major, 2 moderate, 3 minor, 9 unknown; 544-FY text)
    prior_authorizations.csv     pa_number,member_id,ndc,drug_group,start_date,end_date
                                 [,quantity_thousandths]  (optional: approved quantity per fill)
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from typing import Any

from rx_gateway.domain.settlement.cycles import WEEKDAYS, weekday_number
from rx_gateway.domain.values import (
    DATE_OF_BIRTH_YEAR_MIN,
    is_digits,
    plausible_birth_date,
)

Parser = Callable[[str], Any]

# Columns a file may leave out (added after the first release of its layout).
OPTIONAL_COLUMNS: dict[str, set[str]] = {
    "formulary.csv": {
        "age_min",
        "age_max",
        "gender_code",
        "step_therapy_molecule",
        "period_days",
        "period_quantity_limit_thousandths",
        "period_days_supply_max",
    },
    "coverages.csv": {"coverage_level", "payer_order"},
    "funding.csv": {"available_on"},
    "prior_authorizations.csv": {"quantity_thousandths"},
    "pharmacies.csv": {"payee_id"},
    "drugs.csv": {"therapeutic_class"},
    "payees.csv": {"ncpdp_id", "bank_routing_number", "bank_account_number"},
    "sponsors.csv": {
        "billing_period_days",
        "billing_cutoff_weekday",
        "payment_terms_days",
        "admin_fee_cents",
        "funding_model",
        "low_balance_threshold_cents",
    },
}

# Columns whose values are PHI: an error names the file, line and field, never the value.
PHI_COLUMNS: dict[str, frozenset[str]] = {
    "members.csv": frozenset({"cardholder_id", "first_name", "last_name", "date_of_birth"}),
    "other_coverages.csv": frozenset({"cardholder_id"}),
}
SHOWN_VALUE_CHARS_MAX = 40  # an error quotes at most this much of a (non-PHI) value

INT_MAX = 2**31 - 1  # PostgreSQL int
BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint


def is_phi(name: str, column: str) -> bool:
    return column in PHI_COLUMNS.get(name, frozenset())


def shown(name: str, column: str, raw: str) -> str:
    """What an error says about a value: the value itself, unless the column is PHI."""
    text = raw.strip()
    if not text:
        return ""  # "is required" says it all
    if is_phi(name, column):
        return " (value not shown: PHI)"
    if len(text) > SHOWN_VALUE_CHARS_MAX:
        text = text[:SHOWN_VALUE_CHARS_MAX] + "..."
    return f", got {text!r}"


# Parsers raise ValueError with the rule broken, never the value: read_table adds the value
# for columns that are not PHI.


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return _printable(value.strip())


def _optional_text(value: str) -> str | None:
    return _printable(value.strip()) or None


def _printable(value: str) -> str:
    """No line break, tab or other control character (Unicode category Cc; a no-break space
    or a soft hyphen is text): a quote left open in a CSV row makes a field of the rest of the
    file, line breaks included (a PA number that held the next row)."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must be one line of text, no control character (a quote left open?)")
    return value


def _int_between(low: int, high: int) -> Parser:
    def parse(value: str) -> int:
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not (digits.isascii() and digits.isdigit()):  # no "+5", "1_000", "١٠"
            raise ValueError("must be an integer (digits 0-9)")
        number = int(text)
        if high < INT_MAX and not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        if number < low:
            raise ValueError(f"must be {low} or more")
        if number > high:
            raise ValueError(f"must be at most {high}")
        return number

    return parse


_positive_int = _int_between(1, INT_MAX)
_positive_bigint = _int_between(1, BIGINT_MAX)


def _optional(parse: Parser) -> Parser:
    def parse_optional(value: str) -> Any:
        return parse(value) if value.strip() else None

    return parse_optional


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "y"}:
        return True
    if lowered in {"false", "0", "no", "n"}:
        return False
    raise ValueError("must be true or false")


def _date(value: str) -> dt.date:
    text = value.strip()
    problem = "must be a date YYYY-MM-DD"
    # as the message says: fromisoformat alone also takes 20260301 and 2026-W09-7
    if len(text) != len("YYYY-MM-DD") or text[4] != "-" or text[7] != "-":
        raise ValueError(problem)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(problem) from None


def _birth_date(value: str) -> dt.date:
    born = _date(value)
    if not plausible_birth_date(born, dt.datetime.now(dt.UTC).date()):
        msg = f"must be a date of birth from {DATE_OF_BIRTH_YEAR_MIN} to the end of next year"
        raise ValueError(msg)
    return born


def _one_of(*choices: str) -> Parser:
    def parse(value: str) -> str:
        if value.strip() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value.strip()

    return parse


def _ndc(value: str) -> str:
    if not (len(value.strip()) == 11 and is_digits(value.strip())):
        raise ValueError("must be an 11-digit NDC")
    return value.strip()


def _digits(count: int, what: str) -> Parser:
    def parse(value: str) -> str:
        text = value.strip()
        if not (len(text) == count and text.isascii() and text.isdigit()):
            raise ValueError(f"must be a {count}-digit {what}")
        return text

    return parse


def _bounded(length_max: int) -> Parser:
    """Printable ASCII text of at most ``length_max`` characters (an NCPDP field's width)."""

    def parse(value: str) -> str:
        text = _text(value)
        if len(text) > length_max or not (text.isascii() and text.isprintable()):
            raise ValueError(f"must be 1-{length_max} printable ASCII characters")
        return text

    return parse


def _digits_up_to(length_max: int, what: str) -> Parser:
    def parse(value: str) -> str:
        text = value.strip()
        if not (1 <= len(text) <= length_max and text.isascii() and text.isdigit()):
            raise ValueError(f"must be a {what} of 1-{length_max} digits")
        return text

    return parse


def _weekday(value: str) -> int:
    number = weekday_number(value)
    if number is None:
        raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
    return number


SETTLEMENT_AMOUNT_MAX_CENTS = 1_000_000_000_000  # $10 billion: no sum of them leaves bigint


def _amount_cents(value: str) -> int:
    """Integer cents, as written: no decimal point, no rounding."""
    text = value.strip()
    if "." in text or "," in text:
        raise ValueError("must be integer cents (no decimal point): $12.50 is 1250")
    return _int_between(1, SETTLEMENT_AMOUNT_MAX_CENTS)(text)  # type: ignore[no-any-return]


def _settlement_date(value: str) -> dt.date:
    day = _date(value)
    if not 2000 <= day.year <= 2199:
        raise ValueError("must be a date in the years 2000-2199")
    return day


def _reference(value: str) -> str:
    text = _text(value)
    if len(text) > 50 or not (text.isascii() and text.isprintable()):
        raise ValueError("must be 1-50 printable ASCII characters")
    return text


_optional_positive_int = _optional(_positive_int)
_optional_positive_bigint = _optional(_positive_bigint)
_optional_date = _optional(_date)
_optional_ndc = _optional(_ndc)


TABLES: dict[str, dict[str, Parser]] = {
    "drugs.csv": {
        "ndc": _ndc,
        "name": _text,
        "molecule": _text,
        "drug_group": _text,
        "is_brand": _bool,
        "generic_ndc": _optional_ndc,
        "is_specialty": _bool,
        "awp_unit_price_millicents": _positive_bigint,
        "wac_unit_price_millicents": _optional_positive_bigint,
        "nadac_unit_price_millicents": _optional_positive_bigint,
        "mac_unit_price_millicents": _optional_positive_bigint,
        "therapeutic_class": _optional_text,
    },
    "formulary.csv": {
        "plan_id": _text,
        "ndc": _ndc,
        "status": _one_of("covered", "excluded", "non_formulary"),
        "tier": _int_between(1, 9),
        "prior_authorization_required": _bool,
        "quantity_limit_thousandths": _optional_positive_bigint,
        "days_supply_max": _optional_positive_int,
        "age_min": _optional_positive_int,
        "age_max": _optional_positive_int,
        "gender_code": _optional(_int_between(1, 2)),
        "step_therapy_molecule": _optional_text,
        "period_days": _optional_positive_int,
        "period_quantity_limit_thousandths": _optional_positive_bigint,
        "period_days_supply_max": _optional_positive_int,
    },
    "pharmacies.csv": {
        "npi": _digits(10, "NPI"),
        "name": _text,
        "network": _one_of("preferred", "standard", "out_of_network"),
        "kind": _one_of("retail", "retail90", "mail", "specialty"),
        "payee_id": _optional_text,
    },
    "interactions.csv": {
        "molecule_a": _text,
        "molecule_b": _text,
        "significance": _one_of("1", "2", "3", "9"),
        "text": _text,
    },
    "payees.csv": {
        "payee_id": _text,
        "name": _text,
        "npi": _optional(_digits(10, "NPI")),
        "tin": _optional(_digits(9, "TIN (EIN)")),
        "ncpdp_id": _optional(_digits(7, "NCPDP provider ID")),
        "bank_routing_number": _optional(_digits(9, "ABA routing number")),
        "bank_account_number": _optional_text,
    },
    "sponsors.csv": {
        "sponsor_id": _text,
        "name": _text,
        "billing_period_days": _optional(_one_of("7", "14")),
        "billing_cutoff_weekday": _optional(_weekday),
        "payment_terms_days": _optional(_int_between(0, 60)),
        "admin_fee_cents": _optional(_int_between(0, 100_000)),
        "funding_model": _optional(_one_of("arrears", "prefunded")),
        "low_balance_threshold_cents": _optional(_int_between(0, BIGINT_MAX)),
    },
    "members.csv": {
        "member_id": _text,
        "cardholder_id": _text,
        "person_code": _text,
        "family_id": _text,
        "employer_id": _text,
        "class_code": _text,
        "first_name": _text,
        "last_name": _text,
        "date_of_birth": _birth_date,
        "gender_code": _int_between(0, 2),
    },
    "coverages.csv": {
        "member_id": _text,
        "plan_id": _text,
        "group_id": _text,
        "start_date": _date,
        "end_date": _optional_date,
        "end_reason": _optional(_one_of("expired", "terminated")),
        "line_of_business": _text,
        # self_only or family (X12 834 HD05); blank: self_only for a one-person family
        "coverage_level": _optional(_one_of("self_only", "family")),
        # 1 primary, 2 secondary ... (blank: 1); Medicaid pays last whatever it says
        "payer_order": _optional(_int_between(1, 9)),
    },
    "other_coverages.csv": {
        "member_id": _text,
        "payer_order": _int_between(1, 9),
        "payer_name": _bounded(60),
        "bin": _digits(6, "BIN"),
        "pcn": _optional(_bounded(10)),
        "group_id": _optional(_bounded(15)),
        "cardholder_id": _bounded(20),
        "person_code": _optional(_digits_up_to(3, "person code")),
        "help_desk_phone": _optional(_digits_up_to(18, "phone number")),
        "start_date": _date,
        "end_date": _optional_date,
    },
    "purses.csv": {"purse_id": _text, "family_id": _text, "kind": _text, "employer_id": _text},
    "funding.csv": {
        "funding_id": _text,
        "purse_id": _text,
        # as a settlement file's: no sum of them leaves bigint (a purse's balance is one)
        "amount_cents": _int_between(1, SETTLEMENT_AMOUNT_MAX_CENTS),
        "memo": _optional_text,
        "available_on": _optional_date,
    },
    "prior_authorizations.csv": {
        "pa_number": _text,
        "member_id": _text,
        "ndc": _optional_ndc,
        "drug_group": _optional_text,
        "start_date": _date,
        "end_date": _date,
        "quantity_thousandths": _optional_positive_bigint,
    },
}


# Files the settlement commands read, by layout (their names are the user's).
SETTLEMENT_LAYOUTS: dict[str, dict[str, Parser]] = {
    "sponsor payments": {
        "sponsor_id": _text,
        "invoice_id": _optional_text,
        "amount_cents": _amount_cents,
        "received_on": _settlement_date,
        "reference": _reference,
    },
    "bank confirmations": {
        "direction": _one_of("debit", "credit"),
        "trace": _reference,
        "amount_cents": _amount_cents,
        "posted_on": _settlement_date,
    },
}


def _payee_identity(row: dict[str, Any]) -> tuple[str, str] | None:
    if row["npi"] is None and row["tin"] is None:
        return "npi", "an NPI or a TIN is required (the 835's N1*PE)"
    if (row["bank_routing_number"] is None) != (row["bank_account_number"] is None):
        return "bank_routing_number", "give both bank numbers or neither (paid by check)"
    return None


def _coverage_dates(row: dict[str, Any]) -> tuple[str, str] | None:
    if row["end_date"] is not None and row["end_date"] < row["start_date"]:
        return "end_date", "is before start_date"
    return None


def _authorized_product(row: dict[str, Any]) -> tuple[str, str] | None:
    if row["ndc"] is None and row["drug_group"] is None:
        return "ndc", "an NDC or a drug_group is required"
    if row["end_date"] < row["start_date"]:
        return "end_date", "is before start_date"
    return None


def _age_range(row: dict[str, Any]) -> tuple[str, str] | None:
    low, high = row["age_min"], row["age_max"]
    if low is not None and high is not None and high < low:
        return "age_max", f"is below age_min {low}: no member could be billed"
    return None


def _two_molecules(row: dict[str, Any]) -> tuple[str, str] | None:
    if row["molecule_a"] == row["molecule_b"]:
        return "molecule_b", "is molecule_a: an interaction is between two molecules"
    return None


# Rules across the fields of one row: (field, problem) when broken.
ROW_RULES: dict[str, Callable[[dict[str, Any]], tuple[str, str] | None]] = {
    "coverages.csv": _coverage_dates,
    "other_coverages.csv": _coverage_dates,
    "prior_authorizations.csv": _authorized_product,
    "payees.csv": _payee_identity,
    "formulary.csv": _age_range,
    "interactions.csv": _two_molecules,
}
