"""Every API body declared once: pydantic models that read requests, write responses and describe both.

Request bodies refuse unknown fields; responses stay open to new ones (API.md: "extend freely").
Money and quantities are Decimal from the JSON parser on (``parse_float=Decimal``), never float.
Patterns spell digits ``[0-9]``: pydantic-core's ``\\d`` would also match other scripts' digits.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..billing import QuoteLineRequest, quote_state_on
from ..errors import ValidationError
from ..models import (
    ACTIVITY_KINDS,
    ENTRY_KINDS,
    LOT_KINDS,
    OVERAGE_POLICIES,
    QUOTE_STATES,
    QUOTE_UNITS,
    ROLES,
    SEVERITIES,
    UNITS,
)
from ..models.invoicing import DOCUMENT_KINDS, LINE_KINDS
from ..money import Money, is_currency
from ..services.balances import LotView
from ..services.bundles import MAX_BUNDLE
from ..services.clients import CODE_PATTERN, current_term, maintenance_fee
from ..services.quotes import MAX_LINES, MAX_QUANTITY
from ..services.ratecards import ROLE_CODE
from ..services.support import net_incidents
from ..services.work import MAX_WORK_MINUTES

#: dates outside these years are typing mistakes, not support history
YEAR = r"(20[0-9]{2}|2100)"
DAY_PATTERN = rf"^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MOMENT_PATTERN = (rf"^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]"
                  r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
#: a Babel locale: language, optional script, optional territory (en_US, sr_Latn_RS)
LOCALE_PATTERN = r"^[a-z]{2,3}(_[A-Z][a-z]{3})?(_([A-Z]{2}|[0-9]{3}))?$"
#: what a page's ``next`` looks like: an unpadded URL-safe base64 of a row id
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,16}$"
MONEY_PATTERN = r"^-?[0-9]+(\.[0-9]{2,3})?$"
DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
#: text may hold tabs and line breaks, no other control character, and not be blank
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
MAX_NAME, MAX_NOTE = 200, 5000
#: the largest row id (PostgreSQL's integer): a larger id names nothing
MAX_ID = 2**31 - 1


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", message)


def _day(value) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise _refuse("is a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _refuse("is not a calendar date") from None
    return _in_years(day)


def _moment(value) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _refuse("is an ISO 8601 time with an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse("is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _refuse("needs a UTC offset, for example +02:00 or Z")
    return _in_years(moment)


def _in_years(value):
    if not 2000 <= value.year <= 2100:
        raise _refuse("must be between 2000 and 2100")
    return value


def _decimal(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _refuse('must be a number written as a string, e.g. "8.25"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _refuse("is not a number") from None
    if not number.is_finite():
        raise _refuse("is not a number")
    return number


def _positions(value):
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > 1000:
        raise _refuse("is a non-empty list of line positions")
    if any(isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 100_000 for p in value):
        raise _refuse("holds line positions: whole numbers from 1")
    return value


Day = Annotated[date, BeforeValidator(_day), WithJsonSchema({"type": "string", "pattern": DAY_PATTERN})]
Moment = Annotated[AwareDatetime, BeforeValidator(_moment),
                   WithJsonSchema({"type": "string", "pattern": MOMENT_PATTERN})]
Whole = Annotated[int, Strict()]
Currency = Annotated[str, StringConstraints(pattern="^[A-Z]{3}$")]
Positions = Annotated[list[int] | None, BeforeValidator(_positions), WithJsonSchema({
    "type": ["array", "null"], "items": {"type": "integer", "minimum": 1, "maximum": 100_000},
    "minItems": 1, "maxItems": 1000, "uniqueItems": True})]


def text(max_length: int, *, pattern: str = TEXT_PATTERN) -> type:
    """Free text, stripped, not blank, without control characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length,
                                            pattern=pattern)]


def number(*, pattern: str = DECIMAL_PATTERN, **bounds) -> type:
    """A decimal given as a string (``"8.25"``) or a JSON number, within ``bounds`` (gt, le …)."""
    keywords = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum",
                "multiple_of": "multipleOf"}
    schema = {"type": ["string", "number"], "pattern": pattern}
    schema.update({keywords[k]: int(v) if v == int(v) else float(v) for k, v in bounds.items()})
    return Annotated[Decimal, BeforeValidator(_decimal), Field(**bounds), WithJsonSchema(schema)]


#: an amount before its currency is known: checked again by :func:`in_currency`
Amount = number(pattern=r"^[0-9]{1,12}(\.[0-9]{1,3})?$", ge=0, lt=Decimal("1e12"))
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE, pattern=TEXT_PATTERN)]


def in_currency(amount: Decimal | None, currency: str, field: str) -> Money | None:
    """``amount`` as Money in ``currency``, refused if it has more decimals than the currency."""
    if amount is None:
        return None
    try:
        return Money.parse(str(amount), currency)
    except ValueError as error:
        raise ValidationError(f"{field} is not a valid amount: {error}", field) from None


def _known_currency(value: str) -> str:
    if not is_currency(value):
        raise _refuse("is not an ISO 4217 currency code")
    return value


KnownCurrency = Annotated[Currency, AfterValidator(_known_currency)]


class Body(BaseModel):
    """A request body: a field nobody declared is refused, a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


def example(**values) -> ConfigDict:
    """A body's configuration with one example the API accepts (the OpenAPI test posts it)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


# --- request bodies ------------------------------------------------------------------


class NewClient(Body):
    model_config = example(code="ACME", name="Acme Corp", currency="USD", locale="en_US", tax_rate="8.25",
                           term_start="2026-01-01", maintenance_fee="1200.00", overage_policy="bill")
    code: Annotated[str, StringConstraints(max_length=32, pattern=CODE_PATTERN.pattern)]
    name: text(MAX_NAME)
    currency: KnownCurrency
    locale: text(20, pattern=LOCALE_PATTERN)
    tax_rate: number(ge=0, le=100)
    term_start: Day
    maintenance_fee: Amount | None = None
    overage_policy: Literal[OVERAGE_POLICIES] = "bill"
    address: Note | None = None


class NewBundle(Body):
    model_config = example(quantity=40, purchased_on="2026-03-01")
    quantity: Annotated[Whole, Field(ge=1, le=MAX_BUNDLE)]
    purchased_on: Day = Field(description="The lot expires at the end of the term containing this day.")
    unit_price: Amount | None = Field(None, description="Default: the rate card's.")


class NewCase(Body):
    model_config = example(subject="Mail server down", severity="critical", opened_at="2026-03-02T09:00:00+01:00")
    subject: text(MAX_NAME)
    severity: Literal[SEVERITIES]
    opened_at: Moment


class HelpdeskAnswer(Body):
    model_config = example(answered_at="2026-03-02T10:00:00+01:00", by="Dana")
    answered_at: Moment
    by: text(120)
    note: Note | None = None


class TechnicianResponse(Body):
    model_config = example(responded_at="2026-03-02T10:30:00+01:00", technician="Sam")
    responded_at: Moment
    technician: text(120)
    note: Note | None = None


class Appointment(Body):
    model_config = example(started_at="2026-03-02T14:00:00+01:00", ended_at="2026-03-02T15:01:00+01:00",
                           technician="Sam", note="on site")
    started_at: Moment
    ended_at: Moment = Field(description="After started_at, at most 24 hours on.")
    technician: text(120)
    note: Note | None = None


class Waiver(Body):
    model_config = example(reason="site down caused by our update")
    reason: text(MAX_NOTE)


class TermsClose(Body):
    model_config = example(as_of="2026-12-31")
    as_of: Day = Field(description="Close every term that ended on or before this day.")


class RoleRequest(Body):
    code: Annotated[str, StringConstraints(max_length=40, pattern=ROLE_CODE.pattern)]
    title: text(120)
    hourly: Amount
    daily: Amount


class Tier(Body):
    min_hours: Annotated[Whole, Field(ge=1, le=100_000)]
    percent: number(gt=0, lt=100)


class NewRateCard(Body):
    model_config = example(currency="USD", effective_from="2027-01-01", incident_price="210.00",
                           overage_price="260.00", volume_discounts=[{"min_hours": 40, "percent": "5"}],
                           roles=[{"code": "analyst", "title": "Business Analyst", "hourly": "160.00",
                                   "daily": "1280.00"}])
    currency: KnownCurrency
    effective_from: Day
    incident_price: Amount
    overage_price: Amount
    maintenance_fee: Amount | None = None
    roles: Annotated[list[RoleRequest], Field(min_length=1, max_length=50)]
    volume_discounts: Annotated[list[Tier], Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def _amounts_in_currency(self):
        for name in ("incident_price", "overage_price", "maintenance_fee"):
            in_currency(getattr(self, name), self.currency, name)
        for index, role in enumerate(self.roles):
            for name in ("hourly", "daily"):
                in_currency(getattr(role, name), self.currency, f"roles[{index}].{name}")
        if len({r.code for r in self.roles}) != len(self.roles):
            raise ValidationError("roles must name at least one role, each once", "roles")
        if len({t.min_hours for t in self.volume_discounts or ()}) != len(self.volume_discounts or ()):
            raise ValidationError("each min_hours tier appears once", "volume_discounts")
        return self


class NewQuoteLine(Body):
    role: text(40)
    unit: Literal[QUOTE_UNITS]
    quantity: number(gt=0, le=MAX_QUANTITY, multiple_of=Decimal("0.25"))


class NewQuote(Body):
    model_config = example(lines=[{"role": "analyst", "unit": "day", "quantity": 5},
                                  {"role": "developer", "unit": "hour", "quantity": "12.5"}],
                           valid_until="2099-12-31")
    lines: Annotated[list[NewQuoteLine], Field(min_length=1, max_length=MAX_LINES)]
    valid_until: Day = Field(description="The last day it can be accepted; not in the past.")

    def requests(self) -> list[QuoteLineRequest]:
        return [QuoteLineRequest(line.role, line.unit, line.quantity) for line in self.lines]


class NewWork(Body):
    model_config = example(role="analyst", minutes=95, performed_on="2026-03-03",
                           description="Data migration workshop")
    role: text(40)
    minutes: Annotated[Whole, Field(ge=1, le=MAX_WORK_MINUTES)]
    performed_on: Day
    description: text(MAX_NOTE)
    case: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20, pattern=TEXT_PATTERN)] | None = None


class InvoiceRun(Body):
    model_config = example(period="2026-03")
    period: Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]


class NewCreditNote(Body):
    model_config = example(reason="maintenance billed in error", lines=[1])
    reason: text(MAX_NOTE)
    lines: Positions = None


class Empty(Body):
    """An action that takes no fields."""


# --- responses -------------------------------------------------------------------------

Time = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str),
                 WithJsonSchema({"type": "string", "format": "date-time"})]
MoneyText = Annotated[str, Field(pattern=MONEY_PATTERN, examples=["1234.50"])]
Percent = Annotated[str, Field(pattern=DECIMAL_PATTERN, examples=["8.25"])]
ClientCode = Annotated[str, Field(pattern=CODE_PATTERN.pattern, description="The client's code.")]
Count = Annotated[int, Field(ge=0)]


def money(minor: int, currency: str) -> str:
    return str(Money.from_minor(minor, currency))


def decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def moment(value: datetime | None, offset_minutes: int = 0) -> datetime | None:
    """The time in the offset it was given in."""
    return None if value is None else value.astimezone(timezone(timedelta(minutes=offset_minutes)))


class Me(BaseModel):
    email: str
    role: Literal[ROLES]
    client: str | None


class Term(BaseModel):
    start: date
    end: date


class Client(BaseModel):
    code: ClientCode
    name: str
    currency: Currency
    locale: str
    tax_rate: Percent
    term_start: date
    term: Term
    maintenance_fee: MoneyText
    overage_policy: Literal[OVERAGE_POLICIES]
    address: str

    @classmethod
    def of(cls, client, today: date) -> Client:
        term = current_term(client, today)
        return cls(code=client.code, name=client.name, currency=client.currency, locale=client.locale,
                   tax_rate=decimal_text(client.tax_rate), term_start=client.term_start,
                   term=Term(start=term.start, end=term.end), maintenance_fee=str(maintenance_fee(client)),
                   overage_policy=client.overage_policy, address=client.address)


class Lot(BaseModel):
    id: int
    kind: Literal[LOT_KINDS]
    quantity: Annotated[int, Field(ge=1)]
    remaining: Count
    starts_on: date
    expires_on: date | None

    @classmethod
    def of(cls, lot: LotView) -> Lot:
        return cls(id=lot.id, kind=lot.kind, quantity=lot.quantity, remaining=lot.remaining,
                   starts_on=lot.starts_on, expires_on=lot.expires_on)


class Incidents(BaseModel):
    available: Count
    overage: Count = Field(description="Incidents charged beyond the balance this term.")
    lots: list[Lot]


class Minutes(BaseModel):
    available_minutes: Count


class Balance(BaseModel):
    client: ClientCode
    as_of: date
    incidents: Incidents
    hours: dict[str, Minutes] = Field(description="Prepaid professional-service time by role.")

    @classmethod
    def of(cls, client, balance) -> Balance:
        return cls(client=client.code, as_of=balance.as_of,
                   incidents=Incidents(available=balance.available, overage=balance.overage,
                                       lots=[Lot.of(lot) for lot in balance.lots]),
                   hours={role: Minutes(available_minutes=m) for role, m in sorted(balance.minutes.items())})


class Bundle(BaseModel):
    id: int
    client: ClientCode
    quantity: Annotated[int, Field(ge=1)]
    unit_price: MoneyText
    currency: Currency
    purchased_on: date
    lot: Lot

    @classmethod
    def of(cls, bundle) -> Bundle:
        lot = bundle.lot
        view = LotView(lot.id, lot.kind, lot.quantity, lot.remaining, lot.starts_on, lot.expires_on)
        return cls(id=bundle.id, client=bundle.client.code, quantity=bundle.quantity,
                   unit_price=money(bundle.unit_price_minor, bundle.currency), currency=bundle.currency,
                   purchased_on=bundle.purchased_on, lot=Lot.of(view))


class Case(BaseModel):
    number: str
    client: ClientCode
    subject: str
    severity: Literal[SEVERITIES]
    opened_at: Time

    @classmethod
    def of(cls, case) -> Case:
        return cls(number=case.number, client=case.client.code, subject=case.subject,
                   severity=case.severity, opened_at=moment(case.opened_at))


class Entry(BaseModel):
    id: int
    posted_at: Time
    effective_on: date
    unit: Literal[UNITS]
    quantity: int = Field(description="Signed: credits positive, debits negative; incidents or minutes.")
    kind: Literal[ENTRY_KINDS]
    lot_id: int | None
    activity_id: int | None
    reverses_id: int | None
    memo: str

    @classmethod
    def of(cls, e) -> Entry:
        return cls(id=e.id, posted_at=moment(e.posted_at), effective_on=e.effective_on, unit=e.unit,
                   quantity=e.quantity, kind=e.kind, lot_id=e.lot_id, activity_id=e.activity_id,
                   reverses_id=e.reverses_id, memo=e.memo)


class Activity(BaseModel):
    id: int
    kind: Literal[ACTIVITY_KINDS]
    client: ClientCode
    case: str | None
    occurred_at: Time
    effective_on: date
    actor: str
    note: str
    incidents_charged: Count = Field(description="Incidents it costs now (0 once waived).")
    waived: bool
    entries: list[Entry]
    ended_at: Time | None = None
    minutes: Annotated[int, Field(ge=1)] | None = None
    waive_reason: str | None = None
    incidents_waived: Count | None = None

    @classmethod
    def fields_of(cls, activity) -> dict:
        offset = activity.utc_offset_minutes
        fields = dict(id=activity.id, kind=activity.kind, client=activity.client.code,
                      case=activity.case.number if activity.case else None,
                      occurred_at=moment(activity.occurred_at, offset), effective_on=activity.effective_on,
                      actor=activity.actor, note=activity.note, incidents_charged=net_incidents(activity),
                      waived=activity.waiver is not None, entries=[Entry.of(e) for e in activity.entries])
        if activity.kind == "appointment":
            fields["ended_at"] = moment(activity.ended_at, offset)
        if activity.minutes is not None:
            fields["minutes"] = activity.minutes
        if activity.waiver is not None:
            fields.update(waive_reason=activity.waiver.reason, incidents_waived=activity.incidents_charged)
        return fields

    @classmethod
    def of(cls, activity) -> Activity:
        return cls(**cls.fields_of(activity))


class Work(Activity):
    role: str
    performed_on: date
    description: str
    billed_minutes: Annotated[int, Field(ge=1)]
    prepaid_minutes_used: Count
    overage_minutes: Count

    @classmethod
    def of(cls, result) -> Work:
        activity = result.activity
        return cls(**cls.fields_of(activity), role=activity.role, performed_on=activity.effective_on,
                   description=activity.note, billed_minutes=activity.billed_minutes,
                   prepaid_minutes_used=result.prepaid_minutes_used, overage_minutes=result.overage_minutes)


class TermClose(BaseModel):
    client: ClientCode
    term_start: date
    term_end: date
    rolled_over: Count
    expired: Count


class TermCloseResult(BaseModel):
    closed: list[TermClose]

    @classmethod
    def of(cls, records, codes: dict[int, str]) -> TermCloseResult:
        return cls(closed=[TermClose(client=codes[r.client_id], term_start=r.term_start, term_end=r.term_end,
                                     rolled_over=r.rolled_over, expired=r.expired) for r in records])


class Role(BaseModel):
    code: str
    title: str
    hourly: MoneyText
    daily: MoneyText


class Discount(BaseModel):
    min_hours: Count
    percent: Percent


class RateCard(BaseModel):
    version: Annotated[int, Field(ge=1)]
    effective_from: date
    currency: Currency
    roles: list[Role]
    incident_price: MoneyText
    overage_price: MoneyText
    maintenance_fee: MoneyText
    volume_discounts: list[Discount]

    @classmethod
    def of(cls, card) -> RateCard:
        cur = card.currency
        return cls(version=card.version, effective_from=card.effective_from, currency=cur,
                   roles=[Role(code=r.code, title=r.title, hourly=money(r.hourly_minor, cur),
                               daily=money(r.daily_minor, cur)) for r in card.roles],
                   incident_price=money(card.incident_price_minor, cur),
                   overage_price=money(card.overage_price_minor, cur),
                   maintenance_fee=money(card.maintenance_fee_minor, cur),
                   volume_discounts=[Discount(min_hours=d.min_hours, percent=decimal_text(d.percent))
                                     for d in card.volume_discounts])


class QuoteLine(BaseModel):
    role: str
    unit: Literal[QUOTE_UNITS]
    quantity: Percent
    unit_price: MoneyText
    amount: MoneyText


class Quote(BaseModel):
    number: str
    client: ClientCode
    state: Literal[QUOTE_STATES] = Field(description="An open quote past valid_until reads expired.")
    valid_until: date
    rate_card_version: Annotated[int, Field(ge=1)]
    lines: list[QuoteLine]
    hours_total: Percent
    discount_percent: Percent
    discount: MoneyText
    subtotal: MoneyText
    total: MoneyText
    currency: Currency
    created_at: Time
    sent_at: Time | None
    decided_at: Time | None

    @classmethod
    def of(cls, quote, today: date) -> Quote:
        cur = quote.currency
        return cls(
            number=quote.number, client=quote.client.code, valid_until=quote.valid_until,
            state=quote_state_on(quote.state, quote.valid_until, today),
            rate_card_version=quote.rate_card.version,
            lines=[QuoteLine(role=line.role, unit=line.unit, quantity=decimal_text(line.quantity),
                             unit_price=money(line.unit_price_minor, cur), amount=money(line.amount_minor, cur))
                   for line in quote.lines],
            hours_total=decimal_text(Decimal(quote.minutes_total) / 60),
            discount_percent=decimal_text(quote.discount_percent), discount=money(quote.discount_minor, cur),
            subtotal=money(quote.subtotal_minor, cur), total=money(quote.total_minor, cur), currency=cur,
            created_at=moment(quote.created_at), sent_at=moment(quote.sent_at),
            decided_at=moment(quote.decided_at))


class InvoiceSummary(BaseModel):
    number: str = Field(examples=["INV-2026-00042"])
    kind: Literal[DOCUMENT_KINDS]
    client: ClientCode
    period: Annotated[str, Field(pattern=PERIOD_PATTERN)]
    issued_on: date
    total: MoneyText
    currency: Currency

    @classmethod
    def fields_of(cls, invoice) -> dict:
        return dict(number=invoice.number, kind=invoice.kind, client=invoice.client.code, period=invoice.period,
                    issued_on=invoice.issued_on, total=money(invoice.total_minor, invoice.currency),
                    currency=invoice.currency)

    @classmethod
    def of(cls, invoice) -> InvoiceSummary:
        return cls(**cls.fields_of(invoice))


class InvoiceLine(BaseModel):
    position: Annotated[int, Field(ge=1)]
    kind: Literal[LINE_KINDS]
    description: str
    quantity: Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
    unit_price: MoneyText
    amount: MoneyText


class Invoice(InvoiceSummary):
    """An invoice or a credit note; a credit note also carries refers_to and reason."""

    due_on: date
    tax_rate: Percent
    lines: list[InvoiceLine]
    subtotal: MoneyText
    tax: MoneyText
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] | None
    refers_to: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, invoice) -> Invoice:
        cur = invoice.currency
        fields = cls.fields_of(invoice)
        if invoice.kind == "credit_note":
            fields.update(refers_to=invoice.refers_to.number, reason=invoice.reason)
        return cls(**fields, due_on=invoice.due_on, tax_rate=decimal_text(invoice.tax_rate),
                   lines=[InvoiceLine(position=line.position, kind=line.kind, description=line.description,
                                      quantity=decimal_text(line.quantity),
                                      unit_price=money(line.unit_price_minor, cur),
                                      amount=money(line.amount_minor, cur)) for line in invoice.lines],
                   subtotal=money(invoice.subtotal_minor, cur), tax=money(invoice.tax_minor, cur),
                   sha256=invoice.document.sha256 if invoice.document else None)


class Failure(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    client: ClientCode
    code: str
    message: str


class InvoiceRunResult(BaseModel):
    issued: list[str] = Field(description="Numbers issued by this run.")
    skipped: list[ClientCode] = Field(description="Clients with nothing (more) to bill that month.")
    failed: list[Failure] = Field(default_factory=list, description="Clients that could not be invoiced, and why.")


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """One page of ``item`` objects, and the cursor of the next."""
    return create_model(f"{item.__name__}Page", items=(list[item], ...),
                        next=(Annotated[str, Field(pattern=CURSOR_PATTERN)] | None, ...))


PAGES = {item: page_of(item) for item in (Client, Case, Activity, Entry, Quote, InvoiceSummary)}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = Field(None, description="The offending input.")


class Error(BaseModel):
    error: ErrorDetail
