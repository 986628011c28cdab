"""A throwaway PostgreSQL server for the tests and the benchmarks.

One cluster in a fresh folder under /tmp, reachable only on its Unix socket (no TCP at all),
tuned for speed over durability (no fsync). ``initdb`` refuses to run as root, so as root
the server runs as the ``postgres`` system user. No pytest import here: ``bench/`` scripts use
it too (``sys.path.insert(0, "<repo>/tests")``, then ``from pgcluster import PostgresCluster``).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

INSTALL_HINT = (
    "install the PostgreSQL server (`apt-get install postgresql`, which .ci/run does) "
    "or point SAILJOBS_PG_BIN at the folder holding initdb and pg_ctl"
)
SERVER_USER = "postgres"

SETTINGS = {
    "listen_addresses": "''",  # Unix socket only: nothing listens on TCP
    "fsync": "off",
    # on (not off): a commit waits for its WAL write, so kill() never loses a committed row
    # (a recorded intent to submit must survive a crash); with fsync off that write is cheap
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "max_connections": "300",
}


class PostgresClusterError(RuntimeError):
    """The throwaway cluster could not be found, started or stopped."""


def _version_key(bindir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); a folder that is not a number sorts first
    name = Path(bindir).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def find_bindir() -> Path:
    """The folder with the server binaries: $SAILJOBS_PG_BIN, else the newest
    /usr/lib/postgresql/*/bin, else `pg_config --bindir`, else where `initdb` on PATH lives."""
    configured = os.environ.get("SAILJOBS_PG_BIN")
    if configured:
        if not (Path(configured) / "initdb").is_file():
            raise PostgresClusterError(
                f"SAILJOBS_PG_BIN={configured} has no initdb: point it at the folder "
                "holding initdb and pg_ctl, or unset it"
            )
        return Path(configured)
    debian = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if Path(d, "initdb").is_file()]
    if debian:
        return Path(max(debian, key=_version_key))
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        bindir = Path(done.stdout.strip())
        if done.returncode == 0 and (bindir / "initdb").is_file():
            return bindir
    initdb = shutil.which("initdb")
    if initdb:
        # /usr/local/bin/initdb may be a lone symlink: pg_ctl sits next to its target
        return Path(os.path.realpath(initdb)).parent
    raise PostgresClusterError(f"no PostgreSQL server binaries (initdb) found: {INSTALL_HINT}")


class PostgresCluster:
    """``start()`` it, connect to ``url(...)``, ``cleanup()`` (or use ``with``)."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.folder: Path | None = None
        self.running = False

    # -- paths -----------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self._folder() / "data"

    @property
    def logfile(self) -> Path:
        return self._folder() / "server.log"

    @property
    def socket_dir(self) -> str:
        return str(self._folder())

    def _folder(self) -> Path:
        if self.folder is None:
            raise PostgresClusterError("the cluster is not started: call start() first")
        return self.folder

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> PostgresCluster:
        """initdb into a fresh short folder under /tmp (a socket path must fit in ~107 bytes),
        configure it and start the server."""
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="sjpg-", dir="/tmp"))
            atexit.register(self.cleanup)
            if os.geteuid() == 0:
                user = self._server_user()
                os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            settings = dict(SETTINGS, unix_socket_directories=f"'{self.socket_dir}'")
            with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write("\n# the throwaway test cluster (tests/pgcluster.py)\n")
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._pg_ctl("start")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode="immediate"`` is a crash (no checkpoint, recovery on start)."""
        if self.running:
            self._pg_ctl("stop", "-m", mode)
            self.running = False

    def kill(self) -> None:
        """Stop the server the way a crash would."""
        self.stop("immediate")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same folder: the data survives."""
        self.stop(mode)
        self.start()

    def cleanup(self) -> None:
        """Stop the server if it runs and remove its folder. Safe to call twice."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                atexit.unregister(self.cleanup)
                self.folder = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- databases -------------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for psycopg.connect and psycopg_pool: the socket folder as ``host``."""
        return f"postgresql://postgres@/{quote(dbname, safe='')}?host={quote(self.socket_dir)}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self._admin("CREATE DATABASE {}", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database even if connections to it are still open."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _admin(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    # -- running the binaries --------------------------------------------------------------
    def _pg_ctl(self, action: str, *options: str) -> None:
        # -l: the server's output goes to the log file, never to our pipes (which would
        # then never close); -w: return once the server accepts connections (or is gone)
        self._run(
            "pg_ctl", action, "-w", "-D", str(self.datadir), "-l", str(self.logfile), *options
        )

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self._server_user().pw_name, "--", *command]
        # the folder as working directory: the server user may not enter the caller's one
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            command, cwd=self.folder, env=env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise PostgresClusterError(
                f"{program} {args[0]} failed (exit {done.returncode}) in {self.folder}:\n"
                f"{done.stdout}{done.stderr}{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(encoding="utf-8", errors="replace").splitlines()
        except (OSError, PostgresClusterError):
            return ""
        return "server log:\n" + "\n".join(lines[-20:]) if lines else ""

    @staticmethod
    def _server_user() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresClusterError(
                f"running as root, and initdb refuses root: the server runs as the "
                f"'{SERVER_USER}' system user, which does not exist; create it with "
                f"`useradd --system {SERVER_USER}` (.ci/run does)"
            ) from None
