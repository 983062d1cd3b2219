"""The JSON log lines: one per record; the driver's warnings without a traceback."""

from __future__ import annotations

import logging
import sys

import orjson

from rx_gateway.logs import JsonFormatter


def _record(name: str, error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.WARNING, __file__, 1, "pool trouble", (), exc_info)


def test_the_drivers_warnings_carry_the_error_in_one_field_and_no_traceback() -> None:
    """The asyncpg pool warns each time it fails to reopen a connection while the database is
    away (every second or so): one line with the error's type and first line, not a
    multi-kilobyte traceback, and nothing past the first line (a DETAIL may quote a row)."""
    error = ValueError('database "x" does not exist\nDETAIL: Failing row contains (RXG1)')
    line = orjson.loads(JsonFormatter().format(_record("asyncpg.pool", error)))
    assert line["error"] == 'ValueError: database "x" does not exist'
    assert "exc" not in line and "RXG1" not in orjson.dumps(line).decode()
    assert line["msg"] == "pool trouble" and line["level"] == "WARNING"


def test_the_gateways_own_errors_keep_their_traceback() -> None:
    line = orjson.loads(JsonFormatter().format(_record("rx_gateway.x", KeyError("k"))))
    assert "Traceback" in line["exc"] and "error" not in line
