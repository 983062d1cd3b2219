"""Enrollment in (X12 834): read a whole file, then apply it in one transaction, or list the
paid claims that later enrollment put in question.

The same use case serves `rx-gateway enroll` and the admin interface's Enroll call. A file is
read and checked whole (structure, then meaning) before the store is asked to apply it; the
store checks it again against what is stored, inside the transaction that applies it, so a
bad file changes nothing. Members are read fresh by every claim, so a committed file applies
to the next claim on every running gateway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Protocol

from rx_gateway.domain.enrollment import (
    Acknowledgment,
    Enrollment,
    EnrollmentOutcome,
    InterchangeIdentity,
    PendingAcknowledgment,
    ReviewItem,
)
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.reference import Plan

REVIEW_ITEMS_MAX = 10_000  # a report's limit (the oldest first)
SOURCE_NAME_MAX = 200


class EnrollmentReader(Protocol):
    """An 834 file's bytes → the Enrollment it says, or InvalidRequest naming the file,
    segment and element."""

    def read(self, data: bytes, source: str, plans: Mapping[str, Plan]) -> Enrollment: ...

    def acknowledge(self, data: bytes, source: str, at: dt.datetime) -> PendingAcknowledgment:
        """The file's 999 (its structure against the implementation guide), to be written
        under an interchange control number."""
        ...


class EnrollmentStore(Protocol):
    async def apply(
        self, enrollment: Enrollment, plans: Mapping[str, Plan], *, actor: str
    ) -> EnrollmentOutcome: ...

    async def review(self, limit: int) -> list[ReviewItem]: ...

    async def next_control_number(self) -> int: ...

    async def reused(self, interchange: InterchangeIdentity) -> bool:
        """Whether the sender's ISA13 names another file already applied (the same content,
        in any of its digest forms, is not another file)."""
        ...


def source_name(name: str) -> str:
    """How messages name a file: its name as given, or "834"."""
    name = name.strip() or "834"
    if len(name) > SOURCE_NAME_MAX or not name.isprintable():
        raise InvalidRequest("name", f"must be 1-{SOURCE_NAME_MAX} printable characters")
    return name


async def enroll(
    reader: EnrollmentReader,
    store: EnrollmentStore,
    data: bytes,
    source: str,
    plans: Mapping[str, Plan],
    *,
    actor: str,
) -> EnrollmentOutcome:
    """Validate the whole file, then apply it (all or nothing; the same file twice changes
    nothing the second time)."""
    if not data:
        raise InvalidRequest(source, "the file is empty")
    # reading is CPU work (the X12 validator): off the event loop, which may serve claims
    enrollment = await asyncio.to_thread(reader.read, data, source, plans)
    return await store.apply(enrollment, plans, actor=actor)


async def acknowledge(
    reader: EnrollmentReader, store: EnrollmentStore, data: bytes, source: str
) -> Acknowledgment:
    """The 999 implementation acknowledgment of a file, applying nothing: it takes only the
    next interchange control number (the reader keeps its validation, so a file applied right
    after is not validated again)."""
    if not data:
        raise InvalidRequest(source, "the file is empty")
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    pending = await asyncio.to_thread(reader.acknowledge, data, source, at)
    reused = await store.reused(pending.interchange)
    # numbered only once there is an envelope to answer: no number is spent on a refusal
    return pending.write(await store.next_control_number(), reused)


async def review(store: EnrollmentStore, limit: int = REVIEW_ITEMS_MAX) -> list[ReviewItem]:
    """Claims paid under coverage a later 834 re-dated, oldest first (nothing changes)."""
    if not 1 <= limit <= REVIEW_ITEMS_MAX:
        raise InvalidRequest("limit", f"must be 1-{REVIEW_ITEMS_MAX}")
    return await store.review(limit)
