"""The ``ood`` / ``calibration`` probes' configs: cheap to import, checked before any compute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import visaudit
from visaudit.errors import VisauditError
from visaudit.probes import PROBES
from visaudit.probes.ood import resolve_sets, set_label


def test_probe_modules_do_not_import_torch():
    code = (
        "import sys; from visaudit.probes import PROBES; "
        "[PROBES.get(n).Config.from_dict({}) for n in ('ood', 'calibration')]; "
        "from visaudit.ood import DETECTORS; DETECTORS.names(); "
        "print(sorted(m for m in ('torch', 'scipy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _info(space="cifar10", n=10):
    return type("Info", (), {"label_space": space, "num_classes": n})()


def test_check_refuses_bad_options_before_compute():
    cls = PROBES.get("ood")
    with pytest.raises(VisauditError, match="Did you mean 'energy'"):
        cls(cls.Config(detectors=["enrgy"])).check(_info(), None)
    with pytest.raises(VisauditError, match="heldout_classes"):
        cls(cls.Config(heldout_classes=list(range(10)))).check(_info(), None)
    cls(cls.Config()).check(_info(), None)
    cal = PROBES.get("calibration")
    with pytest.raises(VisauditError):
        cal(cal.Config(ts_fit_fraction=1.0)).check(_info(), None)


def test_auto_sets_depend_on_the_model():
    assert resolve_sets(["auto"], "cifar10") == [
        "uniform-noise",
        "gaussian-noise",
        "blobs",
        "solid-colours",
        "fashion-mnist",
        "silhouettes",
        "heldout-classes",
    ]
    assert resolve_sets(["auto", "blobs"], "imagenet1k") == [
        "uniform-noise",
        "gaussian-noise",
        "blobs",
        "solid-colours",
    ]
    assert set_label("/data/my sets/textures/") == "textures" and set_label("fashion-mnist") == "fashion-mnist"


def test_any_folder_is_an_ood_set(tmp_path):
    edges = str(Path(os.environ["VISAUDIT_DATA"]) / "edges")
    res = visaudit.audit(
        "cifar10_resnet20",
        "ood",
        "cifar10-test",
        store=tmp_path,
        max_images=200,
        probe_config={"ood": {"ood_sets": [edges], "detectors": ["msp", "knn"], "max_ood_images": 100}},
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec["error"]
    assert rec["data"]["split"]["n_ood"] == {"edges": 100}
    assert 0.5 < rec["metrics"]["auroc@msp/edges"] <= 1.0
    assert 0.0 <= rec["metrics"]["auroc@knn/edges"] <= 1.0
    # the reference k = 50 on ~100 fit images: said in the record
    assert rec["data"]["fit"]["knn"]["k"] == 50 and rec["data"]["fit"]["n_fit"] < 1000
    assert any(w.startswith("knn: k=50 is") for w in rec["warnings"])
    samples = rec["samples_file"]
    assert samples
