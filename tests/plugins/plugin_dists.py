"""Installed-looking distributions made at test time: a ``*.dist-info`` folder with entry
points plus the plugin module, in a folder put on ``sys.path``. importlib.metadata finds
them exactly as it finds a pip-installed plugin."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_distribution(
    root: Path,
    dist_name: str,
    modules: dict[str, str],
    entry_points: dict[str, str],
    version: str = "1.2.3",
) -> Path:
    """Write a distribution into ``root`` (put ``root`` on sys.path to install it)."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[sailjobs]\n{lines}")
    return root
