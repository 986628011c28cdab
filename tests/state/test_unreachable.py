"""A ``--state postgresql://…`` that cannot be used is one line and exit 2 naming the URL
without its password, before anything is sent: a server not listening, an unknown host or
database, a wrong password, psycopg not installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from pgcluster import PostgresCluster

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
MANIFEST = "version: 1\nname: t\njobs:\n  exp: {job: export_scheduled_sends}\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sailjobs(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SAILJOBS, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_one_clear_line(done: subprocess.CompletedProcess[str], shown_url: str, why: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: cannot use the state database {shown_url}: ")
    assert why in line
    assert "sekrit" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", [["runs"], ["show", "r1"], ["state", "migrate"],
                                     ["state", "prune", "--older-than", "30d"]])  # fmt: skip
def test_a_server_that_does_not_listen_is_one_line_for_every_command(
    command: list[str], tmp_path: Path
) -> None:
    port = free_port()
    url = f"postgresql://ops:sekrit@127.0.0.1:{port}/jobs"
    done = sailjobs(*command, cwd=tmp_path, env={"SAILJOBS_STATE": url})  # a password: env only
    assert_one_clear_line(done, f"postgresql://ops@127.0.0.1:{port}/jobs", "Connection refused")


def test_a_run_against_an_unknown_database_sends_nothing(
    sandbox, postgres_cluster, tmp_path: Path
) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    url = postgres_cluster.url("no_such_db")
    done = sailjobs(
        "run", "m.yaml", "--state", url, cwd=tmp_path,
        env={"SAILTHRU_API_URL": sandbox.url, "SAILTHRU_API_KEY": sandbox.api_key,
             "SAILTHRU_API_SECRET": sandbox.secret},
    )  # fmt: skip
    assert_one_clear_line(done, url, 'database "no_such_db" does not exist')
    assert sandbox.submissions() == []


def test_an_unknown_host_is_one_line(tmp_path: Path) -> None:
    url = "postgresql://ops:sekrit@no-such-host.invalid/jobs"
    done = sailjobs("runs", cwd=tmp_path, env={"SAILJOBS_STATE": url})
    assert_one_clear_line(
        done, "postgresql://ops@no-such-host.invalid/jobs", "no-such-host.invalid"
    )


def test_a_wrong_password_is_one_line_without_the_password(tmp_path: Path) -> None:
    with PostgresCluster() as cluster:  # its own server: its pg_hba.conf asks a password
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE ROLE ops LOGIN PASSWORD 'right-one'")
            hba = cluster.datadir / "pg_hba.conf"
            hba.write_text("local all ops scram-sha-256\n" + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        socket_dir = quote(cluster.socket_dir)
        shown = f"postgresql://ops@/postgres?host={socket_dir}"
        for url in (  # the password in the user info, or as a query parameter
            f"postgresql://ops:sekrit@/postgres?host={socket_dir}",
            f"{shown}&password=sekrit",
        ):
            done = sailjobs("runs", cwd=tmp_path, env={"SAILJOBS_STATE": url})
            assert_one_clear_line(done, shown, 'password authentication failed for user "ops"')


def test_without_psycopg_it_says_what_to_install(tmp_path: Path) -> None:
    # psycopg is an extra: a process where it cannot be imported, as without it.
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'sailjobs'; "
        "from runner.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "runs", "--state", "postgresql://ops@127.0.0.1/jobs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert "psycopg is not installed" in line and "pip install 'sailjobs[postgres]'" in line


@pytest.mark.parametrize(
    "url", ["postgresql://ops:sekrit@db.internal/jobs", "postgresql://ops@db/jobs?password=sekrit"]
)
def test_a_password_on_the_command_line_is_refused_before_anything(
    url: str, tmp_path: Path
) -> None:
    # It would show in process lists and CI logs, and advice naming the command could not
    # repeat it: the environment (SAILJOBS_STATE, PGPASSWORD) or ~/.pgpass carry it.
    done = sailjobs("runs", "--state", url, cwd=tmp_path)
    assert done.returncode == 2
    assert "put it in PGPASSWORD or ~/.pgpass, or give the whole URL in SAILJOBS_STATE" in (
        done.stderr
    )
    assert "sekrit" not in done.stdout + done.stderr
