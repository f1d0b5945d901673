"""Which dated backups the retention policy keeps: the newest of each recent day, ISO week and month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.retention import Policy, backup_name, taken_at, to_keep, to_prune


def named(*stamps: str) -> list[str]:
    """``"2026-12-02 01:30"`` → ``ledger-20261202T013000Z.tar.gz``."""
    return [backup_name(datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)) for stamp in stamps]


def test_a_backup_is_named_after_the_moment_it_was_taken_in_utc():
    taken = datetime(2026, 12, 2, 2, 30, 5, tzinfo=UTC)
    assert backup_name(taken) == "ledger-20261202T023005Z.tar.gz"
    assert taken_at("ledger-20261202T023005Z.tar.gz") == taken


@pytest.mark.parametrize("name", ["ledger.tar.gz", "ledger-20261399T000000Z.tar.gz", "notes.txt",
                                  "ledger-20261202T023005Z.tar.gz.partial", "x/ledger-20261202T023005Z.tar.gz"])
def test_a_name_that_is_not_a_dated_backup_has_no_date_and_is_never_pruned(name):
    assert taken_at(name) is None
    assert to_prune([name, *named("2026-12-01 01:00")], Policy(0, 0, 0)) == []


@pytest.mark.parametrize("policy, names, kept", [
    # two a day for three days: the newest of each of the last two days
    (Policy(daily=2, weekly=0, monthly=0),
     named("2026-12-01 01:00", "2026-12-01 13:00", "2026-12-02 01:00", "2026-12-02 13:00",
           "2026-12-03 01:00", "2026-12-03 13:00"),
     named("2026-12-02 13:00", "2026-12-03 13:00")),
    # weekly: the newest of each ISO week (Mon 30 Nov - Sun 6 Dec, Mon 23 - Sun 29 Nov)
    (Policy(daily=0, weekly=2, monthly=0),
     named("2026-11-22 01:00", "2026-11-23 01:00", "2026-11-29 01:00", "2026-11-30 01:00", "2026-12-03 01:00"),
     named("2026-11-29 01:00", "2026-12-03 01:00")),
    # monthly: the newest of each of the last three months that have a backup
    (Policy(daily=0, weekly=0, monthly=3),
     named("2026-08-31 01:00", "2026-09-01 01:00", "2026-09-30 01:00", "2026-11-15 01:00", "2026-11-30 01:00"),
     named("2026-08-31 01:00", "2026-09-30 01:00", "2026-11-30 01:00")),
    # the rules add up: a backup kept by two of them counts once
    (Policy(daily=1, weekly=1, monthly=2),
     named("2026-10-31 01:00", "2026-11-30 01:00", "2026-12-01 01:00", "2026-12-02 01:00"),
     named("2026-11-30 01:00", "2026-12-02 01:00")),
    # nothing asked for: only the newest stays
    (Policy(daily=0, weekly=0, monthly=0), named("2026-12-01 01:00", "2026-12-02 01:00"),
     named("2026-12-02 01:00")),
    (Policy(), [], []),
])
def test_the_policy_keeps_the_newest_backup_of_each_recent_day_week_and_month(policy, names, kept):
    assert to_keep(names, policy) == set(kept)
    assert to_prune(names, policy) == sorted(set(names) - set(kept))


def test_a_year_of_nightly_backups_keeps_seven_days_four_weeks_and_twelve_months():
    # 2026-12-31 is a Thursday: its ISO week began on the 28th; the weeks before end on the 27th, 20th, 13th
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    names = [backup_name(start + timedelta(days=day)) for day in range(365)]

    kept = sorted(to_keep(names), key=taken_at)

    assert [taken_at(name).date().isoformat() for name in kept] == [
        "2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31",
        "2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30", "2026-12-13", "2026-12-20",
        "2026-12-25", "2026-12-26", "2026-12-27", "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31"]


def test_a_negative_count_is_refused_naming_it():
    with pytest.raises(ValueError, match="keep-weekly must be 0 or more"):
        Policy(weekly=-1)


EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
#: backups as seconds after EPOCH over 400 days: cheap to draw, dense enough to share days and weeks
offsets = st.lists(st.integers(0, 400 * 86400), max_size=60, unique=True)
policies = st.builds(Policy, st.integers(0, 10), st.integers(0, 6), st.integers(0, 14))


@given(offsets, policies)
def test_the_policy_keeps_at_most_its_counts_always_the_newest_and_prunes_the_rest(offsets, policy):
    names = [backup_name(EPOCH + timedelta(seconds=offset)) for offset in offsets]

    kept, pruned = to_keep(names, policy), to_prune(names, policy)

    assert len(kept) <= max(1, policy.daily + policy.weekly + policy.monthly)
    assert kept | set(pruned) == set(names) and not kept & set(pruned)
    if names:
        assert max(names, key=taken_at) in kept
    days = {taken_at(name).date() for name in names}
    assert len({taken_at(name).date() for name in kept}) >= min(policy.daily, len(days))
    assert to_keep(kept, policy) == kept  # pruning again removes nothing more
