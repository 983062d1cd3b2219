"""Structured JSON logs. Records carry claim references and codes, never PHI."""

from __future__ import annotations

import logging
import sys

import orjson

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None and record.name.startswith("asyncpg"):
            # the driver's own warnings (the pool failing to reopen connections while the
            # database is away, every second or so): the error in one field, no traceback;
            # its first line only (a server error's DETAIL may quote a row's values)
            error = record.exc_info[1]
            said = str(error.args[0]).split("\n", 1)[0] if error.args else ""
            entry["error"] = f"{type(error).__name__}: {said}" if said else type(error).__name__
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its INFO lines are command dumps
