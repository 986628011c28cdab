"""The plugin manager: entry points, blocking, autoload off, and start-up errors for broken
plugins (each named, with how to fix it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin_dists import write_distribution

from runner import plugins
from runner.cli import cli
from runner.hookspecs import hookimpl
from runner.plugins import PluginError

GOOD_PLUGIN = """
    from runner.actions import ActionSettings, ActionType
    from runner.hookspecs import hookimpl

    seen = []

    class NoteSettings(ActionSettings):
        text: str

    class Note(ActionType):
        name = "note"
        settings_model = NoteSettings

        def run(self, settings, ctx):
            return {"text": settings.text}

    @hookimpl
    def sailjobs_action_types():
        return [Note()]

    @hookimpl
    def sailjobs_job_finished(result):
        seen.append(result)
"""


def test_entry_point_plugin_is_loaded_with_version_source_and_hooks(install):
    install("acme-notes", GOOD_PLUGIN, entry_name="notes", version="2.0.1")
    infos = {info.name: info for info in plugins.plugin_infos()}
    assert infos["notes"].version == "2.0.1"
    assert infos["notes"].source == "entry point (acme-notes)"
    assert infos["notes"].module == "acme_notes"
    assert infos["notes"].hooks == ("sailjobs_action_types", "sailjobs_job_finished")
    assert plugins.action_types()["note"].plugin == "notes"
    # Built-ins come first, then entry points.
    names = list(infos)
    assert names.index("runner.builtin.jobtypes") < names.index("notes")


def test_first_party_plugins_load_through_their_entry_points():
    infos = {info.name: info for info in plugins.plugin_infos()}
    for name, dist in plugins.FIRST_PARTY_ACTIONS.items():
        assert infos[name].source == f"entry point ({dist})"
        assert plugins.action_types()[name].plugin == name


def test_disable_plugins_blocks_by_name(monkeypatch):
    monkeypatch.setenv("SAILJOBS_DISABLE_PLUGINS", "email, runner.builtin.download")
    actions = plugins.action_types()
    assert "email" not in actions and "download" not in actions
    assert "chat" in actions
    assert plugins.blocked_plugins() == {
        "email": "entry point (sailjobs-email)",
        "runner.builtin.download": "built-in",
    }
    assert plugins.unknown_action_hint("email").endswith(
        "(the 'email' plugin is installed but disabled by SAILJOBS_DISABLE_PLUGINS)"
    )


def test_disable_plugins_names_unknown_entries(monkeypatch):
    monkeypatch.setenv("SAILJOBS_DISABLE_PLUGINS", "emial")
    assert plugins.unknown_disabled_names() == ["emial"]


def test_autoload_off_keeps_only_builtins(monkeypatch):
    monkeypatch.setenv("SAILJOBS_DISABLE_PLUGIN_AUTOLOAD", "1")
    listed = CliRunner().invoke(cli, ["plugins"]).output
    assert "note: entry points not loaded (SAILJOBS_DISABLE_PLUGIN_AUTOLOAD is set)" in listed
    assert "entry point (" not in listed
    sources = {info.source for info in plugins.plugin_infos()}
    assert sources == {"built-in"}
    assert "s3" not in plugins.action_types()
    assert "SAILJOBS_DISABLE_PLUGIN_AUTOLOAD is set" in plugins.unknown_action_hint("s3")


def test_unknown_action_suggests_a_close_name():
    assert plugins.unknown_action_hint("emial").endswith("(did you mean 'email'?)")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            """
            from runner.hookspecs import hookimpl

            @hookimpl
            def sailjobs_job_finshed(result):
                pass
            """,
            "plugin 'broken': sailjobs_job_finshed is not a sailjobs hook "
            "(did you mean sailjobs_job_finished?)",
        ),
        (
            """
            def sailjobs_run_finished(result):
                pass
            """,
            "plugin 'broken': sailjobs_run_finished is not marked with @hookimpl",
        ),
        (
            """
            from runner.hookspecs import hookimpl

            @hookimpl
            def sailjobs_job_finished(job):
                pass
            """,
            "plugin 'broken': Plugin 'broken' for hook 'sailjobs_job_finished'",
        ),
        (
            """
            from runner.hookspecs import hookimpl

            @hookimpl(wrapper=True)
            def sailjobs_run_finished(result):
                yield
            """,
            "plugin 'broken': sailjobs_run_finished is a hook wrapper",
        ),
        (
            """
            import no_such_module_here
            """,
            "plugin 'broken' (entry point 'acme_broken' of acme-broken 1.2.3) cannot be "
            "loaded: ModuleNotFoundError",
        ),
    ],
    ids=["misspelled", "unmarked", "bad-argument", "wrapper", "import-error"],
)
def test_broken_plugin_is_an_error_at_start_up(install, source, message):
    install("acme-broken", source, entry_name="broken")
    with pytest.raises(PluginError) as caught:
        plugins.get_plugin_manager()
    assert message in str(caught.value)


def test_import_error_says_how_to_skip_the_plugin(install):
    install("acme-broken", "raise RuntimeError('boom')\n", entry_name="broken")
    with pytest.raises(PluginError) as caught:
        plugins.get_plugin_manager()
    text = str(caught.value)
    assert "RuntimeError: boom" in text
    assert "pip uninstall acme-broken" in text
    assert "SAILJOBS_DISABLE_PLUGINS=broken" in text


def test_a_broken_plugin_can_be_disabled(install, monkeypatch):
    install("acme-broken", "raise RuntimeError('boom')\n", entry_name="broken")
    monkeypatch.setenv("SAILJOBS_DISABLE_PLUGINS", "broken")
    assert "broken" in plugins.blocked_plugins()


def test_two_plugins_registering_the_same_action(install):
    install("acme-notes", GOOD_PLUGIN, entry_name="notes")
    install("acme-notes-fork", GOOD_PLUGIN, entry_name="notes-fork")
    with pytest.raises(PluginError, match="action 'note' is registered by both"):
        plugins.action_types()


def test_two_distributions_with_the_same_plugin_name(install):
    install("acme-notes", GOOD_PLUGIN, entry_name="notes")
    install("other-notes", GOOD_PLUGIN, entry_name="notes")
    with pytest.raises(PluginError, match="plugin name 'notes' is provided by both"):
        plugins.get_plugin_manager()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('raise KeyError("settings")', "plugin 'raiser' failed in sailjobs_action_types"),
        ('return ["email"]', "returned 'email', not a ActionType instance"),
    ],
    ids=["raises", "returns-a-string"],
)
def test_a_broken_action_types_hook_is_named(install, body, message):
    source = f"""
        from runner.hookspecs import hookimpl

        @hookimpl
        def sailjobs_action_types():
            {body}
    """
    install("acme-raiser", source, entry_name="raiser")
    with pytest.raises(PluginError, match=re.escape(message)):
        plugins.action_types()


def test_a_hook_call_isolates_a_raising_plugin_and_names_the_job(install):
    from plugin_results import make_job

    raising = """
        from runner.hookspecs import hookimpl

        @hookimpl
        def sailjobs_job_finished(result):
            raise ValueError("disk full")
    """
    install("acme-raiser", raising, entry_name="raiser")
    install("acme-notes", GOOD_PLUGIN, entry_name="notes")
    import acme_notes

    job = make_job("export-main")
    failures = plugins.hooks().job_finished(job)
    assert acme_notes.seen == [job]  # the other plugin's hook still ran
    [failure] = failures
    assert failure.plugin == "raiser"
    assert failure.describe() == (
        "plugin 'raiser' failed in sailjobs_job_finished while handling job 'export-main': "
        "ValueError: disk full"
    )


# Hookspecs that are not notifications, each with where it is called instead of the facade.
CALLED_ELSEWHERE = {
    "sailjobs_job_types": "runner.plugins.job_types()",
    "sailjobs_action_types": "runner.plugins.action_types()",
    "sailjobs_register_commands": "runner.plugins.register_commands()",
    "sailjobs_sandbox_job_kinds": "runner.plugins.sandbox_job_kinds()",
}


def test_every_notification_hook_has_a_typed_facade_method():
    """A new hookspec needs its ``Hooks`` method (or a line above), with the spec's arguments."""
    import inspect

    from runner import hookspecs

    specs = {name for name in dir(hookspecs) if name.startswith(plugins.HOOK_PREFIX)}
    methods = {
        name
        for name in vars(plugins.Hooks)
        if not name.startswith("_") and callable(getattr(plugins.Hooks, name))
    }
    assert set(CALLED_ELSEWHERE) <= specs
    notifications = specs - set(CALLED_ELSEWHERE)
    assert {plugins.HOOK_PREFIX + name for name in methods} == notifications
    for name in methods:
        spec = inspect.signature(getattr(hookspecs, plugins.HOOK_PREFIX + name))
        method = inspect.signature(getattr(plugins.Hooks, name))
        assert list(method.parameters)[1:] == list(spec.parameters), name
        for argument, parameter in spec.parameters.items():
            assert method.parameters[argument].annotation == parameter.annotation, name


def test_plugins_command_lists_version_source_hooks_and_actions(install):
    install("acme-notes", GOOD_PLUGIN, entry_name="notes", version="2.0.1")
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    notes = next(i for i, line in enumerate(lines) if line.startswith("notes "))
    assert lines[notes].split() == [
        "notes",
        "2.0.1",
        "entry",
        "point",
        "(acme-notes)",
        "(acme_notes)",
    ]
    assert lines[notes + 1] == "  hooks: sailjobs_action_types, sailjobs_job_finished"
    assert lines[notes + 2] == "  actions: note"
    assert any(line.startswith("runner.builtin.jobtypes ") for line in lines)
    types_line = next(line for line in lines if line.startswith("  job types: "))
    assert "export_list_data, export_purchase_log" in types_line


def test_plugins_command_json(monkeypatch):
    monkeypatch.setenv("SAILJOBS_DISABLE_PLUGINS", "chat")
    result = CliRunner().invoke(cli, ["plugins", "--format", "json"])
    data = json.loads(result.output)
    by_name = {plugin["name"]: plugin for plugin in data["plugins"]}
    assert by_name["s3"]["distribution"] == "sailjobs-s3"
    assert by_name["s3"]["actions"] == ["s3"]
    assert data["blocked"] == {"chat": "entry point (sailjobs-chat)"}
    assert data["entry_points"] is True


def test_broken_plugin_is_one_line_and_exit_2_on_the_command_line(tmp_path):
    source = """
        from runner.hookspecs import hookimpl

        @hookimpl
        def sailjobs_run_finshed(result):
            pass
    """
    root = write_distribution(tmp_path, "acme-typo", {"acme_typo": source}, {"typo": "acme_typo"})
    env = {**os.environ, "PYTHONPATH": str(root)}
    sailjobs = Path(sys.executable).parent / "sailjobs"
    for command in (["validate", "manifests/demo.yaml"], ["plan", "manifests/demo.yaml"]):
        done = subprocess.run(
            [str(sailjobs), *command], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()  # one line, no traceback
        assert line.endswith(
            "plugin 'typo': sailjobs_run_finshed is not a sailjobs hook (did you mean "
            "sailjobs_run_finished?); hook names are listed in runner/hookspecs.py and "
            "`sailjobs plugins`"
        )


def test_plugins_registered_in_process_are_listed_too():
    class Inline:
        @hookimpl
        def sailjobs_run_finished(self, result):
            pass

    plugins.get_plugin_manager().register(Inline(), name="inline")
    [info] = [info for info in plugins.plugin_infos() if info.name == "inline"]
    assert (info.source, info.hooks) == ("registered in-process", ("sailjobs_run_finished",))


def test_schema_has_the_plugin_actions_settings():
    result = CliRunner().invoke(cli, ["schema", "--with-plugins"])
    definitions = json.loads(result.output)["definitions"]
    email = definitions["action_email"]["properties"]
    assert {"to", "from", "password_env"} <= set(email) and "password" not in email
    kind = definitions["action_chat"]["properties"]["kind"]["anyOf"][0]
    assert kind["enum"] == ["slack", "teams", "webhook"]
    assert "kms_key_id" in definitions["action_s3"]["properties"]


def test_tracing_logs_each_hook_call_with_its_outcome(install, monkeypatch, caplog):
    import logging

    from plugin_results import make_job

    install("acme-notes", GOOD_PLUGIN, entry_name="notes")
    monkeypatch.setenv("SAILJOBS_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="sailjobs.plugins"):
        plugins.hooks().job_finished(make_job("export-main"))
    [record] = [r for r in caplog.records if "notes" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        r"plugin 'notes' sailjobs_job_finished \(job 'export-main'\): ok in [0-9.]+ ms",
        record.getMessage(),
    )


BAD_SIGNATURE = """
    from runner.hookspecs import hookimpl

    @hookimpl
    def sailjobs_job_finished(job):
        pass
"""


def test_plugins_command_lists_broken_plugins_with_their_error_and_how_to_disable_them(
    tmp_path: Path,
) -> None:
    # Issue 13: the error of a broken plugin recommends `sailjobs plugins`, which failed with
    # the same error; it lists the others, then each broken one and how to run without it.
    root = write_distribution(
        tmp_path, "acme-boom", {"acme_boom": "raise RuntimeError('boom')\n"}, {"boom": "acme_boom"}
    )
    write_distribution(root, "acme-sig", {"acme_sig": BAD_SIGNATURE}, {"sig": "acme_sig"})
    write_distribution(root, "acme-notes", {"acme_notes": GOOD_PLUGIN}, {"notes": "acme_notes"})
    env = {**os.environ, "PYTHONPATH": str(root), "SAILJOBS_DISABLE_PLUGINS": "chat"}
    sailjobs = str(Path(sys.executable).parent / "sailjobs")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sailjobs, *args], capture_output=True, text=True, env={**env, **extra}, timeout=60
        )

    listed = run("plugins")
    assert listed.returncode == 2, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith("notes ") for line in lines)  # the others are listed
    assert "  actions: note" in lines
    boom = lines.index("boom  BROKEN, left out  entry point (acme-boom)")
    assert lines[boom + 1].startswith(
        "  error: plugin 'boom' (entry point 'acme_boom' of acme-boom 1.2.3) cannot be loaded: "
        "RuntimeError: boom; "
    )
    assert lines[boom + 2] == "  to run without it: SAILJOBS_DISABLE_PLUGINS=chat,boom sailjobs …"
    sig = lines.index("sig  BROKEN, left out  entry point (acme-sig)")
    assert lines[sig + 1] == (
        "  error: plugin 'sig': Plugin 'sig' for hook 'sailjobs_job_finished'; hookimpl "
        "definition: sailjobs_job_finished(job); Argument(s) {'job'} are declared in the "
        "hookimpl but can not be found in the hookspec; a hook may take only the arguments "
        "its spec names (runner/hookspecs.py)"
    )
    assert "to run without all of them: SAILJOBS_DISABLE_PLUGINS=chat,boom,sig sailjobs …" in lines
    # The hook names the misspelled-hook error says `sailjobs plugins` lists.
    assert "sailjobs_run_finished" in lines[-1] and lines[-1].startswith("hooks a plugin can")

    data = json.loads(run("plugins", "--format", "json").stdout)
    assert set(data["broken"]) == {"boom", "sig"}
    assert data["broken"]["sig"]["disable"] == "SAILJOBS_DISABLE_PLUGINS=chat,sig"

    # The advice is a promise: with both disabled, the other commands work again.
    assert run("validate", "manifests/demo.yaml").returncode == 2
    fixed = run("validate", "manifests/demo.yaml", SAILJOBS_DISABLE_PLUGINS="chat,boom,sig")
    assert fixed.returncode == 0, fixed.stderr
    assert run("plugins", SAILJOBS_DISABLE_PLUGINS="chat,boom,sig").returncode == 0
