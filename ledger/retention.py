"""Which dated backups to keep: the newest of each of the last N days, weeks and months.

Pure rules over names such as ``ledger-20261202T013000Z.tar.gz`` (no files, no clock).
A backup is kept when it is the newest of one of the ``daily`` most recent days that have
a backup, of one of the ``weekly`` most recent ISO weeks, or of one of the ``monthly`` most
recent months; the newest backup of all is always kept. A name that is not a dated backup
is never chosen for removal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "ledger-"
SUFFIX = ".tar.gz"
STAMP = "%Y%m%dT%H%M%SZ"
NAME = re.compile(r"^ledger-(\d{8}T\d{6}Z)\.tar\.gz$")


@dataclass(frozen=True)
class Policy:
    """How many days, ISO weeks and months keep their newest backup."""

    daily: int = 7
    weekly: int = 4
    monthly: int = 12

    def __post_init__(self):
        for field, value in (("daily", self.daily), ("weekly", self.weekly), ("monthly", self.monthly)):
            if value < 0:
                raise ValueError(f"keep-{field} must be 0 or more, not {value}")


def backup_name(moment: datetime) -> str:
    """The dated name of a backup taken at ``moment`` (in UTC): ``ledger-20261202T013000Z.tar.gz``."""
    return f"{PREFIX}{moment.astimezone(UTC).strftime(STAMP)}{SUFFIX}"


def taken_at(name: str) -> datetime | None:
    """When the backup named ``name`` was taken, or None when the name is not a dated backup's."""
    match = NAME.match(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match[1], STAMP).replace(tzinfo=UTC)
    except ValueError:  # ledger-20261399T…: shaped like one, but no date
        return None


def _newest_per_period(dated: list[tuple[datetime, str]], period: str, count: int) -> set[str]:
    """The newest name in each of the ``count`` most recent periods (``dated`` is newest first);
    ``period`` is the strftime format that names a moment's day, ISO week or month."""
    kept: dict[str, str] = {}
    for moment, name in dated:
        key = moment.strftime(period)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = name
    return set(kept.values())


def to_keep(names: Iterable[str], policy: Policy = Policy()) -> set[str]:
    """The dated backups among ``names`` that the policy keeps."""
    dated = sorted(((moment, name) for name in names if (moment := taken_at(name)) is not None), reverse=True)
    if not dated:
        return set()
    return ({dated[0][1]}
            | _newest_per_period(dated, "%Y-%m-%d", policy.daily)
            | _newest_per_period(dated, "%G-W%V", policy.weekly)
            | _newest_per_period(dated, "%Y-%m", policy.monthly))


def to_prune(names: Iterable[str], policy: Policy = Policy()) -> list[str]:
    """The dated backups among ``names`` that the policy lets go, oldest first."""
    names = list(names)
    keep = to_keep(names, policy)
    return sorted((name for name in names if taken_at(name) is not None and name not in keep),
                  key=taken_at)
