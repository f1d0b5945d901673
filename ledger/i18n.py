"""Gettext catalogues under ``translations/`` and the document templates' Jinja environment per locale."""

from __future__ import annotations

import gettext
from datetime import date
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from .config import PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "translations"
TEMPLATES = PROJECT_ROOT / "templates"
DOMAIN = "messages"


def _catalogue(name: str) -> Path:
    return TRANSLATIONS / name / "LC_MESSAGES" / f"{DOMAIN}.mo"


@lru_cache(maxsize=64)
def translations(locale: str) -> gettext.NullTranslations:
    """The catalogue for ``locale`` (``fr_CA``), falling back to its language's (``fr``), then English.

    A regional catalogue holds only what differs from its language, so both are chained.
    """
    parsed = Locale.parse(locale)
    names = [str(parsed)] + ([parsed.language] if parsed.territory else [])
    found: gettext.NullTranslations = NullTranslations()
    for name in reversed(names):  # the language first, the region on top of it
        if _catalogue(name).is_file():
            with _catalogue(name).open("rb") as handle:
                layer = Translations(fp=handle, domain=DOMAIN)
            layer.add_fallback(found)
            found = layer
    return found


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string, for translated words in ``@page`` margin boxes."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ").replace("\n", " ")
    return Markup(f'"{escaped}"')


@lru_cache(maxsize=64)
def document_environment(locale: str) -> Environment:
    """A Jinja environment for ``templates/documents`` with the i18n extension and ``locale``'s catalogue.

    One environment per locale, so concurrent renders in other languages never swap its gettext.
    """
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    environment.filters["as_date"] = date.fromisoformat
    environment.filters["css_string"] = css_string
    environment.install_gettext_translations(translations(locale), newstyle=True)
    return environment
