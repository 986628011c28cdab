"""The plugin manager: built-ins first, then the ``sailjobs`` entry points, one registry.

``SAILJOBS_DISABLE_PLUGINS=a,b`` blocks plugins by name (entry-point name, or the module
name of a built-in); ``SAILJOBS_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points. A hook
implementation whose name matches no hookspec (a typo) is an error at start-up.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from runner import __version__, hookspecs

if TYPE_CHECKING:
    from runner.actions import ActionType
    from runner.jobtypes import JobType

log = logging.getLogger("sailjobs.plugins")

ENTRY_POINT_GROUP = "sailjobs"
# Registered through the same hook calls as third-party plugins (datasette's DEFAULT_PLUGINS).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "runner.builtin.jobtypes",
    "runner.builtin.reports",
)
# Actions we ship as separate distributions: named when a manifest uses one not installed.
FIRST_PARTY_ACTIONS = {"email": "sailjobs-email", "chat": "sailjobs-chat", "s3": "sailjobs-s3"}

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


class PluginError(Exception):
    """A plugin is broken in a way the user must fix (a clash, a misspelled hook)."""


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


@dataclass(frozen=True)
class HookFailure:
    """A plugin's hook implementation raised; reported, never fatal to the run."""

    plugin: str
    hook: str
    error: BaseException

    def describe(self, subject: str = "") -> str:
        where = f" while handling {subject}" if subject else ""
        return f"plugin {self.plugin!r} failed in {self.hook}{where}: {self.error}"


def _disabled_names() -> set[str]:
    raw = os.environ.get("SAILJOBS_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _build_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in _disabled_names():
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if pm.is_blocked(module_name):
            continue
        pm.register(importlib.import_module(module_name), name=module_name)
    if os.environ.get("SAILJOBS_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes"):
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"{exc} (hook names must match one in runner/hookspecs.py; see `sailjobs plugins`)"
        ) from exc
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = _build_manager()
        return _manager


def reset_plugin_manager() -> None:
    """Forget the manager (tests, and after installing a plugin in-process)."""
    global _manager
    with _lock:
        _manager = None
        _job_types_cache.clear()
        _action_types_cache.clear()


def _per_plugin_results(hook_name: str) -> list[tuple[str, Any]]:
    """Call a collecting hook once per implementation, keeping which plugin said what."""
    pm = get_plugin_manager()
    caller = getattr(pm.hook, hook_name)
    results = []
    for impl in caller.get_hookimpls():
        for item in impl.function() or ():
            results.append((impl.plugin_name, item))
    return results


_job_types_cache: dict[str, JobType] = {}
_action_types_cache: dict[str, RegisteredAction] = {}


def job_types() -> dict[str, JobType]:
    """Every registered job type by its API name."""
    with _lock:
        if _job_types_cache:
            return dict(_job_types_cache)
    found: dict[str, tuple[str, JobType]] = {}
    for plugin, job_type in _per_plugin_results("sailjobs_job_types"):
        if job_type.name in found:
            raise PluginError(
                f"job type {job_type.name!r} is registered by both {found[job_type.name][0]!r} "
                f"and {plugin!r}; disable one with SAILJOBS_DISABLE_PLUGINS"
            )
        found[job_type.name] = (plugin, job_type)
    with _lock:
        _job_types_cache.update({name: jt for name, (_, jt) in found.items()})
        return dict(_job_types_cache)


def action_types() -> dict[str, RegisteredAction]:
    """Every registered action type by name, with the plugin that provides it."""
    with _lock:
        if _action_types_cache:
            return dict(_action_types_cache)
    found: dict[str, RegisteredAction] = {}
    for plugin, action in _per_plugin_results("sailjobs_action_types"):
        if action.name in found:
            raise PluginError(
                f"action {action.name!r} is registered by both {found[action.name].plugin!r} "
                f"and {plugin!r}; disable one with SAILJOBS_DISABLE_PLUGINS"
            )
        found[action.name] = RegisteredAction(action, plugin)
    with _lock:
        _action_types_cache.update(found)
        return dict(_action_types_cache)


def unknown_action_hint(name: str) -> str:
    """Why an action name is unknown and what would provide it."""
    installed = ", ".join(sorted(action_types())) or "none"
    hint = f"unknown action {name!r}; installed actions: {installed}"
    if name in FIRST_PARTY_ACTIONS:
        hint += f" (install the {FIRST_PARTY_ACTIONS[name]!r} plugin to get {name!r})"
    return hint


def call_hook(hook_name: str, **kwargs: Any) -> list[HookFailure]:
    """Call every implementation of a notification hook; one that raises doesn't stop the rest."""
    pm = get_plugin_manager()
    failures = []
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as exc:
            failure = HookFailure(impl.plugin_name, hook_name, exc)
            log.error("%s", failure.describe())
            failures.append(failure)
    return failures


def plugin_infos() -> list[PluginInfo]:
    """Every registered plugin with its version, where it came from and the hooks it implements."""
    pm = get_plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        dist = dists.get(id(plugin))
        if dist is not None:
            version, source = dist.version, f"entry point ({dist.project_name})"
        else:
            version, source = __version__, "built-in"
        infos.append(PluginInfo(name, version, source, hooks))
    return infos
