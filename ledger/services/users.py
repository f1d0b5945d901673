"""Users and API tokens. Passwords are scrypt hashes; tokens are stored only as SHA-256."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import Conflict, NotFound, ValidationError
from ..models import ROLES, ApiToken, Client, User, utcnow

EMAIL_PATTERN = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
#: scrypt with N=2^15, r=8, p=1: werkzeug's strong default, written down so it cannot drift
PASSWORD_METHOD = "scrypt:32768:8:1"
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "sl_"


def create_user(
    session: Session, email: str, role: str, *, client: Client | None = None,
    password: str | None = None,
) -> User:
    """Create a user; a client user belongs to exactly one client, other roles to none."""
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise ValidationError(f"{email!r} is not an email address", "email")
    if role not in ROLES:
        raise ValidationError(f"role is one of {', '.join(ROLES)}", "role")
    if (role == "client") != (client is not None):
        raise ValidationError("a client user belongs to one client, and only a client user does", "client")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user {email} exists already", "email")
    user = User(email=email, role=role, client_id=client.id if client else None)
    if password is not None:
        set_password(user, password)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Store a scrypt hash of ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"a password has at least {MIN_PASSWORD_LENGTH} characters", "password")
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (False for a user without one)."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def find_user(session: Session, email: str) -> User:
    """The user with ``email``; NotFound otherwise."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user {email}", "email")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User) -> str:
    """A new API token for ``user``, returned once; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token), prefix=token[:10]))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    return row.user


def revoke_token(session: Session, token_id: int) -> None:
    """Revoke a token from now on."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}", "id")
    row.revoked_at = utcnow()
    session.flush()
