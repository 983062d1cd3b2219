"""The field dictionary: two-character field IDs to NCPDP numbers, names and value kinds, and the
readable JSON form of a transmission that `rx-gateway ncpdp decode/encode` speak.

The JSON keeps each field's raw wire value, so encode(JSON) gives back the same bytes; the
decoded value (money in cents, quantities in thousandths) is added for reading only.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from rx_gateway.ncpdp.codec import (
    CodecError,
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    decode_money,
    decode_quantity,
)

SEGMENTS = {
    "01": "Patient",
    "02": "Pharmacy Provider",
    "03": "Prescriber",
    "04": "Insurance",
    "05": "Coordination of Benefits/Other Payments",
    "07": "Claim",
    "08": "DUR/PPS",
    "10": "Compound",
    "11": "Pricing",
    "12": "Prior Authorization",
    "20": "Response Message",
    "21": "Response Status",
    "22": "Response Claim",
    "23": "Response Pricing",
    "24": "Response DUR/PPS",
    "25": "Response Insurance",
    "29": "Response Patient",
}

# field ID → (NCPDP number, name, kind); kind is text, money, quantity or number
FIELDS: dict[str, tuple[str, str, str]] = {
    "C2": ("302-C2", "Cardholder ID", "text"),
    "C1": ("301-C1", "Group ID", "text"),
    "C3": ("303-C3", "Person Code", "text"),
    "C6": ("306-C6", "Patient Relationship Code", "number"),
    "CC": ("312-CC", "Cardholder First Name", "text"),
    "CD": ("313-CD", "Cardholder Last Name", "text"),
    "C4": ("304-C4", "Date of Birth", "text"),
    "C5": ("305-C5", "Patient Gender Code", "number"),
    "CA": ("310-CA", "Patient First Name", "text"),
    "CB": ("311-CB", "Patient Last Name", "text"),
    "EM": ("455-EM", "Prescription/Service Reference Number Qualifier", "text"),
    "D2": ("402-D2", "Prescription/Service Reference Number", "text"),
    "E1": ("436-E1", "Product/Service ID Qualifier", "text"),
    "D7": ("407-D7", "Product/Service ID", "text"),
    "E7": ("442-E7", "Quantity Dispensed", "quantity"),
    "D3": ("403-D3", "Fill Number", "number"),
    "D5": ("405-D5", "Days Supply", "number"),
    "D6": ("406-D6", "Compound Code", "number"),
    "D8": ("408-D8", "Dispense As Written (DAW)/Product Selection Code", "number"),
    "DE": ("414-DE", "Date Prescription Written", "text"),
    "DF": ("415-DF", "Number of Refills Authorized", "number"),
    "DJ": ("419-DJ", "Prescription Origin Code", "number"),
    "EU": ("461-EU", "Prior Authorization Type Code", "text"),
    "EV": ("462-EV", "Prior Authorization Number Submitted", "text"),
    "EZ": ("466-EZ", "Prescriber ID Qualifier", "text"),
    "DB": ("411-DB", "Prescriber ID", "text"),
    "D9": ("409-D9", "Ingredient Cost Submitted", "money"),
    "DC": ("412-DC", "Dispensing Fee Submitted", "money"),
    "DQ": ("426-DQ", "Usual and Customary Charge", "money"),
    "DU": ("430-DU", "Gross Amount Due", "money"),
    "DN": ("423-DN", "Basis of Cost Determination", "text"),
    "A7": ("993-A7", "Internal Control Number", "text"),
    "F4": ("504-F4", "Message", "text"),
    "AN": ("112-AN", "Transaction Response Status", "text"),
    "F3": ("503-F3", "Authorization Number", "text"),
    "FA": ("510-FA", "Reject Count", "number"),
    "FB": ("511-FB", "Reject Code", "text"),
    "UF": ("130-UF", "Additional Message Information Count", "number"),
    "UH": ("132-UH", "Additional Message Information Qualifier", "text"),
    "FQ": ("526-FQ", "Additional Message Information", "text"),
    "UG": ("131-UG", "Additional Message Information Continuity", "text"),
    "F5": ("505-F5", "Patient Pay Amount", "money"),
    "F6": ("506-F6", "Ingredient Cost Paid", "money"),
    "F7": ("507-F7", "Dispensing Fee Paid", "money"),
    "F9": ("509-F9", "Total Amount Paid", "money"),
    "FM": ("522-FM", "Basis of Reimbursement Determination", "text"),
    "FH": ("517-FH", "Amount Applied to Periodic Deductible", "money"),
    "FI": ("518-FI", "Amount of Copay", "money"),
    "4U": ("572-4U", "Amount of Coinsurance", "money"),
    "FK": ("520-FK", "Amount Exceeding Periodic Benefit Maximum", "money"),
    "FC": ("512-FC", "Accumulated Deductible Amount", "money"),
    "FD": ("513-FD", "Remaining Deductible Amount", "money"),
    "FE": ("514-FE", "Remaining Benefit Amount", "money"),
    "UJ": ("133-UJ", "Amount Attributed to Provider Network Selection", "money"),
    "UK": ("134-UK", "Amount Attributed to Product Selection/Brand Drug", "money"),
    "UM": (
        "135-UM",
        "Amount Attributed to Product Selection/Non-Preferred Formulary Selection",
        "money",
    ),
    "UN": (
        "136-UN",
        "Amount Attributed to Product Selection/Brand Non-Preferred Formulary Selection",
        "money",
    ),
    "UC": ("128-UC", "Spending Account Amount Remaining", "money"),
    "UD": ("129-UD", "Health Plan-Funded Assistance Amount", "money"),
    "MU": ("392-MU", "Benefit Stage Count", "number"),
    "MV": ("393-MV", "Benefit Stage Qualifier", "text"),
    "MW": ("394-MW", "Benefit Stage Amount", "money"),
    "FO": ("524-FO", "Plan ID", "text"),
}

HEADER_FIELDS = {
    "bin": "101-A1 BIN Number",
    "version": "102-A2 Version/Release Number",
    "transaction_code": "103-A3 Transaction Code",
    "processor_control_number": "104-A4 Processor Control Number",
    "transaction_count": "109-A9 Transaction Count",
    "service_provider_id_qualifier": "202-B2 Service Provider ID Qualifier",
    "service_provider_id": "201-B1 Service Provider ID",
    "date_of_service": "401-D1 Date of Service",
    "software_vendor_id": "110-AK Software Vendor/Certification ID",
    "header_response_status": "501-F1 Header Response Status",
}


def decoded_value(field_id: str, raw: str) -> Any:
    """The typed value of a field for reading: cents, thousandths or an integer; the raw text
    when the field is text, unknown, or not well formed."""
    kind = FIELDS.get(field_id, ("", "", "text"))[2]
    try:
        if kind == "money":
            return decode_money(raw)
        if kind == "quantity":
            return decode_quantity(raw)
        if kind == "number":
            return int(raw)
    except (CodecError, ValueError):
        return raw
    return raw


def _segment_json(segment: Segment) -> dict[str, Any]:
    described = []
    for field_id, raw in segment.fields:
        number, name, kind = FIELDS.get(field_id, ("", "unknown field", "text"))
        item: dict[str, Any] = {"id": field_id, "raw": raw}
        if number:
            item |= {"field": number, "name": name}
            value = decoded_value(field_id, raw)
            if value != raw:
                item["value"] = value
                item["unit"] = {"money": "cents", "quantity": "thousandths"}.get(kind, "")
        else:
            item["name"] = name
        described.append(item)
    return {
        "segment": segment.segment_id,
        "name": SEGMENTS.get(segment.segment_id, "unknown segment"),
        "fields": described,
    }


def to_json(transmission: Transmission) -> dict[str, Any]:
    """A readable transmission: header fields with their NCPDP names, then the segments."""
    header = transmission.header
    kind = "request" if isinstance(header, RequestHeader) else "response"
    return {
        "kind": kind,
        "header": {
            name: {"value": value, "field": HEADER_FIELDS[name]}
            for name, value in asdict(header).items()
        },
        "segments": [_segment_json(s) for s in transmission.segments],
        "transactions": [[_segment_json(s) for s in group] for group in transmission.transactions],
    }


def from_json(document: Any) -> Transmission:
    """The inverse of :func:`to_json` (only ``raw`` values are read). Raises CodecError."""
    try:
        kind = document["kind"]
        header_type = RequestHeader if kind == "request" else ResponseHeader
        if kind not in {"request", "response"}:
            raise CodecError("R8", "kind is request or response")
        values = {}
        for f in fields(header_type):
            item = document["header"][f.name]
            values[f.name] = str(item["value"] if isinstance(item, dict) else item)

        def segment(doc: Any) -> Segment:
            return Segment(
                str(doc["segment"]), tuple((str(f["id"]), str(f["raw"])) for f in doc["fields"])
            )

        return Transmission(
            header_type(**values),
            tuple(segment(s) for s in document.get("segments", [])),
            tuple(tuple(segment(s) for s in group) for group in document.get("transactions", [])),
        )
    except (KeyError, TypeError) as error:
        msg = f"not a transmission document: missing or wrong {error}"
        raise CodecError("R8", msg) from error
