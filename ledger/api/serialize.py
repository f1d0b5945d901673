"""The JSON shapes of API.md."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from .. import billing
from ..billing import quote_state_on
from ..models import Activity, Bundle, Case, Client, Entry, Invoice, Quote, RateCard, TermClose
from ..money import Money
from ..services.balances import Balance, LotView
from ..services.clients import current_term, maintenance_fee
from ..services.support import net_incidents


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def moment(value: datetime | None, offset_minutes: int = 0) -> str | None:
    """ISO 8601 with the offset the time was given in."""
    if value is None:
        return None
    return value.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()


def client_json(client: Client, today: date) -> dict:
    term = current_term(client, today)
    return {
        "code": client.code,
        "name": client.name,
        "currency": client.currency,
        "locale": client.locale,
        "tax_rate": format(client.tax_rate.normalize(), "f"),
        "term_start": day(client.term_start),
        "term": {"start": day(term.start), "end": day(term.end)},
        "maintenance_fee": str(maintenance_fee(client)),
        "overage_policy": client.overage_policy,
        "address": client.address,
    }


def lot_json(lot: LotView) -> dict:
    return {
        "id": lot.id,
        "kind": lot.kind,
        "quantity": lot.quantity,
        "remaining": lot.remaining,
        "starts_on": day(lot.starts_on),
        "expires_on": day(lot.expires_on),
    }


def balance_json(client: Client, balance: Balance) -> dict:
    return {
        "client": client.code,
        "as_of": day(balance.as_of),
        "incidents": {
            "available": balance.available,
            "overage": balance.overage,
            "lots": [lot_json(lot) for lot in balance.lots],
        },
        "hours": {role: {"available_minutes": m} for role, m in sorted(balance.minutes.items())},
    }


def bundle_json(bundle: Bundle) -> dict:
    lot = bundle.lot
    view = LotView(lot.id, lot.kind, lot.quantity, lot.remaining, lot.starts_on, lot.expires_on)
    return {
        "id": bundle.id,
        "client": bundle.client.code,
        "quantity": bundle.quantity,
        "unit_price": str(Money.from_minor(bundle.unit_price_minor, bundle.currency)),
        "currency": bundle.currency,
        "purchased_on": day(bundle.purchased_on),
        "lot": lot_json(view),
    }


def case_json(case: Case) -> dict:
    return {
        "number": case.number,
        "client": case.client.code,
        "subject": case.subject,
        "severity": case.severity,
        "opened_at": moment(case.opened_at),
    }


def entry_json(entry: Entry) -> dict:
    return {
        "id": entry.id,
        "posted_at": moment(entry.posted_at),
        "effective_on": day(entry.effective_on),
        "unit": entry.unit,
        "quantity": entry.quantity,
        "kind": entry.kind,
        "lot_id": entry.lot_id,
        "activity_id": entry.activity_id,
        "reverses_id": entry.reverses_id,
        "memo": entry.memo,
    }


def activity_json(activity: Activity) -> dict:
    offset = activity.utc_offset_minutes
    body = {
        "id": activity.id,
        "kind": activity.kind,
        "client": activity.client.code,
        "case": activity.case.number if activity.case else None,
        "occurred_at": moment(activity.occurred_at, offset),
        "effective_on": day(activity.effective_on),
        "actor": activity.actor,
        "note": activity.note,
        "incidents_charged": net_incidents(activity),
        "waived": activity.waiver is not None,
        "entries": [entry_json(e) for e in activity.entries],
    }
    if activity.kind == "appointment":
        body["ended_at"] = moment(activity.ended_at, offset)
    if activity.minutes is not None:
        body["minutes"] = activity.minutes
    if activity.waiver is not None:
        body["waive_reason"] = activity.waiver.reason
        body["incidents_waived"] = activity.incidents_charged
    return body


def term_close_json(record: TermClose, client_code: str) -> dict:
    return {
        "client": client_code,
        "term_start": day(record.term_start),
        "term_end": day(record.term_end),
        "rolled_over": record.rolled_over,
        "expired": record.expired,
    }


def rate_card_json(card: RateCard) -> dict:
    money = lambda minor: str(Money.from_minor(minor, card.currency))  # noqa: E731
    return {
        "version": card.version,
        "effective_from": day(card.effective_from),
        "currency": card.currency,
        "roles": [
            {"code": r.code, "title": r.title, "hourly": money(r.hourly_minor), "daily": money(r.daily_minor)}
            for r in card.roles
        ],
        "incident_price": money(card.incident_price_minor),
        "overage_price": money(card.overage_price_minor),
        "maintenance_fee": money(card.maintenance_fee_minor),
        "volume_discounts": [
            {"min_hours": d.min_hours, "percent": format(d.percent.normalize(), "f")}
            for d in card.volume_discounts
        ],
    }


def quote_json(quote: Quote, today: date) -> dict:
    money = lambda minor: str(Money.from_minor(minor, quote.currency))  # noqa: E731
    return {
        "number": quote.number,
        "client": quote.client.code,
        "state": quote_state_on(quote.state, quote.valid_until, today),
        "valid_until": day(quote.valid_until),
        "rate_card_version": quote.rate_card.version,
        "lines": [
            {
                "role": line.role,
                "unit": line.unit,
                "quantity": format(line.quantity.normalize(), "f"),
                "unit_price": money(line.unit_price_minor),
                "amount": money(line.amount_minor),
            }
            for line in quote.lines
        ],
        "hours_total": format((Decimal(quote.minutes_total) / 60).normalize(), "f"),
        "discount_percent": format(quote.discount_percent.normalize(), "f"),
        "discount": money(quote.discount_minor),
        "subtotal": money(quote.subtotal_minor),
        "total": money(quote.total_minor),
        "currency": quote.currency,
        "created_at": moment(quote.created_at),
        "sent_at": moment(quote.sent_at),
        "decided_at": moment(quote.decided_at),
    }


def work_json(activity: Activity, prepaid_minutes_used: int | None = None,
              overage_minutes: int | None = None) -> dict:
    """A work log: its minutes, what prepaid hours covered, and the overage."""
    if prepaid_minutes_used is None:
        split = billing.work_split((e.kind, e.quantity) for e in activity.entries)
        prepaid_minutes_used, overage_minutes = split.prepaid_minutes, split.overage_minutes
    body = activity_json(activity)
    body.update({
        "role": activity.role,
        "performed_on": day(activity.effective_on),
        "description": activity.note,
        "billed_minutes": activity.billed_minutes,
        "prepaid_minutes_used": prepaid_minutes_used,
        "overage_minutes": overage_minutes,
    })
    return body


def invoice_summary_json(invoice: Invoice) -> dict:
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "client": invoice.client.code,
        "period": invoice.period,
        "issued_on": day(invoice.issued_on),
        "total": str(Money.from_minor(invoice.total_minor, invoice.currency)),
        "currency": invoice.currency,
    }


def invoice_json(invoice: Invoice) -> dict:
    money = lambda minor: str(Money.from_minor(minor, invoice.currency))  # noqa: E731
    body = invoice_summary_json(invoice)
    body.update({
        "due_on": day(invoice.due_on),
        "tax_rate": format(invoice.tax_rate.normalize(), "f"),
        "lines": [
            {
                "position": line.position,
                "kind": line.kind,
                "description": line.description,
                "quantity": format(line.quantity.normalize(), "f"),
                "unit_price": money(line.unit_price_minor),
                "amount": money(line.amount_minor),
            }
            for line in invoice.lines
        ],
        "subtotal": money(invoice.subtotal_minor),
        "tax": money(invoice.tax_minor),
        "sha256": invoice.document.sha256 if invoice.document else None,
    })
    if invoice.kind == "credit_note":
        body["refers_to"] = invoice.refers_to.number
        body["reason"] = invoice.reason
    return body
