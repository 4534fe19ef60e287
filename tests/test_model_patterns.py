"""Model lists for sweeps: glob patterns over the zoo, timm and torchvision; a models file."""

from __future__ import annotations

import fnmatch

import pytest

from tests.helpers import run_cli
from visaudit.errors import VisauditError
from visaudit.models import ZOO_NAMES
from visaudit.models.patterns import expand_models, expand_pattern, is_pattern, read_models_file


def test_a_zoo_pattern_expands_over_the_zoo_in_name_order():
    assert expand_pattern("cifar10_resnet*") == sorted(n for n in ZOO_NAMES if n.startswith("cifar10_resnet"))
    assert expand_pattern("cifar10_resnet[23]?") == ["cifar10_resnet20", "cifar10_resnet32"]


@pytest.mark.slow  # the first timm import takes seconds on 2 cores
def test_a_timm_pattern_is_what_timm_lists():
    import timm

    got = expand_pattern("timm:resnet1*")
    assert got == sorted(f"timm:{n}" for n in timm.list_models("resnet1*"))
    assert "timm:resnet18" in got and all(fnmatch.fnmatchcase(g[5:], "resnet1*") for g in got)


def test_a_torchvision_pattern_is_what_torchvision_lists():
    import torchvision

    want = sorted(f"tv:{n}" for n in torchvision.models.list_models() if n.startswith("resnet"))
    assert expand_pattern("tv:resnet*") == want and "tv:resnet50" in want


@pytest.mark.parametrize("spec", ["cifar100_*", "timm:no_such_net*", "tv:nothing*"])
def test_a_pattern_that_matches_nothing_is_a_clear_error(spec):
    with pytest.raises(VisauditError, match="matches no model"):
        expand_pattern(spec)


def test_names_paths_and_checkpoints_are_not_patterns():
    assert is_pattern("cifar10_*") and is_pattern("timm:vit_?")
    assert not is_pattern("cifar10_resnet20")
    assert not is_pattern("timm:resnet18@/w/weights[1].pth") and not is_pattern("runs/*/model.ts")


def test_a_models_file_adds_its_specs_comments_and_duplicates_dropped(tmp_path):
    path = tmp_path / "models.txt"
    path.write_text("# sweep\ncifar10_resnet20\n\n  cifar10_resnet[45]*   # the deep ones\ncifar10_resnet20\n")
    assert read_models_file(path) == ["cifar10_resnet20", "cifar10_resnet[45]*", "cifar10_resnet20"]
    got = expand_models(["cifar10_resnet32", "cifar10_resnet20"], path)
    assert got == ["cifar10_resnet32", "cifar10_resnet20", "cifar10_resnet44", "cifar10_resnet56"]


def test_an_empty_or_missing_models_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(VisauditError, match="names no model"):
        read_models_file(tmp_path / "empty.txt")
    with pytest.raises(VisauditError, match="cannot read the models file"):
        read_models_file(tmp_path / "absent.txt")


def test_the_cli_refuses_ray_options_without_the_ray_backend_and_unmatched_patterns(tmp_path):
    res = run_cli("run", "-m", "cifar10_resnet20", "--gpus-per-job", "1", "--store", str(tmp_path), "-q")
    assert res.returncode == 2 and "--gpus-per-job need --backend ray" in res.stdout + res.stderr
    res = run_cli("run", "-m", "cifar100_*", "-d", "cifar10-test", "--store", str(tmp_path), "-q")
    assert res.returncode == 2 and "matches no model" in res.stdout + res.stderr
