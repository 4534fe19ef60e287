"""Small helpers shared by tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter with the test environment."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=str(REPO)
    )


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the CLI with a wide terminal so that rich does not wrap names inside table cells."""
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "visaudit.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
        env=env,
    )
