"""Professional-service work: minutes rounded up to the billing increment, drawn from prepaid hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import billing, metrics
from ..errors import N_, NotFound, ValidationError
from ..models import Activity, Case, Client, Lot, User
from .ledger import as_balance, lock_client, post
from .ratecards import card_in_force

#: the longest single work log, in minutes
MAX_WORK_MINUTES = 24 * 60


@dataclass(frozen=True)
class WorkResult:
    activity: Activity
    prepaid_minutes_used: int
    overage_minutes: int


def log_work(
    session: Session, client: Client, role: str, minutes: int, performed_on: date, description: str,
    case: Case | None = None, user: User | None = None,
) -> WorkResult:
    """Log ``minutes`` of ``role`` work: billed minutes draw from prepaid lots, oldest first; the rest is overage."""
    if not 0 < minutes <= MAX_WORK_MINUTES:
        raise ValidationError(N_("minutes is a whole number from 1 to %(max)s"), "minutes", max=MAX_WORK_MINUTES)
    try:
        card = card_in_force(session, client.currency, performed_on)
    except NotFound as missing:
        raise ValidationError(missing.template, "performed_on", **missing.params) from None
    if role not in {r.code for r in card.roles}:
        raise ValidationError(N_("unknown role %(role)r"), "role", role=role)
    if case is not None and case.client_id != client.id:
        raise ValidationError(N_("that case belongs to another client"), "case")
    billed = billing.billed_work_minutes(minutes)
    client = lock_client(session, client)
    activity = Activity(
        client_id=client.id, case=case, kind="work", role=role,
        occurred_at=datetime.combine(performed_on, time(0), UTC), effective_on=performed_on,
        minutes=minutes, billed_minutes=billed, actor=user.email if user else "", note=description,
        incidents_charged=0, created_by_id=user.id if user else None,
    )
    session.add(activity)
    lots = {lot.id: lot for lot in _prepaid_lots(session, client, role)}
    allocation = billing.allocate([as_balance(lot) for lot in lots.values()], billed, performed_on)
    memo = f"{role} work, {minutes} min billed as {billed} min"
    for draw in allocation.draws:
        post(session, client, unit="minute", role=role, quantity=-draw.quantity, kind="charge",
             effective_on=performed_on, lot=lots[draw.lot_id], activity=activity, memo=memo, user=user)
    if allocation.overage:
        post(session, client, unit="minute", role=role, quantity=-allocation.overage, kind="overage",
             effective_on=performed_on, activity=activity, memo=f"{memo} (beyond prepaid hours)", user=user)
    session.flush()
    metrics.charge_posted(session, "minute", "work", billed)
    return WorkResult(activity, billed - allocation.overage, allocation.overage)


def _prepaid_lots(session: Session, client: Client, role: str) -> list[Lot]:
    return list(session.scalars(select(Lot).where(
        Lot.client_id == client.id, Lot.unit == "minute", Lot.role == role, Lot.remaining > 0,
    )))
