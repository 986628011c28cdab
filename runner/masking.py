"""The one masking helper: secrets, signatures and export URLs never reach logs or reports.

Anything secret is registered once (``register_secret``) where it enters the process: the
API secret, every value read from ``env.*``, every ``export_url``. ``mask`` then replaces
each of them in any text, and ``mask_data`` walks dicts and lists. ``MaskingFilter`` applies
it to every record a handler emits (attach it to handlers: logger filters do not see
records propagated from child loggers).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import urlsplit

MASK = "***"
# Shorter values would mask ordinary words; a secret that short is not worth hiding anyway.
_MIN_SECRET_LENGTH = 4
_SIG_PATTERN = re.compile(r"(\bsig[=:\"' ]+)[0-9a-fA-F]{32}")

_lock = threading.Lock()
_secrets: list[str] = []


def register_secret(value: object) -> None:
    """Remember a value that must never be shown; it is masked from then on, process-wide."""
    text = "" if value is None else str(value)
    if len(text) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if text not in _secrets:
            _secrets.append(text)
            # Longest first, so a secret that contains another is masked whole.
            _secrets.sort(key=len, reverse=True)


def register_url(url: str) -> None:
    """Register a capability URL (an export link): the whole URL and its path are secret."""
    register_secret(url)
    path = urlsplit(url).path
    if len(path) > 8:
        register_secret(path)


def mask(text: str) -> str:
    """``text`` with every registered secret and every ``sig`` value replaced by ``***``."""
    if not text:
        return text
    with _lock:
        secrets = list(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
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
    return f"{parts.scheme}://{parts.netloc}/{MASK}"


def forget_secrets() -> None:
    """Clear the registry (tests only: each test starts with none)."""
    with _lock:
        _secrets.clear()


class MaskingFilter(logging.Filter):
    """A logging filter that masks the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
