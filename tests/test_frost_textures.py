"""The frost photographs resolve like any data file: data root, package, cache, checked download."""

from __future__ import annotations

import importlib.util
import shutil
import zipfile

import pytest

import visaudit
from visaudit.errors import VisauditError
from visaudit.perturb.corruptions import weather

PACKAGE_FROST = weather.frost_texture_dir()  # the test environment installs imagecorruptions


@pytest.fixture
def no_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "imagecorruptions" else real(name, *a)
    )


def test_frost_from_a_data_root_folder(tmp_path, monkeypatch, no_package):
    src = PACKAGE_FROST
    monkeypatch.setenv("VISAUDIT_DATA", str(tmp_path))
    shutil.copytree(src, tmp_path / "frost")
    assert weather.frost_texture_dir() == tmp_path / "frost"


def test_frost_download_is_checked_and_cached(tmp_path, monkeypatch, no_package):
    src = PACKAGE_FROST
    archive = tmp_path / "imagecorruptions.zip"  # the repository archive's layout
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, f"imagecorruptions-master/imagecorruptions/frost/{f.name}")
    monkeypatch.setenv("VISAUDIT_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("VISAUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VISAUDIT_OFFLINE")
    monkeypatch.setattr(weather, "FROST_REMOTE_URL", archive.as_uri())
    folder = weather.frost_texture_dir()
    assert folder.is_relative_to(tmp_path / "cache") and (folder / "frost1.png").is_file()
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.setattr(weather, "FROST_TREE_SHA256", "0" * 64)  # a tampered download is refused
    with pytest.raises(VisauditError, match="checksum"):
        weather.frost_texture_dir()


def test_without_frost_the_plan_refuses_before_compute_and_says_what_to_install(tmp_path, monkeypatch, no_package):
    import os

    root = tmp_path / "data"  # the real data, without frost
    root.mkdir()
    (root / "cifar10-test").symlink_to(os.path.join(os.environ["VISAUDIT_DATA"], "cifar10-test"))
    monkeypatch.setenv("VISAUDIT_DATA", str(root))
    monkeypatch.setenv("VISAUDIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(VisauditError, match="imagecorruptions==1.1.2") as err:
        visaudit.audit("cifar10_resnet20", "corruptions", "cifar10-test", store=tmp_path / "s", max_images=8)
    assert "VISAUDIT_DATA" in str(err.value) and not (tmp_path / "s" / "records").exists()
