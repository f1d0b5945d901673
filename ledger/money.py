"""The one money type: a Decimal amount beside an ISO 4217 currency.

The database keeps integer minor units (cents); Python code works in Decimal;
display goes through Babel in the client's locale. Never a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, total_ordering

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies


@cache
def known_currencies() -> frozenset[str]:
    """ISO 4217 codes Babel knows."""
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """Whether ``code`` is a known ISO 4217 currency code (upper case)."""
    return isinstance(code, str) and code.isupper() and code in known_currencies()


def is_locale(name: str) -> bool:
    """Whether ``name`` (for example ``de_DE``) is a locale Babel can format for."""
    if not isinstance(name, str) or not name or len(name) > 20:
        return False
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    return True


@cache
def exponent(currency: str) -> Decimal:
    """The smallest unit of ``currency`` as a Decimal exponent (``0.01`` for USD, ``1`` for JPY)."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


@total_ordering
@dataclass(frozen=True)
class Money:
    """An exact amount of one currency."""

    amount: Decimal
    currency: str

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Money from integer minor units (cents) as stored in the database."""
        return cls(Decimal(minor) * exponent(currency), currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Money from a string such as ``"1234.50"``; raises ValueError on anything else."""
        if not isinstance(text, str):
            raise ValueError("money must be a string such as \"1234.50\"")
        try:
            amount = Decimal(text.strip())
            if not amount.is_finite():
                raise InvalidOperation
            exact = amount == amount.quantize(exponent(currency), rounding=ROUND_HALF_UP)
        except InvalidOperation:  # not a number, infinite, or more digits than a Decimal context holds
            raise ValueError(f"{text!r} is not an amount") from None
        if not exact:
            raise ValueError(f"{currency} amounts have at most {get_currency_precision(currency)} decimals")
        return cls(amount, currency)

    @property
    def minor(self) -> int:
        """Integer minor units (cents), rounded half-up."""
        return int(self.rounded().amount / exponent(self.currency))

    def rounded(self) -> Money:
        """This amount rounded half-up to the currency's smallest unit."""
        return Money(self.amount.quantize(exponent(self.currency), ROUND_HALF_UP), self.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float):
            raise TypeError("money is never multiplied by a float")
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        """Compares amounts of one currency; <=, > and >= follow from it (functools.total_ordering)."""
        self._same_currency(other)
        return self.amount < other.amount

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise TypeError(f"cannot mix {self.currency} with {getattr(other, 'currency', other)!r}")

    def __str__(self) -> str:
        """The API form: a plain string with the currency's decimals, ``"1234.50"``."""
        return str(self.rounded().amount)

    def format(self, locale: str) -> str:
        """The amount as a person in ``locale`` reads it: ``$1,234.50``, ``1.234,50 €``."""
        return format_currency(self.rounded().amount, self.currency, locale=locale)
