"""Seed files (``--seed FILE``): a team's own lists, users, purchases and scheduled sends.

A YAML file (every section optional)::

    lists: [Weekly Digest, Win-back]          # lists that exist, possibly empty
    users:
      - email: ann@example.com
        lists: [Weekly Digest]                # a list named here exists too
        vars: {plan: pro, first_name: Ann}
        signup_date: 2025-11-02               # optional: the seed's anchor time otherwise
    purchases:                                # purchase_import lines, written as YAML
      - {email: ann@example.com, date: -3d, purchase_keys: {extid: o-1}, items: [...]}
    scheduled_sends:
      - {template: Welcome, email: ann@example.com, send_time: +1d9h}
    blasts:                                   # sent campaigns, for the campaign jobs
      - blast_id: 1234567                     # a whole number, unique
        name: Spring Sale
        list: Weekly Digest                   # its members at seeding received it
        send_time: -2d10h
        opened: [ann@example.com]             # optional: recipients who opened
        clicked: [ann@example.com]            # optional: who clicked (they opened too)

or a CSV file of users: an ``email`` column, ``lists`` (names separated by ``|``), an
optional ``signup_date``; every other column is a var (an empty cell sets nothing).

Times are ISO 8601 dates or times (``2026-12-24``, ``2026-12-24T09:00:00Z``), or relative to
the seed's anchor, today 00:00 UTC: ``-3d`` is three days ago, ``+1d9h`` tomorrow at 09:00.
Relative times keep a rehearsal's "last seven days" and "upcoming sends" non-empty on any day.

Every problem in the file is collected, each with its file:line; ``SeedFileError`` carries
them all, and the sandbox does not start.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.dates import parse_date
from runner.durations import parse_duration
from runner.emails import is_valid_email
from runner.manifest.yamlsource import PathTuple, SourceMap, load_yaml_file
from runner.preflight.purchase import (
    PurchaseFormatError,
    extid_of,
    parse_purchase_line,
    purchase_to_dict,
)
from runner.problems import Problem, SeedFileError

DEMO = "demo"  # the built-in data set (runner/sandbox/seed.py), not a file
SECTIONS = ("lists", "users", "purchases", "scheduled_sends", "blasts")
USER_KEYS = ("email", "lists", "vars", "signup_date")
SEND_KEYS = ("template", "email", "send_time")
BLAST_KEYS = ("blast_id", "name", "list", "send_time", "opened", "clicked")
LIST_SEPARATOR = "|"  # in a CSV's lists cell: ";" and "," are CSV delimiters somewhere
MAX_YAML_BYTES = 10 * 1024 * 1024  # more users than this belong in a CSV seed
_RELATIVE = re.compile(r"^\s*(?P<sign>[+-])\s*(?P<duration>\S.*)$")
_PURCHASE_PATH = re.compile(r"(?P<key>[^.\[\]]+)|\[(?P<index>\d+)\]")
TIME_HINT = "write a date or time like 2026-12-24 or 2026-12-24T09:00:00Z, or -3d / +1d9h"


def today_anchor() -> datetime:
    """Today 00:00 UTC: the time seeded data is placed around, the same all day long."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class SeedUser:
    email: str  # lower-cased
    lists: tuple[str, ...]
    vars: dict[str, Any]
    signup: datetime | None  # None: the seed's anchor time


@dataclass(frozen=True)
class SeedSend:
    template: str
    email: str
    send_time: datetime


@dataclass(frozen=True)
class SeedBlast:
    blast_id: int
    name: str
    list: str
    send_time: datetime
    opened: tuple[str, ...]  # lower-cased addresses; the clickers are among them
    clicked: tuple[str, ...]


@dataclass
class SeedData:
    """A seed file, checked and with its times resolved against ``anchor``."""

    name: str  # the file as given, for messages
    anchor: datetime
    lists: list[str] = field(default_factory=list)  # declared, then named by users
    users: list[SeedUser] = field(default_factory=list)
    purchases: list[tuple[dict[str, Any], datetime]] = field(default_factory=list)
    scheduled_sends: list[SeedSend] = field(default_factory=list)
    blasts: list[SeedBlast] = field(default_factory=list)

    def add_list(self, name: str) -> None:
        if name not in self.lists:
            self.lists.append(name)


def parse_time(value: object, anchor: datetime) -> datetime | None:
    """A seed file's time (see the module docstring), or None if it is not one."""
    if not isinstance(value, str):
        return None
    relative = _RELATIVE.match(value)
    if relative:
        try:
            delta = parse_duration(relative["duration"])
        except ValueError:
            return None
        return anchor + delta if relative["sign"] == "+" else anchor - delta
    return parse_date(value, allow_epoch=False)


def load_seed_file(path: str | os.PathLike[str], anchor: datetime | None = None) -> SeedData:
    """Read and check a YAML or CSV seed file; SeedFileError lists every problem in it."""
    file = str(path)
    data = SeedData(file, anchor or today_anchor())
    suffix = Path(path).suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        message = "a seed file is YAML (.yaml, .yml) or CSV (.csv); or give --seed demo"
        raise SeedFileError(file, [Problem(file, 1, 1, "", message)])
    try:
        size = Path(path).stat().st_size
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot read the seed file: {reason} (give --seed demo or a file's path)"
        raise SeedFileError(file, [Problem(file, 1, 1, "", message)]) from None
    if suffix == ".csv":
        problems = _read_csv(Path(path), data)
    elif size > MAX_YAML_BYTES:
        message = "a YAML seed file may be at most 10 MB; put the users in a CSV seed file"
        problems = [Problem(file, 1, 1, "", message)]
    else:
        problems = _read_yaml(Path(path), data)
    if problems:
        raise SeedFileError(file, problems)
    return data


# -- YAML ------------------------------------------------------------------------------------
def _read_yaml(path: Path, data: SeedData) -> list[Problem]:
    document = load_yaml_file(path, display=data.name)
    if document.problems or document.data is None:
        return document.problems or [
            Problem(data.name, 1, 1, "", f"the seed file is empty; give {', '.join(SECTIONS)}")
        ]
    reader = _YamlSeed(document.source, data)
    reader.read(document.data)
    return reader.problems


class _YamlSeed:
    def __init__(self, source: SourceMap, data: SeedData) -> None:
        self.source = source
        self.data = data
        self.problems: list[Problem] = []
        self.user_lines: dict[str, int] = {}
        self.extid_lines: dict[str, int] = {}

    def problem(self, path: PathTuple, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, key=key))

    def read(self, root: object) -> None:
        if not isinstance(root, dict):
            self.problem((), f"a seed file is a mapping of {', '.join(SECTIONS)}")
            return
        for name in root:
            if name not in SECTIONS:
                message = f"unknown section; a seed file has {', '.join(SECTIONS)}"
                self.problem((name,), message, key=True)
        readers = (self.list_name, self.user, self.purchase, self.scheduled_send, self.blast)
        for section, read_one in zip(SECTIONS, readers, strict=True):
            entries = root.get(section)
            if entries is None:
                continue
            if not isinstance(entries, list):
                self.problem((section,), f"{section} is a list (one `- ` line per entry)")
                continue
            for index, entry in enumerate(entries):
                read_one((section, index), entry)

    def list_name(self, path: PathTuple, name: object) -> None:
        if self.check_list_name(path, name):
            self.data.add_list(str(name))

    def check_list_name(self, path: PathTuple, name: object) -> bool:
        if isinstance(name, str) and name.strip():
            return True
        self.problem(path, f"a list name is a non-empty text, got {name!r}")
        return False

    def mapping(self, path: PathTuple, entry: object, keys: tuple[str, ...]) -> bool:
        if not isinstance(entry, dict):
            self.problem(path, f"expected a mapping of {', '.join(keys)}, got {entry!r}")
            return False
        for key in entry:
            if key not in keys:
                message = f"unknown key; an entry here has {', '.join(keys)}"
                self.problem((*path, key), message, key=True)
        return True

    def email(self, path: PathTuple, entry: dict[str, Any]) -> str | None:
        email = entry.get("email")
        if "email" not in entry:
            self.problem(path, "missing email: give the address (email: ann@example.com)")
            return None
        if not isinstance(email, str) or not is_valid_email(email.strip()):
            self.problem((*path, "email"), f"expected an email address, got {email!r}")
            return None
        return email.strip().lower()

    def user(self, path: PathTuple, entry: object) -> None:
        if not self.mapping(path, entry, USER_KEYS):
            return
        assert isinstance(entry, dict)
        email = self.email(path, entry)
        lists = entry.get("lists", [])
        lists = [lists] if isinstance(lists, str) else lists
        if not isinstance(lists, list):
            self.problem((*path, "lists"), "lists is a list of list names")
            lists = []
        good = [
            name for i, name in enumerate(lists) if self.check_list_name((*path, "lists", i), name)
        ]
        user_vars = entry.get("vars", {})
        if not isinstance(user_vars, dict):
            self.problem((*path, "vars"), "vars is a mapping of var names to values")
            user_vars = {}
        signup = None
        if entry.get("signup_date") is not None:
            signup = parse_time(entry["signup_date"], self.data.anchor)
            if signup is None:
                self.problem((*path, "signup_date"), f"not a date: {TIME_HINT}")
        if email is None:
            return
        line = self.source.position(path)[0]
        if email in self.user_lines:
            self.problem(
                path,
                f"{email} is already a user at line {self.user_lines[email]}; give each address"
                " once, with all its lists",
            )
            return
        self.user_lines[email] = line
        for name in good:
            self.data.add_list(name)
        self.data.users.append(SeedUser(email, tuple(dict.fromkeys(good)), user_vars, signup))

    def purchase(self, path: PathTuple, entry: object) -> None:
        if not isinstance(entry, dict):
            self.problem(path, f"a purchase is a mapping (a purchase_import line), got {entry!r}")
            return
        date = entry.get("date")
        if isinstance(date, str) and _RELATIVE.match(date):
            moment = parse_time(date, self.data.anchor)
            if moment is None:
                self.problem((*path, "date"), f"not a date: {TIME_HINT}")
                return
            entry = {**entry, "date": moment.isoformat()}
        try:  # the purchase_import format, checked as the sandbox checks an uploaded line
            purchase = purchase_to_dict(parse_purchase_line(json.dumps(entry).encode()))
        except PurchaseFormatError as error:
            parts = [
                int(m["index"]) if m["index"] else m["key"]
                for m in _PURCHASE_PATH.finditer(error.problem.path)
            ]
            self.problem((*path, *parts), f"not a valid purchase: {error.problem.message}")
            return
        moment = parse_date(purchase["date"], allow_epoch=True)
        if moment is None:
            self.problem((*path, "date"), f"not a date: {TIME_HINT}")
            return
        extid = extid_of(purchase)
        if extid in self.extid_lines:
            self.problem(
                (*path, *_extid_path(purchase)),
                f"extid {extid!r} is already used at line {self.extid_lines[extid]};"
                " each purchase has its own",
            )
            return
        self.extid_lines[extid] = self.source.position(path)[0]
        self.data.purchases.append((purchase, moment))

    def scheduled_send(self, path: PathTuple, entry: object) -> None:
        if not self.mapping(path, entry, SEND_KEYS):
            return
        assert isinstance(entry, dict)
        email = self.email(path, entry)
        template = entry.get("template")
        if not isinstance(template, str) or not template.strip():
            where = (*path, "template") if "template" in entry else path
            message = f"template is the name of a template, got {template!r}"
            self.problem(where, message, key="template" not in entry)
        send_time = parse_time(entry.get("send_time"), self.data.anchor)
        if send_time is None:
            where = (*path, "send_time") if "send_time" in entry else path
            self.problem(where, f"send_time: {TIME_HINT}", key="send_time" not in entry)
        if email is not None and isinstance(template, str) and send_time is not None:
            self.data.scheduled_sends.append(SeedSend(template, email, send_time))

    def blast(self, path: PathTuple, entry: object) -> None:
        """A sent campaign: read after the users, so its list and recipients are known."""
        if not self.mapping(path, entry, BLAST_KEYS):
            return
        assert isinstance(entry, dict)
        ok = True
        blast_id = entry.get("blast_id")
        if isinstance(blast_id, str) and blast_id.isascii() and blast_id.isdigit():
            blast_id = int(blast_id)
        taken = {blast.blast_id for blast in self.data.blasts}
        if isinstance(blast_id, bool) or not isinstance(blast_id, int) or blast_id <= 0:
            ok = self.required(path, entry, "blast_id", f"a whole number, got {blast_id!r}")
        elif blast_id in taken:
            ok = self.required(path, entry, "blast_id", f"{blast_id} is already a blast's id")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            ok = self.required(path, entry, "name", f"the campaign's name, got {name!r}")
        list_name = entry.get("list")
        if list_name not in self.data.lists:
            ok = self.required(path, entry, "list", f"a list of this file, got {list_name!r}")
        send_time = parse_time(entry.get("send_time"), self.data.anchor)
        if send_time is None:
            ok = self.required(path, entry, "send_time", TIME_HINT)
        on_list = {user.email for user in self.data.users if list_name in user.lists}
        opened = self.recipients(path, entry, "opened", on_list)
        clicked = self.recipients(path, entry, "clicked", on_list)
        if not ok or opened is None or clicked is None:
            return
        assert isinstance(blast_id, int) and isinstance(name, str) and send_time is not None
        opened = tuple(dict.fromkeys(opened + clicked))
        self.data.blasts.append(
            SeedBlast(blast_id, name, str(list_name), send_time, opened, clicked)
        )

    def required(self, path: PathTuple, entry: dict[str, Any], key: str, message: str) -> bool:
        """A problem with ``key`` (at the entry when it is missing); False."""
        if key in entry:
            self.problem((*path, key), f"{key}: {message}")
        else:
            self.problem(path, f"missing {key}: {message}")
        return False

    def recipients(
        self, path: PathTuple, entry: dict[str, Any], key: str, on_list: set[str]
    ) -> tuple[str, ...] | None:
        """The addresses of ``opened`` or ``clicked``: users on the campaign's list."""
        value = entry.get(key, [])
        if not isinstance(value, list):
            self.problem((*path, key), f"{key} is a list of email addresses")
            return None
        emails = []
        for index, email in enumerate(value):
            address = email.strip().lower() if isinstance(email, str) else None
            if address not in on_list:
                message = f"{email!r} is not a user on the campaign's list, so it got no email"
                self.problem((*path, key, index), message)
                return None
            emails.append(address)
        return tuple(emails)


# -- CSV -------------------------------------------------------------------------------------
def _read_csv(path: Path, data: SeedData) -> list[Problem]:
    file = data.name
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return [Problem(file, line, 1, "", "the file is not valid UTF-8; save it as UTF-8")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [column.strip() for column in next(reader, [])]
    lowered = [column.lower() for column in header]
    if "email" not in lowered:
        message = 'a CSV seed file has an "email" column (and "lists", names separated by "|")'
        return [Problem(file, 1, 1, "", message)]
    problems = [
        Problem(file, 1, 1, "", f"the column {name!r} appears twice")
        for i, name in enumerate(lowered)
        if name in lowered[:i]
    ]
    special = {"email", "lists", "signup_date"}
    var_columns = [(i, name) for i, name in enumerate(header) if lowered[i] not in special]
    lists_at = lowered.index("lists") if "lists" in lowered else None
    signup_at = lowered.index("signup_date") if "signup_date" in lowered else None
    seen: dict[str, int] = {}
    line = reader.line_num + 1  # where the next record starts
    for row in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            message = f"{len(row)} cells, but the header has {len(header)} columns"
            problems.append(Problem(file, start, 1, "", message))
            continue
        cells = dict(zip(lowered, row, strict=True))
        email = cells["email"].strip()
        if not is_valid_email(email):
            problems.append(Problem(file, start, 1, "email", f"not an email address: {email!r}"))
            continue
        email = email.lower()
        if email in seen:
            message = f"{email} is already a user at line {seen[email]}; give each address once"
            problems.append(Problem(file, start, 1, "email", message))
            continue
        seen[email] = start
        signup = None
        if signup_at is not None and row[signup_at].strip():
            signup = parse_time(row[signup_at], data.anchor)
            if signup is None:
                problems.append(Problem(file, start, 1, "signup_date", f"not a date: {TIME_HINT}"))
                continue
        lists = []
        if lists_at is not None:
            lists = [name.strip() for name in row[lists_at].split(LIST_SEPARATOR) if name.strip()]
        for name in lists:
            data.add_list(name)
        user_vars = {name: row[i] for i, name in var_columns if row[i] != ""}
        data.users.append(SeedUser(email, tuple(dict.fromkeys(lists)), user_vars, signup))
    if not data.users and not problems:
        problems.append(Problem(file, 1, 1, "", "the CSV seed file has no users"))
    return problems


def _extid_path(purchase: dict[str, Any]) -> tuple[str, ...]:
    """Where a purchase's extid is written (``extid_of`` reads the same places)."""
    in_keys = "extid" in (purchase.get("purchase_keys") or {})
    return ("purchase_keys", "extid") if in_keys else ("extid",)
