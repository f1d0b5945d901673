"""Business hours against an independent implementation: pandas' CustomBusinessHour.

pandas counts business hours in naive wall-clock time. The calendars compared here open
and close on the same day between 03:00 and 23:00, so no opening hour contains a clock
change (North American and European clocks change between 01:00 and 03:00): wall-clock
business time is then real business time, and the comparison is exact across DST weeks.
When a sum lands exactly on a closing time we answer the closing instant and pandas the
next opening; both sides are compared after moving to the next opening.
"""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from pandas.tseries.offsets import CustomBusinessHour

from ledger.businesstime import Calendar, Window, add_business_hours, next_opening

ZONES = ("America/Toronto", "America/Los_Angeles", "America/Chicago", "Europe/Berlin")
#: DST weeks are over-sampled: the weeks around each change of 2025–2027 in these zones
DST_DAYS = [date(2025, 3, 9), date(2025, 11, 2), date(2026, 3, 8), date(2026, 11, 1),
            date(2025, 3, 30), date(2025, 10, 26), date(2026, 3, 29), date(2026, 10, 25)]


def random_calendar(rng: random.Random) -> tuple[Calendar, CustomBusinessHour]:
    """A calendar and pandas' offset for it: same hours every open weekday, a few holidays."""
    opens = rng.randrange(3 * 60, 15 * 60, 15)
    closes = rng.randrange(opens + 60, 23 * 60 + 1, 15)
    weekdays = sorted(rng.sample(range(7), rng.randint(1, 7)))
    holidays = sorted({date(2025, 1, 1) + timedelta(rng.randrange(3 * 365)) for _ in range(rng.randint(0, 30))})
    calendar = Calendar(rng.choice(ZONES), tuple(Window(day, opens, closes) for day in weekdays),
                        closures=frozenset(holidays))
    offset = CustomBusinessHour(
        start=f"{opens // 60:02d}:{opens % 60:02d}", end=f"{closes // 60:02d}:{closes % 60:02d}",
        weekmask=" ".join(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day] for day in weekdays),
        holidays=holidays)
    return calendar, offset


def random_instant(rng: random.Random, zone: ZoneInfo) -> datetime:
    if rng.random() < 0.5:
        around = datetime.combine(rng.choice(DST_DAYS), datetime.min.time()) + timedelta(days=rng.uniform(-4, 4))
    else:
        around = datetime(2025, 1, 1) + timedelta(days=rng.uniform(0, 2 * 365))
    return around.replace(second=0, microsecond=0, minute=rng.randrange(0, 60, 5), tzinfo=zone).astimezone(UTC)


def pandas_sum(calendar: Calendar, offset: CustomBusinessHour, start: datetime, hours: int) -> datetime:
    """pandas' answer, read back as an instant in the calendar's zone."""
    zone = ZoneInfo(calendar.time_zone)
    naive = pd.Timestamp(start.astimezone(zone).replace(tzinfo=None))
    answer = (naive + offset.base * hours).to_pydatetime()
    return answer.replace(tzinfo=zone).astimezone(UTC)


#: one seed in the fast loop, all four in `make test`
@pytest.mark.parametrize("seed", [0, *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(1, 4))])
def test_business_hours_agree_with_pandas_over_thousands_of_random_instants(seed):
    rng = random.Random(seed)
    compared = 0
    for _ in range(25):
        calendar, offset = random_calendar(rng)
        zone = ZoneInfo(calendar.time_zone)
        for _ in range(40):
            start = random_instant(rng, zone)
            hours = rng.randint(1, 120)
            ours = next_opening(calendar, add_business_hours(calendar, start, timedelta(hours=hours)))
            theirs = next_opening(calendar, pandas_sum(calendar, offset, start, hours))
            assert ours == theirs, (calendar, start.astimezone(zone), hours)
            compared += 1
    assert compared == 1000
