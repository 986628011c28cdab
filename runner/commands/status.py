"""``sailjobs status JOB_ID``: one GET /job, printed readably (or as JSON with ``--json``).

Credentials come from ``SAILTHRU_API_KEY`` / ``SAILTHRU_API_SECRET`` and the endpoint from
``SAILTHRU_API_URL``, as for ``sailjobs run``. An export URL is a capability (anyone holding
it can fetch the file), so it is shown as its host only unless ``--show-url`` is given.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from runner.exitcodes import ExitCode

# The fields every job has, shown first and in this order; the job's own fields follow.
LEADING_FIELDS = ("job_id", "name", "status", "start_time", "end_time", "export_url", "filename")
URL_FIELDS = frozenset({"export_url"})
_MANIFEST_JOB = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)+$")  # export-main, not abc123


def displayed_fields(fields: dict[str, Any], *, show_url: bool) -> dict[str, Any]:
    """The job's fields in display order, export URLs reduced to their host unless asked."""
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.masking import mask_data, redact_url

    ordered = {key: fields[key] for key in LEADING_FIELDS if key in fields}
    ordered |= {key: fields[key] for key in sorted(fields) if key not in ordered}
    shown: dict[str, Any] = {}
    for key, value in ordered.items():
        if key in URL_FIELDS and isinstance(value, str) and value:
            # The client registered the URL as a secret: print it raw only when asked.
            shown[key] = value if show_url else redact_url(value)
        else:
            shown[key] = mask_data(value)
    return shown


def job_id_hint(job_id: str) -> str:
    """What a job id looks like and where to find one (the API's own hint is about a POST's
    parameters, which `status` has none of)."""
    hint = (
        "check the job id: Sailthru gives each submitted job one, 24 hexadecimal characters "
        "such as 58487498e9328b50588b4b54; `sailjobs run` prints it (`running · job_id …`) "
        "and its --report JSON holds it as remote_job_id"
    )
    if not re.fullmatch(r"[0-9a-f]{24}", job_id):
        looks = " (it looks like a job's name in a manifest)" if _MANIFEST_JOB.match(job_id) else ""
        hint = f"{job_id!r} is not a Sailthru job id{looks}; {hint}"
    return hint


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job's fields as JSON.")
@click.option(
    "--show-url",
    is_flag=True,
    help="Print the export URL in full (anyone holding it can download the file).",
)
def status(job_id: str, as_json: bool, show_url: bool) -> None:
    """Print the status of one Sailthru job (a single GET /job).

    \b
    Credentials: SAILTHRU_API_KEY, SAILTHRU_API_SECRET; endpoint: SAILTHRU_API_URL.
    Exit codes: 0 the API answered, 1 the API returned an error, 2 missing credentials.
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.escaping import printable

    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.sailthru.client import SailthruClient
    from runner.sailthru.errors import ApiError, MissingCredentialsError

    try:
        client = SailthruClient.from_env()
    except MissingCredentialsError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    try:
        with client:
            info = client.get_job(job_id)
    except ApiError as exc:
        if exc.code in (2, 99) or exc.http_status == 404:  # about the id, not parameters
            exc = ApiError(
                exc.message,
                code=exc.code,
                http_status=exc.http_status,
                request=exc.request,
                hint=job_id_hint(job_id),
            )
        click.echo(printable(f"error: job {job_id}: {exc}"), err=True)
        raise SystemExit(ExitCode.JOB_FAILED) from None
    shown = displayed_fields(info.fields, show_url=show_url)
    if as_json:
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    width = max(len(key) for key in shown)
    for key, value in shown.items():
        line = f"{key:<{width}}  {_text_value(value)}"
        if key in URL_FIELDS and not show_url:
            line += "  (--show-url prints it)"
        click.echo(printable(line))  # the server's text, shown, never obeyed
