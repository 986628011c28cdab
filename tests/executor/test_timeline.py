"""A real run's timeline: each job from its submission to its end, then its actions."""

from __future__ import annotations

from typing import Any

from runner.builtin.reports import render_github_summary

GANTT_DATE = "%Y-%m-%d %H:%M:%S.%f"


def test_a_runs_timeline_puts_each_action_after_its_job(run_jobs: Any, tmp_path: Any) -> None:
    from datetime import datetime

    result = run_jobs(
        """\
        vip:
          job: export_list_data
          list: VIP
          on_success:
            - download: {path: vip.csv}
        after:
          job: export_list_data
          list: Engaged
          needs: [vip]
        """
    )
    (download,) = result.jobs["vip"].actions
    assert download.started_at is not None and download.finished_at is not None
    block = render_github_summary(result).split("```mermaid\n")[1].split("\n```")[0]
    spans = {}
    for line in block.splitlines():
        if " :" in line:
            meta = [part.strip() for part in line.split(" :", 1)[1].split(",")]
            start, end = (datetime.strptime(value, GANTT_DATE) for value in meta[-2:])
            spans[meta[-3]] = (start, end)
    assert set(spans) == {"j0", "j0a0", "j1"}
    vip, vip_download, after = spans["j0"], spans["j0a0"], spans["j1"]
    assert vip[0] <= vip[1] <= vip_download[0] <= vip_download[1] <= after[0] <= after[1]
