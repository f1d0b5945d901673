"""Support plans for finance and admin: the plans with their calendars and targets, and a form that adds
a plan or a new version. The form is read by the API's own body model, so both refuse the same input."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pydantic
from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..api import field_errors
from ..api.schemas import NewSupportPlan
from ..businesstime import shifts_of
from ..errors import ValidationError
from ..extensions import db
from ..models import SEVERITIES, Client, SupportPlan, SupportPlanVersion
from ..services import sla
from .boundary import done, transaction
from .common import domain_info, only_for, today
from .forms import HOURS_ROWS, UNIT_LABELS, PlanForm, set_rows

blueprint = Blueprint("plans", __name__, url_prefix="/finance/support-plans")
only_for(blueprint, "finance")


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
    clients: Counter[str] = Counter()
    for plan_id, count in db.session.execute(select(Client.support_plan_id, func.count(Client.id))
                                             .group_by(Client.support_plan_id)):
        clients[codes.get(plan_id, sla.DEFAULT_PLAN)] += count  # no plan of its own: the default one
    return render_template("plans/plans.html", plans=sla.list_plans(db.session, on), versions=versions,
                           clients=clients, shifts_of=shifts_of, form=form, today=on,
                           unit_labels=UNIT_LABELS), status


@blueprint.get("")
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
@transaction
def create_plan():
    form = PlanForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                fields = NewSupportPlan.model_validate(form.body()).plan_fields()
                version = sla.add_plan_version(db.session, **fields)
            return done(_("Version %(version)s of support plan %(code)s is in force from %(day)s.", version=version.version,
                          code=version.plan.code, day=version.effective_from.isoformat()),
                        "plans.plans")
        except pydantic.ValidationError as error:
            for problem in field_errors(error):
                form.show(problem)
        except Exception as error:
            info = domain_info(error)
            form.show(ValidationError(info.template or info.message, info.field, **info.params))
    return _plans_page(form, 422)


def plan_name(client: Client) -> str:
    """The name of the support plan ``client`` is on, for the pages that show its balance."""
    try:
        return sla.plan_of(db.session, client).name
    except ValidationError:  # no plan at all: a database `ledger init` has not seeded
        return "none"
