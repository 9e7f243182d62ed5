"""Settings shared by every test of the project.

Hypothesis (under schemathesis) keeps no example database in the working tree, so that runs on a
developer's machine and in CI are the same; set HYPOTHESIS_PROFILE=dev to keep one locally.
"""

from __future__ import annotations

import os

from hypothesis import settings

# Many tests start Python processes (the mock, the contract suite against a broken server):
# without cached bytecode each of them compiles, and pytest rewrites, some 500 modules again,
# about 3 s a process. They may write it, even where the environment says not to.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

settings.register_profile("ci", database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
