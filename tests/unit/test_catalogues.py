"""Every string the pages, forms, flash messages, e-mails and documents mark is translated.

The strings are extracted from the sources as ``make i18n-extract`` does (``babel.cfg``, the
``_l`` keyword for lazy form labels), so a string marked on another branch fails here until
``make i18n-update`` has brought it into the catalogues and someone has translated it.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from ledger.config import PROJECT_ROOT
from ledger.i18n import TRANSLATIONS

#: the keywords of `make i18n-extract` (I18N_KEYWORDS in the Makefile): Babel's and flask_babel's lazy_gettext
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}


@cache
def marked() -> frozenset[str]:
    """Every msgid marked in the sources, as ``make i18n-extract`` finds them (plural forms by their singular)."""
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return frozenset(found)


def catalogue(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def missing(language: str) -> list[str]:
    """The marked msgids that ``language``'s catalogue leaves untranslated, fuzzy or lacks."""
    entries = catalogue(language)
    gaps = []
    for msgid in sorted(marked()):
        entry = entries.get(msgid)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) else [getattr(entry, "string", "")]
        if entry is None or entry.fuzzy or not all(strings):
            gaps.append(msgid)
    return gaps


def test_the_sources_mark_the_pages_flash_messages_and_form_labels():
    assert {"Sign out", "Incidents left", "You are signed out.", "Subject",
            "Case %(number)s opened: the service-level clock has started.", "paid",
            "Issued %(num)d invoice for %(period)s: %(numbers)s."} <= marked()


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_marked_string_has_a_translation_that_is_not_fuzzy(language):
    gaps = missing(language)
    assert not gaps, (f"{len(gaps)} marked strings have no {language} translation (or a fuzzy one); run "
                      f"`make i18n-update`, translate them in translations/{language}/LC_MESSAGES/messages.po "
                      f"and `make i18n-compile` (docs/translating.md). The first: {gaps[:15]}")


@pytest.mark.parametrize("language", ["de", "fr", "fr_CA"])
def test_placeholders_are_kept_in_every_translation(language):
    """A translation that drops or renames ``%(number)s`` would fail when the page formats it."""
    wrong = []
    for entry in catalogue(language):
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        names = set(_placeholders(ids[-1]))
        wrong += [entry.id for text in strings if text and not set(_placeholders(text)) <= names | {"num"}]
    assert not wrong


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\((\w+)\)", text)


def test_the_canadian_catalogue_leaves_no_plural_form_empty():
    """An empty plural entry compiles to the English msgid (Babel), which would hide the French one under it."""
    empty = [entry.id[0] for entry in catalogue("fr_CA")
             if isinstance(entry.id, tuple) and not all(entry.string)]
    assert not empty, f"copy the fr forms (or the Canadian ones) into fr_CA: {empty}"
