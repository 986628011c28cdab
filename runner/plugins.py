"""The plugin manager: built-ins first, then the ``sailjobs`` entry points, one registry.

``SAILJOBS_DISABLE_PLUGINS=a,b`` blocks plugins by name (entry-point name, or the module
name of a built-in); ``SAILJOBS_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points;
``SAILJOBS_TRACE_PLUGINS=1`` logs every notification hook call with its time. Everything
a plugin can get wrong is an error at start-up, with the plugin's name and how to fix it
(``PluginError``): an entry point that fails to import, a hook function whose name matches
no hookspec (a typo) or that lacks ``@hookimpl``, a hook argument the spec does not have,
two plugins registering the same job type or action. At run time the notification hooks are
called through a typed facade, ``hooks()`` (``hooks().job_finished(result)``, never a hook's
name as a string); one that raises is reported (``HookFailure``) and the other plugins' hooks
still run.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pluggy

from runner import __version__, hookspecs
from runner.masking import mask, register_env_secrets

if TYPE_CHECKING:
    from collections.abc import Callable

    from runner.actions import ActionType
    from runner.jobtypes import JobType
    from runner.results import JobResult, JobSubmitted, RunResult

log = logging.getLogger("sailjobs.plugins")

ENTRY_POINT_GROUP = "sailjobs"
# Registered through the same hook calls as third-party plugins (datasette's DEFAULT_PLUGINS).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "runner.builtin.jobtypes",
    "runner.builtin.reports",
    "runner.builtin.download",
)
# Built-ins only a sandbox needs (its job kinds), registered when one starts: the command
# line never imports the sandbox otherwise.
SANDBOX_PLUGINS: tuple[str, ...] = ("runner.sandbox.builtinkinds",)
# Actions we ship as separate distributions: named when a manifest uses one not installed.
FIRST_PARTY_ACTIONS = {"email": "sailjobs-email", "chat": "sailjobs-chat", "s3": "sailjobs-s3"}
HOOK_PREFIX = "sailjobs_"
DISABLE_ENV = "SAILJOBS_DISABLE_PLUGINS"
NO_AUTOLOAD_ENV = "SAILJOBS_DISABLE_PLUGIN_AUTOLOAD"
TRACE_ENV = "SAILJOBS_TRACE_PLUGINS"

_lock = threading.RLock()


class PluginError(Exception):
    """A plugin is broken in a way the user must fix (a clash, a misspelled hook).

    ``plugin`` names the one plugin at fault, when there is one (`sailjobs plugins` lists it
    as broken and the others as usual)."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


@dataclass(frozen=True)
class RegisteredAction:
    action: ActionType
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    source: str  # "built-in" or "entry point (<distribution>)"
    hooks: tuple[str, ...]
    module: str = ""  # the import name of the plugin's module
    distribution: str | None = None  # None for built-ins


@dataclass(frozen=True)
class HookFailure:
    """A plugin's hook implementation raised; reported, never fatal to the run."""

    plugin: str
    hook: str
    error: BaseException
    subject: str = ""  # what it was handling, e.g. "job 'export-main'"

    def describe(self, subject: str = "") -> str:
        subject = subject or self.subject
        where = f" while handling {subject}" if subject else ""
        error = f"{type(self.error).__name__}: {self.error}"
        return mask(f"plugin {self.plugin!r} failed in {self.hook}{where}: {error}")


@dataclass
class _Registry:
    """The manager and what we learnt while building it."""

    manager: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)  # name -> source, found but blocked
    autoload: bool = True
    job_types: dict[str, JobType] | None = None
    job_type_owners: dict[str, str] = field(default_factory=dict)  # job type -> plugin
    action_types: dict[str, RegisteredAction] | None = None
    # Left out because broken (only by `load_skipping_broken`): name -> (source, error).
    broken: dict[str, tuple[str, str]] = field(default_factory=dict)


_registry: _Registry | None = None


def disabled_names() -> set[str]:
    """The plugin names listed in ``SAILJOBS_DISABLE_PLUGINS``."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def autoload_enabled() -> bool:
    return not _env_flag(NO_AUTOLOAD_ENV)


def _hook_names() -> set[str]:
    return {name for name in dir(hookspecs) if name.startswith(HOOK_PREFIX)}


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(_hook_names()), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_hook_functions(pm: pluggy.PluginManager, name: str, plugin: object) -> None:
    """Every ``sailjobs_*`` function of a plugin must be a marked, known hook."""
    hooks = _hook_names()
    for attribute in dir(plugin):
        if not attribute.startswith(HOOK_PREFIX):
            continue
        function = getattr(plugin, attribute, None)
        if not (inspect.isfunction(function) or inspect.ismethod(function)):
            continue
        marked = pm.parse_hookimpl_opts(plugin, attribute) is not None
        if attribute not in hooks:
            raise PluginError(
                f"plugin {name!r}: {attribute} is not a sailjobs hook{_suggest(attribute)}; "
                "hook names are listed in runner/hookspecs.py and `sailjobs plugins`",
                plugin=name,
            )
        if not marked:
            raise PluginError(
                f"plugin {name!r}: {attribute} is not marked with @hookimpl, so it would never "
                "be called; decorate it with `from runner.hookspecs import hookimpl`",
                plugin=name,
            )


def _register(
    pm: pluggy.PluginManager, registry: _Registry, plugin: object, info: PluginInfo
) -> None:
    _check_hook_functions(pm, info.name, plugin)
    try:
        pm.register(plugin, name=info.name)
    except pluggy.PluginValidationError as exc:
        pluggy_text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise PluginError(
            f"plugin {info.name!r}: {pluggy_text}; a hook may take only the arguments its spec "
            "names (runner/hookspecs.py)",
            plugin=info.name,
        ) from exc
    except ValueError as exc:  # the same name or object registered twice
        raise PluginError(
            f"plugin {info.name!r} cannot be registered: {exc}", plugin=info.name
        ) from exc
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                raise PluginError(
                    f"plugin {info.name!r}: {caller.name} is a hook wrapper; sailjobs hooks "
                    "are plain calls, drop wrapper=True/hookwrapper=True",
                    plugin=info.name,
                )
    registry.infos[info.name] = replace(info, hooks=_hooks_of(pm, plugin))


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))


def _load_builtins(
    pm: pluggy.PluginManager, registry: _Registry, names: tuple[str, ...] = DEFAULT_PLUGINS
) -> None:
    for module_name in names:
        if pm.has_plugin(module_name):
            continue  # the sandbox's, loaded when an earlier sandbox started
        if pm.is_blocked(module_name):
            registry.blocked[module_name] = "built-in"
            continue
        module = importlib.import_module(module_name)
        info = PluginInfo(module_name, __version__, "built-in", (), module_name)
        _register(pm, registry, module, info)


def _load_entry_points(pm: pluggy.PluginManager, registry: _Registry) -> None:
    seen: dict[str, str] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.name if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        name = entry_point.name
        if name in seen:
            if seen[name] == dist_name:  # the same distribution on sys.path twice
                continue
            raise PluginError(
                f"plugin name {name!r} is provided by both {seen[name]!r} and {dist_name!r}; "
                "uninstall one of them"
            )
        seen[name] = dist_name
        source = f"entry point ({dist_name})"
        if pm.is_blocked(name):
            registry.blocked[name] = source
            continue
        if pm.has_plugin(name):
            raise PluginError(
                f"plugin {name!r} from {dist_name!r} has the name of a built-in plugin; "
                "rename its entry point"
            )
        try:
            plugin = entry_point.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} (entry point {entry_point.value!r} of {dist_name} {version}) "
                f"cannot be loaded: {type(exc).__name__}: {mask(str(exc))}; fix it, uninstall "
                f"it (pip uninstall {dist_name}) or skip it with {DISABLE_ENV}={name}",
                plugin=name,
            ) from exc
        module = getattr(plugin, "__name__", entry_point.value)
        info = PluginInfo(name, version, source, (), module, dist_name)
        _register(pm, registry, plugin, info)


def _build_registry(broken: dict[str, str] | None = None) -> _Registry:
    """``broken``: plugins to leave out as if disabled (name -> why), and list as broken."""
    # Before any plugin's code runs: its error may quote a credential it read from the env,
    # in any command (validate, plan, plugins), not only in a run.
    register_env_secrets(os.environ)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = _Registry(pm, autoload=autoload_enabled())
    for name in disabled_names() | set(broken or ()):
        pm.set_blocked(name)
    _load_builtins(pm, registry)
    if registry.autoload:
        _load_entry_points(pm, registry)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:  # a marked function no hookspec knows
        raise PluginError(
            f"plugin {pm.get_name(exc.plugin)!r}: {exc}{_suggest(str(exc).split()[-1])}; hook names "
            "must match one in runner/hookspecs.py",
            plugin=pm.get_name(exc.plugin),
        ) from exc
    for name, error in (broken or {}).items():
        registry.broken[name] = (registry.blocked.pop(name, "?"), error)
    return registry


def load_skipping_broken() -> None:
    """Build the registry leaving out each broken plugin, for `sailjobs plugins`: the command
    every plugin error points to must list the others, and the broken ones with their error
    (``broken_plugins``), rather than fail as every other command does."""
    global _registry
    broken: dict[str, str] = {}
    with _lock:
        while True:
            try:
                if broken:  # else the registry as it is (plugins registered in-process too)
                    _registry = _build_registry(broken)
                job_types()
                action_types()
                return
            except PluginError as exc:
                _registry = None
                if exc.plugin is None or exc.plugin in broken:
                    raise
                broken[exc.plugin] = str(exc)


def _get_registry() -> _Registry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = _build_registry()
        return _registry


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use (``PluginError`` if a plugin is
    broken)."""
    return _get_registry().manager


def reset_plugin_manager() -> None:
    """Forget the manager (tests, and after installing a plugin in-process)."""
    global _registry
    with _lock:
        _registry = None


def _per_plugin_results(hook_name: str) -> list[tuple[str, Any]]:
    """Call a collecting hook once per implementation, keeping which plugin said what."""
    caller = getattr(get_plugin_manager().hook, hook_name)
    results: list[tuple[str, Any]] = []
    for impl in reversed(caller.get_hookimpls()):
        try:
            items = impl.function() or ()
            results.extend((impl.plugin_name, item) for item in items)
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name!r} failed in {hook_name}: "
                f"{type(exc).__name__}: {mask(str(exc))}; fix or disable it ({DISABLE_ENV})",
                plugin=impl.plugin_name,
            ) from exc
    return results


def register_commands(group: Any) -> None:
    """Let each plugin add its commands to the click ``group``; a plugin that raises is a
    ``PluginError`` naming it, with its text masked (not a traceback in ``sailjobs --help``)."""
    for impl in reversed(get_plugin_manager().hook.sailjobs_register_commands.get_hookimpls()):
        try:
            impl.function(**({"cli": group} if "cli" in impl.argnames else {}))
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name!r} failed in sailjobs_register_commands: "
                f"{type(exc).__name__}: {mask(str(exc))}; fix or disable it "
                f"({DISABLE_ENV}={impl.plugin_name})",
                plugin=impl.plugin_name,
            ) from exc


def _check_type(plugin: str, hook: str, item: Any, base: type, what: str) -> None:
    name = getattr(item, "name", None)
    if not isinstance(item, base) or not isinstance(name, str) or not name:
        raise PluginError(
            f"plugin {plugin!r}: {hook} returned {item!r}, not a {what} instance with a name",
            plugin=plugin,
        )


def _check_job_type_traits(plugin: str, job_type: JobType) -> None:
    """What the executor cannot honour: an upload under another name than ``file`` (the one
    multipart part the API takes), or a split job with a file (its parts carry no upload)."""
    others = [name for name in job_type.file_params if name != "file"]
    if others:
        raise PluginError(
            f"plugin {plugin!r}: job type {job_type.name!r} names {others[0]!r} in file_params; "
            "the API takes one upload, the multipart part `file`: name the parameter `file`",
            plugin=plugin,
        )
    if job_type.splitter is not None and job_type.file_params:
        raise PluginError(
            f"plugin {plugin!r}: job type {job_type.name!r} has a splitter and a file to upload; "
            "the parts of a split job carry no upload: drop one of them",
            plugin=plugin,
        )


def job_types() -> dict[str, JobType]:
    """Every registered job type by its API name."""
    # lazy: job types bring pydantic, which `sailjobs --help` and hooks calls never need
    from runner.jobtypes import JobType

    registry = _get_registry()
    with _lock:
        if registry.job_types is not None:
            return dict(registry.job_types)
        found: dict[str, tuple[str, JobType]] = {}
        for plugin, job_type in _per_plugin_results("sailjobs_job_types"):
            _check_type(plugin, "sailjobs_job_types", job_type, JobType, "JobType")
            _check_job_type_traits(plugin, job_type)
            if job_type.name in found:
                raise PluginError(
                    f"job type {job_type.name!r} is registered by both "
                    f"{found[job_type.name][0]!r} and {plugin!r}; disable one with {DISABLE_ENV}",
                    plugin=plugin,
                )
            found[job_type.name] = (plugin, job_type)
        registry.job_types = {name: job_type for name, (_, job_type) in found.items()}
        registry.job_type_owners = {name: plugin for name, (plugin, _) in found.items()}
        return dict(registry.job_types)


def sandbox_job_kinds(kind_base: type) -> dict[str, Any]:
    """Every registered sandbox job kind by its job name; ``kind_base`` is the sandbox's
    ``JobKind``, which this lower layer does not import. Loads the sandbox's own built-ins
    the first time."""
    registry = _get_registry()
    pm = registry.manager
    with _lock:
        _load_builtins(pm, registry, SANDBOX_PLUGINS)
        found: dict[str, tuple[str, Any]] = {}
        results = _per_plugin_results("sailjobs_sandbox_job_kinds")
        # The built-ins first, as with job types: a clash is the plugin's, named as such.
        results.sort(key=lambda result: result[0] not in SANDBOX_PLUGINS)
        for plugin, kind in results:
            job = getattr(kind, "job", None)
            if not isinstance(kind, kind_base) or not isinstance(job, str) or not job:
                raise PluginError(
                    f"plugin {plugin!r}: sailjobs_sandbox_job_kinds returned {kind!r}, not a "
                    "runner.sandbox.kinds.JobKind instance with a job name",
                    plugin=plugin,
                )
            if job in found:
                raise PluginError(
                    f"sandbox job kind {job!r} is registered by both {found[job][0]!r} and "
                    f"{plugin!r}; disable one with {DISABLE_ENV}",
                    plugin=plugin,
                )
            found[job] = (plugin, kind)
        return {job: kind for job, (_, kind) in found.items()}


def job_type_failure(job_type: str, method: str, exc: BaseException) -> str:
    """One line for an exception from a job type's own code (``check``, ``file_checks``, the
    splitter, ``completion_warning``): the job fails or warns with it, the run goes on."""
    owner = job_type_owners().get(job_type, "?")
    return mask(
        f"job type {job_type!r} (plugin {owner!r}) failed in {method}: "
        f"{type(exc).__name__}: {exc}; fix the plugin or disable it ({DISABLE_ENV}={owner})"
    )


def job_type_owners() -> dict[str, str]:
    """Which plugin registered each job type."""
    job_types()
    return dict(_get_registry().job_type_owners)


def action_types() -> dict[str, RegisteredAction]:
    """Every registered action type by name, with the plugin that provides it."""
    # lazy: action settings bring pydantic (see job_types)
    from runner.actions import ActionSettings, ActionType

    registry = _get_registry()
    with _lock:
        if registry.action_types is not None:
            return dict(registry.action_types)
        found: dict[str, RegisteredAction] = {}
        for plugin, action in _per_plugin_results("sailjobs_action_types"):
            _check_type(plugin, "sailjobs_action_types", action, ActionType, "ActionType")
            model = getattr(action, "settings_model", None)
            if not (isinstance(model, type) and issubclass(model, ActionSettings)):
                raise PluginError(
                    f"plugin {plugin!r}: action {action.name!r} has a settings_model that is "
                    "not a subclass of runner.actions.ActionSettings",
                    plugin=plugin,
                )
            if action.name in found:
                raise PluginError(
                    f"action {action.name!r} is registered by both "
                    f"{found[action.name].plugin!r} and {plugin!r}; disable one with {DISABLE_ENV}",
                    plugin=plugin,
                )
            found[action.name] = RegisteredAction(action, plugin)
        registry.action_types = found
        return dict(found)


def unknown_action_hint(name: str) -> str:
    """Why an action name is unknown and what would provide it."""
    registry = _get_registry()
    installed = ", ".join(sorted(action_types())) or "none"
    hint = f"unknown action {name!r}; installed actions: {installed}"
    if name in FIRST_PARTY_ACTIONS:
        if name in registry.blocked:
            hint += f" (the {name!r} plugin is installed but disabled by {DISABLE_ENV})"
        elif not registry.autoload:
            hint += f" (plugins from entry points are off: {NO_AUTOLOAD_ENV} is set)"
        else:
            hint += f" (install the {FIRST_PARTY_ACTIONS[name]!r} plugin to get {name!r})"
    else:
        close = difflib.get_close_matches(name, sorted(action_types()), n=1, cutoff=0.6)
        if close:
            hint += f" (did you mean {close[0]!r}?)"
    return hint


class Hooks:
    """The notification hooks as typed calls (tox's ``ToxHandler``): ``hooks.job_finished(result)``.

    One method per notification hookspec, with the spec's own argument names and types, so a
    misspelt hook or a wrong argument is a type error, not a string that matches nothing
    (``tests/plugins/test_plugin_manager.py`` checks every hookspec has its method). Each call
    runs every implementation in pluggy's order (last registered first, honouring tryfirst
    and trylast); one that raises does not stop the rest. Each returns the failures (each
    names the plugin and what it handled; tracebacks are logged at debug level), after
    handing each to ``on_failure``, where the caller reports them in one place.
    """

    def __init__(self, on_failure: Callable[[HookFailure], None] | None = None) -> None:
        self._on_failure = on_failure

    def run_started(self, run: RunResult) -> list[HookFailure]:
        return self._call("sailjobs_run_started", f"run {run.run_id}", {"run": run})

    def job_submitted(self, event: JobSubmitted) -> list[HookFailure]:
        return self._call("sailjobs_job_submitted", f"job {event.id!r}", {"event": event})

    def job_finished(self, result: JobResult) -> list[HookFailure]:
        return self._call("sailjobs_job_finished", f"job {result.id!r}", {"result": result})

    def run_finished(self, result: RunResult) -> list[HookFailure]:
        return self._call("sailjobs_run_finished", f"run {result.run_id}", {"result": result})

    def _call(self, hook_name: str, subject: str, kwargs: dict[str, object]) -> list[HookFailure]:
        caller: pluggy.HookCaller = getattr(get_plugin_manager().hook, hook_name)
        failures = []
        trace = log.info if tracing_enabled() else log.debug
        for impl in reversed(caller.get_hookimpls()):
            started = time.perf_counter()
            outcome = "ok"
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:
                failure = HookFailure(impl.plugin_name, hook_name, exc, subject)
                # The caller reports the failure (once); the traceback is for --verbose.
                log.debug("%s", failure.describe(), exc_info=True)
                failures.append(failure)
                outcome = f"raised {type(exc).__name__}"
            elapsed = (time.perf_counter() - started) * 1000
            trace(
                "plugin %r %s%s: %s in %.1f ms",
                impl.plugin_name,
                hook_name,
                f" ({subject})" if subject else "",
                outcome,
                elapsed,
            )
        if self._on_failure is not None:
            for failure in failures:
                self._on_failure(failure)
        return failures


def hooks(on_failure: Callable[[HookFailure], None] | None = None) -> Hooks:
    """The typed facade over the notification hooks; ``on_failure`` reports each failure."""
    return Hooks(on_failure)


def tracing_enabled() -> bool:
    """``SAILJOBS_TRACE_PLUGINS=1``: log every hook call (plugin, subject, outcome, time) at
    info level, so a slow or failing plugin shows in the run's output."""
    return _env_flag(TRACE_ENV)


def plugin_infos() -> list[PluginInfo]:
    """Every registered plugin with its version, where it came from and the hooks it implements
    (built-ins and entry points in load order, then any registered in-process). The
    sandbox's own built-ins are left out: they are registered only once a sandbox starts, and
    the list must not change with that (a plan file records it)."""
    registry = _get_registry()
    pm = registry.manager
    infos = [info for name, info in registry.infos.items() if name not in SANDBOX_PLUGINS]
    for name, plugin in pm.list_name_plugin():
        if plugin is None or name in registry.infos:
            continue
        module = getattr(plugin, "__name__", type(plugin).__module__)
        infos.append(PluginInfo(name, "-", "registered in-process", _hooks_of(pm, plugin), module))
    return infos


def broken_plugins() -> dict[str, tuple[str, str]]:
    """Plugins left out by ``load_skipping_broken``: name -> (source, what is wrong)."""
    return dict(_get_registry().broken)


def hook_names() -> list[str]:
    """The hooks a plugin may implement (runner/hookspecs.py)."""
    return sorted(_hook_names())


def blocked_plugins() -> dict[str, str]:
    """Plugins that were found but blocked by ``SAILJOBS_DISABLE_PLUGINS``: name -> source."""
    return dict(_get_registry().blocked)


def unknown_disabled_names() -> list[str]:
    """Names in ``SAILJOBS_DISABLE_PLUGINS`` that match no plugin (most likely a typo)."""
    registry = _get_registry()
    # The sandbox's built-ins load only when a sandbox starts: known names all the same.
    known = set(registry.blocked) | set(registry.infos) | set(SANDBOX_PLUGINS)
    return sorted(disabled_names() - known)


def entry_points_enabled() -> bool:
    """Whether the manager loaded the ``sailjobs`` entry points."""
    return _get_registry().autoload
