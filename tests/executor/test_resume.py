"""Resume decisions, in-process, on both backends (``state_location``): polling a stored
job_id instead of resubmitting, the ambiguous window settled by the job type's rule,
--fresh, timeouts across processes."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from executor_helpers import manifest_text

from runner.executor.lifecycle import RunSetupError, run
from runner.executor.progress import LineProgress
from runner.executor.state import StateLocation, manifest_key
from runner.files import file_sha256
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager
from runner.results import JobStatus, JobSubmitted


def interrupted_run(path: Path, location: str, jobs: dict[str, str]) -> str:
    """A run state as a killed process leaves it: the run open, jobs waiting."""
    with StateLocation(location).open() as state:
        state.start_run("r-old", manifest_key(path), path, "t", file_sha256(path))
        for job_id, job_type in jobs.items():
            state.add_job("r-old", job_id, job_type)
    return "r-old"


def test_a_stored_job_id_is_polled_not_resubmitted(
    sandbox, client_for, write_manifest, hooks, state_location
) -> None:
    client = client_for(sandbox)
    path = write_manifest(
        manifest_text("imp:\n  job: import\n  list: L\n  emails: a@example.com\n")
    )
    run_id = interrupted_run(path, state_location, {"imp": "import"})
    info = client.submit_job({"job": "import", "list": "L", "emails": "a@example.com"})
    with StateLocation(state_location).open() as state:
        state.record_intent(run_id, "imp", {"list": "L"}, attempts=1)
        state.record_submitted(run_id, "imp", info.job_id, "pending")

    result = run(path, client=client, state=state_location)
    assert result.run_id == run_id and result.succeeded
    assert result.jobs["imp"].remote_job_id == info.job_id
    assert len(sandbox.submissions()) == 1
    (event,) = hooks.submitted
    assert event.resumed and event.remote_job_id == info.job_id


def test_the_ambiguous_window_fails_an_import_and_resubmits_an_export(
    sandbox, client_for, write_manifest, state_location
) -> None:
    path = write_manifest(
        manifest_text("""
            imp:
              job: import
              list: L
              emails: a@example.com
            exp:
              job: export_scheduled_sends
        """)
    )
    run_id = interrupted_run(
        path, state_location, {"imp": "import", "exp": "export_scheduled_sends"}
    )
    with StateLocation(state_location).open() as state:
        state.record_intent(run_id, "imp", {}, attempts=1)
        state.record_intent(run_id, "exp", {}, attempts=1)

    sink = io.StringIO()

    result = run(
        path, client=client_for(sandbox), state=state_location,
        progress=LineProgress(sink),
    )  # fmt: skip
    imp, exp = result.jobs["imp"], result.jobs["exp"]
    assert imp.status is JobStatus.FAILED and imp.remote_job_id is None
    assert "may or may not exist" in imp.error and "not resubmitted" in imp.error
    assert exp.status is JobStatus.SUCCEEDED and exp.attempts == 2
    assert [p["job"] for p in sandbox.submissions()] == ["export_scheduled_sends"]
    assert "resubmitting" in sink.getvalue()


def test_fresh_starts_a_new_run_and_resume_true_with_nothing_to_resume_refuses(
    sandbox, client_for, write_manifest, state_location
) -> None:
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    client = client_for(sandbox)
    run_id = interrupted_run(path, state_location, {"exp": "export_scheduled_sends"})
    fresh = run(path, client=client, state=state_location, resume=False)
    assert fresh.run_id != run_id and fresh.succeeded

    # --resume insists: a new run here would submit every job again.
    with pytest.raises(RunSetupError, match=r"nothing to resume .* succeeded") as raised:
        run(path, client=client, state=state_location, resume=True)
    option = StateLocation(state_location).option()
    assert f"`sailjobs run {path}{option}` starts a new one" in str(raised.value)
    assert len(sandbox.submissions()) == 1


def test_the_timeout_counts_from_the_first_submission_across_processes(
    sandbox, client_for, write_manifest, state_location
) -> None:
    sandbox.faults.stick_next_jobs(1)
    client = client_for(sandbox)
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n  timeout: 5s\n"))
    run_id = interrupted_run(path, state_location, {"exp": "export_scheduled_sends"})
    info = client.submit_job({"job": "export_scheduled_sends"})
    with StateLocation(state_location).open() as state:
        state.record_intent(run_id, "exp", {}, attempts=1)
        state.record_submitted(run_id, "exp", info.job_id, "pending")
        # As if the first process had submitted it a minute ago.
        state._execute("UPDATE jobs SET submitted_at = ?", (time.time() - 60,))
    started = time.monotonic()
    result = run(path, client=client, state=state_location)
    assert result.jobs["exp"].status is JobStatus.TIMED_OUT
    assert time.monotonic() - started < 3.0


def test_a_changed_manifest_is_resumed_with_a_warning(
    sandbox, client_for, write_manifest, state_location
) -> None:
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    interrupted_run(path, state_location, {"exp": "export_scheduled_sends"})
    path.write_text(path.read_text() + "# edited\n")
    sink = io.StringIO()

    result = run(
        path, client=client_for(sandbox), state=state_location,
        progress=LineProgress(sink),
    )  # fmt: skip
    assert result.succeeded and result.run_id == "r-old"
    assert "changed since run r-old was interrupted" in sink.getvalue()


class _SlowFirstSubmittedHook:
    """Holds the loop in the first ``job_submitted`` call and looks at the run state then."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.seen: dict[str, str | None] | None = None

    @hookimpl
    def sailjobs_job_submitted(self, event: JobSubmitted) -> None:
        if self.seen is not None:
            return
        time.sleep(0.5)  # the other job's answer arrives meanwhile
        with StateLocation(self.location).open() as state:  # another connection
            (run,) = state.runs()
            self.seen = {job: r.remote_job_id for job, r in state.jobs(run.run_id).items()}


def test_a_job_id_is_stored_when_its_answer_arrives_even_while_the_loop_is_busy(
    sandbox, client_for, write_manifest, state_location
) -> None:
    path = write_manifest(
        manifest_text("a: {job: export_scheduled_sends}\nb: {job: export_scheduled_sends}\n")
    )
    probe = _SlowFirstSubmittedHook(state_location)
    get_plugin_manager().register(probe, name="slow-submitted")

    result = run(path, client=client_for(sandbox), state=state_location)

    assert result.succeeded and probe.seen is not None
    # Both job_ids were in the state while the loop was still busy with the first answer: a
    # crash then would not have left the second job looking unsent.
    assert probe.seen == {"a": result.jobs["a"].remote_job_id, "b": result.jobs["b"].remote_job_id}
