"""pytest fixtures for sailjobs and for in-house plugin authors (``pytest_plugins = ["runner.testing"]``).

The sandbox fixtures are added with the sandbox (runner/sandbox/).
"""
