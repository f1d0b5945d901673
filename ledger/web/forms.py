"""WTForms for the pages. Domain rules stay in the services; forms only read and shape input."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from ..models import SEVERITIES

#: time zones offered where a time is typed; the offset is kept with the time
TIME_ZONES = (
    "UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Toronto", "Europe/London", "Europe/Paris", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney",
)


def choices(pairs) -> list[SelectChoice]:
    """Select options from ``(value, label)`` pairs (WTForms 3.4 drops plain tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


def aware(moment: datetime, zone: str) -> datetime:
    """A typed local time in ``zone`` as an aware datetime."""
    return moment.replace(tzinfo=ZoneInfo(zone))


class TimedForm(FlaskForm):
    #: the client's zone unless the person typing picks another (see ``in_zone``)
    time_zone = SelectField("Time zone", choices=choices((z, z.replace("_", " ")) for z in TIME_ZONES), default="UTC")


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
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    severity = SelectField("Severity", choices=choices((s, s.capitalize()) for s in SEVERITIES), default="moderate")
    opened_at = DateTimeLocalField("Opened at", validators=[DataRequired()], format="%Y-%m-%dT%H:%M")


class ClientCaseForm(FlaskForm):
    """A case a client user opens for its own organisation: the clock starts when it is sent."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    severity = SelectField("Severity", choices=choices((s, s.capitalize()) for s in SEVERITIES), default="moderate")
    description = TextAreaField("Description", validators=[DataRequired(), Length(max=5000)])


class HelpdeskForm(TimedForm):
    answered_at = DateTimeLocalField("Answered at", validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    by = StringField("Answered by", validators=[DataRequired(), Length(max=120)])
    note = TextAreaField("Note", validators=[Optional(), Length(max=5000)])


class ResponseForm(TimedForm):
    responded_at = DateTimeLocalField("Responded at", validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    technician = StringField("Technician", validators=[DataRequired(), Length(max=120)])
    note = TextAreaField("Note", validators=[Optional(), Length(max=5000)])


class AppointmentForm(TimedForm):
    started_at = DateTimeLocalField("Started at", validators=[DataRequired()], format="%Y-%m-%dT%H:%M")
    ended_at = DateTimeLocalField("Ended at", validators=[Optional()], format="%Y-%m-%dT%H:%M")
    duration = IntegerField("Or duration (minutes)", validators=[Optional()])
    technician = StringField("Technician", validators=[DataRequired(), Length(max=120)])
    note = TextAreaField("Note", validators=[Optional(), Length(max=5000)])

    def validate(self, extra_validators=None) -> bool:
        """Exactly one of an end time and a duration."""
        valid = super().validate(extra_validators)
        if self.ended_at.errors or self.duration.errors:
            return False
        given = (self.ended_at.data is not None) + (self.duration.data is not None)
        if given != 1:
            self.duration.errors.append(
                "Give an end time or a duration." if given == 0 else "Give an end time or a duration, not both.")
            return False
        return valid


class BundleForm(FlaskForm):
    quantity = IntegerField("Incidents", validators=[InputRequired(), NumberRange(min=1, max=100_000)])
    purchased_on = DateField("Purchased on", validators=[DataRequired()])
    unit_price = DecimalField("Price per incident", places=2, validators=[Optional(), NumberRange(min=0)])


class WaiverForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=5000)])


class WorkForm(FlaskForm):
    role = SelectField("Role", validators=[DataRequired()])
    minutes = IntegerField("Minutes worked", validators=[InputRequired(), NumberRange(min=1, max=1440)])
    performed_on = DateField("Date", validators=[DataRequired()])
    case = SelectField("Case (optional)", default="")
    description = TextAreaField("Description", validators=[DataRequired(), Length(max=5000)])


class QuoteLineForm(Form):
    role = SelectField("Role", default="")
    unit = SelectField("Unit", choices=choices([("hour", "hours"), ("day", "days")]), default="hour")
    quantity = DecimalField("Quantity", places=2, validators=[Optional()])


class QuoteForm(FlaskForm):
    lines = FieldList(FormField(QuoteLineForm), min_entries=5, max_entries=20)
    valid_until = DateField("Valid until", validators=[DataRequired()])


def _(text: str) -> str:
    """Mark ``text`` for the catalogues (``make i18n-extract``); the pages print it as written until they come."""
    return text


#: a tag or comment in typed text: a name or address is plain text, never markup
MARKUP = r"^[^<>]*$"


def no_markup() -> Regexp:
    """Refuse angle brackets in a plain-text field (a name, an address, a reference)."""
    return Regexp(MARKUP, message=_("Type plain text: no < or > (markup is not allowed)."))


class TaxRowForm(Form):
    name = StringField(_("Tax name"), validators=[Optional(), Length(max=60), no_markup()])
    rate = DecimalField(_("Rate (%)"), places=3, validators=[Optional(), NumberRange(min=0, max=100)])

    def validate(self, extra_validators=None) -> bool:
        """A row is empty, or has both a name and a rate."""
        valid = super().validate(extra_validators)
        named = bool((self.name.data or "").strip())
        if named and self.rate.data is None and not self.rate.errors:
            self.rate.errors.append(_("Give the rate of this tax, e.g. 9.975."))
            return False
        if not named and self.rate.data is not None and not self.name.errors:
            self.name.errors.append(_("Give this tax a name, e.g. VAT or GST."))
            return False
        return valid


class BillingForm(FlaskForm):
    """A client's billing details as finance and the account manager type them."""

    country = StringField(_("Country (ISO code, e.g. DE, US)"), validators=[Length(max=2)])
    vat_id = StringField(_("VAT / tax ID"), validators=[Length(max=40), no_markup()])
    billing_emails = TextAreaField(_("Billing e-mails (one per line)"), validators=[Length(max=3000)])
    payment_terms_days = IntegerField(_("Payment terms (days)"), default=30,
                                      validators=[InputRequired(_("Give the payment terms in days.")),
                                                  NumberRange(min=0, max=365)])
    purchase_order = StringField(_("Purchase order"), validators=[Length(max=100), no_markup()])
    reverse_charge = BooleanField(_("Reverse charge (intra-EU business client: 0 % and the legal note)"))
    taxes = FieldList(FormField(TaxRowForm), min_entries=4, max_entries=5)
