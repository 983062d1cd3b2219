"""The exception tree. Exceptions are for bugs and infrastructure; business rejects are values.

RxGatewayError
├── InvalidRequest          a malformed call (→ INVALID_ARGUMENT), names the field
├── InvariantViolation      a bug: money would not balance (→ INTERNAL)
├── ConcurrencyConflict     another claim for the family won the race; retried (→ ABORTED)
├── StorageUnavailable      the database cannot be reached in time (→ UNAVAILABLE)
├── DeadlineExceeded        the caller's deadline passed before the work could be done
├── MemberNotFound          a benefit inquiry for nobody (→ NOT_FOUND); claims answer 52
├── UnknownReference        an admin change names a member, plan or purse that is not there
├── Unauthenticated         no valid credential for the interface (→ UNAUTHENTICATED)
├── PermissionDenied        a credential used beyond what it allows (→ PERMISSION_DENIED)
├── InsecureConfiguration   start-up refused: plaintext outside development mode
└── ReferenceDataError      a data file or row is invalid; names file, line and field
"""

from __future__ import annotations


class RxGatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class InvalidRequest(RxGatewayError):
    """The request cannot be read as a claim at all. ``field`` names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvariantViolation(RxGatewayError):
    """An invariant that must always hold did not: a bug, never a reject."""


class ConcurrencyConflict(RxGatewayError):
    """The member's state changed between read and write; the whole adjudication is retried."""


class StorageUnavailable(RxGatewayError):
    """The database could not be reached or did not answer within the budget."""


class DeadlineExceeded(RxGatewayError):
    """The caller's deadline passed: no database work starts after it (→ DEADLINE_EXCEEDED)."""


class Overloaded(RxGatewayError):
    """The gateway cannot start this claim in time: refused at once (→ RESOURCE_EXHAUSTED,
    retryable), rather than queued past its deadline."""


class DesignError(RxGatewayError):
    """A plan design given to replay (`rx-gateway simulate --design`) that cannot be applied:
    one line naming what is wrong."""


class ReferenceDataError(RxGatewayError):
    """A reference data file is invalid. The message names the file, line and field."""

    def __init__(self, file: str, line: int, field: str, problem: str) -> None:
        super().__init__(f"{file}:{line}: field {field!r}: {problem}")
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem


class MemberNotFound(RxGatewayError):
    """A benefit inquiry named no known member (claims answer reject 52 instead)."""


class UnknownReference(RxGatewayError):
    """An admin change names a member, plan or purse that does not exist (→ NOT_FOUND)."""


class Unauthenticated(RxGatewayError):
    """The call carries no valid credential for this interface (→ UNAUTHENTICATED)."""


class PermissionDenied(RxGatewayError):
    """The caller is known but may not do this (→ PERMISSION_DENIED)."""


class InsecureConfiguration(RxGatewayError):
    """Start-up refused: the listeners would not be protected (see Settings.security_problem)."""


class PreconditionFailed(RxGatewayError):
    """The request is well formed but the system is not ready for it (settlement with no
    processor loaded, say) (→ FAILED_PRECONDITION)."""
