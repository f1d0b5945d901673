"""Balances as of a day, derived from the ledger, and the entry history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .. import billing
from ..models import Client, Entry, Lot
from .clients import current_term


@dataclass(frozen=True)
class LotView:
    id: int
    kind: str
    quantity: int
    remaining: int
    starts_on: date
    expires_on: date | None
    role: str | None = None


@dataclass(frozen=True)
class Balance:
    """What a client has on ``as_of``: usable incidents by lot, overage this term, prepaid minutes."""

    as_of: date
    lots: tuple[LotView, ...]
    #: incidents charged beyond the balance in the term containing ``as_of``
    overage: int
    #: role code → prepaid minutes left
    minutes: dict[str, int] = field(default_factory=dict)

    @property
    def available(self) -> int:
        """Incidents that can still be drawn on ``as_of``."""
        return sum(lot.remaining for lot in self.lots)


def balance(session: Session, client: Client, as_of: date) -> Balance:
    """The client's balance on ``as_of``.

    When nothing is dated after ``as_of`` the lots' kept ``remaining`` figures are
    current and are read directly; otherwise each lot is summed from its entries.
    """
    lots = session.scalars(
        select(Lot).where(Lot.client_id == client.id, Lot.starts_on <= as_of,
                          or_(Lot.expires_on.is_(None), Lot.expires_on >= as_of))
        .order_by(Lot.expires_on, Lot.id)
    ).all()
    remaining = {lot.id: lot.remaining for lot in lots}
    if lots and _has_entries_after(session, client, as_of):
        remaining = _remaining_from_entries(session, [lot.id for lot in lots], as_of)
    views = [LotView(lot.id, lot.kind, lot.quantity, remaining.get(lot.id, 0), lot.starts_on, lot.expires_on,
                     lot.role) for lot in lots]
    minutes: dict[str, int] = {}
    for view in views:
        if view.role is not None:
            minutes[view.role] = minutes.get(view.role, 0) + view.remaining
    incidents = tuple(v for v in views if v.role is None)
    return Balance(as_of, incidents, _overage(session, client, as_of), minutes)


def _has_entries_after(session: Session, client: Client, as_of: date) -> bool:
    latest = session.scalar(select(func.max(Entry.effective_on)).where(Entry.client_id == client.id))
    return latest is not None and latest > as_of


def _remaining_from_entries(session: Session, lot_ids: list[int], as_of: date) -> dict[int, int]:
    rows = session.execute(select(Entry.lot_id, func.sum(Entry.quantity))
                           .where(Entry.lot_id.in_(lot_ids), Entry.effective_on <= as_of)
                           .group_by(Entry.lot_id))
    return {lot_id: int(total) for lot_id, total in rows}


def _overage(session: Session, client: Client, as_of: date) -> int:
    term = current_term(client, as_of)
    total = session.scalar(select(func.coalesce(func.sum(Entry.quantity), 0)).where(
        Entry.client_id == client.id, Entry.lot_id.is_(None), Entry.unit == "incident",
        Entry.effective_on >= term.start, Entry.effective_on <= as_of))
    return -int(total)


def incidents_used_since(session: Session, client: Client, since: date) -> int:
    """Incidents the client used after ``since``, net of waivers (the pace a forecast runs on)."""
    rows = session.execute(
        select(Entry.kind, func.sum(Entry.quantity)).where(
            Entry.client_id == client.id, Entry.unit == "incident", Entry.kind.in_(billing.USAGE_KINDS),
            Entry.effective_on > since,
        ).group_by(Entry.kind)
    ).all()
    return billing.incidents_used((kind, int(total)) for kind, total in rows)


def entries(
    session: Session, client: Client, *, start: date | None = None, end: date | None = None,
    after_id: int = 0, limit: int = 100,
) -> list[Entry]:
    """The client's entries in posting order, optionally between two effective days, one page."""
    statement = select(Entry).where(Entry.client_id == client.id, Entry.id > after_id).order_by(Entry.id)
    if start is not None:
        statement = statement.where(Entry.effective_on >= start)
    if end is not None:
        statement = statement.where(Entry.effective_on <= end)
    return list(session.scalars(statement.limit(limit)))
