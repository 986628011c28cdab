"""Where the run state lives, as ``--state`` / ``SAILJOBS_STATE`` name it: a folder (SQLite,
the default ``.sailjobs``) or a ``postgresql://`` URL (shared by every machine that has it).
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.executor.state.errors import StateError
from runner.executor.state.postgres import PostgresState, displayed_url, url_passwords
from runner.executor.state.sealing import Sealer
from runner.executor.state.sqlite import DB_NAME, SQLiteState
from runner.executor.state.store import RunState

DEFAULT_STATE_DIR = Path(".sailjobs")  # --state's default
STATE_ENV = "SAILJOBS_STATE"
_URL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class StateLocation:
    """``text`` as given; ``from_env``: it came from ``SAILJOBS_STATE`` (advice then leaves
    ``--state`` out: the variable is still set where the advice is followed)."""

    text: str
    from_env: bool = False

    @classmethod
    def of(cls, value: StateLocation | str | os.PathLike[str] | None) -> StateLocation:
        if isinstance(value, StateLocation):
            return value
        return cls(str(DEFAULT_STATE_DIR if value is None else value))

    @property
    def is_database(self) -> bool:
        return self.text.startswith(_URL_SCHEMES)

    @property
    def has_password(self) -> bool:
        return self.is_database and bool(url_passwords(self.text))

    @property
    def folder(self) -> Path | None:
        """The SQLite state folder; None for a database."""
        return None if self.is_database else Path(self.text)

    @property
    def scratch_dir(self) -> Path:
        """This machine's folder for what survives a crash beside the state (split parts,
        download claims): the state folder, or one per database under ``.sailjobs`` (apart
        from a folder state's own traces, which a lost state.db is recognised by)."""
        if self.folder is not None:
            return self.folder
        digest = hashlib.sha256(displayed_url(self.text).encode()).hexdigest()[:12]
        return DEFAULT_STATE_DIR / f"db-{digest}"

    def exists(self) -> bool:
        """Whether a state is there to read (a database always may be)."""
        return self.is_database or (Path(self.text) / DB_NAME).is_file()

    def open(self, env: Mapping[str, str] = os.environ) -> RunState:
        """The state, its links sealed with ``SAILJOBS_STATE_KEY`` from ``env`` if set."""
        sealer = Sealer.from_env(env)
        state: RunState
        if self.is_database:
            state = PostgresState(self.text, scratch_dir=self.scratch_dir)
        else:
            state = SQLiteState(Path(self.text))
        state.sealer = sealer
        return state

    def make_scratch_dir(self) -> None:
        """Make this machine's scratch folder beside a database, private as a state folder
        is (the folder state makes its own)."""
        if self.folder is not None:
            return
        try:
            DEFAULT_STATE_DIR.mkdir(exist_ok=True, mode=0o700)  # parents=True would be 0755
            self.scratch_dir.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateError(
                f"cannot make the scratch folder {self.scratch_dir}: {exc.strerror or exc}; "
                "run from a folder you can write to"
            ) from exc

    def describe(self) -> str:
        if self.is_database:
            return f"the state database {displayed_url(self.text)}"
        return f"the state folder {self.text}"

    def option(self) -> str:
        """`` --state X`` for a command in advice, or "" when the default or the
        environment gives it. A database URL is shown without its password."""
        if self.from_env or (Path(self.text) == DEFAULT_STATE_DIR and not self.is_database):
            return ""
        shown = displayed_url(self.text) if self.is_database else self.text
        return f" --state {shlex.quote(shown)}"
