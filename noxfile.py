"""Sessions: tests on every supported CPython the machine has, slow suites once, lint, types.

Python versions come from one place: the classifiers in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)
# In CI every supported interpreter must be there; elsewhere the missing ones are skipped.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))


def _runs(version: str) -> bool:
    """Whether pythonX.Y really runs (a pyenv shim exists even when its version is off)."""
    exe = shutil.which(f"python{version}")
    return exe is not None and subprocess.run([exe, "-c", ""], capture_output=True).returncode == 0


# The slow suites (broken-server matrix, load), lint and types run on one interpreter only:
# the newest supported one that runs here, else the one running nox.
SLOW_PYTHON = next(
    (v for v in reversed(PYTHONS) if _runs(v)), f"{sys.version_info[0]}.{sys.version_info[1]}"
)


def _install(session: nox.Session, *groups: str, editable: bool = True) -> None:
    deps = [d for g in groups for d in nox.project.dependency_groups(PYPROJECT, g)]
    session.install(*(["-e", "."] if editable else []), *deps)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit, integration and conformance tests, in parallel with xdist (slow ones excluded)."""
    _install(session, "test")
    session.run("pytest", "-n", "auto", "-m", "not slow", *session.posargs)


@nox.session(python=SLOW_PYTHON)
def slow(session: nox.Session) -> None:
    """Slow suites on one interpreter: the broken-server matrix and load behaviour."""
    _install(session, "test")
    session.run("pytest", "-n", "auto", "-m", "slow", *session.posargs)


@nox.session(python=SLOW_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _install(session, "lint", editable=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=SLOW_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every source root and the tests."""
    _install(session, "typecheck")
    session.run("mypy", env={"MYPYPATH": os.pathsep.join(["reference", "conformance", "clients"])})
