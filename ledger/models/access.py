"""Access to the pages: signed-in sessions, revocable on the server, and the one-time tokens of their forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Record, utcnow
from .parties import User


class WebSession(Record):
    """A signed-in browser: the signed cookie names it, and it counts only while not ended."""

    __tablename__ = "web_sessions"

    #: SHA-256 of the random id the cookie carries (hex), so the table alone signs no one in
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when sign-out, a password change or deactivation ended it
    ended_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class FormUse(Record):
    """A form's one-time token that has been used, and the page its post led to (shown to a replay)."""

    __tablename__ = "form_uses"

    #: the token's random part; unique, so a second post with it cannot commit
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("web_sessions.id"), index=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: where the first post sent the browser
    result_url: Mapped[str] = mapped_column(String(2000), default="")
