"""The D.0 data dictionary as pure data: segment names, and per segment its field IDs with NCPDP
numbers, names and value kinds, for B1/B2/B3/E1 requests and responses.

Sources (shared/reference/ncpdp-d0.md keys): S1 transactrx/ncpdpscript b1Request.go and
b1Response.go (field number, ID and name per segment), S2 nextgenhealthcare/connect
NCPDPReference.java (D.0 field ID → name), S5 swmuir/xxxxx NCPDP UML model (number per field of
the Claim, Insurance, Compound, Additional Documentation and response segments). Names follow
NCPDP as quoted in ncpdp-d0.md and switch-claims.md where those name a field; where sources
disagree the choice is noted beside the field.

Kinds, and how fields.decoded_value reads them:
    text      the raw value (IDs, qualifiers, codes, dates, names)
    number    an integer (counts, fill/refill numbers, days)
    money     s9(n)v99, signed overpunch, two implied decimals → integer cents ('650{' → 6500)
    quantity  9(7)v999, three implied decimals → integer thousandths ('30000' → 30.000 units)
    rate      s9v9999, signed overpunch, four implied decimals → integer ten-thousandths of a
              percent: 6% is 6.0000, sent '6000{', decoded 60000 (483-HE, 560-AY)
"""

from __future__ import annotations

Field = tuple[str, str, str]  # (NCPDP number, name, kind)

SEGMENTS = {  # 111-AM segment identification (ncpdp-d0.md §1.4, §2.2)
    "01": "Patient",
    "02": "Pharmacy Provider",
    "03": "Prescriber",
    "04": "Insurance",
    "05": "Coordination of Benefits/Other Payments",
    "06": "Workers' Compensation",
    "07": "Claim",
    "08": "DUR/PPS",
    "09": "Coupon",
    "10": "Compound",
    "11": "Pricing",
    "12": "Prior Authorization",
    "13": "Clinical",
    "14": "Additional Documentation",
    "15": "Facility",
    "16": "Narrative",
    "20": "Response Message",
    "21": "Response Status",
    "22": "Response Claim",
    "23": "Response Pricing",
    "24": "Response DUR/PPS",
    "25": "Response Insurance",
    "26": "Response Prior Authorization",
    "27": "Response Insurance Additional Information",
    "28": "Response Coordination of Benefits/Other Payers",
    "29": "Response Patient",
}

# ------------------------------------------------------------------ request segments

PATIENT: dict[str, Field] = {  # 01
    "CX": ("331-CX", "Patient ID Qualifier", "text"),
    "CY": ("332-CY", "Patient ID", "text"),
    "C4": ("304-C4", "Date of Birth", "text"),
    "C5": ("305-C5", "Patient Gender Code", "number"),
    "CA": ("310-CA", "Patient First Name", "text"),
    "CB": ("311-CB", "Patient Last Name", "text"),
    "CM": ("322-CM", "Patient Street Address", "text"),
    "CN": ("323-CN", "Patient City Address", "text"),
    "CO": ("324-CO", "Patient State/Province Address", "text"),
    "CP": ("325-CP", "Patient ZIP/Postal Zone", "text"),
    "CQ": ("326-CQ", "Patient Phone Number", "text"),
    "C7": ("307-C7", "Place of Service", "text"),
    "CZ": ("333-CZ", "Employer ID", "text"),
    "1C": ("334-1C", "Smoker/Non-Smoker Code", "text"),
    "2C": ("335-2C", "Pregnancy Indicator", "text"),
    "HN": ("350-HN", "Patient E-Mail Address", "text"),
    "4X": ("384-4X", "Patient Residence", "text"),
}

PHARMACY_PROVIDER: dict[str, Field] = {  # 02
    "EY": ("465-EY", "Provider ID Qualifier", "text"),
    "E9": ("444-E9", "Provider ID", "text"),
}

PRESCRIBER: dict[str, Field] = {  # 03 (S1 writes 2K as "2k")
    "EZ": ("466-EZ", "Prescriber ID Qualifier", "text"),
    "DB": ("411-DB", "Prescriber ID", "text"),
    "DR": ("427-DR", "Prescriber Last Name", "text"),
    "PM": ("498-PM", "Prescriber Phone Number", "text"),
    "2E": ("468-2E", "Primary Care Provider ID Qualifier", "text"),
    "DL": ("421-DL", "Primary Care Provider ID", "text"),
    "4E": ("470-4E", "Primary Care Provider Last Name", "text"),
    "2J": ("364-2J", "Prescriber First Name", "text"),
    "2K": ("365-2K", "Prescriber Street Address", "text"),
    "2M": ("366-2M", "Prescriber City Address", "text"),
    "2N": ("367-2N", "Prescriber State/Province Address", "text"),
    "2P": ("368-2P", "Prescriber ZIP/Postal Zone", "text"),
}

INSURANCE: dict[str, Field] = {  # 04
    "C2": ("302-C2", "Cardholder ID", "text"),
    "CC": ("312-CC", "Cardholder First Name", "text"),
    "CD": ("313-CD", "Cardholder Last Name", "text"),
    "CE": ("314-CE", "Home Plan", "text"),
    "FO": ("524-FO", "Plan ID", "text"),
    "C9": ("309-C9", "Eligibility Clarification Code", "text"),
    "C1": ("301-C1", "Group ID", "text"),
    "C3": ("303-C3", "Person Code", "text"),
    "C6": ("306-C6", "Patient Relationship Code", "number"),
    "MG": ("990-MG", "Other Payer BIN Number", "text"),
    "MH": ("991-MH", "Other Payer Processor Control Number", "text"),
    "NU": ("356-NU", "Other Payer Cardholder ID", "text"),
    "MJ": ("992-MJ", "Other Payer Group ID", "text"),
    "2A": ("359-2A", "Medigap ID", "text"),
    "2B": ("360-2B", "Medicaid Indicator", "text"),
    "2D": ("361-2D", "Provider Accept Assignment Indicator", "text"),
    "G2": ("997-G2", "CMS Part D Defined Qualified Facility", "text"),
    "N5": ("115-N5", "Medicaid ID Number", "text"),
    "N6": ("116-N6", "Medicaid Agency Number", "text"),
}

# 05: S1 tags 338 as "4C" and writes 340 as "34Ø"; 338-5C and 340-7C as in S2 and ncpdp-d0.md.
COORDINATION_OF_BENEFITS: dict[str, Field] = {
    "4C": ("337-4C", "Coordination of Benefits/Other Payments Count", "number"),
    "5C": ("338-5C", "Other Payer Coverage Type", "text"),
    "6C": ("339-6C", "Other Payer ID Qualifier", "text"),
    "7C": ("340-7C", "Other Payer ID", "text"),
    "E8": ("443-E8", "Other Payer Date", "text"),
    "A7": ("993-A7", "Internal Control Number", "text"),
    "HB": ("341-HB", "Other Payer Amount Paid Count", "number"),
    "HC": ("342-HC", "Other Payer Amount Paid Qualifier", "text"),
    "DV": ("431-DV", "Other Payer Amount Paid", "money"),
    "5E": ("471-5E", "Other Payer Reject Count", "number"),
    "6E": ("472-6E", "Other Payer Reject Code", "text"),
    "NR": ("353-NR", "Other Payer-Patient Responsibility Amount Count", "number"),
    "NP": ("351-NP", "Other Payer-Patient Responsibility Amount Qualifier", "text"),
    "NQ": ("352-NQ", "Other Payer-Patient Responsibility Amount", "money"),
    "MU": ("392-MU", "Benefit Stage Count", "number"),
    "MV": ("393-MV", "Benefit Stage Qualifier", "text"),
    "MW": ("394-MW", "Benefit Stage Amount", "money"),
}

WORKERS_COMPENSATION: dict[str, Field] = {  # 06
    "DY": ("434-DY", "Date of Injury", "text"),
    "CF": ("315-CF", "Employer Name", "text"),
    "CG": ("316-CG", "Employer Street Address", "text"),
    "CH": ("317-CH", "Employer City Address", "text"),
    "CI": ("318-CI", "Employer State/Province Address", "text"),
    "CJ": ("319-CJ", "Employer ZIP/Postal Zone", "text"),
    "CK": ("320-CK", "Employer Phone Number", "text"),
    "CL": ("321-CL", "Employer Contact Name", "text"),
    "CR": ("327-CR", "Carrier ID", "text"),
    "DZ": ("435-DZ", "Claim/Reference ID", "text"),
    "TR": ("117-TR", "Billing Entity Type Indicator", "text"),
    "TS": ("118-TS", "Pay To Qualifier", "text"),
    "TT": ("119-TT", "Pay To ID", "text"),
    "TU": ("120-TU", "Pay To Name", "text"),
    "TV": ("121-TV", "Pay To Street Address", "text"),
    "TW": ("122-TW", "Pay To City Address", "text"),
    "TX": ("123-TX", "Pay To State/Province Address", "text"),
    "TY": ("124-TY", "Pay To ZIP/Postal Zone", "text"),
    "TZ": ("125-TZ", "Generic Equivalent Product ID Qualifier", "text"),
    "UA": ("126-UA", "Generic Equivalent Product ID", "text"),
}

# 07: S1 numbers D2 "406" and E1 "438"; 402-D2 and 436-E1 as in S5 and ncpdp-d0.md.
CLAIM: dict[str, Field] = {
    "EM": ("455-EM", "Prescription/Service Reference Number Qualifier", "text"),
    "D2": ("402-D2", "Prescription/Service Reference Number", "text"),
    "E1": ("436-E1", "Product/Service ID Qualifier", "text"),
    "D7": ("407-D7", "Product/Service ID", "text"),
    "EN": ("456-EN", "Associated Prescription/Service Reference Number", "text"),
    "EP": ("457-EP", "Associated Prescription/Service Date", "text"),
    "SE": ("458-SE", "Procedure Modifier Code Count", "number"),
    "ER": ("459-ER", "Procedure Modifier Code", "text"),
    "E7": ("442-E7", "Quantity Dispensed", "quantity"),
    "D3": ("403-D3", "Fill Number", "number"),
    "D5": ("405-D5", "Days Supply", "number"),
    "D6": ("406-D6", "Compound Code", "number"),
    "D8": ("408-D8", "Dispense As Written (DAW)/Product Selection Code", "number"),
    "DE": ("414-DE", "Date Prescription Written", "text"),
    "DF": ("415-DF", "Number of Refills Authorized", "number"),
    "DJ": ("419-DJ", "Prescription Origin Code", "number"),
    "NX": ("354-NX", "Submission Clarification Code Count", "number"),
    "DK": ("420-DK", "Submission Clarification Code", "text"),
    "ET": ("460-ET", "Quantity Prescribed", "quantity"),
    "C8": ("308-C8", "Other Coverage Code", "text"),
    "DT": ("429-DT", "Special Packaging Indicator", "text"),  # 5.1: Unit Dose Indicator
    "EJ": ("453-EJ", "Originally Prescribed Product/Service ID Qualifier", "text"),
    "EA": ("445-EA", "Originally Prescribed Product/Service Code", "text"),
    "EB": ("446-EB", "Originally Prescribed Quantity", "quantity"),
    "CW": ("330-CW", "Alternate ID", "text"),
    "EK": ("454-EK", "Scheduled Prescription ID Number", "text"),
    "28": ("600-28", "Unit of Measure", "text"),
    "DI": ("418-DI", "Level of Service", "text"),
    "EU": ("461-EU", "Prior Authorization Type Code", "text"),
    "EV": ("462-EV", "Prior Authorization Number Submitted", "text"),
    "EW": ("463-EW", "Intermediary Authorization Type ID", "text"),
    "EX": ("464-EX", "Intermediary Authorization ID", "text"),
    "HD": ("343-HD", "Dispensing Status", "text"),
    "HF": ("344-HF", "Quantity Intended to be Dispensed", "quantity"),
    "HG": ("345-HG", "Days Supply Intended to be Dispensed", "number"),
    "NV": ("357-NV", "Delay Reason Code", "text"),
    "K5": ("880-K5", "Transaction Reference Number", "text"),
    "MT": (
        "391-MT",
        "Patient Assignment Indicator (Direct Member Reimbursement Indicator)",
        "text",
    ),
    "E2": ("995-E2", "Route of Administration", "text"),
    "G1": ("996-G1", "Compound Type", "text"),
    "N4": (
        "114-N4",
        "Medicaid Subrogation Internal Control Number/Transaction Control Number (ICN/TCN)",
        "text",
    ),
    "U7": ("147-U7", "Pharmacy Service Type", "text"),
}

DUR_PPS: dict[str, Field] = {  # 08 (S1 tags 473 as "7C"; 473-7E as in S2)
    "7E": ("473-7E", "DUR/PPS Code Counter", "number"),
    "E4": ("439-E4", "Reason for Service Code", "text"),
    "E5": ("440-E5", "Professional Service Code", "text"),
    "E6": ("441-E6", "Result of Service Code", "text"),
    "8E": ("474-8E", "DUR/PPS Level of Effort", "text"),
    "J9": ("475-J9", "DUR Co-Agent ID Qualifier", "text"),
    "H6": ("476-H6", "DUR Co-Agent ID", "text"),
}

COUPON: dict[str, Field] = {  # 09
    "KE": ("485-KE", "Coupon Type", "text"),
    "ME": ("486-ME", "Coupon Number", "text"),
    "NE": ("487-NE", "Coupon Value Amount", "money"),
}

# 10: S1 tags 450 as "4C" and 451 as "U7"; 450-EF and 451-EG as in S2 and S5.
COMPOUND: dict[str, Field] = {
    "EF": ("450-EF", "Compound Dosage Form Description Code", "text"),
    "EG": ("451-EG", "Compound Dispensing Unit Form Indicator", "text"),
    "EC": ("447-EC", "Compound Ingredient Component Count", "number"),
    "RE": ("488-RE", "Compound Product ID Qualifier", "text"),
    "TE": ("489-TE", "Compound Product ID", "text"),
    "ED": ("448-ED", "Compound Ingredient Quantity", "quantity"),
    "EE": ("449-EE", "Compound Ingredient Drug Cost", "money"),
    "UE": ("490-UE", "Compound Ingredient Basis of Cost Determination", "text"),
    "2G": ("362-2G", "Compound Ingredient Modifier Code Count", "number"),
    "2H": ("363-2H", "Compound Ingredient Modifier Code", "text"),
}

# 11: S1 numbers HE "484" and JE "483"; 483-HE rate and 484-JE basis as in ncpdp-d0.md.
PRICING: dict[str, Field] = {
    "D9": ("409-D9", "Ingredient Cost Submitted", "money"),
    "DC": ("412-DC", "Dispensing Fee Submitted", "money"),
    "BE": ("477-BE", "Professional Service Fee Submitted", "money"),
    "DX": ("433-DX", "Patient Paid Amount Submitted", "money"),
    "E3": ("438-E3", "Incentive Amount Submitted", "money"),
    "H7": ("478-H7", "Other Amount Claimed Submitted Count", "number"),
    "H8": ("479-H8", "Other Amount Claimed Submitted Qualifier", "text"),
    "H9": ("480-H9", "Other Amount Claimed Submitted", "money"),
    "HA": ("481-HA", "Flat Sales Tax Amount Submitted", "money"),
    "GE": ("482-GE", "Percentage Sales Tax Amount Submitted", "money"),
    "HE": ("483-HE", "Percentage Sales Tax Rate Submitted", "rate"),
    "JE": ("484-JE", "Percentage Sales Tax Basis Submitted", "text"),
    "DQ": ("426-DQ", "Usual and Customary Charge", "money"),
    "DU": ("430-DU", "Gross Amount Due", "money"),
    "DN": ("423-DN", "Basis of Cost Determination", "text"),
    "N3": ("113-N3", "Medicaid Paid Amount", "money"),
}

PRIOR_AUTHORIZATION: dict[str, Field] = {  # 12 (all 498-P*, plus 503-F3)
    "PA": ("498-PA", "Request Type", "text"),
    "PB": ("498-PB", "Request Period Date-Begin", "text"),
    "PC": ("498-PC", "Request Period Date-End", "text"),
    "PD": ("498-PD", "Basis of Request", "text"),
    "PE": ("498-PE", "Authorized Representative First Name", "text"),
    "PF": ("498-PF", "Authorized Representative Last Name", "text"),
    "PG": ("498-PG", "Authorized Representative Street Address", "text"),
    "PH": ("498-PH", "Authorized Representative City Address", "text"),
    "PJ": ("498-PJ", "Authorized Representative State/Province Address", "text"),
    "PK": ("498-PK", "Authorized Representative ZIP/Postal Zone", "text"),
    "PY": ("498-PY", "Prior Authorization Number-Assigned", "text"),
    "F3": ("503-F3", "Authorization Number", "text"),
    "PP": ("498-PP", "Prior Authorization Supporting Documentation", "text"),
}

CLINICAL: dict[str, Field] = {  # 13
    "VE": ("491-VE", "Diagnosis Code Count", "number"),
    "WE": ("492-WE", "Diagnosis Code Qualifier", "text"),
    "DO": ("424-DO", "Diagnosis Code", "text"),
    "XE": ("493-XE", "Clinical Information Counter", "number"),
    "ZE": ("494-ZE", "Measurement Date", "text"),
    "H1": ("495-H1", "Measurement Time", "text"),
    "H2": ("496-H2", "Measurement Dimension", "text"),
    "H3": ("497-H3", "Measurement Unit", "text"),
    "H4": ("499-H4", "Measurement Value", "text"),
}

ADDITIONAL_DOCUMENTATION: dict[str, Field] = {  # 14
    "2Q": ("369-2Q", "Additional Documentation Type ID", "text"),
    "2V": ("374-2V", "Request Period Begin Date", "text"),
    "2W": ("375-2W", "Request Period Recert/Revised Date", "text"),
    "2U": ("373-2U", "Request Status", "text"),
    "2S": ("371-2S", "Length of Need Qualifier", "text"),
    "2R": ("370-2R", "Length of Need", "number"),
    "2T": ("372-2T", "Prescriber/Supplier Date Signed", "text"),
    "2X": ("376-2X", "Supporting Documentation", "text"),
    "2Z": ("377-2Z", "Question Number/Letter Count", "number"),
    "4B": ("378-4B", "Question Number/Letter", "text"),
    "4D": ("379-4D", "Question Percent Response", "text"),
    "4G": ("380-4G", "Question Date Response", "text"),
    "4H": ("381-4H", "Question Dollar Amount Response", "money"),
    "4J": ("382-4J", "Question Numeric Response", "text"),
    "4K": ("383-4K", "Question Alphanumeric Response", "text"),
}

FACILITY: dict[str, Field] = {  # 15
    "8C": ("336-8C", "Facility ID", "text"),
    "3Q": ("385-3Q", "Facility Name", "text"),
    "3U": ("386-3U", "Facility Street Address", "text"),
    "5J": ("388-5J", "Facility City Address", "text"),
    "3V": ("387-3V", "Facility State/Province Address", "text"),
    "6D": ("389-6D", "Facility ZIP/Postal Zone", "text"),
}

NARRATIVE: dict[str, Field] = {  # 16
    "BM": ("390-BM", "Narrative Message", "text"),
}

# ------------------------------------------------------------------ response segments

RESPONSE_MESSAGE: dict[str, Field] = {  # 20
    "F4": ("504-F4", "Message", "text"),
}

RESPONSE_STATUS: dict[str, Field] = {  # 21
    "AN": ("112-AN", "Transaction Response Status", "text"),
    "F3": PRIOR_AUTHORIZATION["F3"],
    "FA": ("510-FA", "Reject Count", "number"),
    "FB": ("511-FB", "Reject Code", "text"),
    "4F": ("546-4F", "Reject Field Occurrence Indicator", "number"),
    "5F": ("547-5F", "Approved Message Code Count", "number"),
    "6F": ("548-6F", "Approved Message Code", "text"),
    "UF": ("130-UF", "Additional Message Information Count", "number"),
    "UH": ("132-UH", "Additional Message Information Qualifier", "text"),
    "FQ": ("526-FQ", "Additional Message Information", "text"),
    "UG": ("131-UG", "Additional Message Information Continuity", "text"),
    "7F": ("549-7F", "Help Desk Phone Number Qualifier", "text"),
    "8F": ("550-8F", "Help Desk Phone Number", "text"),
    "K5": CLAIM["K5"],
    "A7": COORDINATION_OF_BENEFITS["A7"],
    "MA": ("987-MA", "URL", "text"),
}

RESPONSE_CLAIM: dict[str, Field] = {  # 22
    "EM": CLAIM["EM"],
    "D2": CLAIM["D2"],
    "9F": ("551-9F", "Preferred Product Count", "number"),
    "AP": ("552-AP", "Preferred Product ID Qualifier", "text"),
    "AR": ("553-AR", "Preferred Product ID", "text"),
    "AS": ("554-AS", "Preferred Product Incentive", "money"),
    "AT": ("555-AT", "Preferred Product Cost Share Incentive", "money"),
    "AU": ("556-AU", "Preferred Product Description", "text"),
    "N4": CLAIM["N4"],
}

# 23: 518-FI is "Amount of Copay" in D.0 (S2 keeps the 5.1 "Amount of Copay/Co-Insurance").
RESPONSE_PRICING: dict[str, Field] = {
    "F5": ("505-F5", "Patient Pay Amount", "money"),
    "F6": ("506-F6", "Ingredient Cost Paid", "money"),
    "F7": ("507-F7", "Dispensing Fee Paid", "money"),
    "AV": ("557-AV", "Tax Exempt Indicator", "text"),
    "AW": ("558-AW", "Flat Sales Tax Amount Paid", "money"),
    "AX": ("559-AX", "Percentage Sales Tax Amount Paid", "money"),
    "AY": ("560-AY", "Percentage Sales Tax Rate Paid", "rate"),
    "AZ": ("561-AZ", "Percentage Sales Tax Basis Paid", "text"),
    "FL": ("521-FL", "Incentive Amount Paid", "money"),
    "J1": ("562-J1", "Professional Service Fee Paid", "money"),
    "J2": ("563-J2", "Other Amount Paid Count", "number"),
    "J3": ("564-J3", "Other Amount Paid Qualifier", "text"),
    "J4": ("565-J4", "Other Amount Paid", "money"),
    "J5": ("566-J5", "Other Payer Amount Recognized", "money"),
    "F9": ("509-F9", "Total Amount Paid", "money"),
    "FM": ("522-FM", "Basis of Reimbursement Determination", "text"),
    "FN": ("523-FN", "Amount Attributed to Sales Tax", "money"),
    "FC": ("512-FC", "Accumulated Deductible Amount", "money"),
    "FD": ("513-FD", "Remaining Deductible Amount", "money"),
    "FE": ("514-FE", "Remaining Benefit Amount", "money"),
    "FH": ("517-FH", "Amount Applied to Periodic Deductible", "money"),
    "FI": ("518-FI", "Amount of Copay", "money"),
    "FK": ("520-FK", "Amount Exceeding Periodic Benefit Maximum", "money"),
    "HH": ("346-HH", "Basis of Calculation-Dispensing Fee", "text"),
    "HJ": ("347-HJ", "Basis of Calculation-Copay", "text"),
    "HK": ("348-HK", "Basis of Calculation-Flat Sales Tax", "text"),
    "HM": ("349-HM", "Basis of Calculation-Percentage Sales Tax", "text"),
    "NZ": ("571-NZ", "Amount Attributed to Processor Fee", "money"),
    "EQ": ("575-EQ", "Patient Sales Tax Amount", "money"),
    "2Y": ("574-2Y", "Plan Sales Tax Amount", "money"),
    "4U": ("572-4U", "Amount of Coinsurance", "money"),
    "4V": ("573-4V", "Basis of Calculation-Coinsurance", "text"),
    "MU": COORDINATION_OF_BENEFITS["MU"],
    "MV": COORDINATION_OF_BENEFITS["MV"],
    "MW": COORDINATION_OF_BENEFITS["MW"],
    "G3": ("577-G3", "Estimated Generic Savings", "money"),
    "UC": ("128-UC", "Spending Account Amount Remaining", "money"),
    "UD": ("129-UD", "Health Plan-Funded Assistance Amount", "money"),
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
    "UP": ("137-UP", "Amount Attributed to Coverage Gap", "money"),
    "U8": ("148-U8", "Ingredient Cost Contracted/Reimbursable Amount", "money"),
    "U9": ("149-U9", "Dispensing Fee Contracted/Reimbursable Amount", "money"),
}

RESPONSE_DUR_PPS: dict[str, Field] = {  # 24
    "J6": ("567-J6", "DUR/PPS Response Code Counter", "number"),
    "E4": DUR_PPS["E4"],
    "FS": ("528-FS", "Clinical Significance Code", "text"),
    "FT": ("529-FT", "Other Pharmacy Indicator", "text"),
    "FU": ("530-FU", "Previous Date of Fill", "text"),
    "FV": ("531-FV", "Quantity of Previous Fill", "quantity"),
    "FW": ("532-FW", "Database Indicator", "text"),
    "FX": ("533-FX", "Other Prescriber Indicator", "text"),
    "FY": ("544-FY", "DUR Free Text Message", "text"),
    "NS": ("570-NS", "DUR Additional Text", "text"),
}

RESPONSE_INSURANCE: dict[str, Field] = {  # 25
    "C1": INSURANCE["C1"],
    "FO": INSURANCE["FO"],
    "2F": ("545-2F", "Network Reimbursement ID", "text"),
    "J7": ("568-J7", "Payer ID Qualifier", "text"),
    "J8": ("569-J8", "Payer ID", "text"),
    "N5": INSURANCE["N5"],
    "N6": INSURANCE["N6"],
    "C2": INSURANCE["C2"],
}

RESPONSE_PRIOR_AUTHORIZATION: dict[str, Field] = {  # 26 (all 498-xx, like segment 12)
    "PR": ("498-PR", "Prior Authorization Processed Date", "text"),
    "PS": ("498-PS", "Prior Authorization Effective Date", "text"),
    "PT": ("498-PT", "Prior Authorization Expiration Date", "text"),
    "RA": ("498-RA", "Prior Authorization Quantity", "quantity"),
    "RB": ("498-RB", "Prior Authorization Dollars Authorized", "money"),
    "PW": ("498-PW", "Prior Authorization Number of Refills Authorized", "number"),
    "PX": ("498-PX", "Prior Authorization Quantity Accumulated", "quantity"),
    "PY": PRIOR_AUTHORIZATION["PY"],
}

RESPONSE_INSURANCE_ADDITIONAL: dict[str, Field] = {  # 27 (IDs per S2; numbers per ncpdp-d0.md)
    "UR": ("139-UR", "Medicare Part D Coverage Code", "text"),
    "UQ": ("138-UQ", "CMS Low Income Cost Sharing (LICS) Level", "text"),
    "U1": ("240-U1", "Contract Number", "text"),
    "FF": ("926-FF", "Formulary ID", "text"),
    "U6": ("757-U6", "Benefit ID", "text"),
    "US": ("140-US", "Next Medicare Part D Effective Date", "text"),
    "UT": ("141-UT", "Next Medicare Part D Termination Date", "text"),
}

RESPONSE_COORDINATION_OF_BENEFITS: dict[str, Field] = {  # 28
    "NT": ("355-NT", "Other Payer ID Count", "number"),
    "5C": COORDINATION_OF_BENEFITS["5C"],
    "6C": COORDINATION_OF_BENEFITS["6C"],
    "7C": COORDINATION_OF_BENEFITS["7C"],
    "MH": INSURANCE["MH"],
    "NU": INSURANCE["NU"],
    "MJ": INSURANCE["MJ"],
    "UV": ("142-UV", "Other Payer Person Code", "text"),
    "UB": ("127-UB", "Other Payer Help Desk Phone Number", "text"),
    "UW": ("143-UW", "Other Payer Patient Relationship Code", "text"),
    "UX": ("144-UX", "Other Payer Benefit Effective Date", "text"),
    "UY": ("145-UY", "Other Payer Benefit Termination Date", "text"),
}

RESPONSE_PATIENT: dict[str, Field] = {  # 29
    "CA": PATIENT["CA"],
    "CB": PATIENT["CB"],
    "C4": PATIENT["C4"],
}

# ------------------------------------------------------------------ indexes

SEGMENT_FIELDS: dict[str, dict[str, Field]] = {  # segment ID → its fields, in D.0 order
    "01": PATIENT,
    "02": PHARMACY_PROVIDER,
    "03": PRESCRIBER,
    "04": INSURANCE,
    "05": COORDINATION_OF_BENEFITS,
    "06": WORKERS_COMPENSATION,
    "07": CLAIM,
    "08": DUR_PPS,
    "09": COUPON,
    "10": COMPOUND,
    "11": PRICING,
    "12": PRIOR_AUTHORIZATION,
    "13": CLINICAL,
    "14": ADDITIONAL_DOCUMENTATION,
    "15": FACILITY,
    "16": NARRATIVE,
    "20": RESPONSE_MESSAGE,
    "21": RESPONSE_STATUS,
    "22": RESPONSE_CLAIM,
    "23": RESPONSE_PRICING,
    "24": RESPONSE_DUR_PPS,
    "25": RESPONSE_INSURANCE,
    "26": RESPONSE_PRIOR_AUTHORIZATION,
    "27": RESPONSE_INSURANCE_ADDITIONAL,
    "28": RESPONSE_COORDINATION_OF_BENEFITS,
    "29": RESPONSE_PATIENT,
}

# field ID → (NCPDP number, name, kind): a field ID means the same field in every segment
FIELDS: dict[str, Field] = {
    field_id: field for layout in SEGMENT_FIELDS.values() for field_id, field in layout.items()
}
