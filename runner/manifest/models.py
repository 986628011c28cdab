"""The pydantic models of a manifest, and pydantic errors turned into one clear line each.

``runner.manifest.loader`` reads a file into these; everything else (planner, executor, actions)
only ever sees them, with defaults already applied.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from runner.durations import Duration, format_duration

JOB_ID_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A tag is one word of a `--select tag:NAME`: no spaces (they separate selectors), no
# `:` or `+` (graph operators).
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class RetryPolicy(BaseModel):
    """How a transient failure is retried: ``attempts`` in all, backoff from ``initial`` doubling up to ``max``."""

    model_config = _STRICT

    attempts: int = Field(default=5, ge=1, le=100, description="tries in all, the first included")
    initial: Duration = Field(
        default=timedelta(seconds=2), description="wait before the second try, e.g. 2s"
    )
    max: Duration = Field(default=timedelta(minutes=2), description="longest wait between tries")

    @model_validator(mode="after")
    def _initial_within_max(self) -> RetryPolicy:
        _check_initial_within_max(self.initial, self.max)
        return self


class PollPolicy(BaseModel):
    """How often a running job is polled: from ``initial`` growing up to ``max``."""

    model_config = _STRICT

    initial: Duration = Field(
        default=timedelta(seconds=5), description="shortest wait between status checks"
    )
    max: Duration = Field(
        default=timedelta(minutes=5), description="longest wait between status checks"
    )

    @model_validator(mode="after")
    def _initial_within_max(self) -> PollPolicy:
        _check_initial_within_max(self.initial, self.max)
        return self


def _check_initial_within_max(initial: timedelta, maximum: timedelta) -> None:
    if initial > maximum:
        raise ValueError(
            f"initial ({format_duration(initial)}) is longer than max "
            f"({format_duration(maximum)}); make max at least initial"
        )


class Defaults(BaseModel):
    """Settings that apply to every job unless the job sets its own."""

    model_config = _STRICT

    timeout: Duration = Field(
        default=timedelta(hours=3), description="longest a job may run, e.g. 90m or 3h"
    )
    retry: RetryPolicy = Field(
        default=RetryPolicy(), description="how transient failures are retried"
    )
    poll: PollPolicy = Field(default=PollPolicy(), description="how often running jobs are polled")
    report_email: str | None = Field(
        default=None, description="address Sailthru emails each job's report to"
    )
    postback_url: str | None = Field(
        default=None, description="URL Sailthru calls when each job finishes"
    )


def _env_name(name: str) -> str:
    if not re.fullmatch(ENV_NAME_PATTERN, name):
        raise ValueError(
            f"{name!r} is not an environment variable name; list names such as SLACK_WEBHOOK "
            "(letters, digits and _), not values"
        )
    return name


class Target(BaseModel):
    """Where a ``--target NAME`` run goes: its API, the env variables holding its key and
    secret, and the vars it overrides (``targets: {staging: …, production: …}``)."""

    model_config = _STRICT

    description: str | None = Field(default=None, description="what this target is")
    api_url: str | None = Field(
        default=None,
        description="the API's address (default: SAILTHRU_API_URL, else https://api.sailthru.com)",
    )
    api_key_env: Annotated[str, AfterValidator(_env_name)] = Field(
        default="SAILTHRU_API_KEY", description="the env variable holding this target's API key"
    )
    api_secret_env: Annotated[str, AfterValidator(_env_name)] = Field(
        default="SAILTHRU_API_SECRET",
        description="the env variable holding this target's API secret",
    )
    vars: dict[str, Any] = Field(
        default_factory=dict, description="values that override the manifest's vars"
    )


class ActionSpec(BaseModel):
    """One ``- name: {settings}`` item of an action list.

    ``settings`` are raw (they may hold ``${{ }}``) and exclude ``continue_on_error``;
    ``path`` is the item's place in the manifest, for positions.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    settings: dict[str, Any] = Field(default_factory=dict)
    continue_on_error: bool = False
    path: tuple[str | int, ...] = ()
    # ``if:``: a ``${{ }}`` text (or true/false once known), and the words as written.
    condition: str | bool | None = None
    condition_text: str | None = None


class ActionLists(BaseModel):
    """The actions run when a job (or the whole run, for ``notify``) ends."""

    model_config = ConfigDict(frozen=True)

    on_success: list[ActionSpec] = Field(default_factory=list)
    on_failure: list[ActionSpec] = Field(default_factory=list)
    always: list[ActionSpec] = Field(default_factory=list)

    def all(self) -> list[tuple[str, ActionSpec]]:
        """(when, action) of every action, in list order."""
        return [
            (when, action)
            for when in ("on_success", "on_failure", "always")
            for action in getattr(self, when)
        ]


ACTION_LISTS = ("on_success", "on_failure", "always")


class JobSpec(BaseModel):
    """One job, defaults already applied."""

    model_config = ConfigDict(frozen=True)

    id: str
    job: str  # the job type's API name
    params: dict[str, Any]  # the API payload without ``job`` and without runner keys
    needs: list[str] = Field(default_factory=list)
    timeout: timedelta = timedelta(hours=3)
    retry: RetryPolicy = RetryPolicy()
    poll: PollPolicy = PollPolicy()
    on_success: list[ActionSpec] = Field(default_factory=list)
    on_failure: list[ActionSpec] = Field(default_factory=list)
    always: list[ActionSpec] = Field(default_factory=list)
    preflight: Literal["on", "warn", "off"] = "on"
    split: bool = False
    confirm: bool = False  # a job type that deletes data runs only with confirm: true
    tags: list[str] = Field(default_factory=list)
    # ``if:``: a ``${{ }}`` text (or true/false once known), and the words as written.
    condition: str | bool | None = None
    condition_text: str | None = None
    # A ``for_each`` instance (``export-lists[VIP]``): its job's id and its value.
    family: str | None = None
    each: str | int | None = None

    @property
    def actions(self) -> ActionLists:
        return ActionLists.model_construct(
            on_success=self.on_success, on_failure=self.on_failure, always=self.always
        )


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    name: str
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    concurrency: int = Field(default=4, ge=1)
    fail_fast: bool = False
    jobs: dict[str, JobSpec]
    notify: ActionLists = ActionLists()
    # Env names whose values are masked like the API secret (README: What is masked).
    secrets: frozenset[str] = frozenset()
    targets: dict[str, Target] = Field(default_factory=dict)


def _target_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"invalid target name {name!r}; use letters, digits, '_' and '-'")
    return name


# What a manifest's top level and a job's runner keys may hold, as read from YAML.
class ManifestHeader(BaseModel):
    model_config = _STRICT

    version: Literal[1] = Field(description="the manifest format version: 1")
    name: str = Field(min_length=1, description="the pipeline's name, shown in plans and reports")
    description: str | None = None
    vars: dict[str, Any] = Field(
        default_factory=dict, description="values read by ${{ vars.<name> }}"
    )
    defaults: Defaults = Defaults()
    concurrency: int = Field(default=4, ge=1, le=64, description="jobs running at once")
    fail_fast: bool = Field(default=False, description="stop submitting after the first failure")
    jobs: dict[str, Any] = Field(description="job id → job (the API payload plus runner keys)")
    notify: dict[str, Any] | None = Field(default=None, description="actions run at the end")
    secrets: list[Annotated[str, AfterValidator(_env_name)]] = Field(
        default_factory=list,
        description="env variable names whose values are secrets, masked in every output",
    )
    targets: dict[Annotated[str, AfterValidator(_target_name)], Target] = Field(
        default_factory=dict,
        description="accounts a run can go to, picked with --target NAME",
    )


class RetryOverride(BaseModel):
    model_config = _STRICT

    attempts: int | None = Field(
        default=None, ge=1, le=100, description="tries in all, the first included"
    )
    initial: Duration | None = Field(default=None, description="wait before the second try")
    max: Duration | None = Field(default=None, description="longest wait between tries")


class PollOverride(BaseModel):
    model_config = _STRICT

    initial: Duration | None = Field(
        default=None, description="shortest wait between status checks"
    )
    max: Duration | None = Field(default=None, description="longest wait between status checks")


def _tag_name(value: str) -> str:
    if not re.fullmatch(TAG_PATTERN, value):
        raise ValueError(
            f"invalid tag {value!r}; use letters, digits, '-', '_' or '.' (e.g. nightly)"
        )
    return value


Tag = Annotated[str, AfterValidator(_tag_name), Field(json_schema_extra={"pattern": TAG_PATTERN})]


class JobRunnerKeys(BaseModel):
    """The keys of a job that sailjobs reads; every other key is an API parameter."""

    model_config = ConfigDict(frozen=True, strict=True)

    job: str = Field(description="the Sailthru job type")
    needs: list[str] | str = Field(default_factory=list, description="jobs that must succeed first")
    timeout: Duration | None = Field(
        default=None, description="longest this job may run (defaults.timeout otherwise)"
    )
    retry: RetryOverride | None = Field(default=None, description="this job's retry settings")
    poll: PollOverride | None = Field(default=None, description="this job's poll settings")
    on_success: list[Any] | None = Field(default=None, description="actions after success")
    on_failure: list[Any] | None = Field(default=None, description="actions after a failure")
    always: list[Any] | None = Field(default=None, description="actions after either outcome")
    preflight: Literal["on", "warn", "off"] = Field(
        default="on", description="file checks before upload: on (refuse), warn, off"
    )
    split: bool = Field(
        default=False,
        description="a range over the type's limit (export_purchase_log over 31 days): run "
        "it in parts",
    )
    confirm: bool = Field(
        default=False,
        description="true: run a job type that deletes data (list_erase, delete_content), "
        "written into the reviewed manifest",
    )
    tags: list[Tag] = Field(
        default_factory=list, description="names for `--select tag:NAME` (e.g. nightly)"
    )
    if_: str | bool | None = Field(
        default=None,
        alias="if",
        description="run the job only when this expression is true (e.g. vars.env == 'prod')",
    )
    for_each: list[Any] | str | None = Field(
        default=None,
        description="one job per value: export-lists[VIP], reading ${{ each.value }}",
    )


RUNNER_KEYS = frozenset(field.alias or name for name, field in JobRunnerKeys.model_fields.items())
NOTIFY_KEYS = frozenset(ACTION_LISTS)


# --- pydantic errors → messages ------------------------------------------------------------

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list",
    "none_required": "nothing (null)",
}
_YAML11_WORDS = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO"}


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
    """The part of a pydantic ``loc`` that names values in the data (not union members)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            break
        node = node[part]
        path.append(part)
    return tuple(path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_message(error: dict[str, Any], allowed: list[str]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"missing required key {error['loc'][-1]!r}"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key {key!r}; {hint}allowed: {', '.join(allowed)}"
    if kind == "literal_error":
        return f"expected {error['ctx']['expected']}, got {_short(value)}"
    if kind == "greater_than_equal":
        return f"expected at least {error['ctx']['ge']}, got {_short(value)}"
    if kind == "less_than_equal":
        return f"expected at most {error['ctx']['le']}, got {_short(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:] + f", got {_short(value)}"


def _hint(kinds: set[str], value: Any) -> str:
    if kinds & {"bool_type", "bool_parsing"} and isinstance(value, str) and value in _YAML11_WORDS:
        return f" ({value!r} is text in YAML 1.2, not a boolean: write true or false)"
    if "int_type" in kinds and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return " (remove the quotes)"
    if "string_type" in kinds and isinstance(value, int | float) and not isinstance(value, bool):
        return f' (quote it: "{value}")'
    return ""


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model a ``loc`` points into (for the keys an unknown-key message lists)."""
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        candidates = getattr(annotation, "__args__", (annotation,))
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model


def validation_messages(
    exc: ValidationError,
    data: Any,
    *,
    allowed: list[str],
    skip_expressions: bool = False,
    model: type[BaseModel] | None = None,
) -> list[tuple[tuple[str | int, ...], str, bool]]:
    """(path in ``data``, message, points-at-key) per problem, one per path.

    ``skip_expressions`` drops errors about values holding ``${{ }}``: they are checked
    once resolved. ``allowed`` lists the keys named by an unknown-key message at the top;
    deeper ones list the fields of the nested ``model`` they are in.
    """
    grouped: dict[tuple[str | int, ...], list[Any]] = {}
    for error in exc.errors(include_url=False):
        value = error.get("input")
        if (
            skip_expressions
            and isinstance(value, str)
            and "${{" in value
            and error["type"] not in ("extra_forbidden", "missing")
        ):
            continue
        if error["type"] in ("missing", "extra_forbidden"):
            path = tuple(error["loc"])
        else:
            path = _data_path(tuple(error["loc"]), data)
        grouped.setdefault(path, []).append(error)
    results = []
    for path, errors in grouped.items():
        kinds = {error["type"] for error in errors}
        value = errors[0].get("input")
        others = [error for error in errors if error["type"] not in _EXPECTED]
        keys = allowed
        if others and others[0]["type"] == "extra_forbidden" and len(path) > 1:
            nested = _model_at(model, path[:-1])
            keys = list(nested.model_fields) if nested else allowed
        if others:
            message = _one_message(others[0], keys)
        else:
            expected = list(dict.fromkeys(_EXPECTED[error["type"]] for error in errors))
            message = f"expected {' or '.join(expected)}, got {_short(value)}"
        points_at_key = bool(kinds & {"extra_forbidden", "missing"})
        results.append((path, message + _hint(kinds, value), points_at_key))
    return results
