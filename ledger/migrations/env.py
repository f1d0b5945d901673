"""Alembic environment: migrates the database of the Flask app in context (``ledger init``)."""

from alembic import context
from flask import current_app

from ledger.extensions import db
from ledger.models import UTCDateTime


def render_item(type_, obj, autogen_context):
    """Write UTCDateTime columns as plain DateTime so revisions do not import the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations() -> None:
    connectable = db.engine
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `ledger init`")
if not current_app:
    raise SystemExit("run migrations through `ledger init`")
run_migrations()
