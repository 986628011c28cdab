"""`make demo-notify`: the demo-notify manifest on the embedded sandbox, its summary emailed
to the local inbox's SMTP server and posted to its webhook receiver."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_demo_notify_emails_and_posts_to_the_local_inbox(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(ROOT / "manifests" / "demo-notify.yaml", manifests)  # exports land in tmp_path
    sailjobs = str(Path(sys.executable).parent / "sailjobs")
    done = subprocess.run(
        [sys.executable, str(ROOT / "plugins" / "demo_inbox.py"), sailjobs, "run",
         str(manifests / "demo-notify.yaml"), "--sandbox", "--state", str(tmp_path / "st")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "--- demo inbox: 1 mail(s), 1 webhook post(s)" in out
    assert "mail to crm-team@example.com: [demo-notify] succeeded: 2 of 2 jobs succeeded" in out
    assert "OK        export-newsletter (export_list_data)" in out
    assert '"text": "demo-notify: succeeded"' in out
    assert (tmp_path / "exports" / "notify-vip.csv").is_file()
    assert "/services/demo/webhook" not in out.split("--- demo inbox")[0]  # masked in the run
