"""The ``${{ … }}`` language: parse, list references, evaluate. A tiny parser; never ``eval``.

Grammar (inside ``${{`` and ``}}``)::

    expression := conjunction ( "or" conjunction )*
    conjunction:= negation ( "and" negation )*
    negation   := "not" negation | comparison
    comparison := piped [ ( "==" | "!=" ) piped ]
    piped      := primary ( "|" filter )*
    primary    := reference | literal | "(" expression ")"
    reference  := root ( "." name | "[" string "]" )*   root: vars | env | run | jobs | each
    filter     := name [ "(" [ literal ( "," literal )* ] ")" ]
    literal    := 'text' | "text" | number | true | false | null

Conditions (``if:``) use the operators: ``==`` and ``!=`` compare numbers as numbers, null
only with null, and anything else as it reads (``run.date == '2026-01-05'``, and ``true ==
'true'``: a value given on the command line is text); ``not``, ``and`` and ``or`` give true
or false, reading false, null, 0, '' and an empty list as false, every other value as true
(the text 'false' too: compare it, ``vars.flag == true``).

``each.value`` and ``each.index`` are the value of a ``for_each`` instance and its place in
the list (from 0); ``bind_each`` writes them into a job's text when it is expanded.

Names may contain ``-`` (job ids do: ``jobs.export-main.outputs.export_url``). Filters are
pure functions of their input (see ``FILTERS``); nothing can reach the file system, the
network or Python objects. A string that is exactly one expression renders to the native
value (an int stays an int); anything else is string interpolation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from runner.manifest.filters import (
    FILTERS,
    MISSING,
    FilterError,
    to_text,
    unknown_filter_message,
)
from runner.masking import contains_secret, is_secret_name, register_secret

OPEN, CLOSE = "${{", "}}"
ROOTS = ("vars", "env", "run", "jobs", "each")
EACH_FIELDS = ("value", "index")
KEYWORDS = ("true", "false", "null", "and", "or", "not")
RUN_FIELDS = ("id", "date", "started_at")
MAX_NUMBER_DIGITS = 30  # a literal in an expression: a count of days, not a bignum


class ExpressionError(Exception):
    """A bad expression: ``message`` says what and how to fix; ``offset`` is where in the text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Reference:
    """A name an expression reads: ``jobs.export-main.outputs.export_url`` →
    ``Reference("jobs", ("export-main", "outputs", "export_url"))``.

    ``optional`` is true when a ``default(…)`` filter follows it directly, so its absence
    is not an error (``env.X | default('…')`` does not need ``X`` set).
    """

    root: str
    parts: tuple[str, ...]
    optional: bool = False
    # Where it starts and ends in its text (for positions); not part of its identity.
    offset: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return ".".join((self.root, *self.parts))


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class FilterCall:
    name: str
    args: tuple[Any, ...]
    offset: int


@dataclass(frozen=True)
class Piped:
    """A value and the filters it goes through: ``vars.list | slug``."""

    primary: Reference | Literal | Node
    filters: tuple[FilterCall, ...]


@dataclass(frozen=True)
class Compare:
    operator: str  # "==" or "!="
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Logic:
    operator: str  # "and" or "or"
    operands: tuple[Node, ...]


Node = Piped | Compare | Not | Logic


def _node_references(node: Node | Reference | Literal) -> Iterator[Reference]:
    if isinstance(node, Reference):
        yield node
    elif isinstance(node, Piped):
        yield from _node_references(node.primary)
    elif isinstance(node, Compare):
        yield from _node_references(node.left)
        yield from _node_references(node.right)
    elif isinstance(node, Not):
        yield from _node_references(node.operand)
    elif isinstance(node, Logic):
        for operand in node.operands:
            yield from _node_references(operand)


@dataclass(frozen=True)
class Expression:
    body: Node
    source: str  # the whole ``${{ … }}`` text, kept for plans that cannot resolve it yet
    offset: int

    @property
    def references(self) -> tuple[Reference, ...]:
        """Every name it reads, in the order written."""
        return tuple(_node_references(self.body))


@dataclass(frozen=True)
class Template:
    """A string split into literal text and expressions."""

    parts: tuple[str | Expression, ...]

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(part for part in self.parts if isinstance(part, Expression))

    @property
    def is_single_expression(self) -> bool:
        return len(self.parts) == 1 and isinstance(self.parts[0], Expression)


# --- parsing -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<close>\}\})
      | (?P<operator>==|!=)
      | (?P<punct>[.|(),\[\]])
    )""",
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    text: str
    offset: int

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Parser:
    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.pos = start  # just after ``${{``
        self.start = start - len(OPEN)
        self.token = self._next()

    def _next(self) -> _Token:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            rest = self.text[self.pos :].lstrip()
            offset = len(self.text) - len(rest)
            if not rest:
                raise ExpressionError("`${{` is not closed; end the expression with `}}`", offset)
            raise ExpressionError(f"unexpected character {rest[0]!r} in expression", offset)
        self.pos = match.end()
        kind = match.lastgroup or ""
        return _Token(kind, match.group(kind), match.start(kind))

    def _advance(self) -> _Token:
        token = self.token
        if token.kind != "close":  # never read past the end of the expression
            self.token = self._next()
        return token

    def _expect(self, text: str, what: str) -> None:
        if self.token.text != text:
            raise ExpressionError(f"expected {what}, found {self.token.text!r}", self.token.offset)
        self._advance()

    def _literal(self) -> Any:
        token = self._advance()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            if len(token.text) > MAX_NUMBER_DIGITS:  # int() itself refuses 4,300 digits
                raise ExpressionError(
                    f"a number of {len(token.text):,} digits; write at most {MAX_NUMBER_DIGITS}",
                    token.offset,
                )
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "name" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        raise ExpressionError(
            f"expected a value ('text', a number, true, false or null), found {token.text!r}",
            token.offset,
        )

    def expression(self) -> Expression:
        body = self._or()
        if self.token.kind != "close":
            raise ExpressionError(
                f"expected `|`, `==`, `!=`, `and`, `or` or `}}}}`, found {self.token.text!r}",
                self.token.offset,
            )
        return Expression(body, self.text[self.start : self.pos], self.start)

    def _is_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    def _or(self) -> Node:
        operands = [self._and()]
        while self._is_word("or"):
            self._advance()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Logic("or", tuple(operands))

    def _and(self) -> Node:
        operands = [self._not()]
        while self._is_word("and"):
            self._advance()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else Logic("and", tuple(operands))

    def _not(self) -> Node:
        if self._is_word("not"):
            self._advance()
            return Not(self._not())
        left = self._piped()
        if self.token.kind != "operator":
            return left
        operator = self._advance().text
        return Compare(operator, left, self._piped())

    def _piped(self) -> Piped:
        primary = self._primary()
        filters = []
        while self.token.text == "|":
            self._advance()
            filters.append(self._filter())
        if filters and filters[0].name == "default" and isinstance(primary, Reference):
            primary = Reference(primary.root, primary.parts, True, primary.offset, primary.end)
        return Piped(primary, tuple(filters))

    def _primary(self) -> Reference | Literal | Node:
        token = self.token
        if token.text == "(":
            self._advance()
            inner = self._or()
            self._expect(")", "')'")
            return inner
        if token.kind == "name" and token.text not in KEYWORDS:
            if token.text not in ROOTS:
                raise ExpressionError(
                    f"unknown name {token.text!r}; an expression reads "
                    + ", ".join(f"{root}.*" for root in ROOTS),
                    token.offset,
                )
            self._advance()
            parts: list[str] = []
            end = token.end
            while self.token.text in (".", "["):
                if self._advance().text == ".":
                    if self.token.kind != "name":
                        raise ExpressionError(
                            f"expected a name after '.', found {self.token.text!r}",
                            self.token.offset,
                        )
                    name = self._advance()
                    parts.append(name.text)
                    end = name.end
                else:
                    if self.token.kind != "string":
                        hint = ""
                        if token.text == "jobs" and len(parts) == 1:
                            hint = (
                                "; a for_each instance is read as "
                                f"jobs['{parts[0]}[<value>]'].outputs.<name>"
                            )
                        raise ExpressionError(
                            f"expected a quoted name inside [ ]{hint}", self.token.offset
                        )
                    parts.append(_unquote(self._advance().text))
                    end = self.token.end
                    self._expect("]", "']'")
            reference = Reference(token.text, tuple(parts), offset=token.offset, end=end)
            _check_shape(reference, token.offset)
            return reference
        return Literal(self._literal())

    def _filter(self) -> FilterCall:
        token = self._advance()
        if token.kind != "name":
            raise ExpressionError(f"expected a filter name, found {token.text!r}", token.offset)
        spec = FILTERS.get(token.text)
        if spec is None:
            raise ExpressionError(unknown_filter_message(token.text), token.offset)
        args: list[Any] = []
        if self.token.text == "(":
            self._advance()
            while self.token.text != ")":
                if args:
                    self._expect(",", "',' or ')'")
                args.append(self._literal())
            self._advance()
        if not spec.required <= len(args) <= len(spec.arg_types):
            wanted = (
                str(spec.required)
                if spec.required == len(spec.arg_types)
                else f"{spec.required} to {len(spec.arg_types)}"
            )
            raise ExpressionError(
                f"filter {token.text!r} takes {wanted} argument(s), got {len(args)}",
                token.offset,
            )
        for arg, wanted_type in zip(args, spec.arg_types, strict=False):
            if not isinstance(arg, wanted_type) or (wanted_type is int and isinstance(arg, bool)):
                raise ExpressionError(
                    f"filter {token.text!r} needs {wanted_type.__name__} argument, got {arg!r}",
                    token.offset,
                )
        return FilterCall(token.text, tuple(args), token.offset)


def _check_shape(reference: Reference, offset: int) -> None:
    """The structure of a reference, known without the manifest (names are checked later)."""
    root, parts = reference.root, reference.parts
    if root == "vars" and not parts:
        raise ExpressionError("name a variable: vars.<name>", offset)
    if root == "env" and len(parts) != 1:
        raise ExpressionError("name one environment variable: env.<NAME>", offset)
    if root == "run" and (len(parts) != 1 or parts[0] not in RUN_FIELDS):
        fields = ", ".join(f"run.{name}" for name in RUN_FIELDS)
        raise ExpressionError(f"unknown run field {str(reference)!r}; use {fields}", offset)
    if root == "jobs" and (len(parts) != 3 or parts[1] != "outputs"):
        raise ExpressionError(
            f"{str(reference)!r}: a job's value is read as jobs.<job-id>.outputs.<name>", offset
        )
    if root == "each" and (len(parts) != 1 or parts[0] not in EACH_FIELDS):
        raise ExpressionError(
            f"unknown field {str(reference)!r}; a for_each instance reads each.value and "
            "each.index",
            offset,
        )


@lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Split ``text`` into literal text and parsed expressions; raises ExpressionError."""
    parts: list[str | Expression] = []
    position = 0
    while True:
        start = text.find(OPEN, position)
        if start < 0:
            break
        if start > position:
            parts.append(text[position:start])
        parser = _Parser(text, start + len(OPEN))
        parts.append(parser.expression())
        position = parser.pos
    if position < len(text):
        parts.append(text[position:])
    return Template(tuple(parts))


def has_expression(value: Any) -> bool:
    """Whether a (nested) value holds ``${{`` anywhere."""
    if isinstance(value, str):
        return OPEN in value
    if isinstance(value, dict):
        return any(has_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(has_expression(item) for item in value)
    return False


_REMEMBERED_TEXT = 1024  # shorter texts are scanned again faster than they are looked up


def iter_templates(
    value: Any, path: tuple[str | int, ...] = (), plain: set[int] | None = None
) -> Iterator[tuple[tuple, str]]:
    """(path, string) of every nested string that holds ``${{``.

    ``plain`` collects the ids of long strings found to hold none, so that one met again
    (a YAML alias shares its string) is not read again: give the same set to every call
    over one document, and keep the document alive while it is used."""
    if isinstance(value, str):
        if OPEN in value:
            yield path, value
        elif plain is not None and len(value) >= _REMEMBERED_TEXT:
            plain.add(id(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates_of(item, (*path, key), plain)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _templates_of(item, (*path, index), plain)


def _templates_of(
    value: Any, path: tuple[str | int, ...], plain: set[int] | None
) -> Iterator[tuple[tuple, str]]:
    if plain is not None and isinstance(value, str) and id(value) in plain:
        return iter(())
    return iter_templates(value, path, plain)


def references(value: Any) -> set[Reference]:
    """Every reference in a nested value (raises ExpressionError on a bad expression)."""
    found: set[Reference] = set()
    for _, text in iter_templates(value):
        for expression in parse_template(text).expressions:
            found.update(expression.references)
    return found


# --- evaluation --------------------------------------------------------------------------


@dataclass
class EvalContext:
    """What expressions read: ``vars``, ``env``, ``run`` (id, date, started_at) and ``jobs``
    (job id → outputs)."""

    vars: dict[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The manifest's ``secrets:``: env names whose values are masked (besides the API
    # credentials and names that say TOKEN, SECRET, PASSWORD, KEY or WEBHOOK).
    secret_env: frozenset[str] = frozenset()


class _Unresolved(Exception):
    """A job output that does not exist yet (only while rendering a plan)."""


def _lookup(reference: Reference, ctx: EvalContext, strict: bool, depth: int) -> Any:
    root, parts = reference.root, reference.parts
    if root == "env":
        env_value = ctx.env.get(parts[0], MISSING)
        if env_value is not MISSING and is_secret_name(parts[0], ctx.secret_env):
            register_secret(env_value)
        return env_value
    if root == "run":
        return ctx.run.get(parts[0], MISSING)
    if root == "each":
        return MISSING  # written into the job's text by bind_each, or misplaced
    if root == "jobs":
        outputs = ctx.jobs.get(parts[0])
        if outputs is None or parts[2] not in outputs:
            if not strict:
                raise _Unresolved
            return MISSING
        return outputs[parts[2]]
    value: Any = ctx.vars
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    if has_expression(value):  # vars may read env.* and run.*
        if depth > 8:
            raise ExpressionError(f"{reference} refers to itself through other vars")
        value = _render(value, ctx, strict, depth + 1)
    return value


def _evaluate(expression: Expression, ctx: EvalContext, strict: bool, depth: int) -> Any:
    return _value_of(expression.body, ctx, strict, depth, expression.offset)


def _value_of(node: Node, ctx: EvalContext, strict: bool, depth: int, offset: int) -> Any:
    if isinstance(node, Compare):
        left = _value_of(node.left, ctx, strict, depth, offset)
        right = _value_of(node.right, ctx, strict, depth, offset)
        return _equal(left, right) == (node.operator == "==")
    if isinstance(node, Not):
        return not truthy(_value_of(node.operand, ctx, strict, depth, offset))
    if isinstance(node, Logic):
        wanted = node.operator == "or"  # the value that decides: true for or, false for and
        for operand in node.operands:
            if truthy(_value_of(operand, ctx, strict, depth, offset)) == wanted:
                return wanted
        return not wanted
    return _piped(node, ctx, strict, depth, offset)


def truthy(value: Any) -> bool:
    """false, null, 0, '' and empty lists or mappings are false; everything else is true."""
    return bool(value)


def _equal(left: Any, right: Any) -> bool:
    def is_number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if is_number(left) and is_number(right):
        return bool(left == right)
    if left is None or right is None:
        return left is right
    # Anything else as it reads: a date or a number against text, and true against 'true'
    # (a value given on the command line is text).
    return to_text(left) == to_text(right)


def _piped(node: Piped, ctx: EvalContext, strict: bool, depth: int, offset: int) -> Any:
    primary = node.primary
    if isinstance(primary, Literal):
        value = primary.value
    elif isinstance(primary, Reference):
        value = _lookup(primary, ctx, strict, depth)
    else:
        value = _value_of(primary, ctx, strict, depth, offset)
    # What a filter makes of a secret (trimmed, upper-cased, a slug) is a secret too.
    secret = bool(node.filters) and value is not MISSING and contains_secret(to_text(value))
    for call in node.filters:
        if value is MISSING and call.name != "default":
            break
        try:
            value = FILTERS[call.name].function(value, *call.args)
        except FilterError as exc:
            raise ExpressionError(str(exc), call.offset) from None
        except (ValueError, TypeError, OverflowError) as exc:  # a value no filter foresaw
            raise ExpressionError(f"filter {call.name!r} failed: {exc}", call.offset) from None
        if secret and value is not MISSING:
            register_secret(to_text(value))
    if value is MISSING:
        assert isinstance(primary, Reference)
        what = {
            "env": "environment variable {} is not set",
            "vars": "{} is not defined in vars",
            "run": "{} is not known",
            "jobs": "{} is not available (has that job finished?)",
            "each": "{} is read only in a job with for_each",
        }[primary.root]
        name = primary.parts[0] if primary.root == "env" else str(primary)
        raise ExpressionError(what.format(name), offset)
    return value


def _render(value: Any, ctx: EvalContext, strict: bool, depth: int) -> Any:
    if isinstance(value, str):
        if OPEN not in value:
            return value
        template = parse_template(value)
        if template.is_single_expression:
            expression = template.parts[0]
            assert isinstance(expression, Expression)
            try:
                return _evaluate(expression, ctx, strict, depth)
            except _Unresolved:
                return value
        pieces = []
        for part in template.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            try:
                pieces.append(to_text(_evaluate(part, ctx, strict, depth)))
            except _Unresolved:
                pieces.append(part.source)
        return "".join(pieces)
    if isinstance(value, dict):
        return {key: _render(item, ctx, strict, depth) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, ctx, strict, depth) for item in value]
    return value


def render(value: Any, ctx: EvalContext, *, strict: bool = True) -> Any:
    """Resolve every ``${{ }}`` in a nested value; raises ExpressionError when one cannot be.

    With ``strict=False`` a job output that does not exist yet is left as its ``${{ }}``
    text (plans show what will be filled in at run time); every other missing name still
    raises. Values of secret ``env`` variables (``runner.masking.is_secret_name`` or
    ``ctx.secret_env``) and what filters derive from them are registered with the masking
    helper; other env values are shown as they are.
    """
    return _render(value, ctx, strict, 0)


# --- for_each ----------------------------------------------------------------------------


def _as_literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bind_each(value: Any, each_value: str | int, index: int) -> Any:
    """``value`` (a job's, nested) for one ``for_each`` instance: ``each.value`` and
    ``each.index`` written in as literals. A text left reading nothing else is resolved at
    once, so ``list: ${{ each.value }}`` is the value itself, checked like one written out;
    the others are resolved at run time like any expression. A bad expression is left as it
    is, for the loader to report."""
    if isinstance(value, dict):
        return {key: bind_each(item, each_value, index) for key, item in value.items()}
    if isinstance(value, list):
        return [bind_each(item, each_value, index) for item in value]
    if not isinstance(value, str) or OPEN not in value:
        return value
    try:
        template = parse_template(value)
    except ExpressionError:
        return value
    spans = sorted(
        (
            (ref.offset, ref.end, ref.parts[0])
            for expression in template.expressions
            for ref in expression.references
            if ref.root == "each"
        ),
        reverse=True,
    )
    if not spans:
        return value
    text = value
    for start, end, name in spans:  # from the end: earlier offsets stay right
        literal = str(index) if name == "index" else _as_literal(each_value)
        text = text[:start] + literal + text[end:]
    if any(expression.references for expression in parse_template(text).expressions):
        return text
    try:
        return render(text, EvalContext())
    except ExpressionError:
        return text  # a filter that fails on this value: reported when it is resolved
