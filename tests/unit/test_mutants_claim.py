"""Syntax (M/I) checks of claim.py, field by field with their exact 526-FQ messages (issue 11).

The messages are what a pharmacist reads: each names the NCPDP field and what it must hold, so
they are pinned word for word. Bounds are tested on both sides. Requests are the fixture claim
changed with dataclasses.replace (the amounts stay as given, nothing is recomputed).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.claim import EligibilityRequest, Header, ReversalRequest
from rx_gateway.domain.rejects import Reject
from rx_gateway.domain.syntax import (
    validate_claim,
    validate_eligibility,
    validate_inquiry,
    validate_reversal,
)
from rx_gateway.domain.values import format_ccyymmdd, parse_ccyymmdd
from tests.unit.domain_fixtures import claim, with_header

# GENERIC, 30 units: 409-D9 3000¢ (30 × $1.00 AWP) + 412-DC 200¢ = 430-DU 3200¢, U&C 6200¢.
BASE = claim()

BIN_6 = "BIN (101-A1) must be 6 digits 0-9"
PCN_LONG = "PCN (104-A4) must be 1-10 characters, no padding"
SPID_LONG = "Service provider ID (201-B1) must be 1-15 characters, no padding"
DOS_BAD = "Date of service (401-D1) must be a date CCYYMMDD"
CARD_LONG = "Cardholder ID (302-C2) must be 1-20 characters, no padding"
GROUP_LONG = "Group ID (301-C1) must be 1-15 characters, no padding"
PERSON_BAD = "Person code (303-C3) must be 1-3 digits 0-9"
RX_BAD = "Rx number (402-D2) must be 1-12 digits 0-9"
FILL_BAD = "Fill number (403-D3) must be 0-99"
NDC_BAD = "NDC (407-D7) must be 11 digits 0-9"
QTY_BAD = "Quantity (442-E7) must be more than 0 and at most 9999999.999"
DAYS_BAD = "Days supply (405-D5) must be 1-365"
DAW_BAD = "DAW code (408-D8) must be 0-9"
WRITTEN_BAD = "Date written (414-DE) is invalid or after DOS"
PA_LONG = "Prior authorization number (462-EV) must be 1-11 characters, no padding"
B2_BAD = "Service provider ID qualifier (202-B2) must be 01: 201-B1 is the pharmacy's NPI"
AK_LONG = "Software vendor ID (110-AK) must be 1-10 characters, no padding"
DOB_BAD = "Date of birth (304-C4) must be CCYYMMDD"
DOB_AFTER = "Date of birth (304-C4) is after the date of service (401-D1): one of them is wrong"
DOS_ANCIENT = "Date of service (401-D1) must be a date CCYYMMDD from 1880 on"
GENDER_BAD = "Gender code (305-C5) must be 0, 1 or 2"
NPI_BAD = "Prescriber ID (411-DB) must be a 10-digit NPI"
DN_BAD = "Basis of cost (423-DN) must be 00-15 or blank"
UC_BAD = "U&C (426-DQ) must be $0.01 to $999,999.99"
GAD_BAD = "Gross amount due (430-DU) must be $0.01 to $999,999.99"
COST_BAD = "Ingredient cost (409-D9) and dispensing fee (412-DC) must each be $0.00 to $999,999.99"
R9 = (
    "Gross amount due (430-DU) must equal 409-D9 + 412-DC + 481-HA + 482-GE + 438-E3"
    " + the 480-H9 other amounts"
)
MAX = 99_999_999  # s$$$$$$cc


def pairs(rejects: list[Reject]) -> list[tuple[str, str]]:
    return [(r.code.value, r.message) for r in rejects]


CLAIM_ROWS: list[Any] = [
    pytest.param({}, [], id="valid"),
    # --- header ---
    pytest.param({"bin": ""}, [("01", "BIN (101-A1) is missing")], id="bin-missing"),
    pytest.param({"bin": "61099"}, [("01", BIN_6)], id="bin-5"),
    pytest.param({"bin": "6109990"}, [("01", BIN_6)], id="bin-7"),
    pytest.param({"bin": "61099A"}, [("01", BIN_6)], id="bin-letter"),
    pytest.param({"processor_control_number": ""}, [("04", "PCN (104-A4) is missing")], id="pcn0"),
    pytest.param({"processor_control_number": "P" * 10}, [], id="pcn-10"),
    pytest.param({"processor_control_number": "P" * 11}, [("04", PCN_LONG)], id="pcn-11"),
    pytest.param({"processor_control_number": " TEST"}, [("04", PCN_LONG)], id="pcn-padded"),
    pytest.param(
        {"processor_control_number": "TE\x00ST"},
        [("04", "PCN (104-A4) holds a character outside printable ASCII")],
        id="pcn-control",
    ),
    pytest.param(
        {"service_provider_id": ""},
        [("05", "Service provider ID (201-B1) is missing")],
        id="spid-missing",
    ),
    pytest.param({"service_provider_id": "1" * 15}, [], id="spid-15"),
    pytest.param({"service_provider_id": "1" * 16}, [("05", SPID_LONG)], id="spid-16"),
    pytest.param(
        {"date_of_service": ""}, [("15", "Date of service (401-D1) is missing")], id="dos-missing"
    ),
    pytest.param({"date_of_service": "20261345"}, [("15", DOS_BAD)], id="dos-bad"),
    pytest.param({"date_of_service": "18791231"}, [("15", DOS_ANCIENT)], id="dos-1879"),
    pytest.param(
        {"date_of_service": "18791231", "date_of_birth": "19800101"},
        [("15", DOS_ANCIENT)],
        id="dos-1879-with-a-date-of-birth",
    ),
    # --- member ---
    pytest.param(
        {"cardholder_id": ""}, [("07", "Cardholder ID (302-C2) is missing")], id="card-missing"
    ),
    pytest.param({"cardholder_id": "C" * 20}, [], id="card-20"),
    pytest.param({"cardholder_id": "C" * 21}, [("07", CARD_LONG)], id="card-21"),
    pytest.param({"group_id": ""}, [], id="group-optional"),
    pytest.param({"group_id": "G" * 15}, [], id="group-15"),
    pytest.param({"group_id": "G" * 16}, [("06", GROUP_LONG)], id="group-16"),
    pytest.param(
        {"group_id": "G\x01"},
        [("06", "Group ID (301-C1) holds a character outside printable ASCII")],
        id="group-control",
    ),
    pytest.param({"person_code": ""}, [], id="person-optional"),
    pytest.param({"person_code": "1"}, [], id="person-1"),
    pytest.param({"person_code": "123"}, [], id="person-3"),
    pytest.param({"person_code": "1234"}, [("08", PERSON_BAD)], id="person-4"),
    pytest.param({"person_code": "A1"}, [("08", PERSON_BAD)], id="person-letter"),
    # --- prescription ---
    pytest.param(
        {"prescription_reference_number": ""},
        [("16", "Rx number (402-D2) is missing")],
        id="rx-missing",
    ),
    pytest.param({"prescription_reference_number": "1"}, [], id="rx-1"),
    pytest.param({"prescription_reference_number": "1" * 12}, [], id="rx-12"),
    pytest.param({"prescription_reference_number": "1" * 13}, [("16", RX_BAD)], id="rx-13"),
    pytest.param({"fill_number": -1}, [("17", FILL_BAD)], id="fill-neg"),
    pytest.param({"fill_number": 99}, [], id="fill-99"),
    pytest.param({"fill_number": 100}, [("17", FILL_BAD)], id="fill-100"),
    # --- product ---
    pytest.param(
        {"product_id_qualifier": ""},
        [("E1", "Product ID qualifier (436-E1) is missing")],
        id="qualifier-missing",
    ),
    pytest.param(
        {"product_id_qualifier": "01"},
        [("E1", "Product ID qualifier (436-E1) must be 03")],
        id="qualifier-01",
    ),
    pytest.param({"product_id": ""}, [("21", "NDC (407-D7) is missing")], id="ndc-missing"),
    pytest.param({"product_id": "1" * 10}, [("21", NDC_BAD)], id="ndc-10"),
    pytest.param({"product_id": "1" * 12}, [("21", NDC_BAD)], id="ndc-12"),
    # --- quantity, days, DAW ---
    pytest.param({"quantity_dispensed_thousandths": 0}, [("E7", QTY_BAD)], id="qty-0"),
    pytest.param({"quantity_dispensed_thousandths": 1}, [], id="qty-1"),
    pytest.param({"quantity_dispensed_thousandths": 9_999_999_999}, [], id="qty-max"),
    pytest.param({"quantity_dispensed_thousandths": 10**10}, [("E7", QTY_BAD)], id="qty-over"),
    pytest.param({"days_supply": 0}, [("19", DAYS_BAD)], id="days-0"),
    pytest.param({"days_supply": 1}, [], id="days-1"),
    pytest.param({"days_supply": 365}, [], id="days-365"),
    pytest.param({"days_supply": 366}, [("19", DAYS_BAD)], id="days-366"),
    pytest.param({"dispense_as_written": -1}, [("22", DAW_BAD)], id="daw-neg"),
    pytest.param({"dispense_as_written": 9}, [], id="daw-9"),
    pytest.param({"dispense_as_written": 10}, [("22", DAW_BAD)], id="daw-10"),
    # --- date written: on or before the date of service (2026-11-02) ---
    pytest.param({"date_prescription_written": "20261102"}, [], id="written-same-day"),
    pytest.param({"date_prescription_written": "20261101"}, [], id="written-before"),
    pytest.param(
        {"date_prescription_written": "20261103"}, [("28", WRITTEN_BAD)], id="written-after"
    ),
    pytest.param({"date_prescription_written": "2026"}, [("28", WRITTEN_BAD)], id="written-bad"),
    # an unreadable date of service: only 15, the date written is not compared with it
    pytest.param(
        {"date_of_service": "X", "date_prescription_written": "20261103"},
        [("15", DOS_BAD)],
        id="written-no-dos",
    ),
    # --- optional text fields ---
    pytest.param({"prior_authorization_number": "P" * 11}, [], id="pa-11"),
    pytest.param({"prior_authorization_number": "P" * 12}, [("EV", PA_LONG)], id="pa-12"),
    pytest.param({"service_provider_id_qualifier": ""}, [], id="b2-optional"),
    pytest.param({"service_provider_id_qualifier": "1"}, [("B2", B2_BAD)], id="b2-1"),
    pytest.param({"service_provider_id_qualifier": "011"}, [("B2", B2_BAD)], id="b2-3"),
    pytest.param({"service_provider_id_qualifier": "07"}, [("B2", B2_BAD)], id="b2-ncpdp-id"),
    pytest.param({"service_provider_id_qualifier": "01"}, [], id="b2-npi"),
    pytest.param({"software_vendor_id": "S" * 10}, [], id="ak-10"),
    pytest.param({"software_vendor_id": "S" * 11}, [("AK", AK_LONG)], id="ak-11"),
    # --- patient and prescriber ---
    pytest.param({"date_of_birth": "18800101"}, [], id="dob-1880"),
    pytest.param({"date_of_birth": "18791231"}, [("09", DOB_BAD)], id="dob-1879"),
    pytest.param({"date_of_birth": "20261102"}, [], id="dob-dos"),
    pytest.param({"date_of_birth": "20261103"}, [("09", DOB_AFTER)], id="dob-after-dos"),
    pytest.param({"date_of_birth": "1980"}, [("09", DOB_BAD)], id="dob-bad"),
    pytest.param(
        {"date_of_service": "", "date_of_birth": "20300101"},
        [("15", "Date of service (401-D1) is missing")],
        id="dob-no-dos",
    ),
    pytest.param({"gender_code": 2}, [], id="gender-2"),
    pytest.param({"gender_code": 3}, [("10", GENDER_BAD)], id="gender-3"),
    pytest.param({"gender_code": -1}, [("10", GENDER_BAD)], id="gender-neg"),
    pytest.param({"prescriber_id": "1234567893"}, [], id="npi-10"),
    pytest.param(
        {"prescriber_id": "1234567890"},
        [("25", "Prescriber ID (411-DB) is not an NPI: its check digit (Luhn) does not match")],
        id="npi-check-digit",
    ),
    pytest.param(
        {"fill_number": 3, "number_of_refills_authorized": 2},
        [("17", "Fill 3 (403-D3) is beyond the 2 refills authorized (415-DF)")],
        id="fill-beyond-refills",
    ),
    pytest.param({"fill_number": 2, "number_of_refills_authorized": 2}, [], id="last-refill"),
    pytest.param(
        {"fill_number": 1, "number_of_refills_authorized": 0},
        [("17", "Fill 1 (403-D3) is a refill, and 415-DF says no refills are authorized")],
        id="refill-of-no-refills",
    ),
    pytest.param({"fill_number": 0, "number_of_refills_authorized": 0}, [], id="original-of-0"),
    pytest.param({"fill_number": 7, "number_of_refills_authorized": None}, [], id="df-not-sent"),
    pytest.param({"number_of_refills_authorized": 99}, [], id="refills-99"),
    pytest.param(
        {"number_of_refills_authorized": 100},
        [("29", "Number of refills authorized (415-DF) must be 0-99")],
        id="refills-100",
    ),
    pytest.param(
        {"number_of_refills_authorized": -1},
        [("29", "Number of refills authorized (415-DF) must be 0-99")],
        id="refills-negative",
    ),
    pytest.param(
        {"fill_number": 3, "number_of_refills_authorized": -2_147_483_648},
        [("29", "Number of refills authorized (415-DF) must be 0-99")],
        id="refills-int32-min",
    ),
    pytest.param({"prescriber_id": "123456789"}, [("25", NPI_BAD)], id="npi-9"),
    pytest.param({"prescriber_id": "12345678901"}, [("25", NPI_BAD)], id="npi-11"),
    pytest.param({"prescriber_id": "123456789A"}, [("25", NPI_BAD)], id="npi-letter"),
    # --- amounts: U&C and 430-DU in (0, $999,999.99]; 409-D9 and 412-DC in [0, max] ---
    pytest.param({"usual_and_customary_charge_cents": 0}, [("8T", UC_BAD)], id="uc-0"),
    pytest.param({"usual_and_customary_charge_cents": 1}, [], id="uc-1"),
    pytest.param({"usual_and_customary_charge_cents": MAX}, [], id="uc-max"),
    pytest.param({"usual_and_customary_charge_cents": MAX + 1}, [("8T", UC_BAD)], id="uc-over"),
    pytest.param(
        {
            "gross_amount_due_cents": 0,
            "ingredient_cost_submitted_cents": 0,
            "dispensing_fee_submitted_cents": 0,
        },
        [("8U", GAD_BAD)],
        id="gad-0",
    ),
    pytest.param(
        {
            "gross_amount_due_cents": 1,
            "ingredient_cost_submitted_cents": 1,
            "dispensing_fee_submitted_cents": 0,
        },
        [],
        id="gad-1",
    ),
    pytest.param(
        {
            "gross_amount_due_cents": MAX,
            "ingredient_cost_submitted_cents": MAX,
            "dispensing_fee_submitted_cents": 0,
        },
        [],
        id="gad-max-all-ingredient",
    ),
    pytest.param(
        {
            "gross_amount_due_cents": MAX,
            "ingredient_cost_submitted_cents": 0,
            "dispensing_fee_submitted_cents": MAX,
        },
        [],
        id="gad-max-all-fee",
    ),
    pytest.param(
        {
            "gross_amount_due_cents": MAX + 1,
            "ingredient_cost_submitted_cents": MAX,
            "dispensing_fee_submitted_cents": 1,
        },
        [("8U", GAD_BAD)],
        id="gad-over",
    ),
    pytest.param({"gross_amount_due_cents": 3_201}, [("R9", R9)], id="gad-plus-1"),
    pytest.param({"gross_amount_due_cents": 3_199}, [("R9", R9)], id="gad-minus-1"),
    # a negative 409-D9 or 412-DC, even when the sum matches: 3201 − 1 = 3200
    pytest.param(
        {"ingredient_cost_submitted_cents": -1, "dispensing_fee_submitted_cents": 3_201},
        [("R9", COST_BAD)],
        id="ingredient-neg",
    ),
    pytest.param(
        {"ingredient_cost_submitted_cents": 3_201, "dispensing_fee_submitted_cents": -1},
        [("R9", COST_BAD)],
        id="fee-neg",
    ),
    # 409-D9 over the maximum with a matching sum: MAX + 1 − 2 = MAX − 1
    pytest.param(
        {
            "gross_amount_due_cents": MAX - 1,
            "ingredient_cost_submitted_cents": MAX + 1,
            "dispensing_fee_submitted_cents": -2,
        },
        [("R9", COST_BAD)],
        id="ingredient-over",
    ),
    pytest.param(
        {
            "gross_amount_due_cents": MAX - 1,
            "ingredient_cost_submitted_cents": -2,
            "dispensing_fee_submitted_cents": MAX + 1,
        },
        [("R9", COST_BAD)],
        id="fee-over",
    ),
    # --- everything wrong at once: every reject, in the order the checks run (header first) ---
    pytest.param(
        {
            "bin": "1",
            "processor_control_number": "",
            "service_provider_id": "",
            "date_of_service": "",
            "cardholder_id": "",
            "group_id": "G" * 16,
            "person_code": "X",
            "prescription_reference_number": "",
            "fill_number": 100,
            "product_id_qualifier": "",
            "product_id": "",
            "quantity_dispensed_thousandths": 0,
            "days_supply": 0,
            "dispense_as_written": 10,
            "date_prescription_written": "X",
            "prior_authorization_number": "P" * 12,
            "service_provider_id_qualifier": "X",
            "software_vendor_id": "S" * 11,
            "date_of_birth": "X",
            "gender_code": 3,
            "prescriber_id": "1",
            "basis_of_cost_determination": "10",
            "usual_and_customary_charge_cents": 0,
            "gross_amount_due_cents": 0,
        },
        [
            ("01", BIN_6),
            ("04", "PCN (104-A4) is missing"),
            ("05", "Service provider ID (201-B1) is missing"),
            ("15", "Date of service (401-D1) is missing"),
            ("B2", B2_BAD),
            ("AK", AK_LONG),
            ("07", "Cardholder ID (302-C2) is missing"),
            ("06", GROUP_LONG),
            ("08", PERSON_BAD),
            ("16", "Rx number (402-D2) is missing"),
            ("17", FILL_BAD),
            ("E1", "Product ID qualifier (436-E1) is missing"),
            ("21", "NDC (407-D7) is missing"),
            ("E7", QTY_BAD),
            ("19", DAYS_BAD),
            ("22", DAW_BAD),
            ("28", WRITTEN_BAD),
            ("EV", PA_LONG),
            ("09", DOB_BAD),
            ("10", GENDER_BAD),
            ("25", NPI_BAD),
            ("DN", DN_BAD),
            ("8T", UC_BAD),
            ("8U", GAD_BAD),
        ],
        id="everything-wrong",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CLAIM_ROWS)
def test_claim_syntax(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert pairs(validate_claim(with_header(BASE, **overrides))) == expected


VALID_BASIS = ["", "00", "01", "02", "03", "04", "05", "06", "07", "08", "09"]
VALID_BASIS += ["11", "12", "13", "14", "15"]
INVALID_BASIS = ["10", "16", "17", "20", "99", "0", "1", "001", "AA", " 1", "1 ", "-1"]


@pytest.mark.parametrize("code", VALID_BASIS)
def test_basis_of_cost_valid(code: str) -> None:
    """423-DN: blank, 00-09 and 11-15 are valid."""
    assert validate_claim(with_header(BASE, basis_of_cost_determination=code)) == []


@pytest.mark.parametrize("code", INVALID_BASIS)
def test_basis_of_cost_invalid(code: str) -> None:
    """423-DN: 10 and 16 up are not NCPDP values; neither is anything not two digits."""
    rejects = validate_claim(with_header(BASE, basis_of_cost_determination=code))
    assert pairs(rejects) == [("DN", DN_BAD)]


# ------------------------------------------------------------------ B2, E1 and benefit inquiry

HEADER = Header("610999", "TEST", "1000000001", "20261102")
REVERSAL = ReversalRequest(
    header=HEADER,
    prescription_reference_number="123",
    fill_number=0,
    product_id_qualifier="03",
    product_id="00000000001",
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        # the product is optional on a B2: both blank is fine
        ({"product_id_qualifier": "", "product_id": ""}, []),
        # but either one sent brings the product checks
        (
            {"product_id_qualifier": "", "product_id": "1"},
            [("E1", "Product ID qualifier (436-E1) is missing"), ("21", NDC_BAD)],
        ),
        ({"product_id": ""}, [("21", "NDC (407-D7) is missing")]),
        ({"cardholder_id": "CH1", "person_code": "001"}, []),
        ({"cardholder_id": "C" * 21}, [("07", CARD_LONG)]),
        ({"person_code": "1234"}, [("08", PERSON_BAD)]),
        ({"fill_number": 100}, [("17", FILL_BAD)]),
        (
            {
                "bin": "",
                "processor_control_number": "P" * 11,
                "date_of_service": "2026",
                "prescription_reference_number": "X",
                "fill_number": -1,
                "product_id_qualifier": "01",
                "product_id": "1",
                "cardholder_id": " CH1",
                "person_code": "0001",
            },
            [
                ("01", "BIN (101-A1) is missing"),
                ("04", PCN_LONG),
                ("15", DOS_BAD),
                ("16", RX_BAD),
                ("17", FILL_BAD),
                ("E1", "Product ID qualifier (436-E1) must be 03"),
                ("21", NDC_BAD),
                ("07", CARD_LONG),
                ("08", PERSON_BAD),
            ],
        ),
    ],
)
def test_reversal_syntax(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert pairs(validate_reversal(with_header(REVERSAL, **overrides))) == expected


ELIGIBILITY = EligibilityRequest(
    header=HEADER,
    cardholder_id="CH1",
    group_id="G1",
    person_code="001",
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        ({"date_of_birth": "19800101", "group_id": "", "person_code": ""}, []),
        ({"date_of_birth": "20261103"}, [("09", DOB_AFTER)]),
        (
            {
                "bin": "61099",
                "processor_control_number": "",
                "service_provider_id": "1" * 16,
                "date_of_service": "",
                "cardholder_id": "",
                "group_id": "G" * 16,
                "person_code": "12345",
                "date_of_birth": "18000101",
            },
            [
                ("01", BIN_6),
                ("04", "PCN (104-A4) is missing"),
                ("05", SPID_LONG),
                ("15", "Date of service (401-D1) is missing"),
                ("07", "Cardholder ID (302-C2) is missing"),
                ("06", GROUP_LONG),
                ("08", PERSON_BAD),
                ("09", DOB_BAD),
            ],
        ),
    ],
)
def test_eligibility_syntax(overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert pairs(validate_eligibility(with_header(ELIGIBILITY, **overrides))) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (("610999", "TEST", "CH1", "001"), []),
        (("610999", "TEST", "CH1", ""), []),
        (("61099", "TEST", "CH1", "001"), [("bin", "01", BIN_6)]),
        (("610999", "P" * 11, "CH1", "001"), [("processor_control_number", "04", PCN_LONG)]),
        (
            ("610999", "TEST", "", "001"),
            [("cardholder_id", "07", "Cardholder ID (302-C2) is missing")],
        ),
        (("610999", "TEST", "CH1", "1234"), [("person_code", "08", PERSON_BAD)]),
        (
            ("", "", "C" * 21, "X"),
            [
                ("bin", "01", "BIN (101-A1) is missing"),
                ("processor_control_number", "04", "PCN (104-A4) is missing"),
                ("cardholder_id", "07", CARD_LONG),
                ("person_code", "08", PERSON_BAD),
            ],
        ),
    ],
)
def test_inquiry_fields(fields: tuple[str, str, str, str], expected: list[Any]) -> None:
    got = validate_inquiry(*fields)
    assert [(field, r.code.value, r.message) for field, r in got] == expected


# ------------------------------------------------------------------ keys, hashes, dates


def test_claim_key_text() -> None:
    """BIN|PCN|provider|Rx|fill|date of service."""
    assert BASE.key.as_text() == "610999|TEST|1000000001|123|0|20261102"
    assert replace(BASE, fill_number=7).key.as_text() == "610999|TEST|1000000001|123|7|20261102"
    assert REVERSAL.key == BASE.key


def test_content_hash_is_sha256_of_every_field_in_order() -> None:
    """The canonical form, written out here: every field's str(), joined by 0x1F."""
    values = [
        "610999", "TEST", "1000000001", "01", "20261102", "CH1", "G1", "001", "1", "", "0",
        "123", "0", "03", "00000000001", "30000", "30", "0", "", "0", "", "", "3000", "200",
        "6200", "3200", "", "",
    ]  # fmt: skip
    expected = hashlib.sha256("\x1f".join(values).encode()).hexdigest()
    assert BASE.content_hash() == expected
    assert with_header(BASE, software_vendor_id="V").content_hash() != expected
    assert replace(BASE, basis_of_cost_determination="01").content_hash() != expected
    # 406-D6 1 (not a compound) digests as not sent; a claim stored before that, under the
    # digest that carried it, is still its own retransmission's
    stored_before = hashlib.sha256(
        ("\x1f".join(values) + "\x1fcompound_code=1").encode()
    ).hexdigest()
    sent_with_1 = replace(BASE, compound_code=1)
    assert sent_with_1.content_hash() == expected
    assert sent_with_1.is_digest_of(stored_before) and sent_with_1.is_digest_of(expected)
    assert not replace(sent_with_1, days_supply=31).is_digest_of(stored_before)
    assert replace(BASE, compound_code=2).content_hash() != expected


@pytest.mark.parametrize(
    ("text", "date"),
    [("20261102", (2026, 11, 2)), ("20240229", (2024, 2, 29)), ("00010101", (1, 1, 1))],
)
def test_dates_round_trip(text: str, date: tuple[int, int, int]) -> None:
    parsed = parse_ccyymmdd(text)
    assert parsed is not None
    assert (parsed.year, parsed.month, parsed.day) == date
    assert format_ccyymmdd(parsed) == text


@pytest.mark.parametrize(
    "text", ["", "2026110", "202611021", "20250229", "2026-1-2", "２０２６１１０２", "20261300"]
)
def test_dates_that_are_not_dates(text: str) -> None:
    assert parse_ccyymmdd(text) is None


def test_service_date_of_an_unreadable_date_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^date_of_service is not a date$"):
        _ = with_header(BASE, date_of_service="X").service_date


def test_a_reversal_takes_any_two_digit_service_provider_id_qualifier() -> None:
    """A claim paid under 202-B2 07 before a B1 had to say 01 can still be reversed as sent;
    a reversal's qualifier must still be two digits."""
    from rx_gateway.domain.claim import Header
    from rx_gateway.domain.syntax import validate_header

    header = Header("610999", "PCN", "1234567893", "20261102", "07")
    assert [r.code.value for r in validate_header(header)] == ["B2"]
    assert validate_header(header, npi_only=False) == []
    bad = Header("610999", "PCN", "1234567893", "20261102", "7")
    assert [r.code.value for r in validate_header(bad, npi_only=False)] == ["B2"]
