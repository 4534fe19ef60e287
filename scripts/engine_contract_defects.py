"""The five engine-contract defects of issue 15, measured on any checkout (no asserts: it prints).

Run on an older checkout to see them, on this one to see them gone::

    PYTHONPATH=<checkout>/src VISAUDIT_DATA=../shared/data VISAUDIT_WEIGHTS=../shared/models \\
        .venv/bin/python scripts/engine_contract_defects.py

It uses only the ``visaudit.audit`` API and the CLI, which older checkouts share.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import visaudit

DATA = Path(os.environ["VISAUDIT_DATA"])
RANDOM = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "snow"]
RANDOM += ["frost", "fog", "spatter", "elastic_transform", "contrast", "jpeg_compression"]


def wnid_folder(tmp: Path) -> dict[str, Any]:
    """1. A WNID folder of three classes (real cue-conflict images) scored by lite0."""
    from visaudit.data.labels import imagenet1k, imagenet16

    inet, cats = imagenet1k(), imagenet16()
    folder = tmp / "val-slice"
    for cat in ("cat", "dog", "truck"):
        wnid = inet.ids[cats.groups[cats.classes.index(cat)][0]]
        (folder / wnid).mkdir(parents=True)
        for f in sorted((DATA / "cue-conflict" / cat).glob("*.png"))[:30]:
            shutil.copy(f, folder / wnid / f.name)
    r = visaudit.audit("efficientnet_lite0", "accuracy", str(folder), store=tmp / "s1").records[0]
    return {"top1": r["metrics"]["top1"], "label_map": r["label_map"]["kind"]}


def amp(tmp: Path) -> dict[str, Any]:
    """2. An AMP run after an fp32 run: same key? answered from the store?"""
    kw = dict(store=tmp / "s2", max_images=64)
    a = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", **kw).records[0]
    b = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", amp=True, **kw).records[0]
    return {"same_key": a["key"] == b["key"], "cached": b.get("cached")}


def ood_content(tmp: Path) -> dict[str, Any]:
    """3. One image of an OOD folder replaced: same key? answered from the store?"""
    ood = tmp / "ood" / "cat"
    ood.mkdir(parents=True)
    for f in sorted((DATA / "silhouettes" / "cat").glob("*.png"))[:5]:
        shutil.copy(f, ood / f.name)
    cfg = {"ood": {"ood_sets": [str(tmp / "ood")], "detectors": ["msp"]}}
    kw = dict(store=tmp / "s3", max_images=32, probe_config=cfg)
    first = visaudit.audit("cifar10_resnet20", "ood", "cifar10-test", **kw).records[0]["key"]
    shutil.copy(DATA / "silhouettes" / "dog" / "dog1.png", sorted(ood.iterdir())[0])
    again = visaudit.audit("cifar10_resnet20", "ood", "cifar10-test", **kw).records[0]
    return {"same_key": again["key"] == first, "cached": again.get("cached")}


def batching(tmp: Path) -> dict[str, Any]:
    """4. Random corruptions at batch sizes 16, 64, 100 and chunk size 50."""
    cfg = {"corruptions": {"corruptions": RANDOM, "severities": [5], "examples": 0}}
    runs = {}
    for bs, cs in ((16, 2048), (64, 2048), (100, 2048), (64, 50)):
        rec = visaudit.audit(
            "cifar10_resnet20",
            "corruptions",
            "cifar10-test",
            store=tmp / f"s4-{bs}-{cs}",
            max_images=120,
            batch_size=bs,
            chunk_size=cs,
            probe_config=cfg,
            workers=0,
        ).records[0]
        runs[f"{bs}/{cs}"] = rec["metrics"]
    base = runs["16/2048"]
    return {
        "metrics_differing_from_batch16": {k: sum(base[m] != v[m] for m in base) for k, v in runs.items()},
        "top1@gaussian_noise/5": {k: v["top1@gaussian_noise/5"] for k, v in runs.items()},
    }


def resume(tmp: Path) -> dict[str, Any]:
    """5. Killed after two chunks of 60, resumed with chunk size 250, against a clean run."""
    cfg = {"corruptions": {"corruptions": ["gaussian_noise", "shot_noise", "snow", "contrast"], "severities": [1, 5]}}
    cfg["corruptions"]["examples"] = 0
    (tmp / "cfg5.json").write_text(json.dumps(cfg))
    store = tmp / "s5"
    args = [sys.executable, "-m", "visaudit.cli", "run", "-m", "cifar10_resnet20", "-p", "corruptions"]
    args += ["-d", "cifar10-test", "--store", str(store), "--max-images", "600", "--chunk-size", "60", "-q"]
    args += ["--workers", "0", "--config", str(tmp / "cfg5.json")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done: list[Path] = []
    while proc.poll() is None:
        done = list((store / "work").glob("*/*.done")) if (store / "work").exists() else []
        if len(done) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kw = dict(max_images=600, workers=0, probe_config=cfg)
    resumed = visaudit.audit("cifar10_resnet20", "corruptions", "cifar10-test", store=store, chunk_size=250, **kw)
    clean = visaudit.audit("cifar10_resnet20", "corruptions", "cifar10-test", store=tmp / "s5c", **kw)
    r, c = resumed.records[0]["metrics"], clean.records[0]["metrics"]
    return {
        "chunks_done_at_kill": len(done),
        "resumed_clean_top1": r["clean_top1"],
        "clean_run_clean_top1": c["clean_top1"],
        "metrics_differing": sum(c[m] != r.get(m) for m in c),
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    out = {}
    for step in (wnid_folder, amp, ood_content, batching, resume):
        out[step.__name__] = step(tmp)
        print(json.dumps({step.__name__: out[step.__name__]}), flush=True)


if __name__ == "__main__":
    main()
