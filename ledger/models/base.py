"""Column types, value lists and helpers shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import BigInteger, CheckConstraint, DateTime, String, TypeDecorator
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as UTC on every engine (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a UTC offset")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


#: every ``Mapped[datetime]`` column is stored as UTC (see UTCDateTime); a bare ``Mapped[int]``,
#: ``Mapped[date]``, ``Mapped[bool]`` or ``Mapped[bytes]`` is SQLAlchemy's Integer, Date, Boolean, LargeBinary
db.Model.registry.update_type_annotation_map({datetime: UTCDateTime})


#: an amount in minor units (cents) of a currency, stored as BIGINT
Minor = Annotated[int, mapped_column(BigInteger)]
#: an ISO 4217 currency code, e.g. EUR
Currency = Annotated[str, mapped_column(String(3))]


class Record(db.Model):
    """A table whose rows are known by an integer ``id`` (every table but ``counters``)."""

    __abstract__ = True

    #: first in every table, as the migrations create it
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)


class Role(enum.StrEnum):
    admin = "admin"
    account_manager = "account_manager"
    finance = "finance"
    client = "client"


ROLES = tuple(r.value for r in Role)
SEVERITIES = ("critical", "major", "moderate", "minor")
OVERAGE_POLICIES = ("bill", "block")
QUOTE_STATES = ("draft", "sent", "accepted", "declined", "expired")
QUOTE_UNITS = ("hour", "day")


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """A check, named after ``column``, that it holds one of ``values``."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=column)


