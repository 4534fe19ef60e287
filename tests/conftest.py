"""Test set-up: point the data-root settings at the shared real data (../shared beside the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISAUDIT_SHARED", REPO.parent / "shared"))

os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))
os.environ["VISAUDIT_OFFLINE"] = "1"  # tests never download


def pytest_configure(config):
    if not (Path(os.environ["VISAUDIT_DATA"]) / "cue-conflict").is_dir():
        raise pytest.UsageError(
            f"real test data not found: set VISAUDIT_DATA/VISAUDIT_WEIGHTS (now {os.environ['VISAUDIT_DATA']})"
        )


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Each test session gets its own visaudit cache (weight fingerprints, text embeddings)."""
    os.environ["VISAUDIT_CACHE"] = str(tmp_path_factory.mktemp("visaudit-cache"))
    yield


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory) -> Path:
    """One results store shared by tests that only read results (saves recomputing real runs)."""
    return tmp_path_factory.mktemp("shared-store")


@pytest.fixture(scope="session")
def resnet20():
    from visaudit.models import load_model

    return load_model("cifar10_resnet20")


@pytest.fixture(scope="session")
def lite0():
    from visaudit.models import load_model

    return load_model("efficientnet_lite0")
