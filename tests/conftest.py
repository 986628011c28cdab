"""Shared test set-up. The sandbox fixtures come from ``runner.testing``, the pytest plugin
that in-house plugin authors use too."""

from __future__ import annotations

import pytest

pytest_plugins = ["runner.testing"]


@pytest.fixture(autouse=True)
def _fresh_secret_registry():
    """Each test starts with no registered secrets and a fresh plugin manager."""
    from runner.masking import forget_secrets
    from runner.plugins import reset_plugin_manager

    forget_secrets()
    reset_plugin_manager()
    yield
    forget_secrets()
    reset_plugin_manager()
