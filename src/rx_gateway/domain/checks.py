"""How a check group fails: :func:`fail` carries the group's rejects out of the nested checks
to the orchestrator (adjudication.adjudicate), which answers with them. A failing check never
returns, so the type checker knows what holds after it."""

from __future__ import annotations

from typing import NoReturn

from rx_gateway.domain.dur import DurConflict
from rx_gateway.domain.other_payments import OtherPayer
from rx_gateway.domain.rejects import Reject


class CheckFailed(Exception):
    """A check group failed: carries its rejects (and, for DUR, its conflicts; for COB, the
    payers to bill first) to the orchestrator."""

    def __init__(
        self,
        group: str,
        rejects: list[Reject],
        dur_conflicts: tuple[DurConflict, ...] = (),
        other_payers: tuple[OtherPayer, ...] = (),
    ) -> None:
        super().__init__(group)
        self.group = group
        self.rejects = rejects
        self.dur_conflicts = dur_conflicts
        self.other_payers = other_payers


def fail(
    group: str,
    rejects: list[Reject],
    dur_conflicts: tuple[DurConflict, ...] = (),
    *,
    other_payers: tuple[OtherPayer, ...] = (),
) -> NoReturn:
    raise CheckFailed(group, rejects, dur_conflicts, other_payers)


def fail_if(group: str, rejects: list[Reject]) -> None:
    if rejects:
        fail(group, rejects)
