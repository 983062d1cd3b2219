"""Settings every test server uses: an ephemeral port and a pinned business date.

The synthetic claims are dated in 2026; pinning the business date keeps the 81/82 timely-filing
checks deterministic whenever the suite runs.
"""

import datetime as dt
from dataclasses import replace

from rx_gateway.config import Settings

BUSINESS_DATE = dt.date(2026, 11, 23)
# Test gateways run as the application role, so a missing grant fails the suite.
TEST_SETTINGS = replace(
    Settings(),
    listen_address="127.0.0.1:0",
    business_date=BUSINESS_DATE,
    pool=replace(Settings().pool, role="rx_gateway_app"),
)
