"""Every API body declared once: pydantic models that read requests, write responses and describe both.

Request bodies refuse unknown fields; responses stay open to new ones (API.md: "extend freely").
Money and quantities are Decimal from the JSON parser on (``parse_float=Decimal``), never float.
Patterns spell digits ``[0-9]``: pydantic-core's ``\\d`` would also match other scripts' digits.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import object_session

from ..billing import INVOICE_STATUSES, QuoteLineRequest, RuleViolation, quote_state_on
from ..businesstime import CASE_STATUSES, RESOLUTIONS, TARGET_UNITS, Target, shift, shifts_of
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
from ..services import payments, sla
from ..services.bundles import MAX_BUNDLE
from ..services.clients import CODE_PATTERN, current_term
from ..services.einvoicing import billing_country, taxes_json
from ..services.quotes import MAX_LINES, MAX_QUANTITY
from ..services.ratecards import ROLE_CODE
from ..services.support import net_incidents
from ..services.work import MAX_WORK_MINUTES

#: dates outside 2000–2100 are typing mistakes, not support history
DAY_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
#: RFC 3339 with an offset (seconds optional)
MOMENT_PATTERN = (DAY_PATTERN.removesuffix("$") + r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
                  r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
#: a month as invoices are run and filtered, in the same years
PERIOD_PATTERN = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$"
#: a Babel locale: language, optional script, optional territory (en_US, sr_Latn_RS)
LOCALE_PATTERN = r"^[a-z]{2,3}(_[A-Z][a-z]{3})?(_([A-Z]{2}|[0-9]{3}))?$"
#: what a page's ``next`` looks like: an unpadded URL-safe base64 of a row id
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,16}$"
#: a time of day on a plan's opening hours; 24:00 is the end of the day
CLOCK_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
MONEY_PATTERN = r"^-?[0-9]+(\.[0-9]{2,3})?$"
DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
#: text may hold tabs and line breaks, no other control character
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
MAX_NAME, MAX_NOTE = 200, 5000
#: what a value refused by a pattern should have been, for the error message
PATTERN_MEANINGS = {
    DAY_PATTERN: "is a date written YYYY-MM-DD, from 2000 to 2100",
    MOMENT_PATTERN: "is an ISO 8601 time with an offset (2026-03-02T09:00:00+01:00), from 2000 to 2100",
    PERIOD_PATTERN: "is a month written YYYY-MM in ASCII digits, from 2000 to 2100",
    LOCALE_PATTERN: "is a locale such as en_US or de_DE",
    TEXT_PATTERN: "contains control characters",
    "^[A-Z]{3}$": "is an ISO 4217 currency code such as USD",
    CLOCK_PATTERN: "is a time of day written HH:MM, from 00:00 to 24:00",
    "^[A-Z]{2}$": "is an ISO 3166-1 alpha-2 country code such as US",
    "^[a-z0-9_]+$": "is lower-case letters, digits and _",
}
#: the largest row id (PostgreSQL's integer): a larger id names nothing
MAX_ID = 2**31 - 1


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", message)


def _calendar(parse):
    """``parse`` a string the pattern has let through; a day that does not exist is refused."""
    def checked(value: str):
        try:
            return parse(value)
        except ValueError:
            raise _refuse("is not a calendar date") from None
    return checked


def _positions(value):
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > 1000:
        raise _refuse("is a non-empty list of line positions")
    if any(isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 100_000 for p in value):
        raise _refuse("holds line positions: whole numbers from 1")
    return value


def _known_currency(value: str) -> str:
    if not is_currency(value):
        raise _refuse("is not an ISO 4217 currency code")
    return value


Day = Annotated[str, StringConstraints(pattern=DAY_PATTERN), AfterValidator(_calendar(date.fromisoformat))]
#: the pattern demands an offset, so what comes out is an aware datetime
Moment = Annotated[str, StringConstraints(pattern=MOMENT_PATTERN),
                   AfterValidator(_calendar(datetime.fromisoformat))]
Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
Whole = Annotated[int, Strict()]
Currency = Annotated[str, StringConstraints(pattern="^[A-Z]{3}$")]
KnownCurrency = Annotated[Currency, AfterValidator(_known_currency)]
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
    return Annotated[Decimal, Field(**bounds), WithJsonSchema(schema)]


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


class Body(BaseModel):
    """A request body: a field nobody declared is refused, a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


def example(**values) -> ConfigDict:
    """A body's configuration with one example the API accepts (the OpenAPI test posts it)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


# --- request bodies ------------------------------------------------------------------


class NewTax(Body):
    name: text(60)
    rate: number(ge=0, le=100)


#: loosely typed here: the service checks each and names the field of the first problem
Loose = Annotated[str, StringConstraints(max_length=254)]


class BillingDetails(Body):
    """The client's EN 16931 billing details (POST and PATCH), checked by services/vendor.set_client_billing;
    ``taxes``, when given, set ``tax_rate`` to their sum."""

    country: Annotated[str, StringConstraints(max_length=2)] | None = Field(
        None, description="ISO 3166-1 alpha-2; the locale's territory if absent.")
    vat_id: Annotated[str, StringConstraints(max_length=40)] | None = None
    billing_emails: Annotated[list[Loose], Field(max_length=10)] | None = None
    payment_terms_days: Annotated[Whole, Field(ge=0, le=365)] | None = None
    purchase_order: Annotated[str, StringConstraints(max_length=100)] | None = None
    reverse_charge: Annotated[bool, Strict()] | None = None
    taxes: Annotated[list[NewTax], Field(max_length=5)] | None = None

    def billing(self) -> dict:
        """The billing fields the body gave, as ``set_client_billing`` takes them."""
        return self.model_dump(include=self.model_fields_set & set(BillingDetails.model_fields), exclude_none=True)


class NewClient(BillingDetails):
    model_config = example(code="ACME", name="Acme Corp", currency="USD", locale="en_US", tax_rate="8.25",
                           term_start="2026-01-01", maintenance_fee="1200.00", overage_policy="bill",
                           country="US", billing_emails=["ap@acme.example"], payment_terms_days=30)
    code: Annotated[str, StringConstraints(max_length=32, pattern=CODE_PATTERN.pattern)]
    name: text(MAX_NAME)
    currency: KnownCurrency
    locale: text(20, pattern=LOCALE_PATTERN)
    tax_rate: number(ge=0, le=100) | None = Field(None, description="Required unless taxes are given.")
    term_start: Day
    maintenance_fee: Amount | None = None
    overage_policy: Literal[OVERAGE_POLICIES] = "bill"
    address: Note | None = None
    support_plan: text(40) | None = Field(None, description="A support plan's code; default standard.")
    time_zone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="IANA time zone the client's pages show times in and its forms read them in; "
                          "default the support plan's, else UTC.")


class ClientChanges(BillingDetails):
    """Any of the client's billing fields; issued invoices keep what they printed."""

    model_config = example(payment_terms_days=14, purchase_order="PO-4711",
                           taxes=[{"name": "GST", "rate": "5"}, {"name": "QST", "rate": "9.975"}])
    name: text(MAX_NAME) | None = None
    address: Note | None = None
    locale: text(20, pattern=LOCALE_PATTERN) | None = None
    tax_rate: number(ge=0, le=100) | None = None
    overage_policy: Literal[OVERAGE_POLICIES] | None = None
    maintenance_fee: Amount | None = None
    support_plan: text(40) | None = Field(None, description="A support plan's code.")
    time_zone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="IANA time zone, such as Europe/Berlin.")


class VendorProfile(Body):
    """The vendor's profile as invoices print it; each field checked by the vendor service."""

    model_config = example(legal_name="Support Ledger GmbH", address="Friedrichstraße 123\n10117 Berlin",
                           country="DE", vat_id="DE136695976", registration="HRB 12345 B",
                           iban="DE89370400440532013000", bic="COBADEFFXXX", email="billing@vendor.example",
                           phone="+49 30 1234567")
    legal_name: str
    address: str
    country: str
    vat_id: str
    registration: str | None = None
    iban: str | None = None
    bic: str | None = None
    bank_account: str | None = None
    email: str
    phone: str | None = None


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


class StatusChange(Body):
    model_config = example(status="in_progress", at="2026-03-02T10:00:00+01:00")
    status: Literal[CASE_STATUSES[1:]]
    at: Moment = Field(description="When the case changed: not before it opened, not in the future.")
    resolution: Literal[RESOLUTIONS] | None = Field(None, description="How it was resolved; only with resolved.")


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
    model_config = example(as_of="2025-12-31")
    as_of: Day = Field(description="Close every term that ended on or before this day; not after today.")


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


class OpeningHours(Body):
    days: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] = Field(
        description="Weekdays: a range (mon-fri), one day (sat) or a list (mon,wed).")
    opens: Annotated[str, StringConstraints(pattern=CLOCK_PATTERN)]
    closes: Annotated[str, StringConstraints(pattern=CLOCK_PATTERN)] = Field(
        description="After opens, unless closes_next_day; 24:00 is midnight at the end of the day.")
    closes_next_day: Annotated[bool, Strict()] = Field(False, description="The shift runs past midnight.")


class NewTarget(Body):
    amount: Annotated[Whole, Field(ge=1, le=10_000)]
    unit: Literal[TARGET_UNITS]


class NewPlanTarget(Body):
    severity: Literal[SEVERITIES]
    respond: NewTarget | None = Field(description="Null: the plan sets no respond target.")
    resolve: NewTarget | None = Field(description="Null: the plan sets no resolve target.")


class NewSupportPlan(Body):
    """A plan, or a new version of one in force from a later day; each severity's targets once."""

    model_config = example(
        code="extended", name="Extended hours", time_zone="America/New_York", effective_from="2026-01-01",
        hours=[{"days": "mon-fri", "opens": "07:00", "closes": "20:00"}], holiday_country="US",
        closures=["2026-12-24"], clocks_start_in_business_hours=False, every_hour_for_critical=True,
        targets=[{"severity": "critical", "respond": {"amount": 1, "unit": "hours"},
                  "resolve": {"amount": 8, "unit": "hours"}},
                 {"severity": "major", "respond": {"amount": 4, "unit": "business_hours"},
                  "resolve": {"amount": 2, "unit": "business_days"}},
                 {"severity": "moderate", "respond": {"amount": 1, "unit": "business_days"}, "resolve": None},
                 {"severity": "minor", "respond": {"amount": 2, "unit": "business_days"}, "resolve": None}])
    code: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern="^[a-z0-9_]+$")]
    name: text(MAX_NAME)
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="An IANA time zone such as America/Toronto.")
    effective_from: Day = Field(description="A new version of a plan takes effect after its latest one.")
    hours: Annotated[list[OpeningHours], Field(min_length=1, max_length=21)]
    holiday_country: Annotated[str, StringConstraints(pattern="^[A-Z]{2}$")] | None = Field(
        description="ISO 3166-1 alpha-2 country whose public holidays close the calendar; null for none.")
    holiday_subdivision: Annotated[str, StringConstraints(min_length=1, max_length=10)] | None = Field(
        None, description="The country's province or state, such as ON.")
    closures: Annotated[list[Day], Field(max_length=366)] = Field([], description="The vendor's own closure days.")
    clocks_start_in_business_hours: Annotated[bool, Strict()] = False
    every_hour_for_critical: Annotated[bool, Strict()] = False
    targets: Annotated[list[NewPlanTarget], Field(min_length=len(SEVERITIES), max_length=len(SEVERITIES))]

    @model_validator(mode="after")
    def _each_severity_once(self):
        seen = set()
        for index, target in enumerate(self.targets):
            if target.severity in seen:
                raise ValidationError(f"{target.severity} is given twice", f"targets[{index}].severity")
            seen.add(target.severity)
        return self

    def plan_fields(self) -> dict:
        """The plan as ``services.sla.add_plan_version`` takes it; opening hours checked row by row."""
        return {**dict(self), "hours": self.windows(), "targets": self.plan_targets()}

    def windows(self) -> list:
        """The opening hours as windows; an error names the row and part (``hours[1].closes``)."""
        found = []
        for index, row in enumerate(self.hours):
            try:
                found.extend(shift(row.days, row.opens, row.closes, row.closes_next_day))
            except RuleViolation as error:
                raise ValidationError(error.message, f"hours[{index}].{error.field}") from None
        return found

    def plan_targets(self) -> dict:
        """severity → (respond, resolve) targets, as the service takes them."""
        def target(given):
            return given and Target(given.amount, given.unit)

        return {t.severity: (target(t.respond), target(t.resolve)) for t in self.targets}


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
    period: Period


class NewCreditNote(Body):
    model_config = example(reason="maintenance billed in error", lines=[1])
    reason: text(MAX_NOTE)
    lines: Positions = None


class NewPayment(Body):
    model_config = example(amount="100.00", paid_on="2026-03-20", method="bank transfer",
                           reference="ACME remittance 4471")
    amount: Amount
    paid_on: Day
    method: text(40) | None = None
    reference: text(200) | None = None


class Empty(Body):
    """An action that takes no fields."""


# --- responses -------------------------------------------------------------------------


def _decimal_text(value):
    return format(value.normalize(), "f") if isinstance(value, Decimal) else value


def _utc(value):
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _named(attribute: str):
    """A related row by its ``attribute`` (a client by its code, a case by its number)."""
    return BeforeValidator(lambda row: getattr(row, attribute, row))


#: a time shown in the offset it was logged with (an activity's)
LocalTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
Time = Annotated[LocalTime, BeforeValidator(_utc)]
MONEY = "money, read from NAME_minor"
MoneyText = Annotated[str, Field(pattern=MONEY_PATTERN, examples=["1234.50"]), MONEY]
DecimalText = Annotated[str, BeforeValidator(_decimal_text), Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
Percent = Annotated[DecimalText, Field(pattern=DECIMAL_PATTERN, examples=["8.25"])]
ClientCode = Annotated[str, _named("code"), Field(pattern=CODE_PATTERN.pattern, description="The client's code.")]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]


class Out(BaseModel):
    """A response, read from a row's attributes; money from ``NAME_minor`` in the currency of the row
    or of the document it belongs to. Absent optional fields are left out of the JSON."""

    model_config = ConfigDict(from_attributes=True)

    @model_validator(mode="before")
    @classmethod
    def _read(cls, row, info: ValidationInfo):
        if isinstance(row, dict):
            return row
        context = info.context if info.context is not None else {}  # nested rows take its currency
        if hasattr(row, "currency"):
            context["currency"] = row.currency
        values = {}
        for name, field in cls.model_fields.items():
            if MONEY in field.metadata:
                values[name] = str(Money.from_minor(getattr(row, f"{name}_minor"), context["currency"]))
            elif field.is_required() and hasattr(row, name):
                values[name] = getattr(row, name)
        return {**values, **cls.computed(row, context)}

    @classmethod
    def computed(cls, row, context: dict) -> dict:
        """Fields that are not attributes of the row."""
        return {}

    @classmethod
    def of(cls, row, **context):
        """The response for ``row``; ``context`` carries what the row does not know (today)."""
        return cls.model_validate(row, context=dict(context))


class Me(Out):
    email: str
    role: Literal[ROLES]
    client: ClientCode | None


class Term(Out):
    start: date
    end: date


class Tax(Out):
    name: str
    rate: Percent


class InvoiceTax(Tax):
    amount: MoneyText


class Client(Out):
    code: ClientCode
    name: str
    currency: Currency
    locale: str
    tax_rate: Percent
    term_start: date
    term: Term = Field(description="The annual term containing today.")
    maintenance_fee: MoneyText
    overage_policy: Literal[OVERAGE_POLICIES]
    address: str
    support_plan: str = Field(description="The code of the client's support plan.")
    time_zone: str = Field(description="IANA time zone its pages show times in.")
    country: str = Field(description="ISO 3166-1 alpha-2; the locale's territory unless set.")
    vat_id: str
    billing_emails: list[str]
    payment_terms_days: Count
    purchase_order: str
    reverse_charge: bool
    taxes: list[Tax] = Field(description="The named tax components; tax_rate is their sum.")

    @classmethod
    def computed(cls, client, context: dict) -> dict:
        plan = client.support_plan_id and object_session(client).get(sla.SupportPlan, client.support_plan_id)
        return {"term": current_term(client, context["today"]), "country": billing_country(client),
                "support_plan": plan.code if plan else sla.DEFAULT_PLAN,
                "billing_emails": list(client.billing_emails or [])}


#: the vendor's profile as stored: every field of the profile, empty when not set
Vendor = create_model("Vendor", __base__=Out, **{name: (str, ...) for name in VendorProfile.model_fields})


class Lot(Out):
    id: int
    kind: Literal[LOT_KINDS]
    quantity: Positive
    remaining: Count
    starts_on: date
    expires_on: date | None


class Incidents(Out):
    available: Count
    overage: Count = Field(description="Incidents charged beyond the balance this term.")
    lots: list[Lot]


class Minutes(BaseModel):
    available_minutes: Count


class Balance(Out):
    client: ClientCode
    as_of: date
    incidents: Incidents
    hours: dict[str, Minutes] = Field(description="Prepaid professional-service time by role.")

    @classmethod
    def computed(cls, balance, context: dict) -> dict:
        return {"client": context["client"], "incidents": balance,
                "hours": {role: Minutes(available_minutes=m) for role, m in sorted(balance.minutes.items())}}


class Bundle(Out):
    id: int
    client: ClientCode
    quantity: Positive
    unit_price: MoneyText
    currency: Currency
    purchased_on: date
    lot: Lot


TargetState = Literal["pending", "met", "breached", "none"]


class CaseSla(Out):
    plan: str
    respond_by: Time | None
    resolve_by: Time | None = Field(description="Moved on by the business time spent waiting on the customer.")
    responded_at: Time | None
    resolved_at: Time | None
    response: TargetState
    resolution: TargetState


class Case(Out):
    number: str
    client: ClientCode
    subject: str
    severity: Literal[SEVERITIES]
    opened_at: Time
    status: Literal[CASE_STATUSES]
    sla: CaseSla | None = Field(description="Due times and targets; null before any support plan is seeded.")

    @classmethod
    def computed(cls, case, context: dict) -> dict:
        try:
            levels = sla.sla_for_case(object_session(case), case)
        except ValidationError:  # no plan at all: a database `ledger init` has not seeded
            return {"sla": None}
        return {"sla": levels}


class TargetAmount(Out):
    amount: Positive
    unit: Literal[TARGET_UNITS]


class PlanTarget(BaseModel):
    severity: Literal[SEVERITIES]
    respond: TargetAmount | None
    resolve: TargetAmount | None


class Shift(BaseModel):
    days: str
    opens: str
    closes: str
    closes_next_day: bool


class SupportPlan(Out):
    code: str
    name: str
    version: Positive
    effective_from: date
    time_zone: str
    hours: list[Shift] = Field(description="The weekly opening hours, grouped by days with the same hours.")
    holiday_country: str | None
    holiday_subdivision: str | None
    closures: list[date]
    clocks_start_in_business_hours: bool
    every_hour_for_critical: bool
    targets: list[PlanTarget]

    @classmethod
    def computed(cls, terms, context: dict) -> dict:
        calendar = terms.calendar
        return {"time_zone": calendar.time_zone, "holiday_country": calendar.holiday_country,
                "holiday_subdivision": calendar.holiday_subdivision, "closures": sorted(calendar.closures),
                "hours": [Shift(days=d, opens=o, closes=c, closes_next_day=n)
                          for d, o, c, n in shifts_of(calendar.windows)],
                "targets": [PlanTarget(severity=severity, respond=respond, resolve=resolve)
                            for severity, (respond, resolve) in terms.targets.items()]}


class SupportPlans(BaseModel):
    items: list[SupportPlan]


class SeverityLevels(Out):
    severity: Literal[SEVERITIES]
    cases: Count
    response_met: Count
    response_breached: Count
    resolution_met: Count
    resolution_breached: Count


class SlaReport(Out):
    period: str
    plan: str
    severities: list[SeverityLevels]


class Entry(Out):
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


class Activity(Out):
    id: int
    kind: Literal[ACTIVITY_KINDS]
    client: ClientCode
    case: Annotated[str | None, _named("number")]
    occurred_at: LocalTime = Field(description="When it happened, in the offset it was logged with.")
    effective_on: date
    actor: str
    note: str
    incidents_charged: Count = Field(description="Incidents it costs now (0 once waived).")
    waived: bool
    entries: list[Entry]
    ended_at: LocalTime | None = None
    minutes: Positive | None = None
    waive_reason: str | None = None
    incidents_waived: Count | None = None

    @classmethod
    def computed(cls, activity, context: dict) -> dict:
        def local(moment):
            return moment.astimezone(timezone(timedelta(minutes=activity.utc_offset_minutes)))

        fields = {"occurred_at": local(activity.occurred_at), "incidents_charged": net_incidents(activity),
                  "waived": activity.waiver is not None}
        if activity.minutes is not None:
            fields["minutes"] = activity.minutes
        if activity.kind == "appointment":
            fields["ended_at"] = local(activity.ended_at)
        if activity.waiver is not None:
            fields.update(waive_reason=activity.waiver.reason, incidents_waived=activity.incidents_charged)
        return fields


class Work(Activity):
    role: str
    performed_on: date
    description: str
    billed_minutes: Positive
    prepaid_minutes_used: Count
    overage_minutes: Count

    @classmethod
    def of(cls, result, **context) -> Work:
        return cls.model_validate(result.activity, context={"result": result})

    @classmethod
    def computed(cls, activity, context: dict) -> dict:
        result = context["result"]
        return {**super().computed(activity, context), "performed_on": activity.effective_on,
                "description": activity.note, "prepaid_minutes_used": result.prepaid_minutes_used,
                "overage_minutes": result.overage_minutes}


class TermClose(Out):
    client: ClientCode
    term_start: date
    term_end: date
    rolled_over: Count
    expired: Count

    @classmethod
    def computed(cls, record, context: dict) -> dict:
        return {"client": context["codes"][record.client_id]}


class TermCloseResult(BaseModel):
    closed: list[TermClose]


class Role(Out):
    code: str
    title: str
    hourly: MoneyText
    daily: MoneyText


class Discount(Out):
    min_hours: Count
    percent: Percent


class RateCard(Out):
    version: Positive
    effective_from: date
    currency: Currency
    roles: list[Role]
    incident_price: MoneyText
    overage_price: MoneyText
    maintenance_fee: MoneyText
    volume_discounts: list[Discount] = Field(description="Discount tiers on the hours bought in one quote.")


class QuoteLine(Out):
    role: str
    unit: Literal[QUOTE_UNITS]
    quantity: DecimalText
    unit_price: MoneyText
    amount: MoneyText


class Quote(Out):
    number: str = Field(examples=["Q-2026-00012"])
    client: ClientCode
    state: Literal[QUOTE_STATES] = Field(description="An open quote past valid_until reads expired.")
    valid_until: date
    rate_card_version: Positive
    lines: list[QuoteLine]
    hours_total: DecimalText = Field(description="Hours in all lines, a day counted as 8.")
    discount_percent: Percent
    discount: MoneyText
    subtotal: MoneyText
    total: MoneyText
    currency: Currency
    created_at: Time
    sent_at: Time | None
    decided_at: Time | None

    @classmethod
    def computed(cls, quote, context: dict) -> dict:
        return {"state": quote_state_on(quote.state, quote.valid_until, context["today"]),
                "rate_card_version": quote.rate_card.version,
                "hours_total": Decimal(quote.minutes_total) / 60}


#: money computed from several rows (not read from one ``NAME_minor``); negative when the client is owed
Derived = Annotated[str, Field(pattern=MONEY_PATTERN, examples=["1234.50"])]


class InvoiceSummary(Out):
    number: str = Field(examples=["INV-2026-00042"], description="INV-YYYY-NNNNN or CN-YYYY-NNNNN.")
    kind: Literal[DOCUMENT_KINDS]
    client: ClientCode
    period: Annotated[str, Field(pattern=PERIOD_PATTERN)]
    issued_on: date
    due_on: date
    total: MoneyText
    currency: Currency
    status: Literal[INVOICE_STATUSES] = Field(description="Derived from payments, credit notes and the due "
                                              "date; a credit note is always credited.")
    amount_paid: Derived = Field(description="Payments less reversals.")
    amount_due: Derived = Field(description="Total less credit notes and payments; 0.00 on a credit note.")

    @classmethod
    def computed(cls, invoice, context: dict) -> dict:
        today = context.get("today") or datetime.now(UTC).date()
        known = context.get("standings") or {}
        found = known.get(invoice.id) or payments.standing(object_session(invoice), invoice, today)
        amount = lambda minor: str(Money.from_minor(minor, invoice.currency))
        return {"status": found.status, "amount_paid": amount(found.amount_paid),
                "amount_due": amount(found.amount_due)}


class Payment(Out):
    """A payment, or (``reverses`` set) the reversal of one."""

    id: Positive
    invoice: Annotated[str, _named("number")]
    amount: MoneyText
    currency: Currency
    paid_on: date
    method: str | None
    reference: str | None
    reverses: Annotated[int, _named("id")] | None = None
    reason: str | None = None

    @classmethod
    def computed(cls, payment, context: dict) -> dict:
        return {"reverses": payment.reverses_id, "reason": payment.reason} if payment.reverses_id else {}


class InvoiceLine(Out):
    position: Positive
    kind: Literal[LINE_KINDS]
    description: str
    quantity: DecimalText
    unit_price: MoneyText
    amount: MoneyText


class Invoice(InvoiceSummary):
    """An invoice or a credit note; a credit note also carries refers_to and reason."""

    tax_rate: Percent
    lines: list[InvoiceLine]
    subtotal: MoneyText
    tax: MoneyText
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] | None
    taxes: list[InvoiceTax] = Field(description="The named taxes as issued, each rounded half-up.")
    refers_to: Annotated[str, _named("number")] | None = None
    reason: str | None = None

    @classmethod
    def computed(cls, invoice, context: dict) -> dict:
        standing = super().computed(invoice, context)
        note = {"refers_to": invoice.refers_to, "reason": invoice.reason} if invoice.kind == "credit_note" else {}
        return {"sha256": invoice.document.sha256 if invoice.document else None, "taxes": taxes_json(invoice),
                **standing, **note}


class Failure(Out):
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


PAGES = {item: page_of(item) for item in (Client, Case, Activity, Entry, Quote, InvoiceSummary, Payment)}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = Field(None, description="The offending input.")


class Error(BaseModel):
    error: ErrorDetail
