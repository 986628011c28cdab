"""What can go wrong with the run state, on either backend."""

from __future__ import annotations


class StateError(Exception):
    """The run state cannot be used (locked by another run, unreadable, newer schema)."""


class StateWriteError(StateError):
    """A write could not be recorded: nothing more is, from then on.

    Once raised, every later write raises it again, so the run records nothing half-way
    (never a POST whose intent was not stored); what was recorded before stays, and the
    next run resumes from it."""


class StateFullError(StateWriteError):
    """The device of the state folder is full."""


class StateUnavailableError(StateWriteError):
    """The state database stayed out of reach (a server restart that did not end, a network
    that did not come back) for longer than the state's retry window."""


class StateLostError(StateError):
    """``state.db`` is missing or empty beside the traces of earlier runs."""


class LockTimeoutError(StateError):
    """Another run of the manifest holds its lock, and it was not released in time."""
