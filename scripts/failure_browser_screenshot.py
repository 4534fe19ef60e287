"""Fill a store with real runs, write the report and photograph its failure browser in Chromium.

Runs ``accuracy`` and ``corruptions`` for cifar10_resnet20 on CIFAR-10 test and for
efficientnet_lite0 on cue-conflict (small seeded subsets), renders the report
(``index.html`` + ``failures.html``), opens ``failures.html`` in headless Chromium (Debian's
``chromium``), checks that the page logs no error and that every gallery image decodes, and
writes screenshots of the page and of the enlarged view to ``--out`` (default
``docs/results/``). Prints each record's probe time and the report's render time (timings on
a shared machine are indicative only).

Usage:
    PYTHONPATH=src python scripts/failure_browser_screenshot.py --store /tmp/fb-store
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("VISAUDIT_DATA", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(REPO.parent / "shared" / "models"))
sys.path.insert(0, str(REPO / "tests"))

CORR = {"corruptions": ["gaussian_noise", "motion_blur", "fog", "contrast", "jpeg_compression"], "severities": [3, 5]}
RUNS = [
    ("cifar10_resnet20", "accuracy", "cifar10-test", 256, {}),
    ("cifar10_resnet20", "corruptions", "cifar10-test", 128, {"corruptions": {**CORR, "examples": 0, "gallery": 16}}),
    ("efficientnet_lite0", "accuracy", "cue-conflict", 64, {}),
    ("efficientnet_lite0", "corruptions", "cue-conflict", 16, {"corruptions": {**CORR, "examples": 0, "gallery": 8}}),
]

LOAD_ALL = """(async () => {
  let bad = 0, n = 0;
  for (const img of document.querySelectorAll('li.gi img')) {
    img.scrollIntoView({block: 'center'}); n++;
    for (let i = 0; i < 200 && !(img.complete && img.naturalWidth > 0); i++) await new Promise(r => setTimeout(r, 10));
    if (!(img.naturalWidth > 0)) bad++;
  }
  window.scrollTo(0, 0);
  return [n, bad];
})()"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/failure-browser-store"))
    ap.add_argument("--report", type=Path, default=None, help="report folder (default: <store>-report)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "results")
    args = ap.parse_args()

    import visaudit
    from chromium_cdp import Chromium
    from visaudit.report.render import render_report

    for model, probe, data, n, cfg in RUNS:
        res = visaudit.audit(model, probe, data, store=args.store, max_images=n, workers=0, probe_config=cfg)
        if res.errors:
            raise SystemExit(f"{model} {probe} {data}: {res.errors}")
        rec = res.records[0]
        print(f"{model:20s} {probe:12s} {data:13s} n={rec['n_samples']:4d} probe_s={rec['timings'].get('probe_s')}")
    t0 = time.perf_counter()
    out = render_report(args.store, args.report or Path(f"{args.store}-report"))
    b = out.browser
    assert b is not None
    print(f"report + failure browser rendered in {time.perf_counter() - t0:.1f} s: {b.path}")
    print(f"{len(b.galleries)} galleries, {b.n_items} items, {b.n_placeholders} placeholders, notes: {out.notes}")
    args.out.mkdir(parents=True, exist_ok=True)
    with Chromium.launch(width=1300, height=900) as br:
        page = br.new_page()
        page.goto(b.path.as_uri())
        n, bad = page.eval(LOAD_ALL)
        errors = page.errors()
        print(f"{n} gallery images, {bad} not decoded, console errors: {errors}")
        page.screenshot(args.out / "failure-browser.png")
        page.eval("document.querySelector('li.gi').focus()")
        page.press("Enter")
        page.screenshot(args.out / "failure-browser-viewer.png")
        if bad or errors:
            raise SystemExit("the failure browser did not load cleanly")
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
