"""The billing rules, pure: values in, values out — no Flask, no SQLAlchemy.

Every policy number lives in :class:`Policy`; the services pass ``POLICY`` (or a
client's own policy, later) into these functions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

OveragePolicy = Literal["bill", "block"]


@dataclass(frozen=True)
class Policy:
    """The vendor's charging policy; the defaults are SPEC.md's seed values."""

    #: minutes covered by an appointment's first block
    appointment_first_block_minutes: int = 60
    #: incidents charged for the first block (or any part of it)
    appointment_first_block_incidents: int = 2
    #: minutes in each further block after the first
    appointment_increment_minutes: int = 30
    #: incidents charged for each further block (or any part of it)
    appointment_increment_incidents: int = 1
    #: the longest single appointment accepted, in minutes
    appointment_max_minutes: int = 24 * 60
    #: incidents charged for the first technician response on a case
    technician_response_incidents: int = 1
    #: the most unused incidents carried into the next term
    rollover_cap: int = 15
    #: professional-service work is billed in multiples of this many minutes
    work_billing_increment_minutes: int = 15
    #: days in an annual term's length are computed by calendar; this is the term in years
    term_years: int = 1


POLICY = Policy()


def N_(text: str) -> str:
    """Mark a message template for the catalogues (the pages translate it when they show the error)."""
    return text


class Templated:
    """An error whose message is a template with named placeholders filled from ``params``.

    ``message`` holds the filled English text; ``template`` and ``params`` let a page show it
    in its own language. ``field`` names the offending input.
    """

    def __init__(self, message: str, field: str | None = None, **params):
        self.template = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)
        self.field = field


class RuleViolation(Templated, ValueError):
    """An input the rules refuse; ``field`` names the offending input."""


class InsufficientIncidents(RuleViolation):
    """A charge under the block policy that the balance cannot cover."""

    def __init__(self, needed: int, available: int):
        super().__init__(
            N_("1 incident needed but only %(available)s available; this client's overage policy is 'block'")
            if needed == 1 else
            N_("%(needed)s incidents needed but only %(available)s available; this client's overage policy is 'block'"),
            field="incidents", needed=needed, available=available,
        )
        self.needed = needed
        self.available = available


# --- incidents charged -------------------------------------------------------------


def appointment_minutes(started_at: datetime, ended_at: datetime, policy: Policy = POLICY) -> int:
    """Length of an appointment in whole minutes, any part of a minute counted as one.

    Refuses a missing time zone, an end not after the start, and an appointment
    longer than the policy's maximum.
    """
    for name, value in (("started_at", started_at), ("ended_at", ended_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise RuleViolation(N_("%(name)s needs a UTC offset, for example +02:00"), field=name, name=name)
    # In UTC: two times in one ZoneInfo subtract by wall clock, wrong across a DST change.
    seconds = (ended_at.astimezone(UTC) - started_at.astimezone(UTC)).total_seconds()
    if seconds <= 0:
        raise RuleViolation(N_("the appointment must end after it starts"), field="ended_at")
    minutes = math.ceil(seconds / 60)
    if minutes > policy.appointment_max_minutes:
        hours = policy.appointment_max_minutes // 60
        raise RuleViolation(N_("a single appointment may last at most %(hours)s hours"), "ended_at", hours=hours)
    return minutes


def appointment_incidents(minutes: int, policy: Policy = POLICY) -> int:
    """Incidents for an appointment of ``minutes``: the first block, then each further block."""
    if minutes <= 0:
        raise RuleViolation(N_("an appointment must last at least one minute"), field="minutes")
    if minutes > policy.appointment_max_minutes:
        hours = policy.appointment_max_minutes // 60
        raise RuleViolation(N_("a single appointment may last at most %(hours)s hours"), "minutes", hours=hours)
    beyond = max(0, minutes - policy.appointment_first_block_minutes)
    blocks = math.ceil(beyond / policy.appointment_increment_minutes)
    return policy.appointment_first_block_incidents + blocks * policy.appointment_increment_incidents


def technician_response_incidents(case_already_charged: bool, policy: Policy = POLICY) -> int:
    """Incidents for a technician's response: the first on a case is charged, later ones are 0."""
    return 0 if case_already_charged else policy.technician_response_incidents


def helpdesk_answer_incidents(policy: Policy = POLICY) -> int:
    """Incidents for an immediate help-desk answer: always 0 (it is still logged)."""
    return 0


def billed_work_minutes(minutes: int, policy: Policy = POLICY) -> int:
    """Professional-service minutes rounded up to the billing increment (1 → 15, 16 → 30)."""
    if minutes <= 0:
        raise RuleViolation(N_("minutes must be a positive whole number"), field="minutes")
    step = policy.work_billing_increment_minutes
    return math.ceil(minutes / step) * step


# --- terms -------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True, order=True)
class Term:
    """One annual term: ``start`` and ``end`` are both days inside the term."""

    start: date
    end: date

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls inside this term."""
        return self.start <= day <= self.end


def term_containing(anniversary: date, day: date, policy: Policy = POLICY) -> Term:
    """The annual term that contains ``day`` for a client whose terms start on ``anniversary``."""
    years = day.year - anniversary.year
    start = add_years(anniversary, years)
    if start > day:
        years -= 1
    elif add_years(anniversary, years + policy.term_years) <= day:
        years += 1
    start = add_years(anniversary, years)
    end = add_years(anniversary, years + policy.term_years) - timedelta(days=1)
    return Term(start, end)


def next_term(anniversary: date, term: Term, policy: Policy = POLICY) -> Term:
    """The term that follows ``term``."""
    return term_containing(anniversary, term.end + timedelta(days=1), policy)


# --- lots: allocation and rollover -------------------------------------------------


@dataclass(frozen=True)
class LotBalance:
    """What the rules need to know of one lot of incidents (or minutes)."""

    id: int
    remaining: int
    starts_on: date
    expires_on: date | None
    #: tie-break after expiry: the order in which lots were created
    sequence: int = 0

    def usable_on(self, day: date) -> bool:
        """Whether this lot can pay for a charge dated ``day``."""
        not_expired = self.expires_on is None or day <= self.expires_on
        return self.remaining > 0 and self.starts_on <= day and not_expired


@dataclass(frozen=True)
class Draw:
    """Take ``quantity`` from lot ``lot_id``."""

    lot_id: int
    quantity: int


@dataclass(frozen=True)
class Allocation:
    """How a charge is paid: draws from lots, earliest expiry first, and any overage."""

    draws: tuple[Draw, ...] = ()
    overage: int = 0

    @property
    def total(self) -> int:
        """Everything charged: drawn plus overage."""
        return sum(d.quantity for d in self.draws) + self.overage


def fifo_order(lots: Iterable[LotBalance]) -> list[LotBalance]:
    """Lots in the order charges draw from them: earliest expiry, then earliest created."""
    never = date.max
    return sorted(lots, key=lambda lot: (lot.expires_on or never, lot.sequence, lot.id))


def allocate(
    lots: Iterable[LotBalance],
    quantity: int,
    on: date,
    overage_policy: OveragePolicy = "bill",
) -> Allocation:
    """Split a charge of ``quantity`` dated ``on`` across the usable lots, FIFO by expiry.

    Under ``block`` a charge larger than the usable balance raises
    :class:`InsufficientIncidents`; under ``bill`` the rest is overage.
    """
    if quantity < 0:
        raise RuleViolation(N_("a charge cannot be negative"), field="quantity")
    usable = [lot for lot in fifo_order(lots) if lot.usable_on(on)]
    available = sum(lot.remaining for lot in usable)
    if quantity > available and overage_policy == "block":
        raise InsufficientIncidents(quantity, available)
    draws: list[Draw] = []
    left = quantity
    for lot in usable:
        if left == 0:
            break
        take = min(left, lot.remaining)
        draws.append(Draw(lot.id, take))
        left -= take
    return Allocation(tuple(draws), overage=left)


@dataclass(frozen=True)
class LotClosing:
    """What happens to one lot when its term closes."""

    lot_id: int
    rolled_over: int
    expired: int


@dataclass(frozen=True)
class Rollover:
    """A term's close: per lot, what rolls into the next term and what expires."""

    closings: tuple[LotClosing, ...] = field(default_factory=tuple)

    @property
    def rolled_over(self) -> int:
        """Incidents carried into the next term."""
        return sum(c.rolled_over for c in self.closings)

    @property
    def expired(self) -> int:
        """Incidents that lapse."""
        return sum(c.expired for c in self.closings)


def rollover(lots: Iterable[LotBalance], policy: Policy = POLICY) -> Rollover:
    """Close the lots of an ending term: up to the cap rolls over, oldest lots first; the rest expires.

    40 bought, 22 used: 18 unused → 15 roll over, 3 expire.
    """
    room = policy.rollover_cap
    closings = []
    for lot in fifo_order(lots):
        if lot.remaining <= 0:
            continue
        rolled = min(room, lot.remaining)
        room -= rolled
        closings.append(LotClosing(lot.id, rolled, lot.remaining - rolled))
    return Rollover(tuple(closings))


def rollover_forecast(unused: int, policy: Policy = POLICY) -> tuple[int, int]:
    """``(rolls over, expires)`` if ``unused`` incidents are still unused at the term's end."""
    rolled = min(max(unused, 0), policy.rollover_cap)
    return rolled, max(unused, 0) - rolled


# --- money -------------------------------------------------------------------------

CENT = Decimal("0.01")


def round_money(amount: Decimal, exponent: Decimal = CENT) -> Decimal:
    """Round a money amount half-up to the currency's smallest unit (cents by default)."""
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def tax_on(amount: Decimal, rate_percent: Decimal, exponent: Decimal = CENT) -> Decimal:
    """Tax at ``rate_percent`` (``Decimal("8.25")`` is 8.25 %) on ``amount``, half-up to the cent."""
    return round_money(amount * rate_percent / Decimal(100), exponent)


# --- quotes ------------------------------------------------------------------------

#: hours in a billable day
HOURS_PER_DAY = 8
#: the finest fraction of an hour or a day a quote line may hold
QUOTE_STEP = Decimal("0.25")


@dataclass(frozen=True)
class RolePrice:
    """A role's prices on one rate-card version, in major units."""

    hourly: Decimal
    daily: Decimal


@dataclass(frozen=True)
class QuoteLineRequest:
    role: str
    unit: Literal["hour", "day"]
    quantity: Decimal


@dataclass(frozen=True)
class PricedLine:
    role: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    #: prepaid minutes the line credits
    minutes: int


@dataclass(frozen=True)
class QuotePrice:
    lines: tuple[PricedLine, ...]
    minutes_total: int
    discount_percent: Decimal
    subtotal: Decimal
    discount: Decimal
    total: Decimal


def discount_percent(hours: Decimal, tiers: Iterable[tuple[int, Decimal]]) -> Decimal:
    """The volume discount for ``hours`` bought in one quote: the highest tier reached."""
    reached = [percent for min_hours, percent in tiers if hours >= min_hours]
    return max(reached, default=Decimal(0))


def price_quote(
    lines: Iterable[QuoteLineRequest],
    prices: dict[str, RolePrice],
    tiers: Iterable[tuple[int, Decimal]],
    exponent: Decimal = CENT,
) -> QuotePrice:
    """Price quote lines from one card: line amounts, hours total, discount tier, totals.

    ``discount`` = subtotal × percent / 100, half-up to the cent; ``total`` = subtotal − discount.
    """
    priced = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if line.role not in prices:
            raise RuleViolation(N_("unknown role %(role)r"), f"{where}.role", role=line.role)
        if line.quantity <= 0 or line.quantity % QUOTE_STEP != 0:
            raise RuleViolation(N_("quantity is a positive multiple of 0.25"), f"{where}.quantity")
        price = prices[line.role]
        unit_price = price.daily if line.unit == "day" else price.hourly
        hours = line.quantity * (HOURS_PER_DAY if line.unit == "day" else 1)
        priced.append(PricedLine(line.role, line.unit, line.quantity, unit_price,
                                 round_money(line.quantity * unit_price, exponent), int(hours * 60)))
    if not priced:
        raise RuleViolation(N_("a quote needs at least one line"), "lines")
    minutes = sum(p.minutes for p in priced)
    percent = discount_percent(Decimal(minutes) / 60, tiers)
    subtotal = sum((p.amount for p in priced), Decimal(0))
    discount = round_money(subtotal * percent / 100, exponent)
    return QuotePrice(tuple(priced), minutes, percent, subtotal, discount, subtotal - discount)


class InvalidTransition(RuleViolation):
    """A quote (or invoice) cannot make that move from its state."""


#: (state, action) → new state; every other pair is refused
QUOTE_TRANSITIONS = {
    ("draft", "send"): "sent",
    ("sent", "accept"): "accepted",
    ("sent", "decline"): "declined",
    ("draft", "expire"): "expired",
    ("sent", "expire"): "expired",
}
QUOTE_ACTIONS = ("send", "accept", "decline", "expire")
#: each action as a refusal names it: "a declined quote cannot be sent"
QUOTE_ACTIONS_DONE = {"send": "sent", "accept": "accepted", "decline": "declined", "expire": "expired"}


def quote_state_on(state: str, valid_until: date, today: date) -> str:
    """The state a quote is in on ``today``: an open quote past its validity date has expired."""
    if state in ("draft", "sent") and today > valid_until:
        return "expired"
    return state


def quote_transition(state: str, action: str) -> str:
    """The state after ``action``; raises :class:`InvalidTransition` for a move the machine lacks."""
    try:
        return QUOTE_TRANSITIONS[(state, action)]
    except KeyError:
        template = (N_("an %(state)s quote cannot be %(done)s") if state[0] in "aeiou"
                    else N_("a %(state)s quote cannot be %(done)s"))
        raise InvalidTransition(template, "state", state=state, done=QUOTE_ACTIONS_DONE[action]) from None


# --- invoices ----------------------------------------------------------------------

#: days between issuing an invoice and its due date
PAYMENT_TERMS_DAYS = 30


#: a month as the edge accepts it: ASCII digits only (``\d`` would take ``١``), ``YYYY-MM``
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, the unit of invoicing: parsed once at the edge, used everywhere after."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: object) -> Period:
        """``2026-03`` as a Period; anything else (``2026-3``, ``2026-١٢``, `` 2026-03``) is refused."""
        if not isinstance(text, str) or not _PERIOD.fullmatch(text) or text[:4] == "0000":
            raise RuleViolation(N_("%(text)r is not a month written YYYY-MM"), "period", text=text)
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def containing(cls, day: date) -> Period:
        """The month ``day`` falls in."""
        return cls(day.year, day.month)

    @property
    def start(self) -> date:
        """The first day of the month."""
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        """The last day of the month."""
        return self.following().start - timedelta(days=1)

    def following(self) -> Period:
        """The next month."""
        return Period(self.year + (self.month == 12), self.month % 12 + 1)

    def previous(self) -> Period:
        """The month before."""
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_bounds(period: str | Period) -> tuple[date, date]:
    """First and last day of a ``YYYY-MM`` period; raises RuleViolation on anything else."""
    month = period if isinstance(period, Period) else Period.parse(period)
    return month.start, month.end


def check_not_future(day: date, today: date, field: str, what: str) -> None:
    """Refuse ``day`` after ``today``: nothing dated in the future may make an irreversible posting."""
    if day > today:
        raise RuleViolation(f"{field} {day.isoformat()} is after today; {what}", field)


def check_period_begun(period: Period, today: date) -> None:
    """Refuse to issue a month whose first day is after ``today``."""
    if period.start > today:
        raise RuleViolation(N_("%(period)s has not begun yet; a month is invoiced once it has begun"), "period",
                            period=str(period))


def hours_amount(minutes: int, hourly: Decimal, exponent: Decimal = CENT) -> Decimal:
    """The price of ``minutes`` at ``hourly``, half-up to the cent."""
    return round_money(Decimal(minutes) * hourly / 60, exponent)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def invoice_totals(amounts: Iterable[Decimal], tax_rate: Decimal, exponent: Decimal = CENT) -> Totals:
    """Subtotal of the line amounts, tax on the subtotal half-up to the cent, and the total."""
    subtotal = sum(amounts, Decimal(0))
    tax = tax_on(subtotal, tax_rate, exponent)
    return Totals(subtotal, tax, subtotal + tax)


def document_number(kind: Literal["invoice", "credit_note"], year: int, number: int) -> str:
    """The printed number of the ``number``-th document of its series in ``year``: ``INV-2026-00042``."""
    prefix = {"invoice": "INV", "credit_note": "CN"}[kind]
    return f"{prefix}-{year}-{number:05d}"


def maintenance_term(anniversary: date, period: Period, policy: Policy = POLICY) -> Term | None:
    """The term whose maintenance fee falls in ``period`` (it renews that month), or None."""
    term = term_containing(anniversary, period.end, policy)
    return term if period.start <= term.start <= period.end else None


@dataclass(frozen=True)
class OverageCharge:
    """One overage entry as invoicing sees it: its price group, its source key, the quantity used."""

    group: tuple
    source: str
    quantity: int


@dataclass(frozen=True)
class OverageGroup:
    """Overage billed on one invoice line: one price (and role), the sum of its charges."""

    group: tuple
    quantity: int
    sources: tuple[str, ...]


def group_overage(charges: Iterable[OverageCharge]) -> list[OverageGroup]:
    """Overage charges summed per price group, in group order; each charge's source kept for the line."""
    groups: dict[tuple, list[OverageCharge]] = {}
    for charge in charges:
        groups.setdefault(charge.group, []).append(charge)
    return [
        OverageGroup(key, sum(c.quantity for c in members), tuple(c.source for c in members))
        for key, members in sorted(groups.items())
    ]


@dataclass(frozen=True)
class LineDraft:
    """A line an invoice (or credit note) would print, with the keys of what it bills."""

    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    #: keys of what the line bills (one per bundle, item, entry, maintenance year)
    sources: tuple[str, ...] = ()
    #: the invoice line a credit-note line credits
    credits_line_id: int | None = None


@dataclass(frozen=True)
class Composition:
    """An invoice's lines in print order and its totals."""

    lines: tuple[LineDraft, ...]
    totals: Totals

    @property
    def billable(self) -> bool:
        """Whether there is anything to invoice."""
        return bool(self.lines)


#: the order in which an invoice prints its kinds of line
LINE_ORDER = ("bundle", "quote", "maintenance", "incident_overage", "hours_overage")


def compose_invoice(candidates: Iterable[LineDraft], billed: set[str], tax_rate: Decimal,
                    exponent: Decimal = CENT) -> Composition:
    """The invoice from candidate lines: lines already billed or empty are left out, then totals."""
    lines = [
        line for line in candidates
        if not (line.sources and set(line.sources) <= billed) and (line.amount or line.quantity)
    ]
    lines.sort(key=lambda line: LINE_ORDER.index(line.kind) if line.kind in LINE_ORDER else len(LINE_ORDER))
    return Composition(tuple(lines), invoice_totals([line.amount for line in lines], tax_rate, exponent))


def credit_totals(invoice: Totals, credited: Totals, amounts: Iterable[Decimal], last: bool,
                  tax_rate: Decimal, exponent: Decimal = CENT) -> Totals:
    """A credit note's totals (positive) for lines of ``amounts``, never past what the invoice charged.

    ``credited`` is what earlier credit notes of the invoice credited (positive). Tax is
    computed on the credited subtotal but kept within what is left of the invoice's tax; the
    credit note that credits the last line takes exactly the remainder, so all of them
    together credit the invoice's subtotal, tax and total to the cent.
    """
    left = Totals(invoice.subtotal - credited.subtotal, invoice.tax - credited.tax,
                  invoice.total - credited.total)
    if last:
        return left
    subtotal = min(sum(amounts, Decimal(0)), left.subtotal)
    tax = min(tax_on(subtotal, tax_rate, exponent), left.tax)
    return Totals(subtotal, tax, subtotal + tax)


# --- waivers and usage -------------------------------------------------------------


@dataclass(frozen=True)
class PostedCharge:
    """One entry an activity's charge posted: negative quantity, from a lot or as overage."""

    quantity: int
    effective_on: date
    from_lot: bool
    lot_closed: bool = False


def waive_refusal(waived: bool, charges: Iterable[PostedCharge], anniversary: date, today: date,
                  policy: Policy = POLICY) -> str | None:
    """Why a charge may not be waived, or None if it may.

    A reversal is dated like its draw for a lot, and today for overage (an invoiced month
    stays as billed). So a closed lot, or overage charged in a term that has ended, cannot be
    reversed without making a closed term's figures, or today's overage, negative: that is
    what a credit note is for.
    """
    posted = [c for c in charges if c.quantity < 0]
    if waived:
        return N_("this activity is waived already")
    if not posted:
        return N_("this activity charged nothing; there is nothing to waive")
    if any(c.from_lot and c.lot_closed for c in posted):
        return N_("the term this charge was drawn from is closed; correct it with a credit note")
    current = term_containing(anniversary, today, policy)
    for charge in posted:
        if not charge.from_lot and term_containing(anniversary, charge.effective_on, policy) != current:
            return N_("this overage was charged in a term that has ended; "
                      "correct it with a credit note on the invoice that billed it")
    return None


def can_waive(waived: bool, charges: Iterable[PostedCharge], anniversary: date, today: date,
              policy: Policy = POLICY) -> bool:
    """Whether the charge may be waived now (see :func:`waive_refusal`)."""
    return waive_refusal(waived, charges, anniversary, today, policy) is None


@dataclass(frozen=True)
class WorkSplit:
    """Billed minutes of a work log: drawn from prepaid hours, and beyond them (overage)."""

    prepaid_minutes: int
    overage_minutes: int


def work_split(entries: Iterable[tuple[str, int]]) -> WorkSplit:
    """The prepaid/overage split of a work log from its entries' ``(kind, quantity)``; reversals ignored."""
    prepaid = overage = 0
    for kind, quantity in entries:
        if kind == "charge":
            prepaid -= quantity
        elif kind == "overage":
            overage -= quantity
    return WorkSplit(prepaid, overage)


#: entry kinds that count as using incidents (a reversal gives some back)
USAGE_KINDS = ("charge", "overage", "reversal")


def incidents_used(entries: Iterable[tuple[str, int]]) -> int:
    """Incidents used, net of reversals, from entries' ``(kind, quantity)``; rollover and expiry are not use."""
    return -sum(quantity for kind, quantity in entries if kind in USAGE_KINDS)


# --- forecasts ---------------------------------------------------------------------

#: the window whose pace predicts when a balance runs out, in days
FORECAST_WINDOW_DAYS = 90


def run_out_date(available: int, used_in_window: int, today: date,
                 window_days: int = FORECAST_WINDOW_DAYS) -> date | None:
    """When ``available`` incidents run out at the pace of the last ``window_days``; None if nothing was used."""
    if available <= 0:
        return today
    if used_in_window <= 0:
        return None
    days = math.floor(Decimal(available) * window_days / used_in_window)
    return today + timedelta(days=days)


# --- named tax components (EN 16931 tax per rate; GST + QST) -----------------------


@dataclass(frozen=True)
class TaxComponent:
    """One named tax of a client: ``rate`` in percent (``Decimal("9.975")``)."""

    name: str
    rate: Decimal


@dataclass(frozen=True)
class TaxLine:
    """A tax component as printed: its name, rate in percent and amount on the subtotal."""

    name: str
    rate: Decimal
    amount: Decimal


def check_tax_component(component: TaxComponent) -> None:
    """Refuse an empty name or a rate outside 0–100 % (field ``taxes``)."""
    if not component.name or not component.name.strip():
        raise RuleViolation(N_("each tax component needs a name"), "taxes")
    if not isinstance(component.rate, Decimal) or not Decimal(0) <= component.rate <= Decimal(100):
        raise RuleViolation(N_("%(tax)s: a tax rate is a percentage from 0 to 100"), "taxes", tax=component.name)


def compute_taxes(subtotal: Decimal, components: Iterable[TaxComponent],
                  exponent: Decimal = CENT) -> tuple[TaxLine, ...]:
    """Each component on ``subtotal``, rounded half-up to the currency's unit on its own, in order."""
    lines = []
    for component in components:
        check_tax_component(component)
        amount = tax_on(subtotal, component.rate, exponent)
        lines.append(TaxLine(component.name.strip(), component.rate, amount))
    return tuple(lines)


def taxed_totals(subtotal: Decimal, taxes: Iterable[TaxLine]) -> Totals:
    """Subtotal, the sum of the (already rounded) tax components, and their total."""
    tax = sum((line.amount for line in taxes), Decimal(0))
    return Totals(subtotal, tax, subtotal + tax)


def credit_taxes(invoice_subtotal: Decimal, credited_subtotal: Decimal, invoice_taxes: Iterable[TaxLine],
                 credited_taxes: Iterable[Decimal], amounts: Iterable[Decimal], last: bool,
                 exponent: Decimal = CENT) -> tuple[Totals, tuple[TaxLine, ...]]:
    """A credit note's totals and tax components (positive): :func:`credit_totals` per component.

    ``credited_taxes`` is what earlier credit notes credited of each component, in order. Each
    component is credited on its own rate and capped at what is left of it, so the credit
    notes of an invoice together never credit more of any component than it charged, and the
    one that credits the last line takes exactly the remainder of each.
    """
    amounts = list(amounts)
    subtotal = credit_totals(Totals(invoice_subtotal, Decimal(0), invoice_subtotal),
                             Totals(credited_subtotal, Decimal(0), credited_subtotal), amounts, last,
                             Decimal(0), exponent).subtotal
    lines = []
    for tax, done in zip(invoice_taxes, credited_taxes, strict=True):
        part = credit_totals(Totals(invoice_subtotal, tax.amount, invoice_subtotal + tax.amount),
                             Totals(credited_subtotal, done, credited_subtotal + done), amounts, last,
                             tax.rate, exponent)
        lines.append(TaxLine(tax.name, tax.rate, part.tax))
    return taxed_totals(subtotal, lines), tuple(lines)


def line_tax_shares(amounts: Sequence[Decimal], tax: Decimal, exponent: Decimal = CENT) -> tuple[Decimal, ...]:
    """Each line's share of a document's ``tax``, in proportion to its amount, in the currency's unit.

    Largest remainder: the shares add up to ``tax`` exactly (an accounting export must balance).
    """
    if not amounts:
        return ()
    subtotal = sum(amounts, Decimal(0))
    units = int((tax / exponent).to_integral_value())
    if subtotal == 0:
        return (tax,) + (Decimal(0) * exponent,) * (len(amounts) - 1)
    raw = [Decimal(units) * amount / subtotal for amount in amounts]
    shares = [int(part.to_integral_value(rounding=ROUND_FLOOR)) for part in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - shares[i], reverse=True)
    for index in by_remainder[:units - sum(shares)]:
        shares[index] += 1
    return tuple(share * exponent for share in shares)


# --- getting paid: an invoice's standing, receivables by age --------------------------------

INVOICE_STATUSES = ("open", "partially_paid", "paid", "overdue", "credited")
#: aging buckets by days past due: (name, first day, last day or None)
AGING_BUCKETS = (("current", None, 0), ("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90),
                 ("over_90", 91, None))


@dataclass(frozen=True)
class Standing:
    """Where an invoice stands: its derived status and what is still due, in minor units.

    ``amount_due`` is negative when a credit note came after payment: the client is owed that much.
    """

    status: str
    amount_paid: int
    amount_due: int


def invoice_standing(total: int, credited: int, paid: int, due_on: date, today: date) -> Standing:
    """The status and amount due of an invoice of ``total`` after ``credited`` (positive) and ``paid``,
    all in minor units; never stored, always derived so a payment or credit note changes it at once."""
    net = total - credited
    due = net - paid
    if net <= 0:
        status = "credited"
    elif due <= 0:
        status = "paid"
    elif today > due_on:
        status = "overdue"
    elif paid > 0:
        status = "partially_paid"
    else:
        status = "open"
    return Standing(status, paid, due)


def payment_refusal(amount: int, due: int, paid_on: date, issued_on: date, today: date) -> RuleViolation | None:
    """Why a payment of ``amount`` minor units on ``paid_on`` cannot be recorded, or None."""
    if amount <= 0:
        return RuleViolation(N_("a payment is a positive amount"), "amount")
    if amount > due:
        return RuleViolation(N_("the payment is more than the amount due"), "amount")
    if paid_on > today:
        return RuleViolation(N_("a payment cannot be dated in the future"), "paid_on")
    if paid_on < issued_on:
        return RuleViolation(N_("a payment cannot be dated before the invoice was issued"), "paid_on")
    return None


def aging_bucket(due_on: date, as_of: date) -> str:
    """The aging bucket of an amount due on ``due_on``, seen on ``as_of``."""
    late = (as_of - due_on).days
    for name, first, last in AGING_BUCKETS:
        if (first is None or late >= first) and (last is None or late <= last):
            return name
    raise AssertionError("the buckets cover every day")  # pragma: no cover


def age_receivables(items: Iterable[tuple[date, int]], as_of: date) -> dict[str, int]:
    """Amounts due (``(due_on, minor units)``) summed per aging bucket, every bucket present."""
    totals = {name: 0 for name, _, _ in AGING_BUCKETS}
    for due_on, amount in items:
        totals[aging_bucket(due_on, as_of)] += amount
    return totals


# --- the running-balance history of a client's incidents -------------------------------------------

#: the kinds of incident entries a history lists, in the order a day's entries are shown
HISTORY_KINDS = ("purchase", "rollover_in", "rollover_out", "expiry", "charge", "overage", "reversal")


@dataclass(frozen=True)
class Movement:
    """One incident entry as a history shows it: its day, kind and signed quantity.

    ``on_balance`` is false for overage (and its reversal): billed on the invoice, never drawn
    from a lot, so it leaves the available balance where it was.
    """

    effective_on: date
    kind: str
    quantity: int
    on_balance: bool = True
    entry_id: int = 0
    memo: str = ""
    case: str = ""


@dataclass(frozen=True)
class HistoryRow:
    """A movement and the incidents available right after it."""

    movement: Movement
    balance: int


@dataclass(frozen=True)
class History:
    """The balance before the first movement, the movements with the balance after each, and the
    balance after all of them (kept when the rows are filtered by kind)."""

    opening: int
    rows: tuple[HistoryRow, ...]
    closing: int


def running_history(opening: int, movements: Iterable[Movement]) -> History:
    """Each movement, in day and entry order, with the available balance after it."""
    balance, rows = opening, []
    for movement in sorted(movements, key=lambda m: (m.effective_on, m.entry_id)):
        if movement.on_balance:
            balance += movement.quantity
        rows.append(HistoryRow(movement, balance))
    return History(opening, tuple(rows), balance)


def filter_history(history: History, kinds: Iterable[str]) -> History:
    """Only the rows of ``kinds`` (each keeps the balance after it), or all when ``kinds`` is empty."""
    wanted = set(kinds)
    if not wanted:
        return history
    return History(history.opening, tuple(row for row in history.rows if row.movement.kind in wanted),
                   history.closing)


#: a cell starting with one of these is run as a formula by a spreadsheet
SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet shows and never runs as a formula: ``=HYPERLINK(…)`` gets a leading quote."""
    return "'" + text if text[:1] in SPREADSHEET_TRIGGERS else text
