"""JSON that people write (plan documents, the processor file, a design, a switch table, a
transmission for `ncpdp encode`): parsed with the standard library, every way it can be wrong
reported as json reports a syntax error, never a traceback."""

from __future__ import annotations

import json
import sys
from typing import Any


def parse_json(text: str | bytes) -> Any:
    """``json.loads``, except that nesting deeper than the interpreter's recursion limit
    (RecursionError) and an integer longer than its digit limit (a plain ValueError) raise
    ``json.JSONDecodeError`` too, so the callers' one-line messages cover them."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except UnicodeDecodeError as error:  # bytes that are not UTF-8 (a ValueError too)
        msg = f"not UTF-8 (byte {error.start})"
        raise json.JSONDecodeError(msg, _text(text), 0) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", _text(text), 0) from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        limit = sys.get_int_max_str_digits()
        msg = f"a number longer than {limit} digits"
        raise json.JSONDecodeError(msg, _text(text), 0) from None


def _text(text: str | bytes) -> str:
    return text if isinstance(text, str) else text.decode("utf-8", "replace")
