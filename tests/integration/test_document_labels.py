"""Document labels in the client's language, from the gettext catalogues under ``translations/``.

A de_DE and a fr_CA invoice are issued for March and rendered; their text holds the German or
French labels and none of the English ones (line descriptions are data, not labels, and stay
as entered). Every string marked in ``templates/documents/`` has a German and a French
translation, and the committed ``.mo`` files say what their ``.po`` files say.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import current_app

from ledger.extensions import db
from ledger.i18n import TEMPLATES, TRANSLATIONS, translations
from ledger.models import Client, Invoice
from ledger.pdf import render_invoice_pdf
from ledger.services.vendor import set_client_billing
from tests.helpers import bill_march, issue, make_march_client, pdf_text

#: labels an English invoice prints that no German or French one may
ENGLISH = ["Invoice number", "Issue date", "Service period", "Due date", "Client number", "Bill to",
           "Quantity", "Unit price", "Net amount", "Subtotal", "Total due",
           "Payable within", "Usage statement", "Incidents available", "What happened", "Charges",
           "Prepaid professional-service hours", "Page 1 of"]
GERMAN = ["Rechnung INV-2026-00001", "Rechnungsnummer", "Rechnungsdatum", "Leistungszeitraum", "Fällig am",
          "Rechnungsempfänger", "Beschreibung", "Menge", "Einzelpreis", "Nettobetrag",
          "Zwischensumme (netto)", "MwSt. 19 %", "Gesamtbetrag", "Zahlbar innerhalb von 30 Tagen",
          "Verbrauchsübersicht", "Belastungen", "Seite 1 von 2"]
#: Canadian French: "avant taxes" where France would say HT
FRENCH_CA = ["Facture INV-2026-00001", "Numéro de facture", "Date d'émission", "Période de service", "Échéance",
             "Facturer à", "Quantité", "Prix unitaire", "Montant avant taxes", "Sous-total (avant taxes)",
             "Total à payer", "Payable sous 30 jours", "Relevé d'utilisation",
             "Page 1 sur 2"]


def issued_invoice(session, make_client, currency: str, locale: str, taxes: list[dict]) -> Invoice:
    make_march_client(make_client, "LANG", currency, locale, str(sum(Decimal(t["rate"]) for t in taxes)))
    client = db.session.query(Client).filter_by(code="LANG").one()
    set_client_billing(db.session, client, taxes=taxes)
    bill_march(session, "LANG")
    issue(session)
    return db.session.query(Invoice).filter_by(number="INV-2026-00001").one()


@pytest.mark.parametrize(("currency", "locale", "taxes", "expected"), [
    ("EUR", "de_DE", [{"name": "MwSt.", "rate": "19"}], GERMAN),
    ("CAD", "fr_CA", [{"name": "TPS", "rate": "5"}, {"name": "TVQ", "rate": "9.975"}], FRENCH_CA),
], ids=["de_DE", "fr_CA"])
def test_an_invoice_is_labelled_in_the_clients_language_with_no_english_label_left(
    session, make_client, rate_card, currency, locale, taxes, expected
):
    invoice = issued_invoice(session, make_client, currency, locale, taxes)

    text = pdf_text(render_invoice_pdf(invoice, current_app.config))

    assert [label for label in expected if label not in text] == []
    assert [label for label in ENGLISH if label in text] == []


@pytest.mark.parametrize(("locale", "count", "expected"), [
    ("de_DE", 1, "Zahlbar innerhalb von 1 Tag, bis zum heute."),
    ("de_DE", 30, "Zahlbar innerhalb von 30 Tagen, bis zum heute."),
    # French counts 0 and 1 as singular
    ("fr_FR", 0, "Payable sous 0 jour, au plus tard le heute."),
    ("fr_CA", 1, "Payable sous 1 jour, au plus tard le heute."),
    ("fr_CA", 45, "Payable sous 45 jours, au plus tard le heute."),
    ("en_US", 1, "Payable within 1 day, by heute."),
])
def test_the_payment_terms_sentence_takes_the_languages_plural_form(locale, count, expected):
    singular, plural = "Payable within %(count)s day, by %(due)s.", "Payable within %(count)s days, by %(due)s."

    sentence = translations(locale).ngettext(singular, plural, count) % {"count": count, "due": "heute"}

    assert sentence == expected


def document_messages() -> set[str | tuple[str, ...]]:
    """Every string marked in templates/documents/, as Babel extracts it."""
    method_map = [("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    return {message for _, _, message, _, _ in
            extract_from_dir(str(TEMPLATES / "documents"), method_map, options_map=options)}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_string_marked_in_the_document_templates_has_a_translation(language):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    messages = document_messages()
    assert len(messages) > 50

    def translated(message) -> bool:
        entry = catalogue.get(message)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) else (
            (entry.string,) if entry is not None else ("",))
        return entry is not None and not entry.fuzzy and all(strings)

    assert sorted(str(message) for message in messages if not translated(message)) == []


@pytest.mark.parametrize("language", ["de", "fr", "fr_CA"])
def test_the_committed_mo_file_holds_what_its_po_file_says(language):
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as handle:
        source = read_po(handle, locale=language)
    compiled = read_mo(io.BytesIO((folder / "messages.mo").read_bytes()))

    def pairs(catalogue) -> dict:
        def frozen(value):
            return tuple(value) if isinstance(value, (list, tuple)) else value

        return {frozen(message.id): frozen(message.string) for message in catalogue
                if message.id and message.string and not message.fuzzy
                and (not isinstance(message.string, tuple) or all(message.string))}

    assert pairs(compiled) == pairs(source), "run `make i18n-compile` and commit the .mo files"
