"""The one masking helper: secrets, signatures and export URLs never reach logs or reports.

Anything secret is registered once (``register_secret``) where it enters the process: the
API key and secret, the values of ``env.*`` variables that are secrets (``is_secret_name``,
or listed under a manifest's ``secrets:``), values derived from them by filters, every
``export_url``. A registered value is masked with its distinctive parts: its trimmed and
slug forms, any case of it, and for a URL its userinfo, its path and the path segments and
query values that look like tokens (not ``/v1`` or ``services``), so a library that quotes
only part of a secret URL in an exception masks it too. ``mask`` replaces every registered
part in any text, and ``mask_data`` walks dicts and lists. ``MaskingFilter`` applies it to
every record a handler emits (attach it to handlers: logger filters do not see records
propagated from child loggers).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

MASK = "***"
# Shorter values would mask ordinary words; a secret that short is not worth hiding anyway.
_MIN_SECRET_LENGTH = 4
# Flag values, not secrets (``KEYRING_ENABLED=true``): masking them would hide every "true".
_FLAG_WORDS = frozenset({"true", "false", "none", "null", "unset", "disabled", "enabled"})
_SIG_PATTERN = re.compile(r"(\bsig[=:\"' ]+)[0-9a-fA-F]{32}")
# The API credentials, whatever their names say, and env names that say "secret".
API_CREDENTIAL_NAMES = frozenset({"SAILTHRU_API_KEY", "SAILTHRU_API_SECRET"})
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|WEBHOOK", re.IGNORECASE)

_lock = threading.Lock()
# Every secret form, lower-cased (masking ignores case), longest first so that a secret
# that contains another is masked whole.
_secrets: list[str] = []
_known: set[str] = set()


def is_secret_name(name: str, listed: Iterable[str] = ()) -> bool:
    """Whether the env variable ``name`` holds a secret: an API credential, a name with
    TOKEN, SECRET, PASSWORD, KEY or WEBHOOK in it (any case), or one in ``listed`` (a
    manifest's ``secrets:``)."""
    return name in API_CREDENTIAL_NAMES or bool(_SECRET_NAME.search(name)) or name in listed


def register_env_secrets(env: Mapping[str, str], listed: Iterable[str] = ()) -> None:
    """Register the value of every env variable that ``is_secret_name`` (at a run's start:
    a plugin's exception may quote a credential it read itself, ``AWS_SECRET_ACCESS_KEY``)."""
    listed = frozenset(listed)
    for name, value in env.items():
        if is_secret_name(name, listed):
            register_secret(value)


def _looks_like_token(part: str) -> bool:
    """A URL part worth masking on its own: long and random-looking, not a word like ``v1``,
    ``hooks`` or ``services`` that also appears in ordinary text."""
    if len(part) < 8:
        return False
    has_digit = any(c.isdigit() for c in part)
    mixed_case = any(c.islower() for c in part) and any(c.isupper() for c in part)
    return has_digit or mixed_case or len(part) >= 20


def _url_parts(text: str, *, whole_path: bool) -> list[str]:
    """The distinctive parts of a URL (none for text that is not one)."""
    if "://" not in text:
        return []
    try:
        parts = urlsplit(text)
    except ValueError:  # an invalid IPv6 host, say: not a URL we can take apart
        return []
    if not parts.scheme or not parts.netloc:
        return []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, _, password = userinfo.partition(":")
        found += [userinfo, password, unquote(password)]
        if _looks_like_token(user):
            found += [user, unquote(user)]
    segments = [s for s in parts.path.split("/") if _looks_like_token(unquote(s))]
    if segments or (whole_path and len(parts.path) > 8):
        found.append(parts.path)
    for segment in segments:
        found += [segment, unquote(segment)]
    for raw in (parts.query, parts.fragment):
        for piece in raw.split("&"):
            value = piece.partition("=")[2] if "=" in piece else piece  # ?<token> alone
            if _looks_like_token(unquote_plus(value)):
                found += [value, unquote_plus(value)]  # as written, and as a server quotes it
    return found


def _forms(text: str, *, whole_path: bool = False) -> list[str]:
    """A secret and the forms of it that text may quote (case is ignored when masking)."""
    stripped = text.strip()
    slug = re.sub(r"[^a-z0-9]+", "-", stripped.lower()).strip("-")  # the ``slug`` filter's
    return [text, stripped, slug, *_url_parts(stripped, whole_path=whole_path)]


def _add(candidates: Iterable[str]) -> None:
    with _lock:
        added = False
        for candidate in candidates:
            lowered = candidate.lower()
            if len(candidate) >= _MIN_SECRET_LENGTH and lowered not in _known:
                _known.add(lowered)
                _secrets.append(lowered)
                added = True
        if added:
            _secrets.sort(key=len, reverse=True)


def _found_in(text: str) -> list[str]:
    """The secrets ``text`` holds, longest first (plain substring tests: a run registers
    thousands of export URLs, and a regex of them all would be compiled again and again)."""
    lowered = text.lower()
    with _lock:
        secrets = list(_secrets)
    return [secret for secret in secrets if secret in lowered]


def register_secret(value: object) -> None:
    """Remember a value that must never be shown; it and its distinctive parts are masked
    from then on, process-wide."""
    text = "" if value is None else str(value)
    if len(text.strip()) >= _MIN_SECRET_LENGTH and text.strip().lower() not in _FLAG_WORDS:
        _add(_forms(text))


def register_url(url: str) -> None:
    """Register a capability URL (an export link): the whole URL and its path are secret.
    One already reduced to its host (``redact_url``, as the run state keeps it) is not."""
    if redact_url(url) == url:
        return
    if len(url.strip()) >= _MIN_SECRET_LENGTH:
        _add(_forms(url, whole_path=True))


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a registered secret (a value derived from it is secret too)."""
    return bool(text) and bool(_found_in(text))


def mask(text: str) -> str:
    """``text`` with every registered secret (any case, any distinctive part) and every
    ``sig`` value replaced by ``***``."""
    if not text:
        return text
    found = _found_in(text)
    if found:
        text = re.sub("|".join(map(re.escape, found)), MASK, text, flags=re.IGNORECASE)
    return _SIG_PATTERN.sub(lambda m: m.group(1) + MASK, text)


def mask_data(data: Any) -> Any:
    """A copy of nested dicts/lists with every string masked."""
    if isinstance(data, str):
        return mask(data)
    if isinstance(data, dict):
        return {key: mask_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_data(value) for value in data]
    return data


def redact_url(url: str) -> str:
    """A URL reduced to scheme and host, for messages about a capability URL."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return MASK
    host = parts.netloc.rsplit("@", 1)[-1]  # userinfo is a credential
    return f"{parts.scheme}://{host}/{MASK}"


def forget_secrets() -> None:
    """Clear the registry (tests only: each test starts with none)."""
    with _lock:
        _secrets.clear()
        _known.clear()


class MaskingFilter(logging.Filter):
    """A logging filter that masks the formatted message of every record it sees, and the
    text of the exception it carries (a traceback quotes the exception's message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatted here, masked, and kept as text: the handler prints exc_text as is.
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
