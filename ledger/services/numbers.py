"""Number series (cases, quotes, invoices) from a counter row locked in the issuing transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import acquire_write_lock
from ..models import Counter


def next_number(session: Session, series: str) -> int:
    """The next number of ``series``: no gaps while the transaction commits, no duplicates ever."""
    acquire_write_lock(session)
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Counter).values(name=series, value=0).on_conflict_do_nothing())
    counter = session.execute(
        select(Counter)
        .where(Counter.name == series)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    counter.value += 1
    session.flush()
    return counter.value
