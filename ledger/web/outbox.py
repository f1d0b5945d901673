"""Finance's view of the e-mail outbox: what is queued, sent and failed, and resending a failed message."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select

from ..extensions import db
from ..models import MAIL_STATES, OutboxMessage, utcnow
from ..services import mail
from .boundary import done, transaction
from .common import only_for
from .listing import paginate

blueprint = Blueprint("outbox", __name__, url_prefix="/finance/outbox")
only_for(blueprint, "finance")
#: the columns the outbox may be sorted by
SORTS = {"queued": OutboxMessage.created_at, "subject": OutboxMessage.subject, "state": OutboxMessage.state,
         "attempts": OutboxMessage.attempts}


class ResendForm(FlaskForm):
    """Only the CSRF token and the one-time field: the message is named by the URL."""


@blueprint.get("/")
@transaction
def index():
    state = request.args.get("state", "")
    if state and state not in MAIL_STATES:
        abort(400, f"state: one of {', '.join(MAIL_STATES)}")
    query = select(OutboxMessage).where(OutboxMessage.state == state) if state else select(OutboxMessage)
    listing = paginate(query, SORTS, "-queued", OutboxMessage.id)
    return render_template("outbox/index.html", listing=listing, state=state, states=MAIL_STATES, form=ResendForm())


@blueprint.post("/<int:message_id>/resend")
@transaction
def resend(message_id: int):
    message = db.get_or_404(OutboxMessage, message_id)
    if not ResendForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    if message.state != "failed":
        abort(409, f"Only a failed message can be resent; this one is {message.state}.")
    mail.resend(db.session, message, utcnow())
    return done(_("“%(subject)s” is queued again and goes out with the next send.", subject=message.subject),
                "outbox.index")
