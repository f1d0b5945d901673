"""Guessing passwords in parallel against the served app: at most the limit of passwords is ever
checked, the right one sent after the limit is refused, and nothing answers 500."""

from __future__ import annotations

import re
import threading
from collections import Counter

import requests

from ledger import create_app
from ledger.extensions import db
from ledger.services.users import create_user
from tests.helpers import REQUEST_TIMEOUT, both_engines, in_parallel

PASSWORD = "the right password, at last"
ATTEMPTS, RIGHT_ONE = 40, 30
#: the sign-in page's limit of failed attempts per minute
LIMIT = 5
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def user_with_password(database_url: str) -> str:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "e2e-set-up", "TESTING": True})
    with app.app_context():
        user = create_user(db.session, "target@example.com", "finance", password=PASSWORD)
        db.session.commit()
        email = user.email
        db.session.remove()
        db.engine.dispose()
    return email


def sign_in_form(base_url: str) -> tuple[requests.Session, str]:
    """A browser that has opened the sign-in page, and the page's CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{base_url}/sign-in", timeout=REQUEST_TIMEOUT)
    return browser, CSRF.search(page.text).group(1)


@both_engines
def test_forty_parallel_guesses_check_at_most_five_passwords_and_never_sign_in(live_server, database_url):
    email = user_with_password(database_url)
    forms = [sign_in_form(live_server.base_url) for _ in range(ATTEMPTS)]
    answered = threading.Semaphore(0)

    def guess(position: int):
        def send() -> int:
            browser, token = forms[position]
            right = position == RIGHT_ONE
            if right:  # the right password goes out once a handful of wrong ones have been answered
                for _ in range(LIMIT):
                    answered.acquire(timeout=REQUEST_TIMEOUT)
            response = browser.post(f"{live_server.base_url}/sign-in", allow_redirects=False,
                                    timeout=REQUEST_TIMEOUT, data={
                                        "email": email, "password": PASSWORD if right else f"wrong {position}",
                                        "csrf_token": token})
            if not right:
                answered.release()
            return response.status_code

        return send

    statuses = Counter(in_parallel([guess(position) for position in range(ATTEMPTS)]))

    assert statuses[500] == 0, statuses
    assert statuses[302] == 0, statuses  # never signed in
    assert statuses[422] <= LIMIT, statuses  # a 422 is a password checked and found wrong
    assert set(statuses) <= {422, 429}, statuses
