"""Fixtures: a fresh, migrated database per test on SQLite, and on PostgreSQL where asked.

SQLite tests copy a database migrated once per session; PostgreSQL tests create a
database from a migrated template. ``LEDGER_TEST_POSTGRES_URL`` names the server
(``make test`` starts one); without it PostgreSQL tests skip, or fail when CI is set.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings
from jinja2 import BytecodeCache
from sqlalchemy.pool import NullPool
from werkzeug.routing import rules as werkzeug_rules

from ledger import create_app
from ledger.extensions import db
from ledger.migrate import upgrade
from tests.helpers import (
    BUILT,
    POSTGRES_URL,
    S3_CREDENTIALS,
    Api,
    add_client,
    books_findings,
    built_fixtures,
    built_once,
    drop_buckets,
    fresh_bucket,
    fresh_postgres_database,
    make_api_token,
    postgres_url_of,
    schematron_checker,
    seed_vendor,
    start_seaweedfs,
)

_counter = itertools.count()


def _reuse_compiled_rules() -> None:
    """Compile each URL rule once per test process instead of once per app.

    Werkzeug parses every URL rule of every app and compiles two builder functions for it (through
    ``ast`` and ``compile``): most of each ``create_app``, and the suite builds an app per test. What
    it makes depends only on the rule's text, its host or subdomain and the map's converters (the
    builders read the rule's converters when called), so a rule built later takes the parts of the
    first one alike and binds the builders to itself. Rules with defaults, whose converted values are
    folded into the code, are compiled as usual.
    """
    original = werkzeug_rules.Rule.compile
    compiled: dict[tuple, tuple] = {}

    def compile_once(rule) -> None:
        if rule.defaults:
            return original(rule)
        key = (rule.rule, rule.subdomain, rule.host, rule.merge_slashes, rule.map.host_matching,
               frozenset(rule.map.converters.items()))
        if key not in compiled:
            before = set(rule.arguments)
            original(rule)
            compiled[key] = (rule._parts, rule._trace, rule._converters, rule.arguments - before,
                             rule._build.__func__, rule._build_unknown.__func__)
        parts, trace, converters, arguments, build, build_unknown = compiled[key]
        rule._parts, rule._trace, rule._converters = list(parts), list(trace), dict(converters)
        rule.arguments.update(arguments)
        rule._build, rule._build_unknown = build.__get__(rule, None), build_unknown.__get__(rule, None)

    werkzeug_rules.Rule.compile = compile_once


_reuse_compiled_rules()
#: `make test-fast` (--hypothesis-profile=fast) tries few examples of each property; `make test` the
#: number each test asks for (tests/helpers.py: ``examples``)
settings.register_profile("fast", max_examples=10)
#: markers of tests that take seconds each; `make test-fast` (-m "not slow") leaves them out
SLOW_MARKERS = ("served", "browser", "postgres", "s3")
E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items) -> None:
    """Mark as ``slow`` every served, browser, PostgreSQL or S3 test and everything under tests/e2e/."""
    for item in items:
        if (any(item.get_closest_marker(name) for name in SLOW_MARKERS)
                or Path(str(item.path)).is_relative_to(E2E)):
            item.add_marker(pytest.mark.slow)


def migrate(url: str, instance: Path) -> None:
    """Run the real migrations (``ledger init``) against ``url``."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "TESTING": True})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    migrate(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def sqlite_vendor_template(sqlite_template, tmp_path_factory) -> Path:
    """The migrated template with a complete vendor profile saved: what an app-building test starts from."""
    folder = tmp_path_factory.mktemp("sqlite-vendor-template")
    path = folder / "template.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "test", "TESTING": True})
    seed_vendor(app)
    with app.app_context():
        db.engine.dispose()
    return path


def _wants_complete_vendor(request) -> bool:
    """Issuing needs a complete vendor profile: tests that build an app get one (unless marked)."""
    return "app" in request.fixturenames and request.node.get_closest_marker("incomplete_vendor") is None


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory):
    """A migrated template database on the test server, dropped at the end of the session."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI is set but LEDGER_TEST_POSTGRES_URL is not: PostgreSQL tests cannot run")
        pytest.skip("LEDGER_TEST_POSTGRES_URL is not set (make test starts a server)")
    name = f"ledger_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    migrate(postgres_url_of(name), tmp_path_factory.mktemp("pg-template"))
    yield name
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def s3_endpoint():
    """The S3 endpoint of SeaweedFS on 127.0.0.1 (started by scripts/seaweedfs.sh, or reused when running);
    the AWS credential variables are set for the session, so the app and any child process find them."""
    endpoint = start_seaweedfs()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in S3_CREDENTIALS.items():
            patch.setenv(name, value)
        yield endpoint
        drop_buckets(endpoint)  # at the end: each test's books are verified after the test, bucket and all


@pytest.fixture
def s3_archive_url(s3_endpoint) -> str:
    """``s3://BUCKET/PREFIX`` naming an empty bucket of this test's own on SeaweedFS."""
    return f"s3://{fresh_bucket(s3_endpoint)}/invoices"


@pytest.fixture
def s3_environment(s3_archive_url, s3_endpoint) -> dict[str, str]:
    """The variables that point a ``ledger`` process (serve, worker, any command) at this test's bucket."""
    return {"LEDGER_ARCHIVE_URL": s3_archive_url, "LEDGER_S3_ENDPOINT": s3_endpoint, **S3_CREDENTIALS}


@pytest.fixture
def s3_app(app, s3_archive_url, s3_endpoint):
    """The test's app with its invoice archive in its own bucket on SeaweedFS instead of a folder."""
    app.config.update(ARCHIVE_URL=s3_archive_url, S3_ENDPOINT=s3_endpoint)
    return app


@pytest.fixture(params=["sqlite"])
def engine_name(request) -> str:
    """Which database engine the test runs on; tests opt into both with ``both_engines``."""
    return request.param


class CompiledTemplates(BytecodeCache):
    """Compiled page templates kept in memory for every app of the test process (Jinja checks each
    template's source checksum, so an edited template is compiled again)."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()
#: per SQLite driver: the dialect and compiled-statement cache the test apps' engines share
COMPILED_SQL: dict[str, tuple] = {}


def _share_compilations(app) -> None:
    """Let ``app`` reuse what earlier apps of this test process compiled: templates and SQL.

    Each test builds its own app, and each app would compile every template and statement it uses
    again: about a third of a page test's time. SQLAlchemy keys compiled statements by their dialect,
    so SQLite engines (all made alike, on files) share the first one's dialect and cache.
    """
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        engine.dialect, engine._compiled_cache = COMPILED_SQL.setdefault(
            engine.url.drivername, (engine.dialect, engine._compiled_cache))


def app_for(database_url: str, folder: Path):
    """The app a test gets: ``database_url``, its invoice archive and instance folder under ``folder``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEDGER_INSTANCE_PATH", str(folder / "instance"))
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret",
            "TESTING": True,
            "INVOICE_DIR": str(folder / "invoices"),
        })
    _share_compilations(app)
    return app


class BuiltDatabases:
    """SQLite databases (with their archive and instance folders) in which fixtures built once were
    built, one per template and list of fixtures, made on first use in this test process."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.built: dict[tuple, tuple[Path, dict]] = {}

    def copy_into(self, template: Path, specs: tuple, folder: Path) -> dict:
        """Copy the database built from ``template`` with ``specs`` into ``folder``; their values."""
        key = (template, specs)
        if key not in self.built:
            self.built[key] = self._build(template, specs)
        source, values = self.built[key]
        shutil.copyfile(source / "ledger.sqlite3", folder / "ledger.sqlite3")
        for part in ("invoices", "instance"):
            if (source / part).exists():
                shutil.copytree(source / part, folder / part)
        return values

    def _build(self, template: Path, specs: tuple) -> tuple[Path, dict]:
        source = self.folder / f"built-{len(self.built)}"
        source.mkdir()
        shutil.copyfile(template, source / "ledger.sqlite3")
        app = app_for(f"sqlite:///{source / 'ledger.sqlite3'}", source)
        values: dict = {}
        for spec in specs:
            values[spec.name] = spec.build(app, {name: values[name] for name in spec.after})
        with app.app_context():
            db.session.remove()
            db.engine.dispose()  # the last connection closed: the WAL is folded into the file
        return source, values


@pytest.fixture(scope="session")
def built_databases(tmp_path_factory) -> BuiltDatabases:
    return BuiltDatabases(tmp_path_factory.mktemp("built"))


@pytest.fixture
def database_url(request, engine_name, tmp_path, sqlite_template):
    """A fresh, migrated database for this test: empty, or (SQLite) a copy of one in which the
    fixtures built once that the test uses were built."""
    if engine_name == "sqlite":
        template = request.getfixturevalue("sqlite_vendor_template") if _wants_complete_vendor(request) else sqlite_template
        specs = built_fixtures(request)
        if specs:
            request.node.stash[BUILT] = request.getfixturevalue("built_databases").copy_into(template, specs, tmp_path)
        else:
            shutil.copyfile(template, tmp_path / "ledger.sqlite3")
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    template = request.getfixturevalue("postgres_template")
    url, drop = fresh_postgres_database(template)
    yield url
    drop()


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_INSTANCE_PATH", str(tmp_path / "instance"))  # for commands the test runs
    app = app_for(database_url, tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _complete_vendor(request):
    """Issuing needs a complete vendor profile: tests that build an app get one, so they can issue
    (on SQLite their database is a copy of a template that has it already)."""
    if _wants_complete_vendor(request) and request.getfixturevalue("engine_name") != "sqlite":
        seed_vendor(request.getfixturevalue("app"))


@pytest.fixture(scope="session")
def schematron():
    """Run a Schematron XSLT on XML; returns its failed asserts. Compiled once per session."""
    yield from schematron_checker()


@pytest.fixture
def session(app):
    """The app's session inside an app context, for service-level tests."""
    with app.app_context():
        yield db.session
        db.session.rollback()


@pytest.fixture
def make_client(app):
    """Create a client (committed) and return it; keyword arguments override the defaults."""

    def make(code: str | None = None, **overrides):
        return add_client(app, code or f"C{next(_counter)}", **overrides)

    return make


@pytest.fixture
def make_token(app):
    """Create a user with ``role`` (a client user of ``client`` code) and return a bearer token."""

    def make(role: str, client: str | None = None) -> str:
        return make_api_token(app, role, client)

    return make


@pytest.fixture
def api(app, make_token):
    """The API as an account manager; ``api.as_(token)`` for someone else."""
    return Api(app.test_client(), make_token("account_manager"))


@built_once()
def rate_card(app, after) -> None:
    """The seed USD, EUR and CAD rate cards, in force since 2020."""
    from ledger.services.ratecards import create_rate_card

    with app.app_context():
        for currency in ("USD", "EUR", "CAD"):
            create_rate_card(db.session, currency, date(2020, 1, 1))
        db.session.commit()


@built_once()
def support_plans(app, after) -> None:
    """The support plans `ledger init` seeds."""
    from ledger.services.sla import seed_support_plans

    with app.app_context():
        seed_support_plans(db.session)
        db.session.commit()


@pytest.fixture
def verified_books(app):
    """After the test, ``ledger verify`` must find nothing wrong in its database and archive."""
    yield
    findings = books_findings(app)
    assert findings == [], "ledger verify after the test:\n" + "\n".join(map(str, findings))


@pytest.fixture
def app_role(database_url):
    """A login role on the test server, dropped afterwards; (name, URL of the test database as it)."""
    name = f"ledger_app_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD 'app-secret'")
    url = sa.engine.make_url(database_url).set(username=name, password="app-secret")
    yield name, url.render_as_string(hide_password=False)
    owner = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with owner.connect() as connection:
        connection.exec_driver_sql(f"DROP OWNED BY {name}")
    owner.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP ROLE {name}")
    admin.dispose()


@pytest.fixture(autouse=True)
def _verify_books_after_each_test(request):
    """Every test that builds an app is followed by ``ledger verify`` on its own database and archive,
    so the suite's own activity proves the books stay sound. Tests that damage the books on purpose
    carry the ``unsound_books`` marker; ``LEDGER_TEST_VERIFY=0`` turns the check off (to time it)."""
    if (os.environ.get("LEDGER_TEST_VERIFY", "1") != "0" and "app" in request.fixturenames
            and request.node.get_closest_marker("unsound_books") is None):
        request.getfixturevalue("verified_books")
