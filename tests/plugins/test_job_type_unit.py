"""A plugin's job type is one unit, treated exactly as a built-in one: registered in-process
here, with its sandbox kind, it is split by its own splitter, its files are checked by its own
file check before anything is sent, and it takes an import slot when it says so. Nothing in
the executor or pre-flight knows its name."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runner.hookspecs import hookimpl
from runner.jobtypes import (
    EXPORT_OUTPUTS,
    DateRangeSplitter,
    FileCheck,
    JobType,
    JsonLinesFile,
    LineProblem,
    StrictParams,
)
from runner.limits import parse_yyyymmdd
from runner.problems import ManifestError
from runner.results import JobStatus
from runner.sailthru.contract import ErrorRow
from runner.sandbox import Sandbox
from runner.sandbox.kinds import (
    IMPORT_POOL,
    Accepted,
    JobEnv,
    JobKind,
    JobRecord,
    Outcome,
    Upload,
    api_error,
    write_rows,
)

MAX_DAYS = 7
TOO_LONG = ErrorRow(400, 99, "At most 7 days")


class DailyCountsParams(StrictParams):
    from_day: str | None = None
    to_day: str | None = None


class DailyCounts(JobType):
    """An export over a range of days that the API takes a week at a time."""

    name = "acme_daily_counts"
    params_model = DailyCountsParams
    outputs = EXPORT_OUTPUTS
    produces_export = True
    resubmit_safe = True
    splitter = DateRangeSplitter("from_day", "to_day", max_days=MAX_DAYS)


class DailyCountsKind(JobKind):
    job = "acme_daily_counts"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        first, last = parse_yyyymmdd(payload["from_day"]), parse_yyyymmdd(payload["to_day"])
        assert first is not None and last is not None
        if (last - first).days + 1 > MAX_DAYS:
            raise api_error(TOO_LONG)
        return Accepted(f"Daily counts {payload['from_day']}-{payload['to_day']}")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        first = parse_yyyymmdd(record.payload["from_day"])
        last = parse_yyyymmdd(record.payload["to_day"])
        assert first is not None and last is not None
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        path = write_rows(env, ["day", "count"], ([f"{d:%Y%m%d}", d.day] for d in days))
        return Outcome({"filename": "counts.csv"}, len(days), path)


class SkuLines(JsonLinesFile):
    kind = "skus"
    noun = "stock line"

    def check_object(self, value: dict[str, Any]) -> Iterator[LineProblem]:
        if not isinstance(value.get("sku"), str):
            yield LineProblem("sku", "every stock line needs its sku (text)")


class StockParams(StrictParams):
    file: str | None = None


class StockLoad(JobType):
    """Loads stock levels; like an import, it takes one of the account's import slots."""

    name = "acme_stock_load"
    params_model = StockParams
    file_params = ("file",)
    import_slot = True

    def file_checks(self, params: Any) -> dict[str, FileCheck]:
        return {"file": SkuLines()}


class StockLoadKind(JobKind):
    job = "acme_stock_load"
    pool = IMPORT_POOL
    most_in_flight: ClassVar[int] = 0  # of this kind, seen at a POST (before this one)

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        with env.store.connect() as db:
            (in_flight,) = db.execute(
                "SELECT count(*) FROM jobs WHERE job = ? AND status IN ('pending', 'running')",
                (self.job,),
            ).fetchone()
        StockLoadKind.most_in_flight = max(StockLoadKind.most_in_flight, in_flight)
        return Accepted("Stock load")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        return Outcome({}, 1)


class AcmePlugin:
    def __init__(self, import_slot: bool = True) -> None:
        self.stock = type("Stock", (StockLoad,), {"import_slot": import_slot})

    @hookimpl
    def sailjobs_job_types(self) -> list[JobType]:
        return [DailyCounts(), self.stock()]

    @hookimpl
    def sailjobs_sandbox_job_kinds(self) -> list[JobKind]:
        return [DailyCountsKind(), StockLoadKind()]


@pytest.fixture
def acme(sandbox_factory: Callable[..., Sandbox]) -> Callable[..., Sandbox]:
    """Registers the plugin, then starts a sandbox (which collects its kinds)."""
    from runner.plugins import get_plugin_manager

    def start(import_slot: bool = True, **kwargs: Any) -> Sandbox:
        get_plugin_manager().register(AcmePlugin(import_slot), name="acme")
        return sandbox_factory(**kwargs)

    return start


def run(sandbox: Sandbox, tmp_path: Path, manifest: str) -> Any:
    from runner.executor.lifecycle import run as run_manifest
    from runner.sailthru import SailthruClient

    path = tmp_path / "m.yaml"
    path.write_text(manifest)
    with SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url) as client:
        return run_manifest(path, client=client, state=tmp_path / ".sailjobs")


def test_its_splitter_cuts_the_range_and_the_parts_are_joined(acme, tmp_path: Path) -> None:
    sandbox = acme(seed=None)
    result = run(sandbox, tmp_path, """\
version: 1
name: counts
defaults: {poll: {initial: 0.1s, max: 0.2s}}
jobs:
  counts:
    job: acme_daily_counts
    from_day: "20260101"
    to_day: "20260120"
    split: true
    on_success:
      - download: {path: out/counts.csv}
""")  # fmt: skip
    assert result.jobs["counts"].status is JobStatus.SUCCEEDED, result.jobs["counts"].error
    sent = [(p["from_day"], p["to_day"]) for p in sandbox.submissions("acme_daily_counts")]
    assert sent == [("20260101", "20260107"), ("20260108", "20260114"), ("20260115", "20260120")]
    with (tmp_path / "out" / "counts.csv").open(newline="") as joined:
        rows = list(csv.reader(joined))
    assert rows[0] == ["day", "count"]
    assert [row[0] for row in rows[1:]] == [f"202601{day:02d}" for day in range(1, 21)]


def test_its_file_check_refuses_a_bad_file_before_anything_is_sent(acme, tmp_path: Path) -> None:
    sandbox = acme(seed=None)
    (tmp_path / "stock.jsonl").write_text('{"sku": "A-1", "qty": 3}\n{"qty": 4}\n')
    with pytest.raises(ManifestError) as refused:
        run(sandbox, tmp_path, "version: 1\nname: stock\njobs:\n  load:\n"
            "    job: acme_stock_load\n    file: stock.jsonl\n")  # fmt: skip
    lines = [problem.render() for problem in refused.value.problems]
    assert lines == [
        f"{tmp_path}/m.yaml:6:11: jobs.load.file: 1 of 2 lines invalid; line 2: sku: every "
        "stock line needs its sku (text)",
        f"{tmp_path}/stock.jsonl:2:1: jobs.load.file: sku: every stock line needs its sku (text)",
    ]
    assert sandbox.submissions() == []


@pytest.mark.parametrize("import_slot", [True, False])
def test_an_import_slot_keeps_at_most_five_in_flight(
    acme, tmp_path: Path, import_slot: bool
) -> None:
    sandbox = acme(import_slot, seed=None, job_time=2.0)  # long: all eight are posted first
    StockLoadKind.most_in_flight = 0
    (tmp_path / "stock.jsonl").write_text('{"sku": "A-1"}\n')
    jobs = "".join(
        f"  load{n}:\n    job: acme_stock_load\n    file: stock.jsonl\n" for n in range(8)
    )
    result = run(sandbox, tmp_path, "version: 1\nname: stock\nconcurrency: 10\n"
                 "defaults: {poll: {initial: 0.1s, max: 0.2s}}\njobs:\n" + jobs)  # fmt: skip
    assert {job.status for job in result.jobs.values()} == {JobStatus.SUCCEEDED}
    if import_slot:
        assert StockLoadKind.most_in_flight <= 4  # the fifth POST saw four running
    else:
        assert StockLoadKind.most_in_flight >= 5  # nothing held them back


class Fragile(DailyCounts):
    """Its own code raises where a test says: the run must go on, naming the plugin."""

    name = "acme_fragile"
    raises_in: ClassVar[str] = ""

    def check(self, params: dict[str, Any], ctx: Any) -> Iterator[Any]:
        if self.raises_in == "check":
            raise KeyError("from_day_typo")
        return iter(())

    def completion_warning(self, fields: Any) -> str | None:
        if self.raises_in == "completion_warning":
            return str(fields["no_such_field"])
        return None


class FragileKind(DailyCountsKind):
    job = "acme_fragile"


class FragilePlugin:
    @hookimpl
    def sailjobs_job_types(self) -> list[JobType]:
        return [Fragile()]

    @hookimpl
    def sailjobs_sandbox_job_kinds(self) -> list[JobKind]:
        return [FragileKind()]


FRAGILE = """\
version: 1
name: fragile
defaults: {poll: {initial: 0.1s, max: 0.2s}}
jobs:
  counts:
    job: acme_fragile
    from_day: "20260101"
    to_day: "20260102"
  other:
    job: acme_daily_counts
    from_day: "20260101"
    to_day: "20260102"
"""


@pytest.mark.parametrize("method", ["completion_warning", "check"])
def test_a_job_types_own_code_that_raises_names_its_plugin_and_the_run_goes_on(
    acme, tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.plugins import get_plugin_manager

    get_plugin_manager().register(FragilePlugin(), name="acme-fragile")
    monkeypatch.setattr(Fragile, "raises_in", method)
    sandbox = acme(seed=None)
    if method == "check":  # at validate time: one problem at the job, nothing sent
        with pytest.raises(ManifestError) as refused:
            run(sandbox, tmp_path, FRAGILE)
        [problem] = refused.value.problems
        assert problem.path == "jobs.counts.job"
        assert "job type 'acme_fragile' (plugin 'acme-fragile') failed in check: KeyError" in (
            problem.message
        )
        assert "SAILJOBS_DISABLE_PLUGINS=acme-fragile" in problem.message
        assert sandbox.submissions() == []
        return
    result = run(sandbox, tmp_path, FRAGILE)
    counts, other = result.jobs["counts"], result.jobs["other"]
    assert (counts.status, other.status) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)
    [warning] = counts.warnings
    assert "(plugin 'acme-fragile') failed in completion_warning: KeyError" in warning


class Uploads(DailyCounts):
    name = "acme_uploads"


@pytest.mark.parametrize(
    ("traits", "refusal"),
    [
        ({"file_params": ("data",), "splitter": None}, "names 'data' in file_params"),
        ({"file_params": ("file",)}, "has a splitter and a file to upload"),
    ],
)
def test_a_job_type_the_executor_cannot_honour_is_refused_when_it_loads(
    traits: dict[str, Any], refusal: str
) -> None:
    from runner.plugins import PluginError, get_plugin_manager, job_types

    bad = type("Bad", (Uploads,), traits)

    class BadPlugin:
        @hookimpl
        def sailjobs_job_types(self) -> list[JobType]:
            return [bad()]

    get_plugin_manager().register(BadPlugin(), name="acme-bad")
    with pytest.raises(PluginError, match=refusal) as refused:
        job_types()
    assert refused.value.plugin == "acme-bad"
