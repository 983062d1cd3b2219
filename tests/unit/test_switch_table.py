"""The switch table (RX_GATEWAY_SWITCHES_FILE): who may bill which BIN/PCN under mutual TLS. A
table that cannot mean what it says stops start-up naming the file and the switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.grpc_api.security import SwitchTable


def _table(tmp_path: Path, text: str) -> SwitchTable:
    path = tmp_path / "switches.json"
    path.write_text(text)
    return SwitchTable.from_file(path)


def test_a_good_table_reads_its_pairs(tmp_path: Path) -> None:
    table = _table(tmp_path, '{"switch-a": ["610999/RXGCOMM", "610888/*"]}')
    assert table.allowed == {"switch-a": frozenset({("610999", "RXGCOMM"), ("610888", "*")})}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # the last entry silently won: switch-a lost 610999/RXGCOMM
        ('{"switch-a": ["610999/RXGCOMM"], "switch-a": ["610888/*"]}', "named twice"),
        # any CA-signed certificate without a common name was this switch
        ('{"": ["610999/RXGCOMM"]}', "common name"),
        ('{" switch-a": ["610999/RXGCOMM"]}', "common name"),
        ('{"switch-a": []}', "at least one"),
        ('{"switch-a": ["61099/RXGCOMM"]}', "six digits"),
        ('{"switch-a": ["6109999/RXGCOMM"]}', "six digits"),
        ('{"switch-a": ["*/*"]}', "six digits"),
        ('{"switch-a": ["610999/"]}', "PCN"),
        ('{"switch-a": ["610999/ RXG"]}', "PCN"),
        ('{"switch-a": ["610999/TOOLONGPCN1"]}', "PCN"),
        ('{"switch-a": ["610999"]}', "not 'BIN/PCN'"),
        ("{}", "JSON object of switches"),
        ("[]", "JSON object of switches"),
        ("{not json", "cannot read"),
    ],
)
def test_a_table_that_cannot_mean_what_it_says_is_refused(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _table(tmp_path, text)
    message = str(caught.value)
    assert "RX_GATEWAY_SWITCHES_FILE" in message and str(tmp_path / "switches.json") in message
    assert problem in message, message
