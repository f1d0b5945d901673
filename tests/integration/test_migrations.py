"""The Alembic revisions build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.extensions import db
from tests.helpers import both_engines


@both_engines
def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


@both_engines
def test_ledger_init_is_safe_to_run_again(app):
    from ledger.migrate import is_current, upgrade

    with app.app_context():
        upgrade()
        upgrade()
        assert is_current()
