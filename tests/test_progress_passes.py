"""Progress of probes that run many forward passes per image: counted in image passes, ticking within a batch."""

from __future__ import annotations

import re

import visaudit

LINE = re.compile(r"^\[(start|progress|done)\] (.+?): (\d+)(?:/(\d+))? (\S+)(?: \(\d+%\), (\S+) (\S+)/s)?")


def _lines(text: str) -> list[tuple[str, int, int, str, str]]:
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m and "criticality" in m.group(2):
            tag, _, done, total, unit, rate, _ = m.groups()
            out.append((tag, int(done), int(total or done), unit, rate or ""))
    return out


def test_layer_criticality_progress_counts_image_passes_within_its_only_batch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VISAUDIT_PROGRESS_EVERY", "0")  # a line at every tick
    config = {"layer-criticality": {"n_images": 8, "trials": 1}}
    kw = dict(store=tmp_path / "a", max_images=8, batch_size=8, probe_config=config, workers=0)
    rec = visaudit.audit("cifar10_resnet20", "layer-criticality", "cifar10-test", quiet=False, **kw).records[0]
    assert rec["status"] == "ok", rec.get("error")
    lines = _lines(capsys.readouterr().out)
    passes = 1 + len(rec["data"]["layers"])  # the clean pass and one per module (one trial)
    start = [x for x in lines if x[0] == "start"]
    assert start and start[0][1] == 8 * passes and start[0][3] == "img-pass"
    ticks = [x for x in lines if x[0] == "progress"]
    # one tick per forward pass of the single batch of 8, each with a known rate, before the batch ended
    assert [x[1] for x in ticks] == [8 * k for k in range(1, passes + 1)]
    assert all(x[3] == "img-pass" and x[4] != "-" for x in ticks[:-1])
    assert [x for x in lines if x[0] == "done"][0][1] == 8 * passes
    quiet = visaudit.audit("cifar10_resnet20", "layer-criticality", "cifar10-test", **{**kw, "store": tmp_path / "b"})
    assert quiet.records[0]["metrics"] == rec["metrics"]  # progress never changes a number
