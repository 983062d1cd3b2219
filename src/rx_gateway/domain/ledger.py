"""Double-entry journal entries, balanced by construction.

Sign convention: a posting's amount is positive when it credits the account (it holds or is owed
more) and negative when it debits it. Every entry sums to zero; PostgreSQL checks it again.

A paid claim with allowed amount A = plan P + purses H + member F5 posts:
    plan:{plan}                 −P      the plan's cost
    purse:{purse}               −H      per purse that paid (member purse balance goes down)
    pharmacy_payable:{npi}      +(P+H)  509-F9, what the processor owes the pharmacy
    member_paid:{member}        −F5     what the member paid at the counter
    pharmacy_collected:{npi}    +F5     what the pharmacy collected at the counter

A reward for a lower-cost choice (domain/rewards.py) is its own entry, written with the claim
and mirrored with it by a reversal:
    incentive_funding:{sponsor} −R      the sponsor funds the reward
    purse:{purse}               +R      the member's purse is credited

A secondary claim (domain/cob.py) also records what the payers before this plan covered,
566-J5 (their payments and, under a patient responsibility, their contract's adjustment), so
the entry shows the claim's whole allowed amount (A = P + H + F5 + J5):
    other_payers:{plan}         −J5     covered by the other payers, on this plan's claims
    pharmacy_other_payer:{npi}  +J5     what the pharmacy has from them (or adjusted off)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.member import AccumulatorKind, AccumulatorLevel


def plan_account(plan_id: str) -> str:
    return f"plan:{plan_id}"


def purse_account(purse_id: str) -> str:
    return f"purse:{purse_id}"


def employer_funding_account(employer_id: str) -> str:
    return f"employer_funding:{employer_id}"


def incentive_funding_account(employer_id: str) -> str:
    """What a sponsor funds rewards for lower-cost choices from (domain/rewards.py)."""
    return f"incentive_funding:{employer_id}"


def pharmacy_payable_account(npi: str) -> str:
    return f"pharmacy_payable:{npi}"


def member_paid_account(member_id: str) -> str:
    return f"member_paid:{member_id}"


def pharmacy_collected_account(npi: str) -> str:
    return f"pharmacy_collected:{npi}"


def other_payers_account(plan_id: str) -> str:
    return f"other_payers:{plan_id}"


def pharmacy_other_payer_account(npi: str) -> str:
    return f"pharmacy_other_payer:{npi}"


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class JournalEntry:
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        # IMPORTANT: this is the first of two balance checks; the database trigger is the second.
        if any(type(p.amount_cents) is not int or p.amount_cents == 0 for p in self.postings):
            msg = "postings must be non-zero integer cents"
            raise InvariantViolation(msg)
        if sum(p.amount_cents for p in self.postings) != 0:
            msg = f"journal entry does not balance: {self.postings}"
            raise InvariantViolation(msg)
        if len({p.account for p in self.postings}) != len(self.postings):
            msg = "an account appears twice in one entry"
            raise InvariantViolation(msg)

    def mirror(self) -> JournalEntry:
        """The compensating entry of a reversal: every posting with its sign flipped."""
        return JournalEntry(tuple(Posting(p.account, -p.amount_cents) for p in self.postings))


def entry_from_amounts(amounts: list[tuple[str, int]]) -> JournalEntry:
    """An entry from (account, amount) pairs, zero amounts dropped."""
    return JournalEntry(tuple(Posting(a, c) for a, c in amounts if c != 0))


def claim_entry(
    *,
    plan_id: str,
    service_provider_id: str,
    member_id: str,
    plan_paid_cents: int,
    purse_paid_cents: dict[str, int],
    patient_pay_cents: int,
    other_payer_cents: int = 0,
) -> JournalEntry:
    total_paid = plan_paid_cents + sum(purse_paid_cents.values())
    amounts = [(plan_account(plan_id), -plan_paid_cents)]
    amounts += [(purse_account(pid), -paid) for pid, paid in sorted(purse_paid_cents.items())]
    amounts += [
        (pharmacy_payable_account(service_provider_id), total_paid),
        (member_paid_account(member_id), -patient_pay_cents),
        (pharmacy_collected_account(service_provider_id), patient_pay_cents),
        (other_payers_account(plan_id), -other_payer_cents),
        (pharmacy_other_payer_account(service_provider_id), other_payer_cents),
    ]
    return entry_from_amounts(amounts)


@dataclass(frozen=True, slots=True)
class AccumulatorMove:
    """One change to one accumulator. Member rows use the member ID, family rows the family ID."""

    level: AccumulatorLevel
    subject_id: str
    plan_id: str
    plan_year_start: dt.date
    kind: AccumulatorKind
    amount_cents: int

    def negated(self) -> AccumulatorMove:
        return AccumulatorMove(
            self.level,
            self.subject_id,
            self.plan_id,
            self.plan_year_start,
            self.kind,
            -self.amount_cents,
        )


@dataclass(frozen=True, slots=True)
class PurseMove:
    purse_id: str
    amount_cents: int  # negative: spent by a claim; positive: funded or restored
