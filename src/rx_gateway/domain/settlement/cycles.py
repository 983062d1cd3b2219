"""Cycles: pharmacy pay cycles and sponsor billing cycles.

A schedule cuts time into periods of ``period_days`` (7 or 14) that end on a weekday (the
cut-off); a period's money moves ``lag_days`` after it ends (the pay date of a pharmacy cycle,
the due date of an invoice). Periods are anchored to a fixed date, so a two-week schedule has
the same period ends whoever asks. A cycle holds what was *received* (the claim's or the
reversal's commit-time clock) before the end of its cut-off day, UTC, and was not yet in an
earlier cycle: a claim that commits late lands in the next cycle, never in none or in two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PERIOD_DAYS = (7, 14)
LAG_DAYS_MAX = 60
# 42 CFR 423.520: a Part D sponsor pays a network pharmacy's clean electronic claim within 14
# days of receipt. A claim received on the first day of a period waits the rest of the period
# and then the lag.
PART_D_PROMPT_PAY_DAYS = 14
ANCHOR = dt.date(2000, 1, 3)  # a Monday: period ends are ANCHOR-aligned multiples of the period


@dataclass(frozen=True, slots=True)
class Schedule:
    """Periods of ``period_days`` ending on ``cutoff_weekday`` (0 = Monday), settled
    ``lag_days`` after they end."""

    period_days: int = 7
    cutoff_weekday: int = 6  # Sunday
    lag_days: int = 3

    @property
    def key(self) -> str:
        """A schedule's name in cycle IDs: ``7D-SUN-3``."""
        return f"{self.period_days}D-{WEEKDAYS[self.cutoff_weekday][:3].upper()}-{self.lag_days}"

    def _first_end(self) -> dt.date:
        return ANCHOR + dt.timedelta(days=(self.cutoff_weekday - ANCHOR.weekday()) % 7)

    def period_end(self, day: dt.date) -> dt.date:
        """The end of the period that holds ``day``."""
        offset = (day - self._first_end()).days % self.period_days
        return day if offset == 0 else day + dt.timedelta(days=self.period_days - offset)

    def period_start(self, end: dt.date) -> dt.date:
        return end - dt.timedelta(days=self.period_days - 1)

    def last_end_through(self, day: dt.date) -> dt.date:
        """The latest period end on or before ``day``."""
        end = self.period_end(day)
        return end if end == day else end - dt.timedelta(days=self.period_days)

    def settles_on(self, end: dt.date) -> dt.date:
        """The pay date (pharmacy cycles) or due date (invoices) of the period ending ``end``."""
        return end + dt.timedelta(days=self.lag_days)

    def longest_wait_days(self) -> int:
        """Days from the first day of a period to its settlement."""
        return self.period_days - 1 + self.lag_days


def cutoff_instant(end: dt.date) -> dt.datetime:
    """The end of the cut-off day, UTC: what was received before it belongs to the period."""
    return dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def cycle_id(prefix: str, schedule: Schedule, end: dt.date) -> str:
    """``PAY-7D-SUN-3-20261129``: the kind, the schedule, the period end."""
    return f"{prefix}-{schedule.key}-{end:%Y%m%d}"


def schedule_problems(schedule: Schedule, *, part_d: bool) -> list[str]:
    """Why a schedule cannot be used (empty when it can). A Part D plan's pay cycle must pay
    a clean claim within 14 days of receipt."""
    problems = []
    if schedule.period_days not in PERIOD_DAYS:
        problems.append(f"period_days must be one of {PERIOD_DAYS}, got {schedule.period_days}")
    if not 0 <= schedule.cutoff_weekday < len(WEEKDAYS):
        problems.append("cutoff_weekday must be a day of the week")
    if not 0 <= schedule.lag_days <= LAG_DAYS_MAX:
        problems.append(f"lag_days must be 0-{LAG_DAYS_MAX}, got {schedule.lag_days}")
    if part_d and not problems and schedule.longest_wait_days() > PART_D_PROMPT_PAY_DAYS:
        problems.append(
            f"a claim received on a period's first day would be paid after "
            f"{schedule.longest_wait_days()} days; Part D pays clean claims within "
            f"{PART_D_PROMPT_PAY_DAYS} (42 CFR 423.520): shorten the period or the lag"
        )
    return problems


def weekday_number(name: str) -> int | None:
    """0 for "monday" .. 6 for "sunday" (any case), None for anything else."""
    lowered = name.strip().lower()
    return WEEKDAYS.index(lowered) if lowered in WEEKDAYS else None
