"""Links kept out of the run state: an export URL is a capability (whoever has it reads the
customers' data), and the state may be a database many machines share.

Every http(s) URL in the outputs a state stores is, by default, withheld: stored as its
scheme and host only (``https://host/***``, as the reports show it). A resumed run asks
Sailthru for a fresh link instead (``runner.executor.withheld``). With a key in
``SAILJOBS_STATE_KEY`` (a Fernet key), the URL is stored encrypted instead, and read back
by any machine that has the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import cast

from runner.executor.state.errors import StateError
from runner.jsontypes import JSONDict, JSONValue
from runner.masking import redact_url, register_secret

KEY_ENV = "SAILJOBS_STATE_KEY"
_SEALED = "$sealed"  # {"$sealed": "<Fernet token>"}: an encrypted value
_WITHHELD = "$withheld"  # {"$withheld": "https://host/***"}: a value not kept


def _is_link(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


class Sealer:
    """Seals the links of outputs on their way into the state, and opens them on the way
    out. ``key``: a Fernet key (None: links are withheld, not kept)."""

    def __init__(self, key: str | None) -> None:
        self._fernet = None
        if key:
            register_secret(key)
            # lazy: cryptography loads only when a key is given
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(key.encode())
            except ValueError as exc:
                raise StateError(
                    f"{KEY_ENV} is not a key sailjobs can use ({exc}); make one with "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`"
                ) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Sealer:
        return cls(env.get(KEY_ENV) or None)

    def seal(self, outputs: Mapping[str, JSONValue]) -> JSONDict:
        return cast(JSONDict, self._seal(dict(outputs)))

    def _seal(self, value: JSONValue) -> JSONValue:
        if isinstance(value, dict):
            return {key: self._seal(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._seal(item) for item in value]
        if _is_link(value):
            text = cast(str, value)
            if self._fernet is not None:
                return {_SEALED: self._fernet.encrypt(text.encode()).decode()}
            return {_WITHHELD: redact_url(text)}
        return value

    def open(self, outputs: JSONDict) -> tuple[JSONDict, bool]:
        """The outputs as stored, links opened; and whether one was withheld (not kept, or
        sealed with another key): a resumed run fetches a fresh one."""
        withheld: list[bool] = []
        opened = cast(JSONDict, self._open(outputs, withheld))
        return opened, bool(withheld)

    def _open(self, value: JSONValue, withheld: list[bool]) -> JSONValue:
        if isinstance(value, dict):
            if set(value) == {_WITHHELD}:
                withheld.append(True)
                return value[_WITHHELD]
            if set(value) == {_SEALED}:
                return self._decrypt(cast(str, value[_SEALED]), withheld)
            return {key: self._open(item, withheld) for key, item in value.items()}
        if isinstance(value, list):
            return [self._open(item, withheld) for item in value]
        return value

    def _decrypt(self, token: str, withheld: list[bool]) -> JSONValue:
        if self._fernet is not None:
            # lazy: cryptography loads only when a key is given
            from cryptography.fernet import InvalidToken

            try:
                return self._fernet.decrypt(token.encode()).decode()
            except InvalidToken:
                pass
        withheld.append(True)  # no key now, or another one: as if not kept
        return "***"
