"""A manifest outside any git repository, run with a PostgreSQL state: its runs are named by
its absolute path (runner.executor.state.records.manifest_key), so a machine that keeps it in
another folder neither resumes its runs nor shares its lock. ``run`` says so, once."""

from __future__ import annotations

from pathlib import Path

from runner.executor.progress import Progress
from runner.executor.state.records import repository_root

MANIFEST = """\
version: 1
name: unshared
jobs:
  sends:
    job: export_scheduled_sends
"""


class Notes(Progress):
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def message(self, text: str, level: str = "info") -> None:  # type: ignore[override]
        self.lines.append((level, text))

    def about_the_key(self) -> list[tuple[str, str]]:
        return [(level, text) for level, text in self.lines if "git repository" in text]


def test_a_manifest_outside_a_repository_run_on_postgresql_gets_one_note(
    run_on_sandbox, tmp_path: Path, postgres_url: str
) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    assert repository_root(manifest) is None  # the premise: no .git above tmp_path
    notes = Notes()
    assert run_on_sandbox(manifest, state=postgres_url, progress=notes).succeeded
    [(level, text)] = notes.about_the_key()
    assert level == "note"
    assert str(manifest.resolve()) in text and "neither resumes" in text
    assert "git checkout" in text and "the same --run-key" in text  # what to do about it


def test_no_note_inside_a_repository_or_with_a_state_folder(
    run_on_sandbox, tmp_path: Path, postgres_url: str
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(MANIFEST)
    notes = Notes()
    assert run_on_sandbox(outside, progress=notes).succeeded  # a folder: one machine's
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    inside = tmp_path / "repo" / "manifest.yaml"
    inside.write_text(MANIFEST)
    assert run_on_sandbox(inside, state=postgres_url, progress=notes).succeeded
    # Outside a repository, a --run-key names it on every machine (with its file name).
    assert run_on_sandbox(outside, state=postgres_url, progress=notes, named="nightly").succeeded
    assert notes.about_the_key() == []
