"""Business time and service-level rules, pure: no Flask, no SQLAlchemy.

A :class:`Calendar` says when a vendor is open: weekly opening windows in an IANA time
zone, the public holidays of a country (from the ``holidays`` package) and the vendor's
own closure days. Every instant is an aware datetime; the results are aware UTC datetimes.

Each opening window belongs to the weekday it opens on, so a night shift Mon 22:00–06:00
is Monday's; a holiday or closure day closes the shifts that open on it. Wall-clock
windows are turned into real instants day by day, so a day whose clocks change is as
long as it really is (a 00:00–24:00 day lasts 23 or 25 hours then).

Targets are an amount and a unit: ``hours`` (clock time), ``business_hours`` or
``business_days``. One business day is one day's opening hours counted in business time:
a case at 16:00, two hours before Friday's 18:00 closing, is one business day later at
16:00 on the next business day. A due time is the earliest instant at which the amount
has elapsed, so a target can fall due at a closing time.
"""

from __future__ import annotations

import functools
import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

from .billing import InvalidTransition, RuleViolation

TARGET_UNITS = ("hours", "business_hours", "business_days")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
ZERO = timedelta(0)
#: how far a search for an opening looks before it calls the calendar closed for good
_SEARCH_DAYS = 3 * 366


@dataclass(frozen=True, order=True)
class Window:
    """Opening hours on one weekday (0 = Monday), in minutes after that day's local midnight.

    ``closes`` may pass 1440 for a shift that runs past midnight (22:00–06:00 is 1320–1800).
    """

    weekday: int
    opens: int
    closes: int

    def __post_init__(self):
        if not 0 <= self.weekday <= 6:
            raise RuleViolation("a weekday is 0 (Monday) to 6 (Sunday)", "hours")
        if not 0 <= self.opens < MINUTES_PER_DAY:
            raise RuleViolation("opening time is between 00:00 and 23:59", "hours")
        if self.closes <= self.opens:
            raise RuleViolation(
                f"{WEEKDAYS[self.weekday]}: closing time must come after opening time "
                "(mark a shift past midnight as ending the next day)", "hours")
        if self.closes > self.opens + MINUTES_PER_DAY:
            raise RuleViolation(f"{WEEKDAYS[self.weekday]}: a shift lasts at most 24 hours", "hours")

    def minutes_of_week(self) -> tuple[int, int]:
        """Start and end in minutes after Monday 00:00."""
        base = self.weekday * MINUTES_PER_DAY
        return base + self.opens, base + self.closes


def clock_minutes(text: str, field_name: str = "hours") -> int:
    """``HH:MM`` as minutes after midnight; ``24:00`` is 1440."""
    match = re.fullmatch(r"([01]\d|2[0-4]):([0-5]\d)", text.strip())
    minutes = int(match[1]) * 60 + int(match[2]) if match else -1
    if not 0 <= minutes <= MINUTES_PER_DAY:
        raise RuleViolation(f"{text!r} is not a time written HH:MM", field_name)
    return minutes


def weekly_hours(days: str, opens: str, closes: str) -> tuple[Window, ...]:
    """Windows for ``days`` (``mon-fri``, ``sat``, ``mon,wed``) from ``opens`` to ``closes``.

    A closing time at or before the opening time ends the next day (``22:00``–``06:00``).
    """
    start, end = clock_minutes(opens), clock_minutes(closes)
    if start == MINUTES_PER_DAY:
        raise RuleViolation("opening time is between 00:00 and 23:59", "hours")
    if end <= start:
        end += MINUTES_PER_DAY
    return tuple(Window(day, start, end) for day in _weekdays(days))


def shift(days: str, opens: str, closes: str, closes_next_day: bool = False) -> tuple[Window, ...]:
    """Windows for ``days`` from ``opens`` to ``closes``, as a form or the API states them.

    Stricter than :func:`weekly_hours`: a closing time at or before the opening time is a
    mistake unless ``closes_next_day`` says the shift runs past midnight. Errors name the
    part at fault: ``days``, ``opens`` or ``closes``.
    """
    weekdays = _weekdays_named(days)
    start, end = clock_minutes(opens, "opens"), clock_minutes(closes, "closes")
    if start == MINUTES_PER_DAY:
        raise RuleViolation("opening time is between 00:00 and 23:59", "opens")
    if closes_next_day:
        end += MINUTES_PER_DAY
        if end > start + MINUTES_PER_DAY:
            raise RuleViolation("a shift lasts at most 24 hours", "closes")
    elif end <= start:
        raise RuleViolation("closing time must come after opening time "
                            "(or say that the shift closes the next day)", "closes")
    return tuple(Window(day, start, end) for day in weekdays)


def _weekdays_named(days: str) -> list[int]:
    try:
        found = _weekdays(days)
    except RuleViolation as error:
        raise RuleViolation(error.message, "days") from None
    if len(set(found)) != len(found):
        raise RuleViolation("a weekday appears once", "days")
    return found


def shifts_of(windows: Iterable[Window]) -> tuple[tuple[str, str, str, bool], ...]:
    """Windows grouped back into ``(days, opens, closes, closes_next_day)``: ``("mon-fri", "08:00", "18:00", False)``."""
    by_hours: dict[tuple[int, int], list[int]] = {}
    for window in sorted(windows):
        by_hours.setdefault((window.opens, window.closes), []).append(window.weekday)
    ordered = sorted(by_hours.items(), key=lambda item: (item[1][0], item[0]))
    next_day = MINUTES_PER_DAY  # a closing time past it is the next day's
    return tuple((_day_ranges(days), _clock(opens), _clock(closes - next_day if closes > next_day else closes),
                  closes > next_day) for (opens, closes), days in ordered)


def _day_ranges(weekdays: list[int]) -> str:
    runs = consecutive_runs(weekdays)
    return ",".join(WEEKDAYS[run[0]] if len(run) == 1 else f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}"
                    for run in runs)


def consecutive_runs(numbers: Iterable[int]) -> list[list[int]]:
    """Ascending ``numbers`` split where they skip: ``[3, 4, 5, 9]`` → ``[[3, 4, 5], [9]]``."""
    # within a run, a number less its position is the same
    return [[n for _, n in run] for _, run in itertools.groupby(enumerate(numbers), lambda p: p[1] - p[0])]


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekdays(days: str) -> list[int]:
    found: list[int] = []
    for part in days.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise RuleViolation(f"{part!r} is not a weekday or range like mon-fri", "hours")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        found.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    return found


@dataclass(frozen=True)
class Calendar:
    """When business time runs: weekly windows in a time zone, less holidays and closure days."""

    time_zone: str
    windows: tuple[Window, ...]
    #: ISO 3166-1 alpha-2 country whose public holidays close the calendar, or None
    holiday_country: str | None = None
    #: the country's subdivision (province, state), e.g. ON for Ontario
    holiday_subdivision: str | None = None
    #: the vendor's own closure days
    closures: frozenset[date] = field(default_factory=frozenset)
    #: open every hour of every day: no windows, holidays or closures apply
    every_hour: bool = False

    def __post_init__(self):
        object.__setattr__(self, "windows", tuple(sorted(self.windows)))
        object.__setattr__(self, "closures", frozenset(self.closures))
        _check_zone(self.time_zone)
        if self.holiday_country is not None:
            _holiday_set(self.holiday_country, self.holiday_subdivision, 2000)
        elif self.holiday_subdivision is not None:
            raise RuleViolation("a holiday subdivision needs a country", "holiday_country")
        if not self.every_hour:
            _check_windows(self.windows)

    def around_the_clock(self) -> Calendar:
        """The same calendar open every hour of the week."""
        return self._around_the_clock

    @functools.cached_property
    def _around_the_clock(self) -> Calendar:
        return replace(self, every_hour=True)

    @functools.cached_property
    def _schedule(self) -> _Schedule:
        # equal calendars share one schedule; each instance looks it up once
        return _shared_schedule(self)


def _check_zone(name: str) -> None:
    try:
        known = bool(name) and name == name.strip() and name in _zone_names() and bool(ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        known = False
    if not known:
        raise RuleViolation(f"{name!r} is not an IANA time zone like America/Toronto", "time_zone")


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def _check_windows(windows: tuple[Window, ...]) -> None:
    if not windows:
        raise RuleViolation("a calendar needs opening hours on at least one day", "hours")
    week = 7 * MINUTES_PER_DAY
    spans = sorted(window.minutes_of_week() for window in windows)
    # the last window may run past Sunday midnight into Monday's first one
    wrapped = [*spans, (spans[0][0] + week, spans[0][1] + week)]
    for (_, end), (start, _) in itertools.pairwise(wrapped):
        if start < end:
            raise RuleViolation("opening hours overlap", "hours")


@functools.lru_cache(maxsize=512)
def _holiday_set(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of one year, cached: building them is slow next to a lookup."""
    try:
        found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError as error:
        if subdivision and "subdiv" in str(error).lower():
            raise RuleViolation(f"{country} has no subdivision {subdivision!r} with public holidays",
                                "holiday_subdivision") from None
        raise RuleViolation(f"no public holidays are known for country {country!r}",
                            "holiday_country") from None
    return frozenset(found.keys())


# --- the timeline: a calendar's opening intervals as real instants, cached per day -----------

Interval = tuple[datetime, datetime]


class _Schedule:
    """A calendar's opening intervals per local day, memoised, and its timeline of running totals."""

    def __init__(self, calendar: Calendar):
        self.calendar = calendar
        self.zone = ZoneInfo(calendar.time_zone)
        windows = (tuple(Window(day, 0, MINUTES_PER_DAY) for day in range(7))
                   if calendar.every_hour else calendar.windows)
        self.by_weekday = tuple(tuple(w for w in windows if w.weekday == day) for day in range(7))
        self._days: dict[date, tuple[Interval, ...]] = {}
        self._timeline: _Timeline | None = None

    def closed_on(self, day: date) -> bool:
        """Whether ``day`` is a public holiday or a closure day."""
        calendar = self.calendar
        if calendar.every_hour:
            return False
        if day in calendar.closures:
            return True
        return (calendar.holiday_country is not None
                and day in _holiday_set(calendar.holiday_country, calendar.holiday_subdivision, day.year))

    def day(self, day: date) -> tuple[Interval, ...]:
        """The intervals of the shifts that open on local ``day``, in UTC, in order, apart.

        A wall time in a spring-forward gap can put a shift's real end before its start or
        before the end of the shift ahead of it; the overlap counts once, an empty shift not.
        """
        found = self._days.get(day)
        if found is None:
            earlier = self._wall_intervals(day - timedelta(1))
            found = _apart(self._wall_intervals(day), max((end for _, end in earlier), default=None))
            self._days[day] = found
        return found

    def _wall_intervals(self, day: date) -> tuple[Interval, ...]:
        if self.closed_on(day):
            return ()
        return tuple((self._instant(day, w.opens), self._instant(day, w.closes))
                     for w in self.by_weekday[day.weekday()])

    def timeline(self, first: datetime, last: datetime) -> _Timeline:
        """A timeline that covers ``first`` to ``last``, built (or grown by whole months) as needed."""
        line = self._timeline
        if line is None or not (line.covers(first) and line.covers(last)):
            line = self.spanning(_month_of(self.local_date(first)), _month_of(self.local_date(last)))
        return line

    def spanning(self, first_month: int, last_month: int) -> _Timeline:
        """A new timeline over these months and all the current one has."""
        line = self._timeline
        if line is not None:
            first_month, last_month = min(first_month, line.first_month), max(last_month, line.last_month)
        # replaced whole, never changed: a thread still reading the old one is unharmed
        line = self._timeline = _Timeline(self, first_month, last_month)
        return line

    def _instant(self, day: date, minutes: int) -> datetime:
        # a wall time in the spring-forward gap reads as the offset before it (fold=0)
        local = datetime.combine(day, time(), self.zone) + timedelta(minutes=minutes)
        if minutes >= MINUTES_PER_DAY:
            extra = minutes - MINUTES_PER_DAY
            local = datetime.combine(day + timedelta(1), time(), self.zone) + timedelta(minutes=extra)
        return local.astimezone(UTC)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.zone).astimezone(UTC)


def _month_of(day: date) -> int:
    """Months since year 0: consecutive months are consecutive numbers."""
    return day.year * 12 + day.month - 1


def _first_of_month(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def _apart(intervals: tuple[Interval, ...], floor: datetime | None) -> tuple[Interval, ...]:
    """``intervals`` each starting no earlier than the end of the one before, empty ones left out."""
    kept: list[Interval] = []
    for start, end in intervals:
        if floor is not None and start < floor:
            start = floor
        if end > start:
            kept.append((start, end))
            floor = end
    return tuple(kept)


class _Timeline:
    """A calendar's intervals over whole months in a row, with running totals of business time.

    ``before[i]`` is the business time of the intervals ahead of interval ``i`` and
    ``through[i]`` the same with it. Business time between two instants is then the
    difference of two lookups, and adding an amount is a bisection. Business days keep their
    first opening and their first interval, so the n-th business day is an index away.
    Built once and never changed.
    """

    def __init__(self, schedule: _Schedule, first_month: int, last_month: int):
        self.first_month, self.last_month = first_month, last_month
        # three days' margin either side: a night shift of the day before still ends inside
        first_day = _first_of_month(first_month) - timedelta(3)
        last_day = _first_of_month(last_month + 1) + timedelta(3)
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.before: list[timedelta] = []
        self.through: list[timedelta] = []
        self.day_opens: list[datetime] = []
        self.day_dates: list[date] = []
        self.day_first: list[int] = []
        total, day = ZERO, first_day
        while day < last_day:
            intervals = schedule.day(day)
            if intervals:
                self.day_opens.append(intervals[0][0])
                self.day_dates.append(day)
                self.day_first.append(len(self.starts))
            for start, end in intervals:
                self.starts.append(start)
                self.ends.append(end)
                self.before.append(total)
                total += end - start
                self.through.append(total)
            day += timedelta(1)
        # every interval that reaches into [safe_from, safe_until) is on the timeline
        self.safe_from = schedule.midnight(first_day + timedelta(2))
        self.safe_until = schedule.midnight(last_day - timedelta(1))

    def covers(self, instant: datetime) -> bool:
        return self.safe_from <= instant < self.safe_until

    def elapsed(self, instant: datetime) -> timedelta:
        """Business time from the start of the timeline to ``instant`` (which it covers)."""
        index = bisect_right(self.starts, instant) - 1
        if index < 0:
            return ZERO
        return self.before[index] + min(instant, self.ends[index]) - self.starts[index]


_shared_schedule = functools.lru_cache(maxsize=64)(_Schedule)


def _schedule(calendar: Calendar) -> _Schedule:
    return calendar._schedule


def _aware(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is UTC:  # most instants are UTC already; checked this way it costs nothing
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise RuleViolation(f"{name} needs a UTC offset, for example +02:00", name)
    return instant.astimezone(UTC)


# --- business time --------------------------------------------------------------------------

def next_opening(calendar: Calendar, instant: datetime) -> datetime:
    """``instant`` if the calendar is open then, else the next time it opens (UTC)."""
    schedule = _schedule(calendar)
    instant = _aware(instant, "instant")
    day = schedule.local_date(instant) - timedelta(1)
    for _ in range(_SEARCH_DAYS):
        for start, end in schedule.day(day):
            if end > instant:
                return max(start, instant)
        day += timedelta(1)
    raise RuleViolation("the calendar never opens again", "hours")


def is_open(calendar: Calendar, instant: datetime) -> bool:
    """Whether business time runs at ``instant`` (an opening instant counts, a closing one not)."""
    return next_opening(calendar, instant) == _aware(instant, "instant")


def business_time_between(calendar: Calendar, a: datetime, b: datetime) -> timedelta:
    """Business time from ``a`` to ``b``; zero when ``b`` is not after ``a``."""
    a, b = _aware(a, "a"), _aware(b, "b")
    if b <= a:
        return ZERO
    line = _schedule(calendar).timeline(a, b)
    return line.elapsed(b) - line.elapsed(a)


def add_business_hours(calendar: Calendar, start: datetime, amount: timedelta) -> datetime:
    """The earliest instant by which ``amount`` of business time has run from ``start`` (UTC)."""
    schedule = _schedule(calendar)
    start = _aware(start, "start")
    if amount < ZERO:
        raise RuleViolation("an amount of time cannot be negative", "amount")
    if amount == ZERO:
        return start
    line = schedule.timeline(start, start)
    while True:
        reach = line.elapsed(start) + amount
        if line.through and line.through[-1] >= reach:
            # the first interval whose running total reaches the amount holds the due time
            index = bisect_left(line.through, reach)
            return line.starts[index] + (reach - line.before[index])
        line = _later_timeline(schedule, line, start)


def add_business_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """The same point of business time ``days`` business days after ``start`` (UTC).

    The point is the business time elapsed in the business day under way at ``start`` (a
    whole day once it has closed); a shorter target day ends the count at its closing.
    """
    if days < 0:
        raise RuleViolation("an amount of time cannot be negative", "amount")
    start = _aware(start, "start")
    if days == 0:
        return start
    schedule = _schedule(calendar)
    line = schedule.timeline(start, start)
    while True:
        # the business day under way: the latest whose first shift opened before start
        under_way = bisect_left(line.day_opens, start) - 1
        if under_way < 0:
            line = _earlier_timeline(schedule, line, start)
        elif under_way + days >= len(line.day_dates):
            line = _later_timeline(schedule, line, start)
        else:
            break
    position = line.elapsed(start) - line.before[line.day_first[under_way]]
    day = line.day_dates[under_way + days]
    for opens, closes in schedule.day(day):
        if position <= closes - opens:
            return opens + position
        position -= closes - opens
    return schedule.day(day)[-1][1]


def _later_timeline(schedule: _Schedule, line: _Timeline, start: datetime) -> _Timeline:
    """The timeline grown forward, twice as long; an error once it has stayed shut for years."""
    shut_since = line.ends[-1] if line.starts and line.ends[-1] > start else start
    if line.safe_until - shut_since > timedelta(_SEARCH_DAYS):
        raise RuleViolation("the calendar never opens again", "hours")
    return schedule.spanning(line.first_month, line.last_month + line.last_month - line.first_month + 1)


def _earlier_timeline(schedule: _Schedule, line: _Timeline, start: datetime) -> _Timeline:
    """The timeline grown back, twice as long; an error once it reaches years before ``start``."""
    if start - line.safe_from > timedelta(_SEARCH_DAYS):
        raise RuleViolation("the calendar has not opened in years", "hours")
    return schedule.spanning(line.first_month - (line.last_month - line.first_month + 1), line.last_month)


def add_business_time(calendar: Calendar, start: datetime, amount: int, unit: str) -> datetime:
    """``start`` plus ``amount`` of ``unit`` (hours of clock time, business hours or days), UTC."""
    if unit not in TARGET_UNITS:
        raise RuleViolation(f"unit is one of {', '.join(TARGET_UNITS)}", "unit")
    if amount < 0:
        raise RuleViolation("an amount of time cannot be negative", "amount")
    if unit == "hours":
        return _aware(start, "start") + timedelta(hours=amount)
    if unit == "business_hours":
        return add_business_hours(calendar, start, timedelta(hours=amount))
    return add_business_days(calendar, start, amount)


# --- due times and targets ------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A respond or resolve target: a positive whole amount of a unit."""

    amount: int
    unit: str

    def __post_init__(self):
        if self.unit not in TARGET_UNITS:
            raise RuleViolation(f"unit is one of {', '.join(TARGET_UNITS)}", "unit")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise RuleViolation("a target is a whole number greater than zero", "amount")


def clock_start(calendar: Calendar, opened_at: datetime, in_business_hours_only: bool) -> datetime:
    """When a case's clocks start: at opening, or at the next opening of business hours."""
    return next_opening(calendar, opened_at) if in_business_hours_only else _aware(opened_at, "opened_at")


def due_time(calendar: Calendar, start: datetime, target: Target,
             pauses: Iterable[Interval] = ()) -> datetime:
    """When ``target`` falls due for a clock started at ``start``, not counting ``pauses``.

    Each paused interval before the due time moves it on by the time paused, measured
    as the target's unit measures (clock time for ``hours``, business time otherwise).
    """
    start = _aware(start, "start")
    due = add_business_time(calendar, start, target.amount, target.unit)
    for paused_from, paused_to in merge_intervals(pauses) if pauses else ():
        paused_from = max(paused_from, start)
        if paused_from >= due:
            break
        if target.unit == "hours":
            due += max(paused_to - paused_from, ZERO)
        else:
            due = add_business_hours(calendar, due, business_time_between(calendar, paused_from, paused_to))
    return due


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Intervals sorted, with overlapping or touching ones joined."""
    merged: list[Interval] = []
    for a, b in sorted((_aware(a, "at"), _aware(b, "at")) for a, b in intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif b > a:
            merged.append((a, b))
    return merged


def target_state(due: datetime | None, happened_at: datetime | None, now: datetime) -> str:
    """``met`` at or before the due time, ``breached`` after it or once it passed, else ``pending``."""
    if due is None:
        return "none"
    if happened_at is not None:
        return "met" if happened_at <= due else "breached"
    return "breached" if now > due else "pending"


# --- the case lifecycle ---------------------------------------------------------------------

CASE_STATUSES = ("open", "in_progress", "waiting_on_customer", "resolved", "closed")
RESOLUTIONS = ("workaround", "fix", "information", "not_reproducible", "customer_unreachable")
#: status → the statuses it may change to; resolved → in_progress reopens a case
CASE_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress"}),
    "in_progress": frozenset({"waiting_on_customer", "resolved"}),
    "waiting_on_customer": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset(),
}
#: statuses during which the resolve clock stands still: the next move is the customer's
PAUSING_STATUSES = frozenset({"waiting_on_customer", "resolved"})


def case_transition(status: str, new_status: str) -> str:
    """``new_status`` if the case lifecycle allows the move; :class:`InvalidTransition` if not."""
    if new_status not in CASE_STATUSES:
        raise RuleViolation(f"status is one of {', '.join(CASE_STATUSES)}", "status")
    if new_status not in CASE_TRANSITIONS[status]:
        raise InvalidTransition(f"a case that is {status.replace('_', ' ')} cannot become "
                                f"{new_status.replace('_', ' ')}", "status")
    return new_status


def paused_intervals(changes: Iterable[tuple[datetime, str]], until: datetime) -> list[Interval]:
    """The intervals a case's status history (``(at, status)`` in order) spent pausing statuses.

    A wait on the customer still running is counted up to ``until``; a case resolved now
    is judged on its resolution, so its resolve due time stands still.
    """
    paused: list[Interval] = []
    since: datetime | None = None
    status = "open"
    for at, status in changes:
        if since is not None:
            paused.append((since, at))
            since = None
        if status in PAUSING_STATUSES:
            since = at
    if since is not None and status == "waiting_on_customer" and until > since:
        paused.append((since, until))
    return paused
