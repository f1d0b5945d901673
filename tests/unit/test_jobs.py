"""The job queue's connection and progress figures (no database needed)."""

from psycopg.conninfo import conninfo_to_dict

from ledger.jobs import SCHEMA, Progress, conninfo


def test_the_queue_connects_to_the_apps_database_with_its_own_schema_on_the_search_path():
    parts = conninfo_to_dict(conninfo("postgresql+psycopg://ledger:s3cret@db.example:5433/books"))

    assert (parts["host"], parts["port"], parts["dbname"]) == ("db.example", "5433", "books")
    assert (parts["user"], parts["password"]) == ("ledger", "s3cret")
    assert parts["options"] == f"-c search_path={SCHEMA}"


def test_a_month_is_done_when_every_job_succeeded_or_failed():
    assert Progress(total=3, succeeded=2, failed=1).done == 3
    assert Progress(total=3, succeeded=1, failed=0).done == 1
