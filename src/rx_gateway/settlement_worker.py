"""Closing cycles for the admin interface in a process of its own.

A close builds and renders every remittance in Python: seconds of CPU for a large cycle. In the
gateway's process that would hold its event loop, and every claim in flight would wait; in a
worker process the claim path only shares the machine. The worker opens its own small pool as
the admin interface's database role, closes, writes the files and returns what it did.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rx_gateway.adapters.files.settlement_files import DirectoryFiles, writable_directory
from rx_gateway.adapters.postgres.database import create_pool
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.config import PoolLimits
from rx_gateway.domain.errors import (
    InvalidRequest,
    PreconditionFailed,
    ReferenceDataError,
    RxGatewayError,
    StorageUnavailable,
)
from rx_gateway.service_layer import settlement

# What the worker sends back: the closes, or why it could not (an exception of ours may not
# survive pickling: its kind and message do).
Outcome = tuple[str, list[settlement.Closed] | str]


@dataclass(frozen=True, slots=True)
class CloseJob:
    """One close for the worker (pickled to it): of ``kind`` (settle or invoice) through a
    date, files under ``out``, the business date pinned or not, audited as ``actor``."""

    dsn: str
    limits: PoolLimits
    kind: str
    through: dt.date
    out: Path
    today: dt.date | None
    actor: str


async def _close(job: CloseJob) -> Outcome:
    try:
        writable_directory(job.out)  # before anything is committed, as the CLI checks it
        pool = await create_pool(job.dsn, job.limits)
        try:
            snapshot = await PostgresReferenceLoader(pool).load_snapshot()
            use = settlement.settle if job.kind == "settle" else settlement.invoice
            plans = list(snapshot.plans.values())
            closed = await use(
                PostgresSettlement(pool, actor=job.actor),
                DirectoryFiles(job.out),
                plans,
                job.through,
                today=job.today,
            )
        finally:
            await pool.close()
    except InvalidRequest as error:
        return "invalid", str(error)
    except ReferenceDataError as error:
        return "precondition", str(error)
    except StorageUnavailable as error:
        return "storage", str(error)
    except (RxGatewayError, OSError) as error:
        return "precondition", f"{type(error).__name__}: {error}"
    return "ok", closed


def close_cycles(job: CloseJob) -> Outcome:
    """The worker's entry point (a new interpreter: spawned, not forked)."""
    return asyncio.run(_close(job))


class WorkerCloser:
    """service_layer's close, run by one worker process at a time."""

    def __init__(
        self, dsn: str, limits: PoolLimits, out: Path, business_date: dt.date | None = None
    ) -> None:
        self._dsn = dsn
        self._limits = limits
        self._out = out
        self._business_date = business_date
        self._executor = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )

    async def __call__(self, kind: str, through: dt.date, actor: str) -> list[settlement.Closed]:
        loop = asyncio.get_running_loop()
        job = CloseJob(
            self._dsn, self._limits, kind, through, self._out, self._business_date, actor
        )
        status, result = await loop.run_in_executor(self._executor, close_cycles, job)
        if status == "ok" and isinstance(result, list):
            return result
        if status == "storage":
            raise StorageUnavailable(str(result))
        if status == "invalid":
            field_name, _, problem = str(result).partition(": ")
            raise InvalidRequest(field_name, problem)
        raise PreconditionFailed(str(result))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
