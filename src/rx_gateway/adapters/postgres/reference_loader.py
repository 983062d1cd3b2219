"""The reference snapshot from PostgreSQL: plans, drugs, formulary and pharmacies, read whole in
one repeatable-read transaction, and the stored version a running gateway polls."""

from __future__ import annotations

import asyncpg

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.domain.dur import Interaction, Significance
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)


class PostgresReferenceLoader:
    """The ReferenceLoader port."""

    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout_s: float = 2.0) -> None:
        self._pool = pool
        self._acquire_timeout_s = acquire_timeout_s

    async def reference_data_version(self) -> str:
        """The newest stored reference version (a cheap poll; see ReferenceWatcher)."""
        with mapped_errors():
            version = await self._pool.fetchval(
                "SELECT coalesce(max(version), 0) FROM reference_version",
                timeout=self._acquire_timeout_s,
            )
        return str(version)

    async def load_snapshot(self) -> ReferenceSnapshot:
        """Read all reference data in one repeatable-read transaction."""
        with mapped_errors():
            async with (
                self._pool.acquire(timeout=self._acquire_timeout_s) as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                version = await conn.fetchval(
                    "SELECT coalesce(max(version), 0) FROM reference_version"
                )
                plans = await conn.fetch("SELECT plan_id, document FROM plan ORDER BY plan_id")
                drugs = await conn.fetch("SELECT * FROM drug")
                formulary = await conn.fetch("SELECT * FROM formulary")
                pharmacies = await conn.fetch("SELECT * FROM pharmacy")
                interactions = await conn.fetch("SELECT * FROM drug_interaction")
        return ReferenceSnapshot.build(
            version=str(version),
            plans=[plan_from_document(r["document"], f"plan {r['plan_id']}") for r in plans],
            # The drug and formulary columns are named exactly as the dataclass fields.
            drugs=[Drug(**dict(r)) for r in drugs],
            formulary=[
                FormularyEntry(**(dict(r) | {"status": FormularyStatus(r["status"])}))
                for r in formulary
            ],
            pharmacies=[
                Pharmacy(r["npi"], r["name"], PharmacyNetwork(r["network"]), r["kind"])
                for r in pharmacies
            ],
            interactions=[
                Interaction(
                    r["molecule_a"], r["molecule_b"], Significance(r["significance"]), r["text"]
                )
                for r in interactions
            ],
        )
