"""sailjobs: run Sailthru job pipelines declared as YAML manifests.

The import package is ``runner``; the distribution and the command are ``sailjobs``.
Every stage is a library call first (``load_manifest``, ``build_plan``, ``run``) and a
CLI command second. This module stays import-light so that ``sailjobs --help`` is fast.
"""

__version__ = "0.1.0"
