"""``sailjobs sandbox serve``: prints where it listens, serves, stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sailthru.sailthru_client import SailthruClient

from runner.cli import cli
from tests.sandbox.conftest import poll

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))


def serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SAILJOBS, "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_credentials_serves_and_stops(tmp_path: Path, stop_signal: int) -> None:
    with serve(
        "--seed", "demo", "--job-time", "0.1", "--data", str(tmp_path), "--api-key", "k1",
        "--secret", "s1",
    ) as process:  # fmt: skip
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Sailthru sandbox at http://127.0.0.1:")
        url = first.split()[-1]
        assert process.stdout.readline().split() == ["api", "key:", "k1"]
        assert process.stdout.readline().split() == ["secret:", "s1"]
        client = SailthruClient("k1", "s1", url)
        job = client.api_post("job", {"job": "export_list_data", "list": "Engaged"}).get_body()
        assert poll(client, job["job_id"])["status"] == "completed"
        process.send_signal(stop_signal)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Sandbox stopped." in err
    assert "Traceback" not in err
    assert (tmp_path / "sandbox.sqlite3").exists()


def run_cli(*args: str) -> Result:
    """The command in-process (no subprocess start-up): exit code and output."""
    return CliRunner().invoke(cli, ["sandbox", "serve", *args])


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--data", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (choose another --port)"
    ]


def test_unknown_host_is_one_clear_line(tmp_path: Path) -> None:
    # An empty label: getaddrinfo refuses it without asking a DNS server.
    result = run_cli("--host", "a..b", "--port", "0", "--data", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: cannot listen on a..b:0: unknown host (check --host)"
    ]


def test_unusable_data_directory_is_one_clear_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "sandbox.sqlite3").write_text("not a database\n" * 100)
    for data_dir, reason in [
        (not_a_dir / "data", "Not a directory (check --data)"),
        (garbage, "file is not a database (give --data an empty directory or one a sandbox"),
    ]:
        result = run_cli("--port", "0", "--data", str(data_dir))
        assert result.exit_code == 2
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"error: cannot use the data directory {data_dir}: {reason}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--smtp", "nonsense"], "SMTP server must be HOST:PORT"),
        (["--job-time", "soon"], "expected a duration"),
        (["--error-rate", "2"], "a fraction from 0 to 1"),
    ],
)
def test_bad_options_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = run_cli("--port", "0", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_serve_with_a_seed_file_serves_its_lists(tmp_path: Path) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text("email,lists,plan\nann@example.com,Weekly Digest,pro\n")
    with serve("--seed", str(seed), "--job-time", "0.1") as process:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        client = SailthruClient("sandbox-key", "sandbox-secret", url)
        job = client.api_post("job", {"job": "export_list_data", "list": "Weekly Digest"})
        assert poll(client, job.get_body()["job_id"])["status"] == "completed"
        missing = client.api_post("job", {"job": "export_list_data", "list": "Main Newsletter"})
        assert missing.get_body()["errormsg"] == "List not found"  # no demo data
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_a_bad_seed_file_is_one_line_per_problem_and_nothing_starts(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("lists: [Digest]\nusers:\n  - {email: nope}\n  - {mail: a@example.com}\n")
    result = run_cli("--port", "0", "--seed", str(seed), "--data", str(tmp_path / "data"))
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{seed}:3:13: users[0].email: expected an email address, got 'nope'",
        f"{seed}:4:5: users[1]: missing email: give the address (email: ann@example.com)",
        f"{seed}:4:6: users[1].mail: unknown key; an entry here has email, lists, vars,"
        " signup_date",
        f"3 problems in the seed file {seed}; the sandbox did not start",
    ]
    assert not (tmp_path / "data").exists()
