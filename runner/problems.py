"""A problem the user can fix, with where it is: rendered ``file:line:col: path: message``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from runner.escaping import workflow_data, workflow_property


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a manifest (or a file it names), pointing at its position.

    ``line`` and ``col`` are 1-based, as editors and terminals expect. ``path`` is the
    dotted location inside the manifest (``jobs.export-main.list``), empty for problems
    about the file as a whole (a YAML syntax error). A ``warning`` is shown but does not
    make the manifest invalid (a file problem of a job with ``preflight: warn``).
    """

    file: str
    line: int
    col: int
    path: str = ""
    message: str = field(default="", compare=False)
    severity: Literal["error", "warning"] = field(default="error", compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        if not self.is_error:
            where += f": {self.severity}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def render_github(self) -> str:
        """A GitHub Actions annotation (``::error file=…,line=…,col=…::message``)."""
        text = f"{self.path}: {self.message}" if self.path else self.message
        # A message may quote a file's content: escaped as GitHub decodes it, never obeyed.
        file = workflow_property(self.file)  # a file named "a,b.yaml"
        return (
            f"::{self.severity} file={file},line={self.line},col={self.col}::{workflow_data(text)}"
        )


class ManifestError(Exception):
    """Raised by the loading and planning stages with every problem found in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class SeedFileError(ManifestError):
    """A ``--seed`` file the sandbox cannot load: every problem in it, each with file:line."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        super().__init__(problems)
