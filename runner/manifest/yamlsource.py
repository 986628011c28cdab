"""YAML → plain data plus the position of every value, for ``file:line:col`` problems.

PyYAML's C parser builds the node tree (it keeps marks); we construct the data ourselves
from it so that we can:

- read scalars by the YAML 1.2 core schema, not 1.1: ``2016-01-01`` stays a string,
  ``yes``/``no``/``on``/``off`` stay strings; where the two disagree, text wins (``017``,
  ``1e5`` and ``1:20`` stay strings);
- reject duplicate mapping keys (PyYAML silently keeps the last one);
- bound alias expansion (values and text, aliases of scalars included), so that an alias
  bomb fails fast instead of eating memory or time;
- refuse every tag that is not plain data (safe loading only).

Positions are not copied into a map per value: ``SourceMap.position`` walks the node tree
on demand, which costs nothing for the (usual) valid manifest.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runner.problems import Problem

PathPart = str | int
PathTuple = tuple[PathPart, ...]

MAX_MANIFEST_BYTES = 10 * 1024 * 1024  # a manifest this big is a mistake, not a pipeline
MAX_ALIAS_EXPANSION = 10_000  # values reached through aliases, in the whole document
# Text reached through aliases: one big anchored scalar aliased 100,000 times is as much of
# a bomb as nested lists (every later pass would read it 100,000 times).
MAX_ALIAS_TEXT = MAX_MANIFEST_BYTES
MAX_DEPTH = 64  # nesting of mappings and sequences
# Keys, values and list items (some 25,000 jobs): counted before the node tree is built,
# which costs about 1 KB per value (a node and two marks), so that no 10 MB shape takes
# more than a few seconds and a few hundred MiB to validate (bench/hostile_yaml.py).
MAX_VALUES = 250_000

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
MAP, SEQ, MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"


class _CoreSchemaLoader(yaml.CSafeLoader):
    """The C parser with the YAML 1.2 core schema's implicit types (and merge keys)."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012


# Where YAML 1.1 and 1.2 disagree we pick the reading that surprises least: a value either
# of them reads as text stays text (`yes`, `off`, `2016-01-01`, `1e5`, `0o17`, `1:20`), and
# a number with a leading zero (`017`: octal 15 in 1.1, 17 in 1.2; a zip code, an id) too.
for _tag, _pattern, _first in (
    (NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (INT, r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
    (MERGE, r"^(?:<<)$", ["<"]),
):
    _CoreSchemaLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def format_path(path: PathTuple) -> str:
    """``("jobs", "a", "on_success", 0, "download")`` → ``jobs.a.on_success[0].download``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class SourceMap:
    """Where each value of a YAML document is, looked up by its path in the data."""

    file: str
    root: Node | None
    _index: dict[int, dict[str, tuple[Node, Node]]] = field(default_factory=dict, repr=False)
    # A for_each instance's id → its job's (``export-lists[VIP]`` → ``export-lists``):
    # what is written for an instance is written once, in its job.
    job_aliases: dict[str, str] = field(default_factory=dict, repr=False)

    def _entries(self, node: MappingNode) -> dict[str, tuple[Node, Node]]:
        cached = self._index.get(id(node))
        if cached is None:
            cached = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE:
                    for merged in _merge_sources(value_node):
                        for key, pair in self._entries(merged).items():
                            cached.setdefault(key, pair)
                elif isinstance(key_node, ScalarNode):
                    cached.setdefault(key_node.value, (key_node, value_node))
            self._index[id(node)] = cached
        return cached

    def locate(self, path: PathTuple) -> tuple[Node | None, Node | None]:
        """The (key node, value node) of the deepest existing prefix of ``path``."""
        if len(path) > 1 and path[0] == "jobs" and path[1] in self.job_aliases:
            path = ("jobs", self.job_aliases[str(path[1])], *path[2:])
        key_node: Node | None = None
        node = self.root
        for part in path:
            if isinstance(node, MappingNode):
                pair = self._entries(node).get(str(part))
                if pair is None:
                    break
                key_node, node = pair
            elif isinstance(node, SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                key_node, node = None, node.value[part]
            else:
                break
        return key_node, node

    def position(self, path: PathTuple, *, key: bool = False) -> tuple[int, int]:
        """(line, col), 1-based, of the value at ``path`` (or of its key with ``key=True``).

        A mapping or list value points at its key (its first line is the key's line);
        a path that does not exist points at its deepest existing ancestor.
        """
        key_node, node = self.locate(path)
        target = node
        if key_node is not None and (key or not isinstance(node, ScalarNode)):
            target = key_node
        if target is None:
            return (1, 1)
        mark = target.start_mark
        return (mark.line + 1, mark.column + 1)

    def problem(
        self, path: PathTuple, message: str, *, key: bool = False, offset: int | None = None
    ) -> Problem:
        """A problem at ``path``; ``offset`` (a character of the text value) moves the column
        onto that character when the value is one line written as it reads (no escapes)."""
        line, col = self.position(path, key=key)
        if offset is not None:
            col = self._column_in_scalar(path, offset) or col
        return Problem(self.file, line, col, format_path(path), message)

    def _column_in_scalar(self, path: PathTuple, offset: int) -> int | None:
        node = self.locate(path)[1]
        if not isinstance(node, ScalarNode) or node.style not in (None, "", "'", '"'):
            return None
        start, end = node.start_mark, node.end_mark
        quotes = 1 if node.style in ("'", '"') else 0  # plain: None, or "" from libyaml
        if start.line != end.line or end.column - start.column != len(node.value) + 2 * quotes:
            return None
        return start.column + 1 + quotes + offset


def _merge_sources(node: Node) -> list[MappingNode]:
    if isinstance(node, MappingNode):
        return [node]
    if isinstance(node, SequenceNode):
        return [item for item in node.value if isinstance(item, MappingNode)]
    return []


class _Builder:
    """Turns a node tree into dicts, lists and scalars, collecting problems as it goes."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.rejected: set[str] = set()  # paths of values under an unsupported tag
        self._seen: set[int] = set()  # collection nodes already built once (alias targets)
        self._active: set[int] = set()  # collection nodes being built (a recursive alias)
        self._scalars: set[int] = set()  # scalar nodes built once (a second time: an alias)
        self._alias_values = 0
        self._alias_text = 0

    def _problem(self, node: Node, path: PathTuple, message: str) -> None:
        mark = node.start_mark
        self.problems.append(
            Problem(self.source.file, mark.line + 1, mark.column + 1, format_path(path), message)
        )

    def build(
        self, node: Node, path: PathTuple, *, alias: PathTuple | None = None, depth: int = 0
    ) -> Any:
        """``alias`` is the path where the alias being expanded was used (None outside one)."""
        if isinstance(node, ScalarNode):
            if alias is None and id(node) in self._scalars:
                alias = path  # `*name` of a scalar: the node itself, met again
            self._scalars.add(id(node))
            if alias is not None:
                self._alias_text += len(node.value)
        if alias is not None:
            self._alias_values += 1
            if self._alias_values > MAX_ALIAS_EXPANSION or self._alias_text > MAX_ALIAS_TEXT:
                raise _AliasBombError(alias)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if depth > MAX_DEPTH:
            raise _TooDeepError(node, path)
        if id(node) in self._active:
            self._problem(node, path, "a recursive alias (it contains itself); remove it")
            return None
        if alias is None and id(node) in self._seen:
            alias = path
        self._seen.add(id(node))
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != SEQ:
                    self._problem(node, path, _tag_message(node.tag))
                    self.rejected.add(format_path(path))
                return [
                    self.build(item, (*path, index), alias=alias, depth=depth + 1)
                    for index, item in enumerate(node.value)
                ]
            assert isinstance(node, MappingNode)
            if node.tag != MAP:
                self._problem(node, path, _tag_message(node.tag))
                self.rejected.add(format_path(path))
            return self._mapping(node, path, alias, depth)
        finally:
            self._active.discard(id(node))

    def _mapping(
        self, node: MappingNode, path: PathTuple, alias: PathTuple | None, depth: int
    ) -> Any:
        data: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                for source in _merge_sources(value_node):
                    value = self.build(source, path, alias=alias or path, depth=depth + 1)
                    if not isinstance(value, dict):
                        continue
                    for key, item in value.items():
                        merged.setdefault(key, item)
                if not _merge_sources(value_node):
                    self._problem(value_node, path, "`<<` merges a mapping (or a list of them)")
                continue
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "a key must be a plain text, not a list or mapping")
                continue
            key = key_node.value
            if key in first_seen:
                self._problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {first_seen[key]}); "
                    "each key may appear once: rename or remove one",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            data[key] = self.build(value_node, (*path, key), alias=alias, depth=depth + 1)
        if merged:
            return {**merged, **data}
        return data

    def _scalar(self, node: ScalarNode, path: PathTuple) -> Any:
        tag, text = node.tag, node.value
        if tag == STR:
            return text
        try:
            if tag == INT:
                return int(text, 16) if text.startswith("0x") else int(text)
            if tag == FLOAT:
                return float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))
            if tag == BOOL:
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                return text.lower() == "true"
            if tag == NULL:
                if text not in ("", "~", "null", "Null", "NULL"):
                    raise ValueError(text)
                return None
        except ValueError:
            self._problem(node, path, f"{text!r} is not a valid {tag.removeprefix(_TAG)}")
            return text
        self._problem(node, path, _tag_message(tag))
        self.rejected.add(format_path(path))
        return text


def _tag_message(tag: str) -> str:  # the caller records the path as rejected
    shown = "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
    return f"unsupported YAML tag {shown}; a manifest holds plain text, numbers, lists and mappings"


class _AliasBombError(Exception):
    def __init__(self, path: PathTuple) -> None:
        self.path = path


class _TooDeepError(Exception):
    def __init__(self, node: Node, path: PathTuple) -> None:
        self.node, self.path = node, path


@dataclass
class YamlDocument:
    """The data of one YAML file, where each value is, and every problem found."""

    data: Any
    source: SourceMap
    problems: list[Problem]
    # Paths of values under an unsupported tag: other problems about them add nothing.
    rejected: set[str] = field(default_factory=set)


def _decode(raw: bytes, file: str) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        message = f"the file is not valid UTF-8 (byte 0x{byte}); save it as UTF-8"
        return None, Problem(file, line, col, "", message)


def _syntax_problem(exc: yaml.YAMLError, file: str, text: str) -> Problem:
    """PyYAML's error as one ``file:line:col: what; how to fix`` line, at a line that exists.

    The scanner reports an unclosed quote at the end of the file (a line past the last one):
    the problem is where the quote opened, so that is where it points.
    """
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None) or ""
    lines = text.splitlines() or [""]
    mark = problem_mark or context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)

    def at(line: int, col: int) -> tuple[int, int, str]:
        """A position clamped into the file, and the text that starts there."""
        line = min(max(line, 1), len(lines))
        col = min(max(col, 1), len(lines[line - 1]) + 1)
        return line, col, lines[line - 1][col - 1 :]

    line, col, here = at(line, col)
    opened = at(context_mark.line + 1, context_mark.column + 1) if context_mark else None
    before = lines[line - 1][: col - 1]
    known = _known_syntax_message(problem, context, here, opened, before)
    if known is None:
        message = f"invalid YAML: {problem}"
        if context and opened is not None and opened[0] != line:
            message += f" ({context} that starts at line {opened[0]})"
        elif context:
            message += f" ({context})"
        message += "; check the quotes, brackets and indentation here"
    else:
        message, at_opening = known
        if at_opening and opened is not None:
            line, col = opened[0], opened[1]
    return Problem(file, line, col, "", message)


def _known_syntax_message(
    problem: str,
    context: str,
    here: str,
    opened: tuple[int, int, str] | None,
    before: str = "",
) -> tuple[str, bool] | None:
    """The common mistakes behind PyYAML's messages, each with its fix, and whether it is
    shown where the quote or bracket opened (None: not a common one)."""
    message = _message_here(problem, context, here, before)
    if message is not None:
        return message, False
    if opened is None:
        return None
    if "quoted scalar" in context and "end of stream" in problem:
        quote = opened[2][:1] or '"'
        return (
            f"this {quote}quoted{quote} text is never closed; "
            f"add the closing {quote} at the end of the value"
        ), True
    for kind, opener, closer in (("sequence", "[", "]"), ("mapping", "{", "}")):
        if f"flow {kind}" in context:
            return (
                f"this `{opener}` is never closed; add the `{closer}` at the end of its value "
                "(items are separated by ',')"
            ), True
    return None


def _message_here(problem: str, context: str, here: str, before: str = "") -> str | None:
    """The message of a mistake at the position PyYAML gives (``before``: the line's text
    up to it)."""
    if here.startswith("\t") or "'\\t'" in problem or "tab" in problem:
        return "a tab character here; YAML indents with spaces only: replace the tab"
    if "expected a single document" in f"{problem} {context}":
        return "more than one YAML document (a `---` line); a manifest is one document"
    if "unknown escape" in problem:
        return (
            "an unknown escape (a backslash) in double quotes; write \\\\ for a backslash, "
            "or use single quotes, in which a backslash is an ordinary character"
        )
    if "mapping values are not allowed" in problem:
        return (
            "a `key: value` where none can start; quote a value that holds ': ' "
            '(`name: "a: b"`), or indent this line like the keys above it'
        )
    if "did not find expected key" in problem:
        if before.rstrip().endswith(('"', "'")) and here.strip():
            return (
                "text after the closing quote; quote the whole value "
                '(`list: "Main" x` becomes `list: "Main x"`), or remove the text'
            )
        if here.startswith("-"):
            return (
                "a `- item` among `key: value` lines; put the list under a key "
                "(`key:` and the items indented below it)"
            )
        return (
            "this line is not indented like the other keys of its mapping; indent it with "
            "as many spaces as they have"
        )
    if "expected '-' indicator" in problem:
        return "a `key: value` among `- item` lines; start it with `- `, or indent it under an item"
    if "undefined alias" in problem:
        name = re.match(r"\*[^\s,\[\]{}]*", here)
        shown = name.group() if name else "*"
        return (
            f"`{shown}` names no anchor; define `&{shown[1:]}` on a value above it, or quote "
            f'the text (`"{shown}"`)'
        )
    if "cannot start any token" in problem and here:
        return f'a value cannot start with {here[0]!r} in YAML; quote it (`"{here[:20]}"`)'
    return None


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: building a big tree of new objects (a node and
    two marks per YAML value) sets it off again and again over everything built so far,
    which made a 10 MB manifest take six times as long to read. Nothing built here is
    garbage until the tree is; collection resumes (if it was on) when the block ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Parse ``text``; a syntax error is the only problem that leaves ``data`` as None."""
    with paused_gc():
        return _load_yaml_text(text, file)


_VALUE_EVENTS = (
    yaml.ScalarEvent,
    yaml.AliasEvent,
    yaml.MappingStartEvent,
    yaml.SequenceStartEvent,
)


def _too_many_values(text: str, file: str) -> Problem | None:
    """A problem at the first value over MAX_VALUES, found by streaming the parser's events
    (constant memory, a fraction of the time the node tree takes)."""
    if len(text) < MAX_VALUES:  # every value takes one character at least
        return None
    count = 0
    loader = yaml.CSafeLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, _VALUE_EVENTS):
                count += 1
                if count > MAX_VALUES:
                    mark = event.start_mark
                    message = (
                        f"more than {MAX_VALUES:,} values (keys, values and list items); a "
                        "manifest this big is a mistake, not a pipeline: split it into several "
                        "manifests or move data into files"
                    )
                    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                    return Problem(file, line, col, "", message)
    except yaml.YAMLError:
        return None  # reported by the parse proper, with its fix
    finally:
        loader.dispose()
    return None


def _load_yaml_text(text: str, file: str) -> YamlDocument:
    source = SourceMap(file, None)
    too_many = _too_many_values(text, file)
    if too_many is not None:
        return YamlDocument(None, source, [too_many])
    try:
        loader = _CoreSchemaLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        return YamlDocument(None, source, [_syntax_problem(exc, file, text)])
    source.root = root
    if root is None:
        return YamlDocument(None, source, [])
    builder = _Builder(source)
    try:
        data = builder.build(root, ())
    except _AliasBombError as exc:
        # An alias node carries its anchor's marks: point at the key that holds the alias.
        path = exc.path
        while path and isinstance(path[-1], int):
            path = path[:-1]
        problem = source.problem(
            path,
            f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values or "
            f"{MAX_ALIAS_TEXT // 1024 // 1024} MB of text (an alias bomb?); "
            "repeat less through `*alias`",
            key=True,
        )
        return YamlDocument(None, source, [problem])
    except _TooDeepError as exc:
        mark = exc.node.start_mark
        message = f"nested more than {MAX_DEPTH} levels deep (or a recursive alias); flatten it"
        problem = Problem(file, mark.line + 1, mark.column + 1, format_path(exc.path), message)
        return YamlDocument(None, source, [problem])
    return YamlDocument(data, source, builder.problems, builder.rejected)


def load_yaml_file(path: Path, display: str | None = None) -> YamlDocument:
    """Read and parse a file: too big, unreadable, not UTF-8 or not YAML → a problem."""
    file = display if display is not None else str(path)
    source = SourceMap(file, None)
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            message = (
                f"the file is {size / 1024 / 1024:.1f} MB; a manifest may be at most "
                f"{MAX_MANIFEST_BYTES // 1024 // 1024} MB: split it or move data into files"
            )
            return YamlDocument(None, source, [Problem(file, 1, 1, "", message)])
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return YamlDocument(None, source, [Problem(file, 1, 1, "", f"cannot read: {reason}")])
    text, problem = _decode(raw, file)
    if text is None:
        assert problem is not None
        return YamlDocument(None, source, [problem])
    return load_yaml_text(text, file)
