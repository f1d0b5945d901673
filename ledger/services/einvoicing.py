"""What an issued invoice prints, kept with it, and the EN 16931 e-invoice built from that alone.

At issue time the seller (the vendor's profile), the buyer (the client's billing details),
the due date, the service period and the named taxes with their amounts are copied into the
invoice's ``snapshot``. The PDF, its embedded Factur-X XML and the UBL download are all built
from the snapshot and the invoice's lines through :func:`invoice_document`, so changing the
vendor or a client later changes only future invoices, and the XML can be rebuilt byte for
byte as it was embedded.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from babel import Locale
from sqlalchemy.orm import object_session

from .. import billing, einvoice
from ..models import Client, Invoice, InvoiceLine, Vendor
from ..money import Money, exponent
from .vendor import UNNAMED_TAX, get_vendor, tax_components

#: the legal note of an intra-EU reverse-charge invoice (EU VAT Directive, Art. 196 and 226 (11a))
REVERSE_CHARGE_NOTE = ("Reverse charge: VAT to be accounted for by the recipient "
                       "(Article 196, Council Directive 2006/112/EC).")
#: the tax component a reverse-charge invoice prints, at 0 %
REVERSE_CHARGE_TAX = "VAT"
SELLER_FIELDS = ("legal_name", "address", "country", "vat_id", "registration", "iban", "bic", "bank_account",
                 "email", "phone")


# --- the snapshot, taken when issuing ----------------------------------------------


def seller_snapshot(vendor: Vendor) -> dict:
    """The seller as the invoice prints it: the vendor's profile fields as text."""
    return {name: getattr(vendor, name) or "" for name in SELLER_FIELDS}


def buyer_snapshot(client: Client) -> dict:
    """The buyer as the invoice prints it: name, billing address, country, tax ID, e-mails, PO, terms."""
    return {
        "code": client.code, "name": client.name, "address": client.address or "",
        "country": billing_country(client), "vat_id": client.vat_id or "",
        "billing_emails": list(client.billing_emails or []), "purchase_order": client.purchase_order or "",
        "payment_terms_days": client.payment_terms_days if client.payment_terms_days is not None
        else billing.PAYMENT_TERMS_DAYS,
        "reverse_charge": bool(client.reverse_charge), "locale": client.locale,
    }


def billing_country(client: Client) -> str:
    """The client's country as invoices name it: set, or its locale's territory."""
    return client.country or _territory(client.locale)


def _territory(locale: str) -> str:
    """A client without a country is billed in its locale's territory (de_DE → DE)."""
    return Locale.parse(locale).territory or ""


def client_taxes(client: Client, subtotal: Decimal) -> tuple[billing.TaxLine, ...]:
    """The client's tax components on ``subtotal``, each half-up; reverse charge is one VAT line at 0 %."""
    components = ((billing.TaxComponent(REVERSE_CHARGE_TAX, Decimal(0)),) if client.reverse_charge
                  else tax_components(client))
    return billing.compute_taxes(subtotal, components, exponent(client.currency))


def due_date(issued_on: date, buyer: dict) -> date:
    """Issue date plus the buyer's payment terms."""
    return issued_on + timedelta(days=buyer["payment_terms_days"])


def take_snapshot(seller: dict, buyer: dict, period: billing.Period, issued_on: date,
                  taxes: tuple[billing.TaxLine, ...]) -> dict:
    """The snapshot an issued document keeps (JSON: dates ISO, decimals as strings)."""
    notes = [REVERSE_CHARGE_NOTE] if buyer.get("reverse_charge") else []
    return {
        "seller": seller, "buyer": buyer, "due_on": due_date(issued_on, buyer).isoformat(),
        "service_period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "taxes": [{"name": t.name, "rate": _text(t.rate), "amount": _text(t.amount)} for t in taxes],
        "notes": notes,
    }


def _text(value: Decimal) -> str:
    return format(value, "f")


# --- reading it back ---------------------------------------------------------------


def snapshot_of(invoice: Invoice) -> dict:
    """The invoice's snapshot; one issued before snapshots existed gets today's vendor and client."""
    if invoice.snapshot:
        return invoice.snapshot
    session = object_session(invoice)
    seller = seller_snapshot(get_vendor(session))
    buyer = buyer_snapshot(invoice.client)
    tax = Money.from_minor(invoice.tax_minor, invoice.currency).amount
    taxes = (billing.TaxLine(UNNAMED_TAX, Decimal(invoice.tax_rate), tax),)
    snapshot = take_snapshot(seller, buyer, billing.Period.parse(invoice.period), invoice.issued_on, taxes)
    return {**snapshot, "due_on": invoice.due_on.isoformat()}


def invoice_taxes(invoice: Invoice) -> tuple[billing.TaxLine, ...]:
    """The document's named taxes with their amounts as issued (negative on a credit note)."""
    return tuple(billing.TaxLine(t["name"], Decimal(t["rate"]), Decimal(t["amount"]))
                 for t in snapshot_of(invoice)["taxes"])


def taxes_json(invoice: Invoice) -> list[dict]:
    """``taxes: [{name, rate, amount}]`` for the API: rate and amount as strings."""
    return [{"name": t.name, "rate": _text(t.rate.normalize()),
             "amount": str(Money(t.amount, invoice.currency))} for t in invoice_taxes(invoice)]


def is_reverse_charge(invoice: Invoice) -> bool:
    """Whether the document was issued under the intra-EU reverse charge."""
    return bool(snapshot_of(invoice)["buyer"].get("reverse_charge"))


def invoice_document(invoice: Invoice) -> einvoice.Document:
    """The invoice or credit note as an EN 16931 document, from its snapshot and lines only."""
    snapshot = snapshot_of(invoice)
    seller, buyer = snapshot["seller"], snapshot["buyer"]
    amount = lambda minor: Money.from_minor(minor, invoice.currency).amount
    reverse = bool(buyer.get("reverse_charge"))
    credit = invoice.kind == "credit_note"
    corrected = invoice.refers_to
    return einvoice.Document(
        number=invoice.number, kind=invoice.kind, issue_date=invoice.issued_on,
        due_date=date.fromisoformat(snapshot["due_on"]),
        period_start=date.fromisoformat(snapshot["service_period"]["start"]),
        period_end=date.fromisoformat(snapshot["service_period"]["end"]),
        currency=invoice.currency, seller=_seller_party(seller), buyer=_buyer_party(buyer),
        lines=tuple(_line(line, amount) for line in invoice.lines),
        taxes=tuple(einvoice.Tax(t.name, t.rate, t.amount, reverse_charge=reverse) for t in invoice_taxes(invoice)),
        subtotal=amount(invoice.subtotal_minor), tax_total=amount(invoice.tax_minor),
        total=amount(invoice.total_minor),
        payment=einvoice.Payment(iban=seller["iban"], bic=seller["bic"], account=seller["bank_account"],
                                 reference=invoice.number),
        payment_terms=payment_terms(invoice, buyer, credit),
        purchase_order=buyer.get("purchase_order", ""),
        corrects=corrected.number if credit and corrected else "",
        corrects_date=corrected.issued_on if credit and corrected else None,
        reason=invoice.reason if credit else "",
        notes=tuple(snapshot.get("notes", [])),
    )


def payment_terms(invoice: Invoice, buyer: dict, credit: bool) -> str:
    """The payment-terms sentence (BT-20), in English; the PDF prints it in the client's language."""
    days = buyer["payment_terms_days"]
    if credit:
        return f"Credited against invoice {invoice.refers_to.number}; any refund is paid within {days} days."
    return f"Payable within {days} days of the invoice date, quoting the invoice number {invoice.number}."


def _seller_party(seller: dict) -> einvoice.Party:
    return einvoice.Party(seller["legal_name"], _lines(seller["address"]), seller["country"],
                          vat_id=seller["vat_id"], registration=seller["registration"],
                          email=seller["email"], phone=seller["phone"])


def _buyer_party(buyer: dict) -> einvoice.Party:
    emails = buyer.get("billing_emails") or []
    return einvoice.Party(buyer["name"], _lines(buyer["address"]), buyer["country"], vat_id=buyer["vat_id"],
                          email=emails[0] if emails else "")


def _lines(address: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in address.splitlines() if line.strip())


def _line(line: InvoiceLine, amount) -> einvoice.Line:
    return einvoice.Line(line.position, line.description, Decimal(line.quantity), amount(line.unit_price_minor),
                         amount(line.amount_minor), "HUR" if _billed_kind(line) == "hours_overage" else "C62")


def _billed_kind(line: InvoiceLine) -> str:
    """The kind of what a line bills; a credit line bills what its invoice line billed."""
    if line.credits_line_id is None:
        return line.kind
    credited = object_session(line).get(InvoiceLine, line.credits_line_id)
    return credited.kind if credited is not None else line.kind


def invoice_xml(invoice: Invoice) -> bytes:
    """The Factur-X (CII, EN 16931) XML, byte for byte the ``factur-x.xml`` embedded in the archived PDF."""
    return einvoice.cii_xml(invoice_document(invoice))


def invoice_ubl(invoice: Invoice) -> bytes:
    """The same document as UBL 2.1 (Peppol BIS Billing 3.0): ``Invoice``, or ``CreditNote``."""
    return einvoice.ubl_xml(invoice_document(invoice))
