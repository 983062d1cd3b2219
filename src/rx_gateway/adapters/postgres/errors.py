"""The one place where asyncpg and socket errors become gateway errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from rx_gateway.domain.errors import ConcurrencyConflict, InvariantViolation, StorageUnavailable

# SQLSTATE classes that mean "another writer won; adjudicate again".
CONFLICT_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.SerializationError,  # 40001: raised by rx_post_claim when the family changed
    asyncpg.DeadlockDetectedError,  # 40P01
    asyncpg.UniqueViolationError,  # 23505: the same claim key or control number raced in
)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
    asyncpg.AdminShutdownError,  # 57P01: the server is shutting down (pg_ctl restart)
    # raised only while a connection is opened: the database was dropped (3D000), the role or
    # pg_hba refuses it (class 28); a claim cannot be served now, whatever the cause
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    # asyncpg's protocol state machine met something it did not expect on this connection
    # (seen under `pg_ctl restart -m fast`: "cannot switch to state 12" after the shutdown
    # notice). The connection is unusable: the session drops it (see BROKEN_CONNECTION_ERRORS).
    asyncpg.InternalClientError,
)
# Errors after which a pooled connection must not be handed to the next claim.
BROKEN_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,
)


def server_message(error: Exception) -> str:
    """A server error's primary message only: str() of asyncpg's errors adds the DETAIL and
    HINT lines, and a DETAIL quotes the row's values ("Failing row contains (...)"), which
    may be PHI: never into a log, an answer or a command's error line."""
    message = error.args[0] if error.args else ""
    return message if isinstance(message, str) and message else type(error).__name__


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Translate driver errors raised inside the block into the gateway's exception tree."""
    try:
        yield
    except CONFLICT_ERRORS as error:
        raise ConcurrencyConflict(server_message(error)) from error
    except asyncpg.CheckViolationError as error:
        raise InvariantViolation(server_message(error)) from error
    except UNAVAILABLE_ERRORS as error:
        raise StorageUnavailable(type(error).__name__) from error
