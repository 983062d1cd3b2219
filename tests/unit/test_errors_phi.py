"""A server error's DETAIL quotes the row ("Failing row contains (...)"): it never reaches a
gateway error, a log line or a command's error line, only the primary message does."""

from __future__ import annotations

import asyncpg
import pytest

from rx_gateway.adapters.postgres.errors import mapped_errors, server_message
from rx_gateway.cli import _run
from rx_gateway.config import Settings
from rx_gateway.domain.errors import ConcurrencyConflict, InvariantViolation, RxGatewayError

ROW = "Failing row contains (M1, F1, CARD123, 001, Jane, Doe, 1980-01-01)."


def _server_error(kind: type[asyncpg.PostgresError], message: str) -> asyncpg.PostgresError:
    """The error asyncpg raises for a server's ErrorResponse with these fields."""
    error: asyncpg.PostgresError = kind.new(
        {"S": "ERROR", "C": kind.sqlstate, "M": message, "D": ROW, "H": "a hint"}
    )
    return error


def test_str_of_a_server_error_carries_the_row_and_server_message_does_not() -> None:
    error = _server_error(asyncpg.CheckViolationError, 'new row violates check "x"')
    assert "Jane" in str(error)  # what the bug printed
    assert server_message(error) == 'new row violates check "x"'


@pytest.mark.parametrize(
    ("kind", "raised"),
    [
        (asyncpg.CheckViolationError, InvariantViolation),
        (asyncpg.UniqueViolationError, ConcurrencyConflict),
        (asyncpg.SerializationError, ConcurrencyConflict),
    ],
)
def test_mapped_errors_keep_the_message_without_the_row(
    kind: type[asyncpg.PostgresError], raised: type[Exception]
) -> None:
    with pytest.raises(raised) as caught, mapped_errors():
        raise _server_error(kind, "it was refused")
    assert "Jane" not in str(caught.value) and "CARD123" not in str(caught.value)
    assert "it was refused" in str(caught.value)


@pytest.mark.parametrize(
    "kind",
    [
        asyncpg.CheckViolationError,
        asyncpg.InsufficientPrivilegeError,
        asyncpg.TooManyConnectionsError,
    ],
)
def test_a_database_command_that_the_server_refuses_says_so_without_the_row(
    kind: type[asyncpg.PostgresError],
) -> None:
    async def command() -> int:
        raise _server_error(kind, "refused")

    with pytest.raises(RxGatewayError) as caught:
        _run(command(), Settings())
    assert "refused" in str(caught.value)
    assert "Jane" not in str(caught.value) and "DETAIL" not in str(caught.value)
