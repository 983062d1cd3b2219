"""Drug utilization review (DUR/PPS) and submission clarification codes: the values.

A claim may carry 420-DK submission clarification codes (354-NX count) and DUR/PPS services
(segment 08: 473-7E counter, 439-E4 reason, 440-E5 professional service, 441-E6 result, 474-8E
level of effort). A response may carry DUR conflicts (segment 24: 567-J6 counter, 439-E4,
528-FS clinical significance, 529-FT other pharmacy, 530-FU previous fill date, 531-FV previous
fill quantity, 532-FW database, 533-FX other prescriber, 544-FY free text).

The plan's policy says which conflicts the gateway looks for and what it does with each: reject
(88, a hard edit), warn (paid, the conflict in the response: a soft edit), or nothing; and
which (reason, professional service, result) trios a pharmacist may send to override a hard
edit. Which 420-DK codes override a refill too soon (79), and how often per plan year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# 420-DK values the gateway names in its messages (the rest are accepted as numbers)
CLARIFICATION_CODES = {
    1: "no override",
    2: "other override",
    3: "vacation supply",
    4: "lost or stolen",
    5: "therapy change",
    6: "starter dose",
    7: "medically necessary",
    13: "emergency or disaster",
}
CLARIFICATIONS_MAX = 3  # 354-NX repeats up to 3 in D.0


class DurReason(StrEnum):
    """439-E4 Reason for Service codes the gateway checks."""

    EARLY_REFILL = "ER"  # overuse
    THERAPEUTIC_DUPLICATION = "TD"
    DRUG_DRUG_INTERACTION = "DD"


class DurAction(StrEnum):
    REJECT = "reject"  # 88, a hard edit: paid only when overridden
    WARN = "warn"  # paid, the conflict in the response (a soft edit)
    OFF = "off"


class Significance(StrEnum):
    """528-FS Clinical Significance Code."""

    MAJOR = "1"
    MODERATE = "2"
    MINOR = "3"
    UNKNOWN = "9"


@dataclass(frozen=True, slots=True)
class DurService:
    """One DUR/PPS occurrence of a claim (segment 08): what the pharmacist did about a
    conflict."""

    reason: str  # 439-E4
    professional_service: str  # 440-E5
    result: str  # 441-E6
    level_of_effort: int = 0  # 474-8E


@dataclass(frozen=True, slots=True)
class DurConflict:
    """One DUR response occurrence (segment 24)."""

    reason: DurReason  # 439-E4
    significance: Significance  # 528-FS
    other_pharmacy: str  # 529-FT: 1 your pharmacy, 4 another pharmacy
    previous_fill_date: str  # 530-FU, CCYYMMDD
    previous_fill_quantity_thousandths: int  # 531-FV
    other_prescriber: str  # 533-FX: 0 not specified, 1 same prescriber, 2 another
    text: str  # 544-FY
    database: str = "4"  # 532-FW: 4 processor developed


@dataclass(frozen=True, slots=True)
class Interaction:
    """A drug-drug interaction the plan checks: two molecules, how serious, what to say."""

    molecule_a: str
    molecule_b: str
    significance: Significance
    text: str


@dataclass(frozen=True, slots=True)
class DurPolicy:
    """What the plan checks and how it answers. Off by default: a plan turns each on."""

    early_refill: DurAction = DurAction.OFF
    # a fill before this share of the last fill's days supply has passed is an early refill
    # (it is 79 below the plan's refill-too-soon threshold)
    early_refill_threshold_bp: int = 9_000
    therapeutic_duplication: DurAction = DurAction.OFF
    drug_interaction: DurAction = DurAction.OFF
    # (439-E4, 440-E5, 441-E6) trios that override a hard edit of that reason
    overrides: frozenset[tuple[str, str, str]] = frozenset()

    def action(self, reason: DurReason) -> DurAction:
        return {
            DurReason.EARLY_REFILL: self.early_refill,
            DurReason.THERAPEUTIC_DUPLICATION: self.therapeutic_duplication,
            DurReason.DRUG_DRUG_INTERACTION: self.drug_interaction,
        }[reason]


@dataclass(frozen=True, slots=True)
class RefillOverrides:
    """420-DK codes that override a refill too soon (79), each with its most uses per member
    per plan year (None: no limit)."""

    allowed: Mapping[int, int | None] = field(default_factory=dict)


def clarification_name(code: int) -> str:
    return CLARIFICATION_CODES.get(code, f"code {code}")
