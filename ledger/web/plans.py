"""Support plans for finance and admin: the plans with their calendars and targets, and a form that adds
a plan or a new version. The form is read by the API's own body model, so both refuse the same input."""

from __future__ import annotations

import re
from datetime import timedelta

import pydantic
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length

from ..api import field_errors
from ..api.schemas import NewSupportPlan
from ..businesstime import TARGET_UNITS, shifts_of
from ..errors import ValidationError
from ..extensions import db
from ..models import SEVERITIES, Client, SupportPlan, SupportPlanVersion
from ..services import sla
from .boundary import transaction
from .common import domain_info, roles, today
from .forms import choices, set_rows

blueprint = Blueprint("plans", __name__, url_prefix="/finance/support-plans")
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
    severity = HiddenField()
    respond_amount = StringField(_l("Respond within"), validators=[Length(max=6)])
    respond_unit = SelectField(_l("Respond unit"), choices=choices((u, UNIT_LABELS[u]) for u in ("", *TARGET_UNITS)),
                               default="")
    resolve_amount = StringField(_l("Resolve within"), validators=[Length(max=6)])
    resolve_unit = SelectField(_l("Resolve unit"), choices=choices((u, UNIT_LABELS[u]) for u in ("", *TARGET_UNITS)),
                               default="")


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
        def text(field):
            return (field.data or "").strip()

        #: the form rows behind the body's hours, so an error finds its row again
        self.hours_rows = [index for index, r in enumerate(self.hours) if text(r.days) or text(r.opens) or text(r.closes)]
        return {
            "code": text(self.code), "name": text(self.name), "time_zone": text(self.time_zone),
            "effective_from": text(self.effective_from),
            "hours": [{"days": text(r.days), "opens": text(r.opens), "closes": text(r.closes),
                       "closes_next_day": bool(r.closes_next_day.data)} for r in map(self.hours.__getitem__, self.hours_rows)],
            "holiday_country": text(self.holiday_country).upper() or None,
            **({"holiday_subdivision": text(self.holiday_subdivision).upper()} if text(self.holiday_subdivision) else {}),
            "closures": [day for day in re.split(r"[\s,]+", text(self.closures)) if day],
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
    amount_text, unit_text = (amount.data or "").strip(), unit.data or ""
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


def fill_from(form: PlanForm, terms: sla.PlanTerms) -> None:
    """Start a new version of a plan from the version in force, in force from tomorrow."""
    calendar = terms.calendar
    form.code.data, form.name.data, form.time_zone.data = terms.code, terms.name, calendar.time_zone
    form.effective_from.data = (today() + timedelta(days=1)).isoformat()
    form.holiday_country.data = calendar.holiday_country or ""
    form.holiday_subdivision.data = calendar.holiday_subdivision or ""
    form.closures.data = "\n".join(day.isoformat() for day in sorted(calendar.closures))
    form.clocks_start_in_business_hours.data = terms.clocks_start_in_business_hours
    form.every_hour_for_critical.data = terms.every_hour_for_critical
    shifts = shifts_of(calendar.windows)
    set_rows(form.hours, [{"days": days, "opens": opens, "closes": closes, "closes_next_day": next_day}
                          for days, opens, closes, next_day in shifts], max(1, HOURS_ROWS - len(shifts)))
    for row, severity in zip(form.targets, SEVERITIES):
        respond, resolve = terms.targets[severity]
        row.respond_amount.data, row.respond_unit.data = (str(respond.amount), respond.unit) if respond else ("", "")
        row.resolve_amount.data, row.resolve_unit.data = (str(resolve.amount), resolve.unit) if resolve else ("", "")


def _plans_page(form: PlanForm, status: int = 200):
    on = today()
    versions: dict[str, list[SupportPlanVersion]] = {}
    for code, version in db.session.execute(
            select(SupportPlan.code, SupportPlanVersion).join(SupportPlanVersion.plan)
            .order_by(SupportPlan.code, SupportPlanVersion.version)):
        versions.setdefault(code, []).append(version)
    codes = dict(db.session.execute(select(SupportPlan.id, SupportPlan.code)).all())
    clients: dict[str, int] = {}
    for plan_id, count in db.session.execute(select(Client.support_plan_id, func.count(Client.id))
                                             .group_by(Client.support_plan_id)):
        code = codes.get(plan_id, sla.DEFAULT_PLAN)  # no plan of its own: the default one
        clients[code] = clients.get(code, 0) + count
    return render_template("plans/plans.html", plans=sla.list_plans(db.session, on), versions=versions,
                           clients=clients, shifts_of=shifts_of, form=form, today=on,
                           unit_labels=UNIT_LABELS), status


@blueprint.get("")
@roles("finance")
def plans():
    form = PlanForm(formdata=None)
    start = request.args.get("from")
    if start:
        try:
            fill_from(form, sla.terms_in_force(sla.find_plan(db.session, start), today()))
        except ValidationError:
            flash(_("There is no support plan %(code)s.", code=repr(start)), "error")
    return _plans_page(form)


@blueprint.post("")
@roles("finance")
@transaction
def create_plan():
    form = PlanForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                version = _add(form.body())
            flash(_("Version %(version)s of support plan %(code)s is in force from %(day)s.", version=version.version,
                    code=version.plan.code, day=version.effective_from.isoformat()), "info")
            return redirect(url_for("plans.plans"))
        except pydantic.ValidationError as error:
            for problem in field_errors(error):
                form.show(problem)
        except Exception as error:
            info = domain_info(error)
            form.show(ValidationError(info.template or info.message, info.field, **info.params))
    return _plans_page(form, 422)


def _add(body: dict) -> SupportPlanVersion:
    return sla.add_plan_version(db.session, **NewSupportPlan.model_validate(body).plan_fields())


def plan_name(client: Client) -> str:
    """The name of the support plan ``client`` is on, for the pages that show its balance."""
    try:
        return sla.plan_of(db.session, client).name
    except ValidationError:  # no plan at all: a database `ledger init` has not seeded
        return "none"
