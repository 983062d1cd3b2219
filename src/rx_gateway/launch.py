"""The `rx-gateway` command's first step: import the command line, which takes a noticeable
fraction of a second (grpc, asyncpg, protobuf), and run it. Ctrl-C while those imports run
ends the command as it does later, "interrupted" and exit 130, not with Python's traceback of
the import it stopped (a user's Ctrl-C is not a crash)."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from rx_gateway.cli import main as command  # noqa: PLC0415 - interruptible import
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return command()
