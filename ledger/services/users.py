"""Users, their page sessions and API tokens. Passwords are scrypt hashes; tokens and session ids
are stored only as SHA-256."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import N_, Conflict, NotFound, ValidationError
from ..models import ROLES, ApiToken, Client, User, WebSession, utcnow

EMAIL_PATTERN = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
#: scrypt with N=2^15, r=8, p=1: werkzeug's strong default, written down so it cannot drift
PASSWORD_METHOD = "scrypt:32768:8:1"
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "sl_"
#: the languages the pages are written in; a user without one reads their organisation's
LANGUAGES = ("en", "de", "fr", "fr_CA")
MAX_TOKEN_NAME = 100
#: a token's last use is written at most this often: the API must not write a row on every request
LAST_USED_GRAIN = timedelta(minutes=1)


@functools.cache
def time_zones() -> frozenset[str]:
    """Every IANA zone name this system knows."""
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(zone: str, field: str = "time_zone") -> str:
    """``zone`` if it is an IANA time zone; a validation error naming ``field`` otherwise."""
    if not isinstance(zone, str) or zone not in time_zones():
        shown = zone if isinstance(zone, str) and len(zone) <= 64 else "that"
        raise ValidationError(N_("%(zone)r is not an IANA time zone like Europe/Berlin or America/Toronto"), field,
                              zone=shown)
    return zone


def set_preferences(session: Session, user: User, *, time_zone: str | None, language: str | None) -> None:
    """Set the user's own time zone and language; None for either means "my organisation's"."""
    if time_zone is not None:
        check_time_zone(time_zone)
    if language is not None and language not in LANGUAGES:
        raise ValidationError(N_("the language is one of %(choices)s"), "language", choices=", ".join(LANGUAGES))
    user.time_zone, user.language = time_zone, language
    session.flush()


def change_own_password(session: Session, user: User, current: str, new: str, repeated: str) -> None:
    """A user's own password change: the current one first, the new one twice; ends their other sessions too."""
    if not check_password(user, current):
        raise ValidationError(N_("that is not your current password"), "current_password")
    if new != repeated:
        raise ValidationError(N_("the two new passwords differ"), "repeat_password")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise ValidationError(N_("a password has at least %(count)s characters"), "new_password",
                              count=MIN_PASSWORD_LENGTH)
    change_password(session, user, new)


def create_user(
    session: Session, email: str, role: str, *, client: Client | None = None,
    password: str | None = None,
) -> User:
    """Create a user; a client user belongs to exactly one client, other roles to none."""
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise ValidationError(N_("%(email)r is not an email address"), "email", email=email)
    if role not in ROLES:
        raise ValidationError(N_("role is one of %(choices)s"), "role", choices=", ".join(ROLES))
    if (role == "client") != (client is not None):
        raise ValidationError(N_("a client user belongs to one client, and only a client user does"), "client")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(N_("a user %(email)s exists already"), "email", email=email)
    user = User(email=email, role=role, client_id=client.id if client else None)
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Store a scrypt hash of ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(N_("a password has at least %(count)s characters"), "password", count=MIN_PASSWORD_LENGTH)
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (False for a user without one)."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a password no one knows, with the real parameters: checked when no user is."""
    return generate_password_hash(secrets.token_hex(16), method=PASSWORD_METHOD)


def authenticate(user: User | None, password: str) -> bool:
    """Whether ``user`` is active and ``password`` is theirs, at the cost of one scrypt check always,
    so that the time taken does not tell an unknown (or inactive) e-mail from a real one."""
    if user is None or not user.active or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def change_password(session: Session, user: User, password: str) -> None:
    """Set a new password and end every page session of the user (a thief's included)."""
    set_password(user, password)
    end_sessions(session, user)


def set_active(session: Session, user: User, active: bool) -> None:
    """Activate or deactivate a user; deactivating ends every page session of theirs."""
    user.active = active
    if not active:
        end_sessions(session, user)
    session.flush()


# --- page sessions ------------------------------------------------------------------------


def start_session(session: Session, user: User) -> str:
    """A new page session for ``user``; returns its id for the signed cookie (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(user_id=user.id, token_hash=_digest(token)))
    session.flush()
    return token


def live_session(session: Session, token: str) -> WebSession | None:
    """The page session a cookie names, while it has not ended and its user is active."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(
        select(WebSession).where(WebSession.token_hash == _digest(token), WebSession.ended_at.is_(None)))
    return row if row is not None and row.user.active else None


def end_session(session: Session, row: WebSession) -> None:
    """End one page session (sign-out)."""
    row.ended_at = utcnow()
    session.flush()


def end_sessions(session: Session, user: User) -> None:
    """End every page session of ``user``."""
    session.execute(update(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
                    .values(ended_at=utcnow()))
    session.flush()


def find_user(session: Session, email: str) -> User:
    """The user with ``email``; NotFound otherwise."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(N_("no user %(email)s"), "email", email=email)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, user: User, *, name: str = "", expires_on: date | None = None, today: date | None = None,
) -> str:
    """A new API token for ``user``, returned once; only its hash is kept.

    With ``expires_on`` it stops working at the start of that day (UTC), which must be after ``today``.
    """
    name = (name or "").strip()
    if len(name) > MAX_TOKEN_NAME:
        raise ValidationError(N_("a token's name has at most %(max)s characters"), "name", max=MAX_TOKEN_NAME)
    if "<" in name or ">" in name:
        raise ValidationError(N_("a token's name is plain text: no < or >"), "name")
    expires_at = None
    if expires_on is not None:
        if expires_on <= (today or datetime.now(UTC).date()):
            raise ValidationError(N_("the expiry is a day after today"), "expires")
        expires_at = datetime.combine(expires_on, time(), tzinfo=UTC)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token), prefix=token[:10], name=name,
                         expires_at=expires_at))
    session.flush()
    return token


def token_status(row: ApiToken, now: datetime) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def live_token(session: Session, token: str, now: datetime | None = None) -> ApiToken | None:
    """The unrevoked, unexpired token row of an active user that ``token`` is, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(_LIVE_TOKEN, {"token_hash": _digest(token)})
    if row is None or token_status(row, now or utcnow()) != "active" or not row.user.active:
        return None
    return row


#: an unrevoked token with its user (parameter ``token_hash``): one statement on every API request,
#: built once (building it costs about as much as running it)
_LIVE_TOKEN = (
    select(ApiToken)
    .options(joinedload(ApiToken.user))
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The active user a live (unrevoked, unexpired) token belongs to, or None."""
    row = live_token(session, token, now)
    return None if row is None else row.user


def note_use(row: ApiToken, now: datetime | None = None) -> bool:
    """Record that the API accepted ``row`` now; True if that changed the row (the caller commits it).

    Written at most once a minute per token: a busy client must not turn every read into a write.
    """
    now = now or utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_GRAIN:
        return False
    row.last_used_at = now
    return True


def revoke_token(session: Session, token_id: int) -> None:
    """Revoke a token from now on."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(N_("no token %(id)s"), "id", id=token_id)
    row.revoked_at = utcnow()
    session.flush()
