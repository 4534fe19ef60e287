"""One rule for the key: every run option is on a declared side, and the key and the record honour it."""

from __future__ import annotations

import dataclasses

import pytest

import visaudit
from visaudit.api import plan
from visaudit.engine.options import RunOptions

# a value other than the default for every option (the test fails when a new option has none)
OTHER = {
    "seed": 1,
    "max_images": 50,
    "label_subset": True,
    "amp": True,
    "channels_last": True,
    "device": "cuda",
    "batch_size": 7,
    "chunk_size": 11,
    "workers": 0,
    "strict": True,
    "backend": "ray",
    "force": True,
}


def _key(probe: str, **opts) -> str:
    jobs, _, _ = plan(["cifar10_resnet20"], [probe], [str(_folder())], RunOptions(**opts))
    return jobs[0].key


_FOLDER = {}


def _folder():
    """A folder of two CIFAR classes, so that ``label_subset`` means something."""
    if not _FOLDER:
        import os
        import shutil
        import tempfile
        from pathlib import Path

        root = Path(tempfile.mkdtemp()) / "two-classes"
        data = Path(os.environ["VISAUDIT_DATA"]) / "cifar10-test"
        for cls in ("cat", "dog"):
            (root / cls).mkdir(parents=True)
            for f in sorted((data / cls).glob("*.jpg"))[:30]:
                shutil.copy(f, root / cls / f.name)
        _FOLDER["path"] = root
    return _FOLDER["path"]


def test_every_run_option_declares_its_side():
    for f in dataclasses.fields(RunOptions):
        assert f.metadata.get("side") in ("key", "record", "none"), f.name
        assert f.metadata.get("why"), f"{f.name} must say why it is on its side"
        assert f.name in OTHER, f"add a non-default value for the new option {f.name!r} to OTHER"


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(RunOptions)])
def test_the_key_follows_each_options_side(name):
    side = RunOptions.side(name)
    for probe in ("accuracy", "corruptions"):  # one deterministic probe, one that draws
        base = _key(probe, device="cpu")
        changed = _key(probe, **{"device": "cpu", **{name: OTHER[name]}})
        if name == "device":
            # the device type keys exactly the probes that draw random numbers
            assert (changed != base) == (probe == "corruptions"), probe
        elif side == "key":
            assert changed != base, f"{name} can change a number but is not in the key ({probe})"
        else:
            assert changed == base, f"{name} only changes speed or behaviour but changed the key ({probe})"


def test_record_side_options_are_in_the_record(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "accuracy",
        "cifar10-test",
        store=tmp_path,
        max_images=20,
        batch_size=7,
        chunk_size=11,
        workers=0,
        strict=True,
    )
    rec = res.records[0]
    for f in dataclasses.fields(RunOptions):
        if f.metadata["side"] == "record":
            assert f.name in rec["run"], f.name
        if f.metadata["side"] == "key":
            assert rec["keyed_by"], "the key's payload is stored"
    assert rec["run"]["batch_size"] == 7 and rec["run"]["chunk_size"] == 11 and rec["run"]["chunks_run"] == 2
    assert rec["keyed_by"]["seed"] == 0 and rec["keyed_by"]["max_images"] == 20
