"""WTForms for the pages. Domain rules stay in the services; forms only read and shape input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from ..api.schemas import TEXT_PATTERN
from ..businesstime import TARGET_UNITS
from ..errors import ValidationError
from ..models import SEVERITIES
from ..money import exponent
from ..services import payments, ratecards

#: time zones offered where a time is typed; the offset is kept with the time
TIME_ZONES = (
    "UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Toronto", "Europe/London", "Europe/Paris", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney",
)


#: the severities as the forms offer them
SEVERITY_TITLES = {"critical": _l("Critical"), "major": _l("Major"), "moderate": _l("Moderate"), "minor": _l("Minor")}


def choices(pairs) -> list[SelectChoice]:
    """Select options from ``(value, label)`` pairs (WTForms 3.4 drops plain tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


def set_rows(field_list: FieldList, rows: list[dict], spare: int) -> None:
    """Replace the list's rows with ``rows``, then ``spare`` blank ones to fill in."""
    while len(field_list):
        field_list.pop_entry()
    for row in [*rows, *[None] * spare]:
        field_list.append_entry(row)


def typed(field) -> str:
    """What was typed into a text field, trimmed ("" when nothing was)."""
    return (field.data or "").strip()


def aware(moment: datetime, zone: str) -> datetime:
    """A typed local time in ``zone`` as an aware datetime."""
    return moment.replace(tzinfo=ZoneInfo(zone))


class TimedForm(FlaskForm):
    #: the client's zone unless the person typing picks another (see ``in_zone``)
    time_zone = SelectField(_l("Time zone"), choices=choices((z, z.replace("_", " ")) for z in TIME_ZONES), default="UTC")


def in_zone(form: TimedForm, zone: str, now: datetime | None = None) -> TimedForm:
    """Read the form's typed times in ``zone`` (the client's) unless another is picked, and start an empty
    form's required times at ``now`` there; the instant stored is the same whoever types it."""
    if getattr(form, "zone_applied", False):
        return form
    form.zone_applied = True
    if zone not in TIME_ZONES:
        form.time_zone.choices = [*form.time_zone.choices, SelectChoice(zone, zone.replace("_", " "))]
    if not getattr(form.time_zone, "raw_data", None):  # no zone posted: the client's
        form.time_zone.data = zone
    form.time_zone.label.text = _("Time zone (the client's: %(zone)s)") % {"zone": zone.replace("_", " ")}
    local_now = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).replace(tzinfo=None, second=0, microsecond=0)
    for field in form:
        if isinstance(field, DateTimeLocalField) and not form.is_submitted() and field.data is None \
                and field.flags.required:
            field.data = local_now
    return form


class CaseForm(TimedForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    severity = SelectField(_l("Severity"), choices=choices((s, SEVERITY_TITLES[s]) for s in SEVERITIES), default="moderate")
    opened_at = DateTimeLocalField(_l("Opened at"), validators=[DataRequired()], format="%Y-%m-%dT%H:%M")


class ClientCaseForm(FlaskForm):
    """A case a client user opens for its own organisation: the clock starts when it is sent."""

    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    severity = SelectField(_l("Severity"), choices=choices((s, SEVERITY_TITLES[s]) for s in SEVERITIES), default="moderate")
    description = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=5000)])


class HelpdeskForm(TimedForm):
    answered_at = DateTimeLocalField(_l("Answered at"), validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    by = StringField(_l("Answered by"), validators=[DataRequired(), Length(max=120)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])


class ResponseForm(TimedForm):
    responded_at = DateTimeLocalField(_l("Responded at"), validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    technician = StringField(_l("Technician"), validators=[DataRequired(), Length(max=120)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])


class AppointmentForm(TimedForm):
    started_at = DateTimeLocalField(_l("Started at"), validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    ended_at = DateTimeLocalField(_l("Ended at"), validators=[Optional()], format="%Y-%m-%dT%H:%M")
    duration = IntegerField(_l("Or duration (minutes)"), validators=[Optional()])
    technician = StringField(_l("Technician"), validators=[DataRequired(), Length(max=120)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])

    def validate(self, extra_validators=None) -> bool:
        """Exactly one of an end time and a duration."""
        valid = super().validate(extra_validators)
        if self.ended_at.errors or self.duration.errors:
            return False
        given = (self.ended_at.data is not None) + (self.duration.data is not None)
        if given != 1:
            self.duration.errors.append(
                _("Give an end time or a duration.") if given == 0 else _("Give an end time or a duration, not both."))
            return False
        return valid


class BundleForm(FlaskForm):
    quantity = IntegerField(_l("Incidents"), validators=[InputRequired(), NumberRange(min=1, max=100_000)])
    purchased_on = DateField(_l("Purchased on"), validators=[DataRequired()])
    unit_price = DecimalField(_l("Price per incident"), places=2, validators=[Optional(), NumberRange(min=0)])


class WaiverForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=5000)])


class WorkForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[DataRequired()])
    minutes = IntegerField(_l("Minutes worked"), validators=[InputRequired(), NumberRange(min=1, max=1440)])
    performed_on = DateField(_l("Date"), validators=[DataRequired()])
    case = SelectField(_l("Case (optional)"), default="")
    description = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=5000)])


class QuoteLineForm(Form):
    role = SelectField(_l("Role"), default="")
    unit = SelectField(_l("Unit"), choices=choices([("hour", _l("hours")), ("day", _l("days"))]), default="hour")
    quantity = DecimalField(_l("Quantity"), places=2, validators=[Optional()])


#: the most lines a quote form holds ("Add line" stops there)
MAX_QUOTE_LINES = 20


class QuoteForm(FlaskForm):
    lines = FieldList(FormField(QuoteLineForm), min_entries=1, max_entries=MAX_QUOTE_LINES)
    valid_until = DateField(_l("Valid until"), validators=[DataRequired()])


#: a tag or comment in typed text: a name or address is plain text, never markup
MARKUP = r"^[^<>]*$"


def no_markup() -> Regexp:
    """Refuse angle brackets in a plain-text field (a name, an address, a reference)."""
    return Regexp(MARKUP, message=_l("Type plain text: no < or > (markup is not allowed)."))


class TaxRowForm(Form):
    name = StringField(_l("Tax name"), validators=[Optional(), Length(max=60), no_markup()])
    rate = DecimalField(_l("Rate (%)"), places=3, validators=[Optional(), NumberRange(min=0, max=100)])

    def validate(self, extra_validators=None) -> bool:
        """A row is empty, or has both a name and a rate."""
        valid = super().validate(extra_validators)
        named = bool(typed(self.name))
        if named and self.rate.data is None and not self.rate.errors:
            self.rate.errors.append(_("Give the rate of this tax, e.g. 9.975."))
            return False
        if not named and self.rate.data is not None and not self.name.errors:
            self.name.errors.append(_("Give this tax a name, e.g. VAT or GST."))
            return False
        return valid


class BillingDetailsForm(FlaskForm):
    """What an invoice needs to know about the buyer, as a new client's form and the billing page ask it."""

    country = StringField(_l("Country (ISO code, e.g. DE, US)"), validators=[Length(max=2)])
    vat_id = StringField(_l("VAT / tax ID"), validators=[Length(max=40), no_markup()])
    billing_emails = TextAreaField(_l("Billing e-mails (one per line)"), validators=[Length(max=3000)])
    payment_terms_days = IntegerField(_l("Payment terms (days)"), default=30,
                                      validators=[InputRequired(_l("Give the payment terms in days.")),
                                                  NumberRange(min=0, max=365)])
    purchase_order = StringField(_l("Purchase order"), validators=[Length(max=100), no_markup()])
    reverse_charge = BooleanField(_l("Reverse charge (intra-EU business client: 0 % and the legal note)"))


class BillingForm(BillingDetailsForm):
    """A client's billing details as finance and the account manager type them."""

    taxes = FieldList(FormField(TaxRowForm), min_entries=4, max_entries=5)


def plain_text() -> Regexp:
    """Typed text without control characters (tabs and newlines aside), as the API accepts it."""
    return Regexp(TEXT_PATTERN, message=_l("Remove the control characters from this text."))


class ClientDetailsForm(FlaskForm):
    """What a client is: the fields that may change after it is created (its code and currency may not)."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the client's name.")), Length(max=200),
                                              plain_text()])
    locale = StringField(_l("Locale (language and country, e.g. en_US, de_DE, fr_CA)"), default="en_US",
                         validators=[DataRequired(_l("Give a locale such as en_US.")), Length(max=20)])
    tax_rate = DecimalField(_l("Tax rate (%)"), places=3,
                            validators=[InputRequired(_l("Give the tax rate in percent, e.g. 8.25 (0 for none).")),
                                        NumberRange(min=0, max=100)])
    maintenance_fee = DecimalField(_l("Annual maintenance fee"), places=2, default=0,
                                   validators=[Optional(), NumberRange(min=0, max=10**11)])
    overage_policy = SelectField(_l("Overage"), default="bill", choices=choices([
        ("bill", _l("Bill incidents beyond the balance on the month's invoice")),
        ("block", _l("Refuse charges the balance cannot cover"))]))
    support_plan = SelectField(_l("Support plan"), default="")
    address = TextAreaField(_l("Postal address (printed on documents)"), validators=[Length(max=5000), plain_text()])


class NewClientForm(ClientDetailsForm, BillingDetailsForm):
    """A new client: its code and currency (fixed from then on), its term, and its billing details."""

    code = StringField(_l("Code (letters, digits, - or _; used in links, cannot change later)"),
                       validators=[DataRequired(_l("Give the client a code, e.g. ACME.")), Length(max=32)])
    currency = StringField(_l("Currency (ISO code, e.g. USD, EUR)"), default="USD",
                           validators=[DataRequired(_l("Give the currency, e.g. USD.")), Length(max=3)])
    term_start = DateField(_l("Anniversary (first day of the first annual term)"),
                           validators=[InputRequired(_l("Give the first day of the annual term."))])


class HistoryFilterForm(Form):
    """The history's date range and kinds, read from the query string (a GET form: no CSRF)."""

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    kind = SelectMultipleField(_l("Kinds"), validate_choice=True)


# --- signing in and one's own settings ---------------------------------------------------------


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class PreferencesForm(FlaskForm):
    # validated by the service, so an unknown value is refused with a message naming the choices
    language = SelectField(_l("Language"), validate_choice=False, default="")
    time_zone = StringField(_l("Time zone"), validators=[Length(max=64)], default="")


class OwnPasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Type your current password.")), Length(max=200)])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Type the new password.")), Length(max=200)])
    repeat_password = PasswordField(_l("New password again"), validators=[
        DataRequired(_l("Type the new password again.")), Length(max=200)])


# --- finance: the month's batch, credit notes, payments, the rate card ------------------------


class IssueForm(FlaskForm):
    period = HiddenField(validators=[DataRequired()])


class CreditNoteForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("A credit note needs a reason.")),
                                                 Length(max=5000)])
    lines = SelectMultipleField(_l("Lines to credit"), coerce=int, validate_choice=True)


class PaymentForm(FlaskForm):
    amount = DecimalField(_l("Amount"), validators=[InputRequired(_l("Give the amount received."))])
    paid_on = DateField(_l("Received on"), validators=[DataRequired(_l("Give the day the money arrived."))])
    method = StringField(_l("Method"), validators=[Optional(), Length(max=payments.MAX_METHOD)])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=payments.MAX_REFERENCE)])


class ReversalForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("A reversal needs a reason.")), Length(max=5000)])


class BankFileForm(FlaskForm):
    file = FileField("Bank CSV", validators=[FileRequired("Choose the bank's CSV export.")])
    currency = StringField("Currency of lines without a currency column",
                           validators=[DataRequired("Give a currency."), Length(min=3, max=3)])


class RoleRow(Form):
    code = StringField(_l("Code"), validators=[Optional(), Length(max=40),
                                           Regexp(ratecards.ROLE_CODE.pattern,
                                                  message=_l("Lower-case letters, digits and '_'."))])
    title = StringField(_l("Title"), validators=[Length(max=120)])
    hourly = DecimalField(_l("Hourly"), validators=[Optional(), NumberRange(min=0)])
    daily = DecimalField(_l("Daily (8 h)"), validators=[Optional(), NumberRange(min=0)])


class TierRow(Form):
    min_hours = IntegerField(_l("From hours"), validators=[Optional(), NumberRange(min=1, max=100_000)])
    percent = DecimalField(_l("Discount %"), validators=[Optional(), NumberRange(min=0)])


class RateCardForm(FlaskForm):
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(min=3, max=3)])
    effective_from = DateField(_l("In force from"), validators=[DataRequired()])
    incident_price = DecimalField(_l("Incident price (bundles)"), validators=[InputRequired(), NumberRange(min=0)])
    overage_price = DecimalField(_l("Overage price per incident"), validators=[InputRequired(), NumberRange(min=0)])
    maintenance_fee = DecimalField(_l("Annual maintenance fee (default for new clients)"),
                                   validators=[Optional(), NumberRange(min=0)])
    roles = FieldList(FormField(RoleRow), min_entries=1, max_entries=50)
    discounts = FieldList(FormField(TierRow), min_entries=1, max_entries=20)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: errors about a whole list ("roles", "discounts"), shown under it
        self.list_errors: dict[str, str] = {}

    def card_roles(self) -> list[tuple]:
        """(code, title, hourly, daily) of each filled row; errors are put beside the row's fields."""
        rows = []
        for row in self.roles:
            if not typed(row.code):
                continue
            for name in ("title", "hourly", "daily"):
                if row[name].data in (None, ""):
                    row[name].errors = [*row[name].errors, "Required for a role."]
            rows.append((typed(row.code), typed(row.title), row.hourly.data, row.daily.data))
        codes = [r[0] for r in rows]
        if not rows:
            self.list_errors["roles"] = "Name at least one role."
        elif len(set(codes)) != len(codes):
            self.list_errors["roles"] = "Each role code appears once."
        return rows

    def card_discounts(self) -> list[tuple]:
        """(min_hours, percent) of each filled tier; errors beside the row's fields."""
        tiers = []
        for row in self.discounts:
            if row.min_hours.data is None and row.percent.data is None:
                continue
            if row.min_hours.data is None:
                row.min_hours.errors = [*row.min_hours.errors, "Give the hours the tier starts at."]
            if row.percent.data is None or not 0 < row.percent.data < 100:
                row.percent.errors = [*row.percent.errors, "A percent between 0 and 100."]
            tiers.append((row.min_hours.data, row.percent.data))
        hours = [t[0] for t in tiers]
        if len(set(hours)) != len(hours):
            self.list_errors["discounts"] = "Each tier's hours appear once."
        return tiers

    def check_amounts(self, currency: str) -> None:
        """Amounts with more decimals than the currency has get an error beside them."""
        step = exponent(currency)
        fields = [self.incident_price, self.overage_price, self.maintenance_fee]
        fields += [row[name] for row in self.roles for name in ("hourly", "daily")]
        for field in fields:
            if isinstance(field.data, Decimal) and field.data != field.data.quantize(step):
                field.errors = [*field.errors, f"{currency} amounts have at most {-step.as_tuple().exponent} decimals."]

    def has_errors(self) -> bool:
        """Whether any field, row or list carries an error (checked after the extra checks above)."""
        fields = any(f.errors for f in self if f.name not in ("roles", "discounts"))
        rows = any(row.errors for row in [*self.roles, *self.discounts])
        return fields or rows or bool(self.list_errors)


# --- support plans: a new plan or version, read by the API's own body model ---------------------

#: opening-hours rows offered on the form
HOURS_ROWS = 3
UNIT_LABELS = {"": "no target", "hours": "hours", "business_hours": "business hours",
               "business_days": "business days"}


class HoursRow(Form):
    days = StringField(_l("Days"), validators=[Length(max=40)], description=_l("mon-fri, sat or mon,wed"))
    opens = StringField(_l("Opens"), validators=[Length(max=5)])
    closes = StringField(_l("Closes"), validators=[Length(max=5)])
    closes_next_day = BooleanField(_l("Closes the next day"))


class TargetRow(Form):
    #: a target's units; blank for no target
    UNITS = choices((u, UNIT_LABELS[u]) for u in ("", *TARGET_UNITS))
    severity = HiddenField()
    respond_amount = StringField(_l("Respond within"), validators=[Length(max=6)])
    respond_unit = SelectField(_l("Respond unit"), choices=UNITS, default="")
    resolve_amount = StringField(_l("Resolve within"), validators=[Length(max=6)])
    resolve_unit = SelectField(_l("Resolve unit"), choices=UNITS, default="")


class PlanForm(FlaskForm):
    code = StringField(_l("Code"), validators=[Length(max=40)])
    name = StringField(_l("Name"), validators=[Length(max=200)])
    effective_from = StringField(_l("In force from"), validators=[Length(max=10)])
    time_zone = StringField(_l("Time zone"), validators=[Length(max=64)], default="America/Toronto")
    hours = FieldList(FormField(HoursRow), min_entries=HOURS_ROWS, max_entries=21)
    holiday_country = StringField(_l("Public holidays of (country)"), validators=[Length(max=2)])
    holiday_subdivision = StringField(_l("Province or state"), validators=[Length(max=10)])
    closures = TextAreaField(_l("Closure days"), validators=[Length(max=5000)])
    clocks_start_in_business_hours = BooleanField(_l("Clocks start only in business hours"))
    every_hour_for_critical = BooleanField(_l("Critical cases count every hour of the week"))
    targets = FieldList(FormField(TargetRow), min_entries=len(SEVERITIES), max_entries=len(SEVERITIES))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: errors about the opening hours as a whole (they overlap), shown under them
        self.list_errors: dict[str, str] = {}
        for row, severity in zip(self.targets, SEVERITIES):
            row.severity.data = severity

    def body(self) -> dict:
        """The form as the API's body: blank rows and blank optional fields left out."""
        #: the form rows behind the body's hours, so an error finds its row again
        self.hours_rows = [index for index, r in enumerate(self.hours) if typed(r.days) or typed(r.opens) or typed(r.closes)]
        return {
            "code": typed(self.code), "name": typed(self.name), "time_zone": typed(self.time_zone),
            "effective_from": typed(self.effective_from),
            "hours": [{"days": typed(r.days), "opens": typed(r.opens), "closes": typed(r.closes),
                       "closes_next_day": bool(r.closes_next_day.data)} for r in map(self.hours.__getitem__, self.hours_rows)],
            "holiday_country": typed(self.holiday_country).upper() or None,
            **({"holiday_subdivision": typed(self.holiday_subdivision).upper()} if typed(self.holiday_subdivision) else {}),
            "closures": [day for day in re.split(r"[\s,]+", typed(self.closures)) if day],
            "clocks_start_in_business_hours": bool(self.clocks_start_in_business_hours.data),
            "every_hour_for_critical": bool(self.every_hour_for_critical.data),
            "targets": [{"severity": severity, "respond": _target(row.respond_amount, row.respond_unit),
                         "resolve": _target(row.resolve_amount, row.resolve_unit)}
                        for row, severity in zip(self.targets, SEVERITIES)],
        }

    def show(self, error: ValidationError) -> None:
        """Put ``error`` beside the field its path names (``targets[1].respond.amount``), else above the form."""
        path = re.sub(r"^hours\[(\d+)\]", lambda m: f"hours[{self.hours_rows[int(m[1])]}]", error.field or "")
        field, message = self._field_at(path), _without_path(error.message, error.field)
        if isinstance(field, FieldList) or field is None:
            key = (error.field or "").split("[")[0].split(".")[0]
            if key == "hours":
                self.list_errors["hours"] = message
            else:
                flash(_(error.message), "error")
        else:
            field.errors = [*field.errors, message]

    def _field_at(self, path: str):
        field = self
        names: list[str] = []
        for name, index in re.findall(r"([A-Za-z_]+)|\[(\d+)\]", path):
            if index:
                if names or not isinstance(field, FieldList) or int(index) >= len(field):
                    return field if not names else None
                field = field[int(index)].form
            else:
                names.append(name)
                joined = "_".join(names)
                if hasattr(field, joined) and hasattr(getattr(field, joined), "errors"):
                    field, names = getattr(field, joined), []
        return None if names else field


def _target(amount, unit) -> dict | None:
    amount_text, unit_text = typed(amount), unit.data or ""
    if not amount_text and not unit_text:
        return None
    given: dict = {"unit": unit_text}
    if amount_text:
        given["amount"] = int(amount_text) if re.fullmatch(r"-?[0-9]{1,6}", amount_text) else amount_text
    return given


def _without_path(message: str, field: str | None) -> str:
    """``targets[1].respond.amount: Input should be …`` beside its field reads ``Input should be …``."""
    rest = message.removeprefix(field or "").lstrip(": ")
    return rest[:1].upper() + rest[1:] if rest else message
