"""Reading a JSON body: each reader names the field it refuses, and unknown fields are refused."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from ..errors import BadRequest, ValidationError
from ..money import Money

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: dates outside these years are typing mistakes, not support history
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
#: the longest free text accepted (notes, reasons), in characters
MAX_TEXT = 5000


def parse_json(raw: bytes) -> dict:
    """The request body as an object; numbers with a fraction become Decimal, never float."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}", "body") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", "body")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def parse_date(value, field: str) -> date:
    """A ``YYYY-MM-DD`` string within sensible years."""
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        raise ValidationError(f"{field} is a date written YYYY-MM-DD", field)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a calendar date", field) from None
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValidationError(f"{field} must be between {EARLIEST_YEAR} and {LATEST_YEAR}", field)
    return day


def parse_datetime(value, field: str) -> datetime:
    """An ISO 8601 time with a UTC offset, e.g. ``2026-10-05T14:00:00+02:00``."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError(f"{field} is an ISO 8601 time with an offset", field)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not an ISO 8601 time", field) from None
    if moment.tzinfo is None:
        raise ValidationError(f"{field} needs a UTC offset, for example +02:00 or Z", field)
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValidationError(f"{field} must be between {EARLIEST_YEAR} and {LATEST_YEAR}", field)
    return moment


class Body:
    """A JSON object being read field by field; ``done()`` refuses any field nobody asked for."""

    def __init__(self, data: dict):
        self.data = data
        self.read: set[str] = set()

    def _get(self, name: str, required: bool):
        self.read.add(name)
        value = self.data.get(name)
        if value is None and required:
            raise ValidationError(f"{name} is required", name)
        return value

    def text(self, name: str, *, required: bool = True, max_length: int = 200, default: str = "") -> str:
        """A string, stripped; required ones may not be blank."""
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ValidationError(f"{name} must be a string", name)
        value = value.strip()
        if required and not value:
            raise ValidationError(f"{name} may not be blank", name)
        if len(value) > max_length:
            raise ValidationError(f"{name} is longer than {max_length} characters", name)
        if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
            raise ValidationError(f"{name} contains control characters", name)
        return value

    def integer(self, name: str, *, minimum: int, maximum: int, required: bool = True) -> int | None:
        """A whole number within bounds (``true`` and ``1.0`` are not numbers here)."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{name} must be a whole number", name)
        if not minimum <= value <= maximum:
            raise ValidationError(f"{name} must be from {minimum} to {maximum}", name)
        return value

    def decimal(self, name: str, *, required: bool = True) -> Decimal | None:
        """A decimal given as a string (``"8.25"``) or a JSON number."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise ValidationError(f"{name} must be a number written as a string, e.g. \"8.25\"", name)
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(f"{value!r} is not a number", name) from None
        if not number.is_finite():
            raise ValidationError(f"{value!r} is not a number", name)
        return number

    def money(self, name: str, currency: str, *, required: bool = True) -> Money | None:
        """An amount in ``currency`` given as a string, e.g. ``"1234.50"``."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise ValidationError(f"{name} is an amount written as a string, e.g. \"1234.50\"", name)
        try:
            amount = Money.parse(str(value), currency)
        except ValueError as error:
            raise ValidationError(f"{name}: {error}", name) from None
        if amount.amount < 0 or amount.amount >= Decimal("1e12"):
            raise ValidationError(f"{name} must be from 0 to 999,999,999,999", name)
        return amount

    def date(self, name: str, *, required: bool = True) -> date | None:
        """A ``YYYY-MM-DD`` date."""
        value = self._get(name, required)
        return None if value is None else parse_date(value, name)

    def datetime(self, name: str, *, required: bool = True) -> datetime | None:
        """An ISO 8601 time with an offset."""
        value = self._get(name, required)
        return None if value is None else parse_datetime(value, name)

    def choice(self, name: str, choices: tuple[str, ...], *, default: str | None = None) -> str:
        """One of ``choices``."""
        value = self._get(name, default is None)
        if value is None:
            return default
        if value not in choices:
            raise ValidationError(f"{name} is one of {', '.join(choices)}", name)
        return value

    def done(self) -> None:
        """Refuse fields that were not read: a typo must not be silently ignored."""
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise ValidationError(f"unknown field {unknown[0]!r}", unknown[0])
