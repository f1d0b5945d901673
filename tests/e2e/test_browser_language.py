"""The portal in the client's language in a real browser: BRAU's user (de_DE) and NORD's (fr_CA) walk
every page the nav reaches and each case's page; ``<html lang>`` is set, no English word is left, and
the times on the case list are in the client's zone, named.
The browser asks for English (``en-US``): the client's locale wins. Screenshots go to
``test-artifacts/screenshots/``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from ledger.demo import DEMO_PASSWORD
from tests.browser import SCREENSHOTS, TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.served]

#: words only an English page has (whole words; not "Status", "Total", "incident" or "expire", which German or French share)
ENGLISH = re.compile(r"\b(Invoices?|Balance|Incidents left|Sign out|History|Quotes?|Cases?|Due|Paid|Overview|"
                     r"Statement|Download|Amount|Number|Subject|Severity|Opened|Period|Kind|"
                     r"Service levels|Support plan|No [a-z]+|the|and|of|with|from|until|left|paid|open|"
                     r"issued|bought|expiry)\b")
#: what a page shows that is no English word: the names of the demo's people, plans and cases, codes,
#: numbers, amounts and dates (the demo's case subjects are typed by people, in English)
STRIP = [r"[A-Z]{2,}-\d{4}-\d+", r"\S+@\S+", r"\d[\d.,: \u00a0\u202f%/–-]*", r"Support Ledger", r"Factur-X XML",
         r"UBL", r"PDF"]


def visible_words(page: Page, protected: list[str]) -> str:
    """The page's visible text, less what is data rather than wording."""
    text = page.locator("body").inner_text()
    for phrase in sorted(protected, key=len, reverse=True):
        text = text.replace(phrase, " ")
    for pattern in STRIP:
        text = re.sub(pattern, " ", text)
    return text


def data_cells(page: Page) -> list[str]:
    """Text people typed (case subjects and descriptions, history notes, plan names): not translated."""
    return [t for t in page.locator(".description, td:nth-child(2), #support-plan, h1").all_inner_texts() if t]


def english_left(page: Page) -> list[str]:
    return sorted(set(ENGLISH.findall(visible_words(page, data_cells(page)))))


#: a time of day as the pages write it: 14:30 (de), 14 h 30 (fr_CA), 2:30 PM (en)
TIME = re.compile(r"\b\d{1,2}(?::| h )\d{2}(?:\s[AP]M)?")


def zone_labels(page: Page, path: str) -> list[str]:
    """The zone named after each time on the page ("" for a time left without one); the start of a
    range (14:00–15:40 CET) is named by its end."""
    page.goto(path)
    text = page.locator("main").inner_text()
    labels = []
    for found in TIME.finditer(text):
        after = text[found.end():found.end() + 8]
        if after.startswith("–"):
            continue
        named = re.match(r"\s([A-Z]{2,5})\b", after)
        labels.append(named.group(1) if named else "")
    return labels


def walk(page: Page) -> list[str]:
    """The portal pages the nav links reach, then every case page the case list links."""
    page.goto("/portal/")
    nav = [a.get_attribute("href") for a in page.locator("nav a").all()]
    page.goto("/portal/cases")
    cases = [a.get_attribute("href") for a in page.locator("table a[href^='/portal/cases/']").all()]
    return nav + cases


@pytest.fixture
def served(demo_live_server):
    server, _token = demo_live_server
    return server


@pytest.mark.parametrize(("email", "lang", "words", "zone"), [
    ("it@brau.example.com", "de", "Verbleibende Vorfälle", "CES?T"),  # Europe/Berlin
    ("ti@nord.example.com", "fr-CA", "Incidents restants", "E[SD]T"),  # America/Toronto
])
def test_a_client_user_finds_every_portal_page_in_the_client_s_language(chromium, served, email, lang, words,
                                                                        zone):
    context = chromium.new_context(base_url=served.base_url, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert words in page.locator("body").inner_text()

    found = {}
    for number, path in enumerate(walk(page)):
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == lang, path
        left = english_left(page)
        if left:
            found[path] = left
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"language-{lang}-{number:02d}.png", full_page=True)
    times = [label for path in ("/portal/cases", "/portal/history") for label in zone_labels(page, path)]
    context.close()
    assert not found, f"English left on the {lang} pages: {found}"
    # every time on the case list and the history is in the client's zone, and says so (the browser is in UTC)
    assert times and all(re.fullmatch(zone, label) for label in times), times


def test_the_check_finds_english_on_an_english_page(chromium, served):
    """The heuristic is strict enough: ACME's (en_US) portal fails it."""
    context = chromium.new_context(base_url=served.base_url, locale="en-US")
    page = context.new_page()
    page.goto("/sign-in")
    page.get_by_label("Email").fill("it@acme.example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert {"Incidents left", "Sign out", "Overview"} <= set(english_left(page))
    context.close()
