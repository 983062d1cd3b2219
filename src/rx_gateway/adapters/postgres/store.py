"""The claim store on PostgreSQL: one read and one write per claim, each a single SQL call, on
one pooled connection per claim.

The parts live apart: the connection and deadline handling (connection.py), the member read
(member_reader.py), the claim ledger's writes and the stored claim a reversal mirrors
(claim_ledger.py, with the response records in records.py), the warm-up (warm_up.py). The
reference snapshot is read by reference_loader.py.
"""

from __future__ import annotations

from rx_gateway.adapters.postgres.claim_ledger import LedgerWrites
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.adapters.postgres.warm_up import warm_up


class PostgresClaimStore(LedgerWrites):
    """The ClaimStore port: sessions (one connection per claim) that read members and write
    the claim ledger."""

    async def warm(self, connections: int) -> None:
        """Open ``connections`` pooled connections and make every hot-path call once on each,
        so that no claim pays for a backend's first call."""
        with mapped_errors():
            held = [
                await self._pool.acquire(timeout=self._acquire_timeout_s)
                for _ in range(connections)
            ]
            try:
                for connection in held:
                    await warm_up(self._bound(connection, None), connection)
            finally:
                for connection in held:
                    await self._pool.release(connection)
