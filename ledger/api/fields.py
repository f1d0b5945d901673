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
        # A lone surrogate ("\ud800") is valid JSON but no text a database can store.
        json.dumps(value, default=str, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequest("the body is nested too deeply", "body") from None
    except UnicodeEncodeError:
        raise BadRequest("the body holds text that is not valid Unicode", "body") from None
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

    def __init__(self, data: dict, prefix: str = ""):
        self.data = data
        self.prefix = prefix
        self.read: set[str] = set()

    def _get(self, name: str, required: bool):
        self.read.add(name)
        value = self.data.get(name)
        if value is None and required:
            raise self._invalid(name, "is required")
        return value

    def _invalid(self, name: str, problem: str, prefixed: bool = True) -> ValidationError:
        """The error for field ``name``: its full name leads the message unless ``prefixed`` is off."""
        field = self._field(name)
        return ValidationError(f"{field} {problem}" if prefixed else problem, field)

    def _field(self, name: str) -> str:
        """The field's full name, e.g. ``lines[2].quantity`` inside a list of objects."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def items(self, name: str, *, maximum: int, required: bool = True) -> list[Body]:
        """A list of objects, each read as a Body of its own (``lines[0]``, ``lines[1]`` …)."""
        value = self._get(name, required)
        if value is None:
            return []
        field = self._field(name)
        if not isinstance(value, list) or (required and not value):
            raise ValidationError(f"{field} is a non-empty list", field)
        if len(value) > maximum:
            raise ValidationError(f"{field} has at most {maximum} entries", field)
        rows = []
        for index, row in enumerate(value):
            if not isinstance(row, dict):
                raise ValidationError(f"{field}[{index}] must be an object", f"{field}[{index}]")
            rows.append(Body(row, f"{field}[{index}]"))
        return rows

    def positions(self, name: str) -> list[int] | None:
        """An optional non-empty list of 1-based line positions."""
        value = self._get(name, False)
        if value is None:
            return None
        field = self._field(name)
        if not isinstance(value, list) or not value or len(value) > 1000:
            raise ValidationError(f"{field} is a non-empty list of line positions", field)
        if any(isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 100_000 for p in value):
            raise ValidationError(f"{field} holds line positions: whole numbers from 1", field)
        return value

    def quarter(self, name: str, *, maximum: Decimal) -> Decimal:
        """A positive quantity in quarters (``2``, ``"0.25"``, ``1.5``) up to ``maximum``."""
        number = self.decimal(name)
        field = self._field(name)
        if number <= 0 or number > maximum or number % Decimal("0.25") != 0:
            raise ValidationError(f"{field} is a positive multiple of 0.25 up to {maximum}", field)
        return number

    def text(self, name: str, *, required: bool = True, max_length: int = 200, default: str = "") -> str:
        """A string, stripped; required ones may not be blank."""
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._invalid(name, "must be a string")
        value = value.strip()
        if required and not value:
            raise self._invalid(name, "may not be blank")
        if len(value) > max_length:
            raise self._invalid(name, f"is longer than {max_length} characters")
        if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
            raise self._invalid(name, "contains control characters")
        return value

    def integer(self, name: str, *, minimum: int, maximum: int, required: bool = True) -> int | None:
        """A whole number within bounds (``true`` and ``1.0`` are not numbers here)."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._invalid(name, "must be a whole number")
        if not minimum <= value <= maximum:
            raise self._invalid(name, f"must be from {minimum} to {maximum}")
        return value

    def decimal(self, name: str, *, required: bool = True) -> Decimal | None:
        """A decimal given as a string (``"8.25"``) or a JSON number."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self._invalid(name, "must be a number written as a string, e.g. \"8.25\"")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self._invalid(name, f"{value!r} is not a number", prefixed=False) from None
        if not number.is_finite():
            raise self._invalid(name, f"{value!r} is not a number", prefixed=False)
        return number

    def money(self, name: str, currency: str, *, required: bool = True) -> Money | None:
        """An amount in ``currency`` given as a string, e.g. ``"1234.50"``."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self._invalid(name, "is an amount written as a string, e.g. \"1234.50\"")
        try:
            amount = Money.parse(str(value), currency)
        except ValueError as error:
            raise self._invalid(name, f"is not a valid amount: {error}") from None
        if amount.amount < 0 or amount.amount >= Decimal("1e12"):
            raise self._invalid(name, "must be from 0 to 999,999,999,999")
        return amount

    def date(self, name: str, *, required: bool = True) -> date | None:
        """A ``YYYY-MM-DD`` date."""
        value = self._get(name, required)
        return None if value is None else parse_date(value, self._field(name))

    def datetime(self, name: str, *, required: bool = True) -> datetime | None:
        """An ISO 8601 time with an offset."""
        value = self._get(name, required)
        return None if value is None else parse_datetime(value, self._field(name))

    def choice(self, name: str, choices: tuple[str, ...], *, default: str | None = None) -> str:
        """One of ``choices``."""
        value = self._get(name, default is None)
        if value is None:
            return default
        if value not in choices:
            raise self._invalid(name, f"is one of {', '.join(choices)}")
        return value

    def done(self) -> None:
        """Refuse fields that were not read: a typo must not be silently ignored."""
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            field = self._field(unknown[0])
            raise ValidationError(f"unknown field {field!r}", field)
