"""Service levels: support plans (versioned), their calendars and targets, and case status history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..businesstime import CASE_STATUSES, RESOLUTIONS, TARGET_UNITS
from .base import SEVERITIES, Record, one_of, utcnow


class SupportPlan(Record):
    """A named plan clients are on; what it promises lives in its versions."""

    __tablename__ = "support_plans"

    #: short code used in the API, e.g. standard
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[SupportPlanVersion]] = relationship(
        back_populates="plan", order_by="SupportPlanVersion.effective_from")


class SupportPlanVersion(Record):
    """What a plan promises from ``effective_from`` on: a business calendar and targets.

    A case is held to the version in force on the day it was opened.
    """

    __tablename__ = "support_plan_versions"
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        UniqueConstraint("plan_id", "effective_from"),
        CheckConstraint("version > 0", name="version_positive"),
    )

    plan_id: Mapped[int] = mapped_column(ForeignKey("support_plans.id"))
    #: 1, 2, … per plan
    version: Mapped[int]
    #: the first day (in the plan's time zone) cases opened are held to this version
    effective_from: Mapped[date]
    #: IANA time zone of the opening hours, e.g. America/Toronto
    time_zone: Mapped[str] = mapped_column(String(64))
    #: ISO 3166-1 alpha-2 country whose public holidays close the calendar, or none
    holiday_country: Mapped[str | None] = mapped_column(String(2))
    #: the country's subdivision, e.g. ON
    holiday_subdivision: Mapped[str | None] = mapped_column(String(10))
    #: clocks of a case opened outside business hours start at the next opening
    clocks_start_in_business_hours: Mapped[bool] = mapped_column(default=False)
    #: critical cases count every hour of the week, whatever the opening hours
    every_hour_for_critical: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    plan: Mapped[SupportPlan] = relationship(back_populates="versions")
    hours: Mapped[list[SupportPlanHours]] = relationship(
        order_by="(SupportPlanHours.weekday, SupportPlanHours.opens_minute)", cascade="all")
    closures: Mapped[list[SupportPlanClosure]] = relationship(
        order_by="SupportPlanClosure.day", cascade="all")
    targets: Mapped[list[SupportPlanTarget]] = relationship(cascade="all")


class SupportPlanHours(Record):
    """One weekly opening window of a plan version."""

    __tablename__ = "support_plan_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("opens_minute >= 0 AND opens_minute < 1440", name="opens_in_day"),
        CheckConstraint("closes_minute > opens_minute AND closes_minute <= opens_minute + 1440",
                        name="closes_after_opens"),
    )

    version_id: Mapped[int] = mapped_column(ForeignKey("support_plan_versions.id"), index=True)
    #: 0 = Monday … 6 = Sunday
    weekday: Mapped[int]
    #: minutes after local midnight
    opens_minute: Mapped[int]
    #: minutes after the same midnight; past 1440 for a shift ending the next day
    closes_minute: Mapped[int]


class SupportPlanClosure(Record):
    """A day the vendor is closed besides public holidays."""

    __tablename__ = "support_plan_closures"
    __table_args__ = (UniqueConstraint("version_id", "day"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("support_plan_versions.id"))
    day: Mapped[date]


class SupportPlanTarget(Record):
    """A plan version's respond and resolve targets for one severity; none where null."""

    __tablename__ = "support_plan_targets"
    __table_args__ = (
        UniqueConstraint("version_id", "severity"),
        one_of("severity", SEVERITIES),
        CheckConstraint("respond_amount IS NULL OR respond_amount > 0", name="respond_positive"),
        CheckConstraint("resolve_amount IS NULL OR resolve_amount > 0", name="resolve_positive"),
        CheckConstraint("(respond_amount IS NULL) = (respond_unit IS NULL)", name="respond_has_unit"),
        CheckConstraint("(resolve_amount IS NULL) = (resolve_unit IS NULL)", name="resolve_has_unit"),
        one_of("respond_unit", TARGET_UNITS),
        one_of("resolve_unit", TARGET_UNITS),
    )

    version_id: Mapped[int] = mapped_column(ForeignKey("support_plan_versions.id"))
    severity: Mapped[str] = mapped_column(String(10))
    #: whole units of ``respond_unit``
    respond_amount: Mapped[int | None]
    #: hours (clock time), business_hours or business_days
    respond_unit: Mapped[str | None] = mapped_column(String(16))
    resolve_amount: Mapped[int | None]
    resolve_unit: Mapped[str | None] = mapped_column(String(16))


class CaseStatusChange(Record):
    """One change of a case's status, append-only: the resolve clock's pauses come from these."""

    __tablename__ = "case_status_changes"
    __table_args__ = (
        one_of("status", CASE_STATUSES),
        one_of("resolution", RESOLUTIONS),
        CheckConstraint("(status = 'resolved') = (resolution IS NOT NULL)", name="resolved_has_resolution"),
        Index("ix_case_status_changes_case_at", "case_id", "at"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    #: the status the case moved to
    status: Mapped[str] = mapped_column(String(20))
    #: how it was resolved (only when moving to resolved)
    resolution: Mapped[str | None] = mapped_column(String(24))
    #: when the change happened (may be earlier than it was recorded)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case = relationship("Case", backref=backref(
        "status_changes", order_by="(CaseStatusChange.at, CaseStatusChange.id)"))
