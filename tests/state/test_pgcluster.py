"""The throwaway PostgreSQL cluster the state tests run against (tests/pgcluster.py): real
server binaries, a real Unix socket, no mock."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pgcluster import PostgresCluster, PostgresClusterError, find_bindir


def test_a_fresh_database_per_test_reached_over_the_socket(postgres_cluster, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
        socket_dir = conn.execute("SHOW unix_socket_directories").fetchone()[0]
    assert name.startswith("test_") and name in postgres_url
    assert tables == 0
    assert socket_dir == postgres_cluster.socket_dir
    assert (Path(socket_dir) / ".s.PGSQL.5432").is_socket()


def test_nothing_listens_on_tcp(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
        # the server's own view of the connection: a Unix socket has no client address
        assert conn.execute("SELECT inet_client_addr()").fetchone()[0] is None


def test_data_survives_a_restart_and_new_connections_work(postgres_cluster, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE jobs (id int PRIMARY KEY, status text)")
        conn.execute("INSERT INTO jobs VALUES (1, 'submitted')")
    postgres_cluster.restart()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT id, status FROM jobs").fetchall() == [(1, "submitted")]


def test_a_committed_row_survives_a_crash_of_the_server():
    """kill() is a crash (no shutdown checkpoint): a row committed just before it must still
    be there, or a test that kills the server would see a recorded intent vanish."""
    with PostgresCluster() as cluster:
        url = cluster.create_database("crash")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE intents (n int)")
            for n in range(50):
                conn.execute("INSERT INTO intents VALUES (%s)", (n,))
        cluster.kill()
        cluster.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM intents").fetchone()[0] == 50


def test_cleanup_stops_the_server_and_removes_its_folder():
    cluster = PostgresCluster().start()
    folder, url = cluster.folder, cluster.url()
    assert folder is not None and folder.is_dir()
    cluster.cleanup()
    assert not folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)
    cluster.cleanup()  # twice is harmless (atexit calls it again)


def test_a_folder_without_the_binaries_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SAILJOBS_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresClusterError, match=r"SAILJOBS_PG_BIN=.* has no initdb"):
        find_bindir()


def test_a_test_that_stops_the_server_leaves_it_running_for_the_next(
    postgres_cluster, postgres_url
):
    postgres_cluster.kill()


def test_the_server_runs_again_after_a_test_stopped_it(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
