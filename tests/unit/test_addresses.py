"""HOST:PORT as every listener reads it (rx_gateway.addresses)."""

from __future__ import annotations

import pytest

from rx_gateway.addresses import split_listen_address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:9464", ("::1", 9464)),
        ("localhost:65535", ("localhost", 65535)),
        (":50051", ("", 50051)),  # no host: the caller names what is missing
        ("[]:50051", ("", 50051)),
        ("127.0.0.1:65536", None),
        ("127.0.0.1:\u00b2", None),  # a superscript two: isdigit() says yes, int() says no
        ("127.0.0.1:\uff15\uff10", None),  # full-width digits
        ("127.0.0.1:-1", None),
        ("127.0.0.1:", None),
        ("nonsense", None),
        ("[::1:9464", None),  # an unclosed bracket
        ("::1]:9464", None),
        ("[:9464", None),
    ],
)
def test_listen_addresses(address: str, expected: tuple[str, int] | None) -> None:
    assert split_listen_address(address) == expected
