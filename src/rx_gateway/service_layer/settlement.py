"""Settlement use cases: close pharmacy pay cycles (835s), close sponsor billing cycles
(invoices), record sponsor payments, reconcile the bank's confirmations, and report balances.

Which cycles a call closes is decided here, from the plans of the reference snapshot and the
sponsors (pure); each cycle's close is one transaction in the store; the files are written by
the sink after the transaction commits (closing a closed cycle writes the same files again and
changes nothing in the database).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.reference import Plan
from rx_gateway.domain.settlement.cycles import Schedule, cycle_id
from rx_gateway.domain.settlement.invoices import Receipt
from rx_gateway.domain.settlement.parties import Sponsor
from rx_gateway.domain.settlement.reconciliation import (
    UNCONFIRMED_AFTER_DAYS,
    BankLine,
    Match,
    ReconciliationException,
)

CYCLES_PER_CALL_MAX = 60  # a call closes at most this many periods per schedule (a year+)


@dataclass(frozen=True, slots=True)
class PayCycle:
    """A pay cycle to close: its schedule, its period, the plans paid on it."""

    schedule: Schedule
    period_end: dt.date
    plan_ids: tuple[str, ...]
    fee_by_plan: dict[str, int]
    line_of_business: dict[str, str]

    @property
    def cycle_id(self) -> str:
        return cycle_id("PAY", self.schedule, self.period_end)


@dataclass(frozen=True, slots=True)
class RemittanceFile:
    """A stored remittance: what the files hold."""

    cycle_id: str
    payee_id: str
    payee_name: str
    trace_number: str
    pay_date: dt.date
    line_count: int
    claims_paid_cents: int
    fee_cents: int
    payment_cents: int
    carried_out_cents: int
    x12: str
    document: str  # JSON


@dataclass(frozen=True, slots=True)
class BillingCycle:
    schedule: Schedule
    period_end: dt.date
    sponsor_ids: tuple[str, ...]
    sponsor_of_plan: dict[str, str]  # plan_id -> sponsor ID or "employer"

    @property
    def cycle_id(self) -> str:
        return cycle_id("INV", self.schedule, self.period_end)


@dataclass(frozen=True, slots=True)
class InvoiceFile:
    invoice_id: str
    sponsor_id: str
    cycle_id: str
    due_on: dt.date
    line_count: int
    total_cents: int
    csv: str
    document: str


@dataclass(frozen=True, slots=True)
class Applied:
    """What a file did: ``previously`` is when the same content was applied before (then
    nothing was applied now)."""

    lines: int
    previously: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PayeeBalance:
    payee_id: str
    accrued_cents: int  # paid claims not yet in a closed cycle
    remitted_unconfirmed_cents: int  # remittances the bank has not confirmed
    carried_cents: int  # what the payee owes from cycles that netted negative
    next_pay_date: dt.date | None


@dataclass(frozen=True, slots=True)
class SponsorBalance:
    sponsor_id: str
    funding_model: str
    billed_cents: int
    received_cents: int
    overdue_cents: int  # billed, unpaid, past due
    deposit_cents: int  # pre-funded: what is left of the deposit (receivable balance > 0)
    unbilled_cents: int  # plan paid and purse spending not yet invoiced: the exposure


@dataclass(frozen=True, slots=True)
class Closed:
    """What one close did: the cycle, whether it was closed now (else it was closed before
    and nothing changed), and its files."""

    cycle_id: str
    closed_now: bool
    remittances: tuple[RemittanceFile, ...] = ()
    invoices: tuple[InvoiceFile, ...] = ()
    paths: tuple[Path, ...] = field(default=())
    paths_by_party: dict[str, tuple[Path, ...]] = field(default_factory=dict)


class SettlementStore(Protocol):
    async def first_received(self) -> dt.datetime | None: ...

    async def last_closed(self, kind: str) -> dict[str, dt.date]: ...

    async def close_pay_cycle(
        self, cycle: PayCycle, at: dt.datetime
    ) -> tuple[bool, tuple[RemittanceFile, ...]] | None:
        """(closed now, files); None: the period is not closed and may not be (it ends
        before the schedule's last closed period: its claims went to later cycles)."""

    async def close_billing_cycle(
        self, cycle: BillingCycle, at: dt.datetime
    ) -> tuple[bool, tuple[InvoiceFile, ...]] | None:
        """As close_pay_cycle, for a billing cycle."""

    async def sponsors(self) -> dict[str, Sponsor]: ...

    async def record_receipts(
        self, path: str, digest: str, receipts: list[tuple[int, Receipt]]
    ) -> Applied: ...

    async def reconcile(
        self,
        path: str,
        digest: str,
        lines: tuple[BankLine, ...],
        *,
        as_of: dt.date,
        unconfirmed_after_days: int,
    ) -> tuple[Applied, tuple[Match, ...], tuple[ReconciliationException, ...]]: ...

    async def payee_balances(self, next_pay: dt.date | None) -> tuple[PayeeBalance, ...]: ...

    async def sponsor_balances(
        self, as_of: dt.date, sponsor_of_plan: dict[str, str]
    ) -> tuple[SponsorBalance, ...]: ...

    async def now(self) -> dt.datetime: ...

    async def alerts(self, limit: int = 100) -> list[dict[str, object]]: ...


class SettlementFiles(Protocol):
    def remittance(self, cycle_id: str, payee_id: str, x12: str, document: str) -> list[Path]: ...

    def invoice(self, cycle_id: str, sponsor_id: str, csv: str, document: str) -> list[Path]: ...


def _ends(schedule: Schedule, first: dt.date, through: dt.date) -> list[dt.date]:
    """Period ends from the one holding ``first`` through the last ending on or before
    ``through``, at most CYCLES_PER_CALL_MAX of them (the latest ones)."""
    end, last = schedule.period_end(first), schedule.last_end_through(through)
    ends = []
    while end <= last:
        ends.append(end)
        end += dt.timedelta(days=schedule.period_days)
    return ends[-CYCLES_PER_CALL_MAX:]


def _ends_to_close(
    schedule: Schedule,
    through: dt.date,
    first_received: dt.date | None,
    last_closed: dt.date | None,
) -> list[dt.date]:
    """The periods a call closes: every one after the last closed that ends by ``through``
    (from the first claim received when none was closed); when there is none, the period
    ending by ``through`` itself, so that asking again returns a closed cycle's files (the
    last one's or an older one's; the store closes no period before the last closed)."""
    if last_closed is None:
        return _ends(schedule, first_received, through) if first_received else []
    ends = _ends(schedule, last_closed + dt.timedelta(days=1), through)
    target = schedule.last_end_through(through)
    return ends or ([target] if target <= last_closed else [])


DAY_MIN, DAY_MAX = dt.date(2000, 1, 1), dt.date(2199, 12, 31)


def check_day(field_name: str, day: dt.date) -> dt.date:
    """A settlement date within the years the gateway settles (2000-2199)."""
    if not DAY_MIN <= day <= DAY_MAX:
        raise InvalidRequest(field_name, f"{day} is outside {DAY_MIN} .. {DAY_MAX}")
    return day


def check_through(schedules: list[Schedule], through: dt.date, today: dt.date) -> dt.date:
    """A close may end early (the period under way, at the moment of the close), never in a
    period that has not begun: claims received today would be paid decades later."""
    check_day("through", through)
    if schedules:
        current = max(s.period_end(today) for s in schedules)
        if through > current:
            raise InvalidRequest(
                "through",
                f"{through} is after the period under way, which ends {current}: a cycle"
                " cannot close before its period has begun",
            )
    return through


def pay_cycles(
    plans: list[Plan],
    through: dt.date,
    first_received: dt.date | None,
    last_closed: dict[str, dt.date],
) -> list[PayCycle]:
    """The pay cycles to close through ``through``: per pay schedule of the plans, every
    period after the last one closed (or from the first claim received) that ends by then."""
    by_schedule: dict[Schedule, list[Plan]] = {}
    for plan in plans:
        by_schedule.setdefault(plan.pay_schedule, []).append(plan)
    cycles = []
    for schedule, members in sorted(by_schedule.items(), key=lambda kv: kv[0].key):
        ends = _ends_to_close(schedule, through, first_received, last_closed.get(schedule.key))
        cycles += [
            PayCycle(
                schedule=schedule,
                period_end=end,
                plan_ids=tuple(sorted(p.plan_id for p in members)),
                fee_by_plan={p.plan_id: p.transaction_fee_cents for p in members},
                line_of_business={p.plan_id: p.line_of_business for p in members},
            )
            for end in ends
        ]
    return cycles


def _billing_schedule(sponsor: Sponsor) -> Schedule:
    """A sponsor's billing cycle: its period, and its payment terms as the lag to the due date."""
    return Schedule(
        sponsor.billing_period_days, sponsor.billing_cutoff_weekday, sponsor.payment_terms_days
    )


def billing_cycles(
    plans: list[Plan],
    sponsors: dict[str, Sponsor],
    through: dt.date,
    first_received: dt.date | None,
    last_closed: dict[str, dt.date],
) -> list[BillingCycle]:
    """The billing cycles to close through ``through``, per billing schedule of the sponsors."""
    by_schedule: dict[Schedule, list[str]] = {}
    for sponsor in sponsors.values():
        by_schedule.setdefault(_billing_schedule(sponsor), []).append(sponsor.sponsor_id)
    sponsor_of_plan = {p.plan_id: p.sponsor_id for p in plans}
    cycles = []
    for schedule, sponsor_ids in sorted(by_schedule.items(), key=lambda kv: kv[0].key):
        ends = _ends_to_close(schedule, through, first_received, last_closed.get(schedule.key))
        cycles += [
            BillingCycle(schedule, end, tuple(sorted(sponsor_ids)), sponsor_of_plan) for end in ends
        ]
    return cycles


async def settle(
    store: SettlementStore,
    files: SettlementFiles,
    plans: list[Plan],
    through: dt.date,
    *,
    today: dt.date | None = None,
) -> list[Closed]:
    """`rx-gateway settle`: close every pay cycle ending by ``through``; write each payee's
    835 and JSON. ``through`` may not be past the period under way on ``today`` (the later of
    the database's date and a pinned business date: demos and tests walk through weeks)."""
    at = await store.now()
    check_through(
        list({p.pay_schedule for p in plans}), through, max(today or at.date(), at.date())
    )
    first = await store.first_received()
    last = await store.last_closed("pay")
    out = []
    for cycle in pay_cycles(plans, through, first.date() if first else None, last):
        closing = await store.close_pay_cycle(cycle, at)
        if closing is None:
            continue
        closed_now, remittances = closing
        by_party = {
            r.payee_id: tuple(files.remittance(r.cycle_id, r.payee_id, r.x12, r.document))
            for r in remittances
        }
        out.append(
            Closed(
                cycle.cycle_id,
                closed_now,
                remittances=remittances,
                paths=tuple(p for paths in by_party.values() for p in paths),
                paths_by_party=by_party,
            )
        )
    return out


async def invoice(
    store: SettlementStore,
    files: SettlementFiles,
    plans: list[Plan],
    through: dt.date,
    *,
    today: dt.date | None = None,
) -> list[Closed]:
    """`rx-gateway invoice`: close every billing cycle ending by ``through``; write each
    sponsor's invoice as CSV and JSON (``today`` as for :func:`settle`)."""
    at = await store.now()
    sponsors = await store.sponsors()
    schedules = [_billing_schedule(s) for s in sponsors.values()]
    check_through(schedules, through, max(today or at.date(), at.date()))
    first = await store.first_received()
    last = await store.last_closed("billing")
    out = []
    for cycle in billing_cycles(plans, sponsors, through, first.date() if first else None, last):
        closing = await store.close_billing_cycle(cycle, at)
        if closing is None:
            continue
        closed_now, invoices = closing
        by_party = {
            i.sponsor_id: tuple(files.invoice(i.cycle_id, i.sponsor_id, i.csv, i.document))
            for i in invoices
        }
        out.append(
            Closed(
                cycle.cycle_id,
                closed_now,
                invoices=invoices,
                paths=tuple(p for paths in by_party.values() for p in paths),
                paths_by_party=by_party,
            )
        )
    return out


async def balances(
    store: SettlementStore, plans: list[Plan], as_of: dt.date
) -> tuple[tuple[PayeeBalance, ...], tuple[SponsorBalance, ...]]:
    """What each payee is owed (and its next pay date), what each sponsor was billed and paid."""
    payees = await store.payee_balances(next_pay_date(plans, as_of, await store.last_closed("pay")))
    sponsors = await store.sponsor_balances(as_of, {p.plan_id: p.sponsor_id for p in plans})
    return payees, sponsors


def next_pay_date(
    plans: list[Plan], today: dt.date, last_closed: dict[str, dt.date] | None = None
) -> dt.date | None:
    """The earliest pay date of a cycle not closed yet, over the plans' pay schedules: the
    period under way, or the one after the last closed when that one was closed early."""
    dates = []
    for schedule in {p.pay_schedule for p in plans}:
        end = schedule.period_end(today)
        closed = (last_closed or {}).get(schedule.key)
        if closed is not None and closed >= end:
            end = closed + dt.timedelta(days=schedule.period_days)
        dates.append(schedule.settles_on(end))
    return min(dates) if dates else None


__all__ = [
    "UNCONFIRMED_AFTER_DAYS",
    "Applied",
    "BillingCycle",
    "Closed",
    "InvoiceFile",
    "PayCycle",
    "PayeeBalance",
    "RemittanceFile",
    "SettlementFiles",
    "SettlementStore",
    "SponsorBalance",
    "balances",
    "billing_cycles",
    "cycle_id",
    "invoice",
    "next_pay_date",
    "pay_cycles",
    "settle",
]
