"""Shared test set-up. The sandbox fixtures come from ``runner.testing``, the pytest plugin
that in-house plugin authors use too."""

from __future__ import annotations

import pytest

pytest_plugins = ["runner.testing"]


@pytest.fixture(autouse=True)
def _fresh_secret_registry():
    """Each test starts with no registered secrets and a fresh plugin manager."""
    from runner.masking import forget_secrets
    from runner.plugins import reset_plugin_manager

    forget_secrets()
    reset_plugin_manager()
    yield
    forget_secrets()
    reset_plugin_manager()


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL server for the whole session, started on first use (tests
    that never ask for it never start it). Missing binaries fail the test with how to
    install them: `.ci/run` installs them, so nothing is skipped."""
    from pgcluster import PostgresCluster

    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster):
    """The URL of a fresh empty database for this test, dropped after it."""
    import uuid

    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_cluster.create_database(name)
    yield url
    if not postgres_cluster.running:  # the test stopped the server: the next tests need it
        postgres_cluster.start()
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def state_location(request, tmp_path):
    """Where a test's run state lives, once per backend: a fresh folder (SQLite) or the URL
    of a fresh database (PostgreSQL). A test of the state interface takes it (as the
    ``state=`` of ``run``, the ``--state`` of a command, or ``StateLocation(it).open()``) and
    so holds on both backends."""
    if request.param == "sqlite":
        return str(tmp_path / "st")
    return request.getfixturevalue("postgres_url")
