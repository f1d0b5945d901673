"""The pages' language: the user's own setting, then their client's locale, then ``Accept-Language``.

Flask-Babel asks ``page_locale`` once per request; its catalogues are the documents' (one domain,
``translations/``), chained region over language so ``fr_CA`` falls back to ``fr``.
"""

from __future__ import annotations

from babel import Locale, UnknownLocaleError
from flask import Flask, has_request_context, request, session
from flask_babel import Babel, Domain, get_locale
from flask_login import current_user

from ..i18n import translations

#: the languages the pages are written in; a region is listed only where its catalogue differs
SUPPORTED = ("en", "de", "fr", "fr_CA")
DEFAULT = "en"
#: the session key that keeps a signed-out user's language for the sign-in page that follows
LANGUAGE_KEY = "language"


def N_(text: str) -> str:
    """Mark ``text`` for the catalogues where it is translated later, when shown."""
    return text


def supported(value: str | None) -> str | None:
    """``value`` (``de_DE``, ``fr-CA``, ``fr_BE``) as a supported locale, its language if only that is; else None."""
    if not value:
        return None
    try:
        parsed = Locale.parse(str(value).strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    exact = f"{parsed.language}_{parsed.territory}" if parsed.territory else parsed.language
    if exact in SUPPORTED:
        return exact
    return parsed.language if parsed.language in SUPPORTED else None


def page_locale() -> str:
    """The locale of this request's page (Flask-Babel's locale selector)."""
    if not has_request_context():
        return DEFAULT
    if current_user and current_user.is_authenticated:
        # the users' own language setting may not exist yet on this database: read it if it does
        chosen = supported(getattr(current_user, "language", None)) \
            or supported(getattr(getattr(current_user, "client", None), "locale", None))
    else:
        chosen = supported(session.get(LANGUAGE_KEY))
    return chosen or request.accept_languages.best_match(SUPPORTED, default=DEFAULT)


def html_lang() -> str:
    """The page's language as BCP 47 for ``<html lang>``: ``de``, ``fr-CA``."""
    return str(get_locale() or DEFAULT).replace("_", "-")


def ui_locale() -> str:
    """The locale the interface formats its own dates in: the page's (``en`` reads as ``en_US``)."""
    chosen = str(get_locale() or DEFAULT) if has_request_context() else DEFAULT
    return "en_US" if chosen == "en" else chosen


class ChainedDomain(Domain):
    """The catalogues as documents read them: ``fr_CA`` on top of ``fr`` (Babel's loader picks only one)."""

    def get_translations(self):
        return translations(str(get_locale() or DEFAULT) if has_request_context() else DEFAULT)


def init_app(app: Flask) -> None:
    """Flask-Babel on ``app``, with the chained catalogues and the locale selector."""
    babel = Babel()
    babel.init_app(app, locale_selector=page_locale, default_domain="messages")
    babel.domain_instance = ChainedDomain(domain="messages")
    app.jinja_env.globals["html_lang"] = html_lang
