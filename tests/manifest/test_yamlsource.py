"""YAML with positions: the 1.2 core schema, duplicates, aliases, tags, encodings."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.manifest.yamlsource import (
    MAX_ALIAS_EXPANSION,
    MAX_ALIAS_TEXT,
    MAX_VALUES,
    format_path,
    load_yaml_file,
    load_yaml_text,
)


def test_scalars_follow_yaml_1_2_and_text_wins_where_1_1_disagrees():
    doc = load_yaml_text(
        "date: 2016-01-01\nyes_word: yes\noff_word: off\nnumber: 20160101\noctal: 0o17\n"
        "leading_zero: 017\nhex: 0x1f\nfloat: 1.5\nexp: 1.5e+3\nbare_exp: 1e3\n"
        "sexagesimal: 1:20\ntrue_: true\nTrue_: True\n"
        "null_: ~\nempty:\nquoted: '123'\ninf: .inf\n",
        "f.yaml",
    )
    assert doc.problems == []
    assert doc.data == {
        "date": "2016-01-01",
        "yes_word": "yes",
        "off_word": "off",
        "number": 20160101,
        "octal": "0o17",  # text in YAML 1.1: where 1.1 and 1.2 disagree, text wins
        "leading_zero": "017",  # octal 15 in 1.1, 17 in 1.2: a zip code or an id, text
        "hex": 31,
        "float": 1.5,
        "exp": 1500.0,
        "bare_exp": "1e3",
        "sexagesimal": "1:20",
        "true_": True,
        "True_": True,
        "null_": None,
        "empty": None,
        "quoted": "123",
        "inf": float("inf"),
    }


def test_keys_stay_text_as_written():
    doc = load_yaml_text("1: a\ntrue: b\nnull: c\n", "f.yaml")
    assert doc.data == {"1": "a", "true": "b", "null": "c"}


def test_duplicate_keys_are_problems_and_the_first_value_is_kept():
    doc = load_yaml_text("jobs:\n  a: 1\n  b: 2\n  a: 3\n", "f.yaml")
    assert doc.data == {"jobs": {"a": 1, "b": 2}}
    assert [p.render() for p in doc.problems] == [
        "f.yaml:4:3: jobs.a: duplicate key 'a' (first at line 2); each key may appear once: "
        "rename or remove one"
    ]


def test_merge_keys_are_supported_and_explicit_keys_win():
    doc = load_yaml_text("base: &b {x: 1, y: 2}\nj:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert doc.problems == []
    assert doc.data["j"] == {"x": 1, "y": 3}


def test_an_alias_bomb_fails_fast_with_one_problem():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    started = time.perf_counter()
    doc = load_yaml_text("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - started < 5  # generous: the point is it does not hang
    assert doc.data is None
    assert len(doc.problems) == 1
    assert f"more than {MAX_ALIAS_EXPANSION:,} values" in doc.problems[0].message


def test_aliases_of_a_scalar_count_towards_the_alias_limit():
    aliases = ", ".join(["*s"] * (MAX_ALIAS_EXPANSION + 1))
    doc = load_yaml_text(f"s: &s word\nmany: [{aliases}]\n", "f.yaml")
    assert doc.data is None
    [problem] = doc.problems
    assert (problem.line, problem.path) == (2, "many")
    assert "an alias bomb?" in problem.message


def test_the_text_reached_through_aliases_is_bounded():
    big = "x" * (MAX_ALIAS_TEXT // 8)  # nine aliases of it pass the limit, eight do not
    eight = load_yaml_text(f"s: &s {big}\nmany: [{', '.join(['*s'] * 8)}]\n", "f.yaml")
    assert eight.problems == [] and len(eight.data["many"]) == 8
    nine = load_yaml_text(f"s: &s {big}\nmany: [{', '.join(['*s'] * 9)}]\n", "f.yaml")
    assert nine.data is None
    assert "MB of text (an alias bomb?)" in nine.problems[0].message


@pytest.mark.timeout(120)
def test_validate_stops_the_issue_alias_bomb_at_once(tmp_path: Path):
    # Issue 13: one 1 MB anchor aliased 100,000 times (a 1.3 MB file) ran validate for
    # minutes, every alias scanned for expressions: a pre-commit denial of service.
    big, aliases = "x" * 1_000_000, ", ".join(["*big"] * 100_000)
    manifest = tmp_path / "bomb.yaml"
    manifest.write_text(
        f"version: 1\nname: bomb\nvars:\n  big: &big {big}\n  many: [{aliases}]\n"
        "jobs:\n  a:\n    job: import\n    list: Main\n    emails: a@example.com\n"
    )
    sailjobs = str(Path(sys.executable).with_name("sailjobs"))
    done = subprocess.run(
        [sailjobs, "validate", str(manifest)], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 2
    assert done.stdout.startswith(f"{manifest}:5:3: vars.many: aliases expand to more than")


def test_many_references_to_unknown_vars_among_many_vars_validate_at_once(tmp_path: Path):
    # Each unknown var's problem listed every defined var and guessed among them all:
    # 10,000 of each (a 0.3 MB file) took minutes and GBs.
    count = 20_000
    vars_ = "".join(f"  v{i}: x\n" for i in range(count))
    refs = "".join(f"${{{{ vars.u{i} }}}}" for i in range(count))
    manifest = tmp_path / "many.yaml"
    manifest.write_text(
        f"version: 1\nname: many\nvars:\n{vars_}jobs:\n  a:\n    job: export_list_data\n"
        f'    list: VIP\n    report_email: "{refs}"\n'
    )
    sailjobs = str(Path(sys.executable).with_name("sailjobs"))
    done = subprocess.run(
        [sailjobs, "validate", str(manifest)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    first = done.stdout.splitlines()[0]
    assert first.endswith(
        "(defined: v0, v1, v10, v100, v1000, v10000, v10001, v10002, "
        "v10003, v10004, v10005, v10006, v10007, v10008, v10009, v1001, "
        "v10010, v10011, v10012, v10013, and 19980 more)"
    )


_OUT_OF_MEMORY = """
import resource, sys
from runner.cli import main
from runner.executor import lifecycle
from runner.plugins import job_types

job_types()  # the plugins load before the limit: what runs out is the manifest's memory
status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
limit = int(status) * 1024 + 60 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
sys.argv = ["sailjobs", "run", sys.argv[1], "--sandbox", "--state", sys.argv[2]]
main()
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc")
def test_run_reports_running_out_of_memory_as_a_problem(tmp_path: Path):
    # 9 MB of keys (under MAX_VALUES) takes some hundred MiB as a node tree; 60 MiB of
    # headroom runs out.
    keys = "".join(f"  key{index}: {'v' * 60}\n" for index in range(120_000))
    manifest = tmp_path / "big.yaml"
    manifest.write_text(f"version: 1\nvars:\n{keys}jobs:\n  a: {{job: import, list: M}}\n")
    done = subprocess.run(
        [sys.executable, "-c", _OUT_OF_MEMORY, str(manifest), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout.startswith(f"{manifest}:1:1: ran out of memory reading the manifest (")
    assert "Traceback" not in done.stderr
    assert "nothing was sent" in done.stderr


def test_a_manifest_of_too_many_values_is_one_problem_before_its_tree_is_built():
    keys = "".join(f"  k{index}: v\n" for index in range(MAX_VALUES // 2 + 10))
    started = time.process_time()
    doc = load_yaml_text(f"version: 1\nvars:\n{keys}", "m.yaml")
    assert time.process_time() - started < 20  # generous: it streams events, builds nothing
    assert doc.data is None
    [problem] = doc.problems
    # At the first value over the limit: five values before `k0`, then two per line.
    assert problem.line == 3 + (MAX_VALUES - 6) // 2
    assert problem.message.startswith(f"more than {MAX_VALUES:,} values (keys, values and list")
    assert problem.message.endswith("split it into several manifests or move data into files")


def test_values_up_to_the_limit_are_read():
    items = "".join("  - v\n" for _ in range(MAX_VALUES - 3))  # + the mapping, the key, the list
    doc = load_yaml_text(f"items:\n{items}", "m.yaml")
    assert doc.problems == [] and len(doc.data["items"]) == MAX_VALUES - 3


def test_the_garbage_collector_rests_while_a_big_tree_is_built():
    # Every collection walks the whole tree built so far: paused, a 10 MB manifest of jobs
    # validated in 1.6 s of CPU instead of 5 (bench/hostile_yaml.py).
    import gc

    collections = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    keys = "".join(f"  k{index}: [a, b]\n" for index in range(20_000))
    gc.callbacks.append(count)
    try:
        doc = load_yaml_text(f"vars:\n{keys}", "m.yaml")
    finally:
        gc.callbacks.remove(count)
    assert doc.problems == [] and len(doc.data["vars"]) == 20_000
    # At most the one that follows when collection resumes; without the pause, hundreds.
    assert len(collections) <= 1, collections
    assert gc.isenabled()


def test_small_aliases_are_fine():
    doc = load_yaml_text("a: &a [1, 2]\nb: *a\nc: *a\n", "f.yaml")
    assert doc.problems == []
    assert doc.data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_a_recursive_alias_is_a_problem_not_a_crash():
    doc = load_yaml_text("a: &a [*a]\n", "f.yaml")
    assert [p.message for p in doc.problems] == [
        "a recursive alias (it contains itself); remove it"
    ]


def test_deep_nesting_is_bounded():
    doc = load_yaml_text("a: " + "[" * 100 + "]" * 100 + "\n", "f.yaml")
    assert doc.data is None
    assert "nested more than" in doc.problems[0].message


def test_unsupported_tags_are_rejected_not_constructed():
    doc = load_yaml_text("a: !!python/object/apply:os.system ['id']\nb: !!binary aGk=\n", "f.yaml")
    messages = [p.render() for p in doc.problems]
    assert len(messages) == 2
    assert messages[0].startswith("f.yaml:1:4: a: unsupported YAML tag !!python/object/apply")
    assert messages[1].startswith("f.yaml:2:4: b: unsupported YAML tag !!binary")
    assert doc.rejected == {"a", "b"}


def test_explicit_standard_tags_work():
    doc = load_yaml_text("a: !!str 123\nb: !!int '7'\nc: !!int x\n", "f.yaml")
    assert doc.data["a"] == "123"
    assert doc.data["b"] == 7
    assert [p.message for p in doc.problems] == ["'x' is not a valid int"]


def test_syntax_errors_tabs_and_documents():
    tab = load_yaml_text("a:\n\tb: 1\n", "f.yaml")
    assert [p.render() for p in tab.problems] == [
        "f.yaml:2:1: a tab character here; YAML indents with spaces only: replace the tab"
    ]
    two = load_yaml_text("a: 1\n---\nb: 2\n", "f.yaml")
    assert "more than one YAML document" in two.problems[0].message
    broken = load_yaml_text("a: [1, 2\nb: 3\n", "f.yaml")
    assert broken.data is None
    assert broken.problems[0].render().startswith("f.yaml:1:4: this `[` is never closed")


_JOB = "jobs:\n  a:\n    job: import\n"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (  # PyYAML: line 10 of this 9-line file, "found unexpected end of stream"
            'version: 1\nname: "demo\n' + _JOB + "    list: Main\n    emails: a@x.org\n"
            "  b:\n    job: import\n",
            "2:7",
            'this "quoted" text is never closed; add the closing " at the end of the value',
        ),
        (
            "version: 1\nname: 'demo\n" + _JOB,
            "2:7",
            "this 'quoted' text is never closed; add the closing ' at the end of the value",
        ),
        (
            "version: 1\n" + _JOB + "   list: Main\n",
            "5:4",
            "this line is not indented like the other keys of its mapping; indent it with "
            "as many spaces as they have",
        ),
        (
            "version: 1\n" + _JOB + "      list: Main\n",
            "5:11",
            "a `key: value` where none can start; quote a value that holds ': ' "
            '(`name: "a: b"`), or indent this line like the keys above it',
        ),
        (
            "version: 1\njobs:\n  a: {job: import, list: [a, b\n  b: {job: import}\n",
            "3:26",
            "this `[` is never closed; add the `]` at the end of its value "
            "(items are separated by ',')",
        ),
        (
            "version: 1\njobs:\n  a: {job: import, list: x\n",
            "3:6",
            "this `{` is never closed; add the `}` at the end of its value "
            "(items are separated by ',')",
        ),
        (
            "version: 1\nname: demo\n- x\n",
            "3:1",
            "a `- item` among `key: value` lines; put the list under a key "
            "(`key:` and the items indented below it)",
        ),
        (
            "jobs:\n  - a\n  b: 1\n",
            "3:3",
            "a `key: value` among `- item` lines; start it with `- `, or indent it under an item",
        ),
        (
            "version: 1\nname: *nope\n",
            "2:7",
            "`*nope` names no anchor; define `&nope` on a value above it, or quote the text "
            '(`"*nope"`)',
        ),
        (
            "version: 1\nname: @demo\n",
            "2:7",
            "a value cannot start with '@' in YAML; quote it (`\"@demo\"`)",
        ),
        (
            "version: 1\n" + _JOB + '    list: "Main" x\n',
            "5:18",
            "text after the closing quote; quote the whole value "
            '(`list: "Main" x` becomes `list: "Main x"`), or remove the text',
        ),
        (
            'name: "a\\qb"\n',
            "1:9",
            "an unknown escape (a backslash) in double quotes; write \\\\ for a backslash, or "
            "use single quotes, in which a backslash is an ordinary character",
        ),
    ],
)
def test_common_syntax_errors_say_what_and_how_to_fix_at_a_line_that_exists(
    text: str, where: str, message: str
):
    [problem] = load_yaml_text(text, "m.yaml").problems
    assert problem.render() == f"m.yaml:{where}: {message}"
    assert problem.line <= len(text.splitlines())


def test_an_unknown_syntax_error_keeps_pyyaml_words_at_a_line_that_exists():
    [problem] = load_yaml_text("a: &\n", "m.yaml").problems
    assert problem.render() == (
        "m.yaml:1:5: invalid YAML: did not find expected alphabetic or numeric character "
        "(while scanning an anchor); check the quotes, brackets and indentation here"
    )


def test_non_utf8_bytes_point_at_the_byte(tmp_path: Path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    doc = load_yaml_file(path, "latin.yaml")
    assert [p.render() for p in doc.problems] == [
        "latin.yaml:2:7: the file is not valid UTF-8 (byte 0xe9); save it as UTF-8"
    ]


def test_a_utf8_bom_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(path).data == {"a": 1}


def test_an_unreadable_file_is_one_problem(tmp_path: Path):
    doc = load_yaml_file(tmp_path / "missing.yaml", "missing.yaml")
    assert doc.problems[0].render().startswith("missing.yaml:1:1: cannot read:")


def test_positions_point_at_values_scalars_and_keys_for_collections():
    doc = load_yaml_text("jobs:\n  export-main:\n    job: x\n    list: [a, b]\n", "f.yaml")
    source = doc.source
    assert source.position(("jobs", "export-main", "job")) == (3, 10)
    assert source.position(("jobs", "export-main", "job"), key=True) == (3, 5)
    assert source.position(("jobs", "export-main")) == (2, 3)
    assert source.position(("jobs", "export-main", "list", 1)) == (4, 15)
    # A missing path points at its deepest existing ancestor.
    assert source.position(("jobs", "export-main", "nope", "deeper")) == (2, 3)
    assert source.position(("other",)) == (1, 1)


def test_format_path():
    assert format_path(("jobs", "a", "on_success", 0, "download")) == (
        "jobs.a.on_success[0].download"
    )
    assert format_path(()) == ""


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=True)
    | st.text(max_size=20)
)
_documents = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), _documents, max_size=5))
def test_whatever_pyyaml_dumps_reads_back_the_same(data):
    """PyYAML quotes every string YAML 1.1 would misread, so a dump reads back equal."""
    text = yaml.safe_dump(data, allow_unicode=True)
    doc = load_yaml_text(text, "dump.yaml")
    assert doc.problems == []
    assert doc.data == yaml.safe_load(text)


def test_an_offset_moves_the_column_onto_the_character_when_written_as_it_reads():
    text = 'a: x ${{ y }}\nb: "x ${{ y }}"\nc: "x\\t${{ y }}"\nd: >-\n  x ${{ y }}\n'
    source = load_yaml_text(text, "f.yaml").source
    assert source.problem(("a",), "m", offset=2).col == 6
    assert source.problem(("b",), "m", offset=2).col == 7  # after the opening quote
    assert source.problem(("c",), "m", offset=2).col == 4  # an escape: the value's column
    assert source.problem(("d",), "m", offset=2).col == 4  # folded: the value's column


def test_every_spelling_of_infinity_and_nan_is_a_float():
    doc = load_yaml_text("a: -.INF\nb: +.Inf\nc: .nan\nd: .NaN\ne: .NAN\n", "f.yaml")
    assert doc.problems == []
    assert doc.data["a"] == float("-inf") and doc.data["b"] == float("inf")
    assert all(math.isnan(doc.data[key]) for key in "cde")
