"""EN 16931 e-invoices from one frozen document: Factur-X/ZUGFeRD CII and UBL 2.1 (Peppol BIS Billing 3.0).

The document holds plain values as the invoice printed them (a credit note's amounts
negative, as stored); the writers give EN 16931's view, where a credit note (type 381)
carries positive amounts. Taxes: EN 16931 knows one VAT rate per line, so the named
components of a client (GST 5 % + QST 9.975 %) travel as one standard-rated breakdown at
their summed rate, their amounts summed (each rounded half-up on its own; EN 16931
tolerates the difference), and each component is named with its amount in a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from lxml import etree

from .money import exponent

CII_GUIDELINE = "urn:cen.eu:en16931:2017"
PEPPOL_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
#: UNTDID 1001: commercial invoice, credit note
TYPE_CODES = {"invoice": "380", "credit_note": "381"}
REVERSE_CHARGE_REASON = "Reverse charge"
REVERSE_CHARGE_CODE = "VATEX-EU-AE"

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
UBL_ROOT = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
#: the CII and UBL prefixes do not clash, so one map serves both writers
_NAMESPACES = {**NS, **UBL}


@dataclass(frozen=True)
class Party:
    """Seller or buyer: name, postal address lines, ISO country, VAT ID or other tax number, contact."""

    name: str
    address: tuple[str, ...]
    country: str
    city: str = ""
    postcode: str = ""
    #: VAT identifier with country prefix (BT-31/BT-48); a number without one is a tax registration
    vat_id: str = ""
    #: company registration (BT-30/BT-47)
    registration: str = ""
    email: str = ""
    phone: str = ""

    @property
    def is_vat_id(self) -> bool:
        """Whether ``vat_id`` is an EN 16931 VAT identifier (it starts with a country prefix)."""
        return len(self.vat_id) > 2 and self.vat_id[:2].isalpha()


@dataclass(frozen=True)
class Line:
    """One invoice line: quantity × unit price = net, in the document's currency."""

    position: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    net: Decimal
    #: UN/ECE rec 20: C62 one, HUR hour
    unit_code: str = "C62"


@dataclass(frozen=True)
class Tax:
    """A named tax component with its amount; ``reverse_charge`` makes it EN 16931 category AE at 0 %."""

    name: str
    rate: Decimal
    amount: Decimal
    reverse_charge: bool = False


@dataclass(frozen=True)
class Payment:
    """How to pay: an IBAN (SEPA credit transfer, code 58) or another bank account (credit transfer, 30)."""

    iban: str = ""
    bic: str = ""
    account: str = ""
    #: the remittance reference to quote, the invoice number
    reference: str = ""


@dataclass(frozen=True)
class Document:
    """Everything an EN 16931 invoice or credit note says, as plain values."""

    number: str
    kind: Literal["invoice", "credit_note"]
    issue_date: date
    due_date: date
    period_start: date
    period_end: date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    taxes: tuple[Tax, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    payment: Payment
    payment_terms: str = ""
    buyer_reference: str = ""
    purchase_order: str = ""
    #: a credit note's invoice: its number and issue date, and why it is corrected
    corrects: str = ""
    corrects_date: date | None = None
    reason: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sign(self) -> Decimal:
        """EN 16931 writes a credit note's amounts positive; the ledger stores them negative."""
        return Decimal(-1) if self.kind == "credit_note" else Decimal(1)


@dataclass(frozen=True)
class Breakdown:
    """One EN 16931 VAT breakdown (BG-23): category, rate, taxable amount and tax amount."""

    category: str
    rate: Decimal
    basis: Decimal
    amount: Decimal
    reason: str = ""
    reason_code: str = ""


def breakdown(document: Document) -> Breakdown:
    """The document's one VAT breakdown: S at the summed rate, AE for reverse charge, Z for no tax."""
    basis = document.subtotal * document.sign
    amount = document.tax_total * document.sign
    if any(tax.reverse_charge for tax in document.taxes):
        return Breakdown("AE", Decimal(0), basis, amount, REVERSE_CHARGE_REASON, REVERSE_CHARGE_CODE)
    rate = sum((tax.rate for tax in document.taxes), Decimal(0))
    return Breakdown("S" if rate else "Z", rate, basis, amount)


def notes(document: Document) -> list[str]:
    """Free-text notes (BT-22): the credit note's reason, each named tax component, the caller's notes."""
    found = []
    if document.kind == "credit_note" and document.reason:
        found.append(f"Corrects invoice {document.corrects}: {document.reason}")
    if len(document.taxes) > 1:
        found.append("; ".join(
            f"{tax.name} {_number(tax.rate)} %: {_amount(tax.amount * document.sign, document.currency)}"
            for tax in document.taxes))
    return found + list(document.notes)


def _amount(value: Decimal, currency: str) -> str:
    return str(value.quantize(exponent(currency)))


def _number(value: Decimal) -> str:
    """A quantity, rate or price without trailing zeros or an exponent: 100, 1.25, 9.975."""
    return format(value.normalize(), "f")


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _add(parent, tag: str, text: str | None = None, **attributes) -> etree._Element:
    """A child element ``prefix:Name`` (a CII or a UBL prefix), with its text and attributes."""
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{_NAMESPACES[prefix]}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


# --- Factur-X / ZUGFeRD: UN/CEFACT CII, EN 16931 profile ---------------------------


def _cii_date(parent, tag: str, day: date, kind: str = "udt") -> None:
    _add(_add(parent, tag), f"{kind}:DateTimeString", day.strftime("%Y%m%d"), format="102")


def cii_xml(document: Document) -> bytes:
    """The Factur-X / ZUGFeRD XML (``factur-x.xml``), EN 16931 profile, as UTF-8 bytes."""
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    context = _add(root, "rsm:ExchangedDocumentContext")
    _add(_add(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", CII_GUIDELINE)
    header = _add(root, "rsm:ExchangedDocument")
    _add(header, "ram:ID", document.number)
    _add(header, "ram:TypeCode", TYPE_CODES[document.kind])
    _cii_date(header, "ram:IssueDateTime", document.issue_date)
    for note in notes(document):
        _add(_add(header, "ram:IncludedNote"), "ram:Content", note)
    transaction = _add(root, "rsm:SupplyChainTradeTransaction")
    vat = breakdown(document)
    for line in document.lines:
        _cii_line(transaction, line, document, vat)
    _cii_agreement(transaction, document)
    # an empty delivery element draws a warning: the service was delivered through the period's end
    delivery = _add(_add(transaction, "ram:ApplicableHeaderTradeDelivery"),
                    "ram:ActualDeliverySupplyChainEvent")
    _cii_date(delivery, "ram:OccurrenceDateTime", document.period_end)
    _cii_settlement(transaction, document, vat)
    return _xml(root)


def _cii_line(parent, line: Line, document: Document, vat: Breakdown) -> None:
    item = _add(parent, "ram:IncludedSupplyChainTradeLineItem")
    _add(_add(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(line.position))
    _add(_add(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
    price = _add(_add(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
    _add(price, "ram:ChargeAmount", _number(line.unit_price * document.sign))
    _add(_add(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", _number(line.quantity),
         unitCode=line.unit_code)
    settlement = _add(item, "ram:SpecifiedLineTradeSettlement")
    tax = _add(settlement, "ram:ApplicableTradeTax")
    _add(tax, "ram:TypeCode", "VAT")
    _add(tax, "ram:CategoryCode", vat.category)
    _add(tax, "ram:RateApplicablePercent", _number(vat.rate))
    _add(_add(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
         _amount(line.net * document.sign, document.currency))


def _legal_id(party: Party, seller: bool) -> str:
    """BT-30/BT-47. A buyer has no tax number besides a VAT ID in EN 16931: its national number
    (a Canadian BN, a US EIN) is the registrar's identifier of the buyer as a legal entity."""
    if party.registration or seller or party.is_vat_id:
        return party.registration
    return party.vat_id


def _tax_id(party: Party, seller: bool) -> str:
    """BT-31/BT-32 (seller: VAT ID or tax registration) or BT-48 (buyer: VAT ID only)."""
    return party.vat_id if seller or party.is_vat_id else ""


def _cii_party(parent, tag: str, party: Party) -> None:
    seller = tag == "ram:SellerTradeParty"
    element = _add(parent, tag)
    _add(element, "ram:Name", party.name)
    if _legal_id(party, seller):
        _add(_add(element, "ram:SpecifiedLegalOrganization"), "ram:ID", _legal_id(party, seller))
    if party.phone or party.email:
        contact = _add(element, "ram:DefinedTradeContact")
        if party.phone:
            _add(_add(contact, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", party.phone)
        if party.email:
            _add(_add(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
    address = _add(element, "ram:PostalTradeAddress")
    if party.postcode:
        _add(address, "ram:PostcodeCode", party.postcode)
    for tag_name, text in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), _address_lines(party)):
        _add(address, tag_name, text)
    if party.city:
        _add(address, "ram:CityName", party.city)
    _add(address, "ram:CountryID", party.country)
    if party.email:
        _add(_add(element, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    if _tax_id(party, seller):
        _add(_add(element, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_id,
             schemeID="VA" if party.is_vat_id else "FC")


def _address_lines(party: Party) -> list[str]:
    """Up to three address lines; any further lines join the third."""
    lines = [line.strip() for line in party.address if line.strip()]
    return lines[:2] + ([", ".join(lines[2:])] if lines[2:] else [])


def _cii_agreement(parent, document: Document) -> None:
    agreement = _add(parent, "ram:ApplicableHeaderTradeAgreement")
    if document.buyer_reference:
        _add(agreement, "ram:BuyerReference", document.buyer_reference)
    _cii_party(agreement, "ram:SellerTradeParty", document.seller)
    _cii_party(agreement, "ram:BuyerTradeParty", document.buyer)
    if document.purchase_order:
        _add(_add(agreement, "ram:BuyerOrderReferencedDocument"), "ram:IssuerAssignedID",
             document.purchase_order)


def _cii_settlement(parent, document: Document, vat: Breakdown) -> None:
    money = lambda value: _amount(value * document.sign, document.currency)  # noqa: E731
    settlement = _add(parent, "ram:ApplicableHeaderTradeSettlement")
    if document.payment.reference:
        _add(settlement, "ram:PaymentReference", document.payment.reference)
    _add(settlement, "ram:InvoiceCurrencyCode", document.currency)
    _cii_payment_means(settlement, document.payment)
    tax = _add(settlement, "ram:ApplicableTradeTax")
    _add(tax, "ram:CalculatedAmount", _amount(vat.amount, document.currency))
    _add(tax, "ram:TypeCode", "VAT")
    if vat.reason:
        _add(tax, "ram:ExemptionReason", vat.reason)
    _add(tax, "ram:BasisAmount", _amount(vat.basis, document.currency))
    _add(tax, "ram:CategoryCode", vat.category)
    if vat.reason_code:
        _add(tax, "ram:ExemptionReasonCode", vat.reason_code)
    _add(tax, "ram:RateApplicablePercent", _number(vat.rate))
    period = _add(settlement, "ram:BillingSpecifiedPeriod")
    _cii_date(period, "ram:StartDateTime", document.period_start)
    _cii_date(period, "ram:EndDateTime", document.period_end)
    terms = _add(settlement, "ram:SpecifiedTradePaymentTerms")
    if document.payment_terms:
        _add(terms, "ram:Description", document.payment_terms)
    _cii_date(terms, "ram:DueDateDateTime", document.due_date)
    sums = _add(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _add(sums, "ram:LineTotalAmount", money(sum((line.net for line in document.lines), Decimal(0))))
    _add(sums, "ram:TaxBasisTotalAmount", money(document.subtotal))
    _add(sums, "ram:TaxTotalAmount", money(document.tax_total), currencyID=document.currency)
    _add(sums, "ram:GrandTotalAmount", money(document.total))
    _add(sums, "ram:DuePayableAmount", money(document.total))
    if document.corrects:
        reference = _add(settlement, "ram:InvoiceReferencedDocument")
        _add(reference, "ram:IssuerAssignedID", document.corrects)
        if document.corrects_date:
            _cii_date(reference, "ram:FormattedIssueDateTime", document.corrects_date, "qdt")


def _cii_payment_means(parent, payment: Payment) -> None:
    if not (payment.iban or payment.account):
        return
    means = _add(parent, "ram:SpecifiedTradeSettlementPaymentMeans")
    _add(means, "ram:TypeCode", "58" if payment.iban else "30")
    account = _add(means, "ram:PayeePartyCreditorFinancialAccount")
    _add(account, "ram:IBANID" if payment.iban else "ram:ProprietaryID", payment.iban or payment.account)
    if payment.bic:
        _add(_add(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", payment.bic)


# --- UBL 2.1, Peppol BIS Billing 3.0 -----------------------------------------------


def ubl_xml(document: Document) -> bytes:
    """The same document as UBL 2.1 (Peppol BIS Billing 3.0): ``Invoice``, or ``CreditNote``."""
    credit = document.kind == "credit_note"
    root_name = "CreditNote" if credit else "Invoice"
    root = etree.Element(f"{{{UBL_ROOT[document.kind]}}}{root_name}",
                         nsmap={None: UBL_ROOT[document.kind], **UBL})
    _add(root, "cbc:CustomizationID", PEPPOL_CUSTOMIZATION)
    _add(root, "cbc:ProfileID", PEPPOL_PROFILE)
    _add(root, "cbc:ID", document.number)
    _add(root, "cbc:IssueDate", document.issue_date.isoformat())
    if not credit:
        _add(root, "cbc:DueDate", document.due_date.isoformat())
    _add(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode", TYPE_CODES[document.kind])
    for note in notes(document):
        _add(root, "cbc:Note", note)
    _add(root, "cbc:DocumentCurrencyCode", document.currency)
    # Peppol asks for a buyer reference or an order reference; the invoice number stands in
    _add(root, "cbc:BuyerReference", document.buyer_reference or document.purchase_order or document.number)
    period = _add(root, "cac:InvoicePeriod")
    _add(period, "cbc:StartDate", document.period_start.isoformat())
    _add(period, "cbc:EndDate", document.period_end.isoformat())
    if document.purchase_order:
        _add(_add(root, "cac:OrderReference"), "cbc:ID", document.purchase_order)
    if document.corrects:
        reference = _add(_add(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _add(reference, "cbc:ID", document.corrects)
        if document.corrects_date:
            _add(reference, "cbc:IssueDate", document.corrects_date.isoformat())
    _ubl_party(_add(root, "cac:AccountingSupplierParty"), document.seller, seller=True)
    _ubl_party(_add(root, "cac:AccountingCustomerParty"), document.buyer, seller=False)
    _ubl_payment_means(root, document)
    if document.payment_terms:
        _add(_add(root, "cac:PaymentTerms"), "cbc:Note", document.payment_terms)
    _ubl_taxes(root, document)
    _ubl_totals(root, document)
    for line in document.lines:
        _ubl_line(root, line, document, credit)
    return _xml(root)


def _ubl_party(parent, party: Party, seller: bool) -> None:
    element = _add(parent, "cac:Party")
    if party.email:
        _add(element, "cbc:EndpointID", party.email, schemeID="EM")
    _add(_add(element, "cac:PartyName"), "cbc:Name", party.name)
    address = _add(element, "cac:PostalAddress")
    lines = _address_lines(party)
    for tag, text in zip(("cbc:StreetName", "cbc:AdditionalStreetName"), lines):
        _add(address, tag, text)
    if party.city:
        _add(address, "cbc:CityName", party.city)
    if party.postcode:
        _add(address, "cbc:PostalZone", party.postcode)
    if len(lines) > 2:
        _add(_add(address, "cac:AddressLine"), "cbc:Line", lines[2])
    _add(_add(address, "cac:Country"), "cbc:IdentificationCode", party.country)
    if _tax_id(party, seller):
        scheme = _add(element, "cac:PartyTaxScheme")
        _add(scheme, "cbc:CompanyID", party.vat_id)
        _add(_add(scheme, "cac:TaxScheme"), "cbc:ID", "VAT" if party.is_vat_id else "TAX")
    legal = _add(element, "cac:PartyLegalEntity")
    _add(legal, "cbc:RegistrationName", party.name)
    if _legal_id(party, seller):
        _add(legal, "cbc:CompanyID", _legal_id(party, seller))
    if party.phone or party.email:
        contact = _add(element, "cac:Contact")
        if party.phone:
            _add(contact, "cbc:Telephone", party.phone)
        if party.email:
            _add(contact, "cbc:ElectronicMail", party.email)


def _ubl_payment_means(parent, document: Document) -> None:
    payment = document.payment
    if not (payment.iban or payment.account):
        return
    means = _add(parent, "cac:PaymentMeans")
    _add(means, "cbc:PaymentMeansCode", "58" if payment.iban else "30")
    if payment.reference:
        _add(means, "cbc:PaymentID", payment.reference)
    account = _add(means, "cac:PayeeFinancialAccount")
    _add(account, "cbc:ID", payment.iban or payment.account)
    if payment.bic:
        _add(_add(account, "cac:FinancialInstitutionBranch"), "cbc:ID", payment.bic)


def _ubl_category(parent, tag: str, vat: Breakdown) -> None:
    category = _add(parent, tag)
    _add(category, "cbc:ID", vat.category)
    _add(category, "cbc:Percent", _number(vat.rate))
    if vat.reason_code and tag == "cac:TaxCategory":
        _add(category, "cbc:TaxExemptionReasonCode", vat.reason_code)
        _add(category, "cbc:TaxExemptionReason", vat.reason)
    _add(_add(category, "cac:TaxScheme"), "cbc:ID", "VAT")


def _ubl_taxes(parent, document: Document) -> None:
    vat = breakdown(document)
    currency = document.currency
    total = _add(parent, "cac:TaxTotal")
    _add(total, "cbc:TaxAmount", _amount(vat.amount, currency), currencyID=currency)
    subtotal = _add(total, "cac:TaxSubtotal")
    _add(subtotal, "cbc:TaxableAmount", _amount(vat.basis, currency), currencyID=currency)
    _add(subtotal, "cbc:TaxAmount", _amount(vat.amount, currency), currencyID=currency)
    _ubl_category(subtotal, "cac:TaxCategory", vat)


def _ubl_totals(parent, document: Document) -> None:
    totals = _add(parent, "cac:LegalMonetaryTotal")
    line_total = sum((line.net for line in document.lines), Decimal(0))
    for tag, value in (("cbc:LineExtensionAmount", line_total), ("cbc:TaxExclusiveAmount", document.subtotal),
                       ("cbc:TaxInclusiveAmount", document.total), ("cbc:PayableAmount", document.total)):
        _add(totals, tag, _amount(value * document.sign, document.currency), currencyID=document.currency)


def _ubl_line(parent, line: Line, document: Document, credit: bool) -> None:
    currency = document.currency
    element = _add(parent, "cac:CreditNoteLine" if credit else "cac:InvoiceLine")
    _add(element, "cbc:ID", str(line.position))
    _add(element, "cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", _number(line.quantity),
         unitCode=line.unit_code)
    _add(element, "cbc:LineExtensionAmount", _amount(line.net * document.sign, currency), currencyID=currency)
    item = _add(element, "cac:Item")
    _add(item, "cbc:Name", line.description)
    _ubl_category(item, "cac:ClassifiedTaxCategory", breakdown(document))
    _add(_add(element, "cac:Price"), "cbc:PriceAmount", _number(line.unit_price * document.sign),
         currencyID=currency)
