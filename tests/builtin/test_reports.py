"""The run reports: JSON, JUnit XML and the GitHub step summary, written by the hook."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.builtin import reports
from runner.masking import register_secret
from runner.plugins import hooks
from runner.results import ActionResult, JobResult, JobStatus, RunResult

SECRET = "s3cr3t-api-secret-value"
EXPORT_URL = "http://127.0.0.1:8642/export/2026/11/27/0123456789abcdef0123456789abcdef"
T0 = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)


def make_run(*, interrupted: bool = False, options: dict | None = None) -> RunResult:
    """A run with one job in every terminal status (plus a running one when interrupted)."""
    run = RunResult(
        run_id="run-20261127-0900",
        manifest_name="nightly-crm",
        manifest_path="manifests/nightly.yaml",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=95),
        interrupted=interrupted,
        options=options or {},
    )
    download = ActionResult(
        name="download",
        plugin="runner.builtin.download",
        when="on_success",
        index=0,
        succeeded=True,
        attempts=1,
        outputs={
            "path": "/work/exports/main.csv",
            "bytes": 2048,
            "rows": 1234,
            "sha256": "ab" * 32,
        },
    )
    jobs = [
        JobResult(
            run_id=run.run_id,
            id="export-main",
            job_type="export_list_data",
            status=JobStatus.SUCCEEDED,
            params={"list": "Main Newsletter", "vars": {"token": SECRET}},
            remote_job_id="58487498e9328b50588b4b54",
            remote_status="completed",
            attempts=1,
            polls=4,
            submitted_at=T0 + timedelta(seconds=1),
            finished_at=T0 + timedelta(seconds=43),
            outputs={"export_url": EXPORT_URL, "filename": "main_newsletter.csv", "rows": 1234},
            actions=[download],
        ),
        JobResult(
            run_id=run.run_id,
            id="reimport",
            job_type="import",
            status=JobStatus.FAILED,
            params={"list": "Engaged"},
            remote_job_id="58487498e9328b50588b4b55",
            remote_status="error",
            attempts=1,
            polls=2,
            submitted_at=T0 + timedelta(seconds=44),
            finished_at=T0 + timedelta(seconds=50),
            error=f"Invalid | list \x07 name <Engaged> (secret {SECRET})\nsecond line",
        ),
        JobResult(
            run_id=run.run_id,
            id="purchases",
            job_type="export_purchase_log",
            status=JobStatus.TIMED_OUT,
            remote_job_id="58487498e9328b50588b4b56",
            remote_status="pending",
            submitted_at=T0 + timedelta(seconds=2),
            finished_at=T0 + timedelta(seconds=90),
            error="timed out after 1m28s; remote job 58487498e9328b50588b4b56 may still be running",
        ),
        JobResult(
            run_id=run.run_id,
            id="after-reimport",
            job_type="export_list_data",
            status=JobStatus.SKIPPED,
            error="skipped: needs 'reimport', which failed",
        ),
    ]
    if interrupted:
        jobs.append(
            JobResult(
                run_id=run.run_id,
                id="slow-export",
                job_type="export_list_data",
                status=JobStatus.RUNNING,
                remote_job_id="58487498e9328b50588b4b57",
                submitted_at=T0 + timedelta(seconds=3),
            )
        )
    run.jobs = {job.id: job for job in jobs}
    run.actions = [
        ActionResult(
            name="chat", plugin="sailjobs_chat", when="always", index=0, error=f"HTTP 500 {SECRET}"
        )
    ]
    return run


@pytest.fixture(autouse=True)
def _secret():
    register_secret(SECRET)


def assert_no_secrets(text: str) -> None:
    assert SECRET not in text
    assert "0123456789abcdef0123456789abcdef" not in text  # the export URL's capability part


def test_json_report_has_every_job_masked(tmp_path):
    path = tmp_path / "out" / "report.json"
    reports.write_json_report(make_run(options={"report": tmp_path / "x.json"}), path)
    text = path.read_text(encoding="utf-8")
    assert_no_secrets(text)
    report = json.loads(text)
    assert report["format"] == "sailjobs-report/1"
    assert report["run_id"] == "run-20261127-0900"
    assert report["manifest"] == {"name": "nightly-crm", "path": "manifests/nightly.yaml"}
    assert report["status"] == "failed"
    assert report["duration_seconds"] == 95.0
    assert report["started_at"] == "2026-11-27T09:00:00+00:00"
    assert report["summary"] == {
        "total": 4,
        "succeeded": 1,
        "failed": 1,
        "timed_out": 1,
        "skipped": 1,
        "unfinished": 0,
    }
    assert report["options"] == {"report": str(tmp_path / "x.json")}
    jobs = {job["id"]: job for job in report["jobs"]}
    assert [job["id"] for job in report["jobs"]] == [
        "export-main",
        "reimport",
        "purchases",
        "after-reimport",
    ]
    main = jobs["export-main"]
    assert set(main) == {
        "id", "job_type", "status", "remote_job_id", "remote_status", "attempts", "polls",
        "submitted_at", "finished_at", "duration_seconds", "params", "outputs", "error",
        "actions", "warnings",
    }  # fmt: skip
    assert main["params"] == {"list": "Main Newsletter", "vars": {"token": "***"}}
    assert main["remote_job_id"] == "58487498e9328b50588b4b54"
    assert (main["attempts"], main["polls"], main["duration_seconds"]) == (1, 4, 42.0)
    assert main["outputs"]["export_url"] == "http://127.0.0.1:8642/***"
    assert main["outputs"]["rows"] == 1234
    assert main["actions"][0]["name"] == "download"
    assert main["actions"][0]["outputs"]["sha256"] == "ab" * 32
    assert jobs["reimport"]["error"].startswith("Invalid | list \x07 name <Engaged> (secret ***)")
    assert jobs["purchases"]["status"] == "timed_out"
    assert jobs["after-reimport"]["submitted_at"] is None
    assert report["notify"][0]["error"] == "HTTP 500 ***"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left


def test_json_report_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("x" * 100_000)
    reports.write_json_report(make_run(), path)
    assert json.loads(path.read_text())["run_id"] == "run-20261127-0900"


def test_export_url_is_masked_everywhere_once_reported(tmp_path):
    """The URL in an error message is masked too, not only the output itself."""
    run = make_run()
    run.jobs["purchases"].error = f"download of {EXPORT_URL} failed"
    report = reports.build_report(run)
    assert_no_secrets(json.dumps(report))


def parse_junit(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_junit_counts_and_elements(tmp_path):
    path = tmp_path / "junit.xml"
    reports.write_junit_report(make_run(), path)
    assert_no_secrets(path.read_text(encoding="utf-8"))
    root = parse_junit(path)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "nightly-crm"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    assert suite.get("errors") == "0" and suite.get("time") == "95.000"
    assert root.get("tests") == "4" and root.get("failures") == "2"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run_id"] == "run-20261127-0900"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["export-main", "reimport", "purchases", "after-reimport"]
    assert cases["export-main"].get("classname") == "nightly-crm.export_list_data"
    assert cases["export-main"].get("time") == "42.000"
    assert cases["export-main"].find("failure") is None
    assert "remote job_id: 58487498e9328b50588b4b54" in cases["export-main"].findtext("system-out")
    failure = cases["reimport"].find("failure")
    assert failure.get("type") == "failed"
    assert failure.get("message").startswith("Invalid | list \ufffd name <Engaged> (secret ***)")
    assert cases["purchases"].find("failure").get("type") == "timed_out"
    assert cases["after-reimport"].find("skipped").get("message").startswith("skipped: needs")
    assert "notify action chat" in suite.findtext("system-err")


def test_junit_marks_unfinished_jobs_of_an_interrupted_run_as_errors(tmp_path):
    path = tmp_path / "junit.xml"
    reports.write_junit_report(make_run(interrupted=True), path)
    suite = parse_junit(path).find("testsuite")
    assert (suite.get("tests"), suite.get("errors")) == ("5", "1")
    error = suite.find("testcase[@name='slow-export']/error")
    assert "interrupted" in error.get("message")
    assert "58487498e9328b50588b4b57" in error.get("message")
    assert "`sailjobs run manifests/nightly.yaml --resume` resumes it" in error.get("message")


def test_github_summary_table(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("## an earlier step\n", encoding="utf-8")
    reports.append_github_summary(make_run(), path)
    text = path.read_text(encoding="utf-8")
    assert_no_secrets(text)
    assert text.startswith("## an earlier step\n### ❌ sailjobs: nightly-crm failed")
    assert "4 jobs: 1 succeeded, 1 failed, 1 timed out, 1 skipped · 1m35s" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| Job | Type | Status | Duration | Rows | Error |"
    assert table[1] == "| --- | --- | --- | --- | ---: | --- |"
    assert table[2] == "| export-main | export_list_data | ✅ succeeded | 42s | 1,234 |  |"
    # One line per job: pipes escaped, newline folded, HTML escaped, secret masked.
    assert table[3].startswith("| reimport | import | ❌ failed | 6s |  | Invalid \\| list")
    assert "&lt;Engaged&gt; (secret ***) second line |" in table[3]
    assert len(table) == 6
    assert "- ❌ notify action `chat` failed: HTTP 500 ***" in text


def test_github_summary_starts_on_a_new_line(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("no newline at the end", encoding="utf-8")
    reports.append_github_summary(make_run(), path)
    assert path.read_text(encoding="utf-8").startswith("no newline at the end\n### ")


def test_hook_writes_every_report_asked_for(tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = make_run(options={"report": str(tmp_path / "r.json"), "junit": tmp_path / "j.xml"})
    assert hooks().run_finished(run) == []
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["total"] == 4
    assert parse_junit(tmp_path / "j.xml").get("tests") == "4"
    assert "| export-main |" in summary.read_text(encoding="utf-8")


def test_hook_writes_nothing_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert hooks().run_finished(make_run()) == []
    assert list(tmp_path.iterdir()) == []


def test_one_failing_report_does_not_stop_the_others(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    blocked = tmp_path / "a-directory.json"
    blocked.mkdir()
    run = make_run(options={"report": str(blocked), "junit": str(tmp_path / "j.xml")})
    failures = hooks().run_finished(run)
    assert len(failures) == 1
    assert failures[0].plugin == "runner.builtin.reports"
    assert f"cannot write --report file {blocked}" in str(failures[0].error)
    assert parse_junit(tmp_path / "j.xml").get("tests") == "4"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


GANTT_TASK = re.compile(
    r"^    (?P<name>[^:#;`]+) :(?P<tags>(?:(?:done|crit|active|milestone), )*)"
    r"(?P<id>j\d+(?:a\d+)?), (?P<start>[\d-]+ [\d:.]+), (?P<end>[\d-]+ [\d:.]+)$"
)


def parse_gantt(markdown: str) -> dict[str, tuple[str, datetime, datetime]]:
    """The tasks of the one mermaid block (id: name, start, end); fails on any line that is
    not valid mermaid gantt syntax as written by the report."""
    block = markdown.split("```mermaid\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert block[0] == "gantt"
    assert block[1].startswith("    title ") and ":" not in block[1]
    assert block[2] == "    dateFormat YYYY-MM-DD HH:mm:ss.SSS"
    assert block[3] == "    axisFormat %H:%M:%S"
    tasks = {}
    for line in block[4:]:
        if line.startswith("    section "):
            assert ":" not in line and line.strip() != "section"
            continue
        match = GANTT_TASK.match(line)
        assert match, f"not a gantt task line: {line!r}"
        start, end = (
            datetime.strptime(match[key], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
            for key in ("start", "end")
        )
        tasks[match["id"]] = (match["name"], start, end)
    return tasks


def test_the_step_summary_has_a_timeline_of_every_job(tmp_path):
    run = make_run(interrupted=True)
    run.jobs["export-main"].id = "export:main #1"  # characters gantt gives a meaning to
    download = run.jobs["export-main"].actions[0]
    download.started_at = T0 + timedelta(seconds=43)
    download.finished_at = T0 + timedelta(seconds=45)
    text = reports.render_github_summary(run)
    assert "#### Timeline" in text
    tasks = parse_gantt(text)
    jobs = [task for key, task in tasks.items() if "a" not in key]
    assert len(jobs) == len(run.jobs)  # one task per job
    for _, start, end in tasks.values():
        assert start <= end
    assert tasks["j0"][1] == T0 + timedelta(seconds=1)  # from the submission...
    assert tasks["j0"][2] == download.started_at  # ...to the job's end, when its actions start
    assert tasks["j0a0"] == ("download done", download.started_at, download.finished_at)
    assert tasks["j2"][0] == "export_purchase_log timed_out"
    assert "section export main 1" in text
    assert SECRET not in text.split("#### Timeline")[1]


def test_the_timeline_of_a_thousand_jobs_stays_under_mermaids_text_limit():
    run = make_run()
    template = run.jobs["export-main"]
    for number in range(1000):
        job = JobResult(**{**template.__dict__, "id": f"export-{number:04}"})
        run.jobs[job.id] = job
    text = reports.render_github_summary(run)
    block = text.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    # mermaid's default maxTextSize is 50,000: beyond it GitHub draws an error, not a chart.
    assert len(block) < 40_000
    shown = [key for key in parse_gantt(text) if "a" not in key]
    assert 100 < len(shown) < len(run.jobs)
    after = text.split("#### Timeline", 1)[1].split("\n```\n", 1)[1]
    assert f"first {len(shown)} of {len(run.jobs)} jobs" in after
    assert "table above lists them all" in after
    assert "export-0999" in text.split("#### Timeline")[0]  # the table still has every job
