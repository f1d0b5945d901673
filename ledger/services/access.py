"""The one finder of "the X this user may see": a client user sees only its own organisation."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import Activity, Case, Client, Invoice, Quote, User

#: per model: the name a refusal uses and the field its key comes from
NAMES = {Client: ("client", "code"), Case: ("case", "number"), Activity: ("activity", "id"),
         Quote: ("quote", "number"), Invoice: ("invoice", "number")}


def visible(model, user: User) -> Select:
    """A select of the ``model`` rows ``user`` may see: a client user only its organisation's
    (and, of quotes, no drafts)."""
    statement = select(model)
    if user.role == "client":
        column = model.id if model is Client else model.client_id
        statement = statement.where(column == user.client_id)
        if model is Quote:
            statement = statement.where(Quote.state != "draft")
    return statement


def find(session: Session, model, user: User, key):
    """The ``model`` row whose key (code, number or id) is ``key``, if ``user`` may see it;
    NotFound otherwise, the same whether it exists elsewhere or not at all."""
    name, field = NAMES[model]
    column = getattr(model, field)
    found = session.scalar(visible(model, user).where(column == key))
    if found is None:
        raise NotFound(f"no {name} {key!r}", field)
    return found
