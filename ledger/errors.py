"""Typed domain errors, and the one place that maps them to a status, a code and a field."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

# N_ is re-exported: the services mark their messages with it
from .billing import N_, InsufficientIncidents, InvalidTransition, RuleViolation, Templated  # noqa: F401


class LedgerError(Templated, Exception):
    """Base of every error a user can cause; ``field`` names the offending input.

    ``message`` is a template with named placeholders filled from ``params``
    (``ValidationError(N_("quantity is at most %(max)s"), "quantity", max=100)``): the API answers
    with the filled English text, the pages translate the template first (``common.error_text``).
    """

    status = 422
    code = "validation_error"


class ValidationError(LedgerError):
    """Bad input: the request is refused and nothing is posted."""


class InsufficientBalance(LedgerError):
    code = "insufficient_balance"


class NotFound(LedgerError):
    status = 404
    code = "not_found"


class Conflict(LedgerError):
    """The request clashes with the resource's state (accepting twice, closing a closed term)."""

    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class Forbidden(LedgerError):
    status = 403
    code = "forbidden"


class Unauthorized(LedgerError):
    status = 401
    code = "unauthorized"


class BadRequest(LedgerError):
    status = 400
    code = "bad_request"


@dataclass(frozen=True)
class ErrorInfo:
    status: int
    code: str
    message: str
    field: str | None
    #: the untranslated template and its values (``message`` = ``template % params``), for the pages
    template: str = ""
    params: dict = dataclass_field(default_factory=dict, compare=False)

    def as_json(self) -> dict:
        """The API's error object."""
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}


#: the pure rules' errors (billing.py knows no statuses) as the domain errors they stand for;
#: subclasses before RuleViolation, their base
RULE_ERRORS = ((InvalidTransition, Conflict), (InsufficientIncidents, InsufficientBalance),
               (RuleViolation, ValidationError))


def describe(error: Exception) -> ErrorInfo | None:
    """Status, code, message and field for a domain error; None for anything else."""
    if isinstance(error, LedgerError):
        return ErrorInfo(error.status, error.code, error.message, error.field, error.template, error.params)
    for rule_error, like in RULE_ERRORS:
        if isinstance(error, rule_error):
            return ErrorInfo(like.status, like.code, error.message, error.field, error.template, error.params)
    return None
