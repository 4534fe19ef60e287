"""Benchmark: the HTML report over 100 synthetic records (goal: under 5 s).

Prints, measured in this one run:
  * the report rendered in a fresh interpreter (every import included), the import time of
    scipy.stats (the report's only heavy import) and pandas on their own, a first render after
    those imports and a warm render;
  * the baseline: matplotlib (Agg, SVG output) drawing the same charts, one figure per chart,
    replayed from the exact series the report drew;
  * ``visaudit compare`` over the same store (all metric pairs).

Usage:  PYTHONPATH=src python bench/report_100_records.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    t0 = time.perf_counter()
    from visaudit.report import svg as svgmod
    from visaudit.report.figures import bias, mechanics, reliability, robustness
    from visaudit.report.synthetic import synthetic_records, write_store

    records = synthetic_records(n_models=7, seed=0)[:100]
    tmp = Path(tempfile.mkdtemp(prefix="visaudit-bench-"))
    write_store(records, tmp / "store")

    # Record every chart call so the baseline draws exactly the same charts.
    calls: list[tuple[str, tuple, dict]] = []
    originals = {n: getattr(svgmod, n) for n in ("line_chart", "dot_rows", "heatmap")}

    def spy(name):
        def wrapper(*args, **kwargs):
            calls.append((name, args, kwargs))
            return originals[name](*args, **kwargs)

        return wrapper

    modules = [svgmod, bias, mechanics, reliability, robustness]
    for mod in modules:
        for n in originals:
            if hasattr(mod, n):
                setattr(mod, n, spy(n))

    import subprocess

    code = (
        "import sys, time; sys.path.insert(0, %r); t = time.perf_counter(); "
        "from visaudit.report.render import render_report; render_report(%r, %r); "
        "print(time.perf_counter() - t)"
    ) % (str(Path(__file__).resolve().parents[1] / "src"), str(tmp / "store"), str(tmp / "cold"))
    fresh = float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )

    t_imp = time.perf_counter()
    import scipy.stats  # noqa: F401  (the report's bias table needs it)

    t_scipy = time.perf_counter() - t_imp
    t_imp = time.perf_counter()
    import pandas  # noqa: F401  (only `compare` needs it, not the report)

    t_pandas = time.perf_counter() - t_imp

    from visaudit.report.render import render_report

    t1 = time.perf_counter()
    res = render_report(tmp / "store", tmp / "out")
    cold = time.perf_counter() - t1
    for mod in modules:
        for n, f in originals.items():
            if hasattr(mod, n):
                setattr(mod, n, f)
    t2 = time.perf_counter()
    res = render_report(tmp / "store", tmp / "out")
    warm = time.perf_counter() - t2
    size = res.path.stat().st_size

    t3 = time.perf_counter()
    n_mpl = _matplotlib_baseline(calls)
    mpl = time.perf_counter() - t3

    from visaudit.report.comparison import compare

    t4 = time.perf_counter()
    comp = compare(tmp / "store")
    t_cmp = time.perf_counter() - t4

    print(
        f"records: {len(records)}, subjects: {res.n_models}, figures on the page: {len(res.figure_ids)}, "
        f"charts drawn: {len(calls)}, index.html: {size / 1e6:.2f} MB"
    )
    print(f"{'what':58s} {'seconds':>8s}")
    print(f"{'report in a fresh interpreter (all imports included)':58s} {fresh:8.2f}")
    print(f"{'  part of it: import scipy.stats (measured here)':58s} {t_scipy:8.2f}")
    print(f"{'import pandas (compare only; not on the report path)':58s} {t_pandas:8.2f}")
    print(f"{'report, first render after those imports':58s} {cold:8.2f}")
    print(f"{'report, second render (warm)':58s} {warm:8.2f}")
    print(f"{'baseline: matplotlib Agg -> SVG, same ' + str(n_mpl) + ' charts':58s} {mpl:8.2f}")
    print(f"{'compare, all pairs (' + str(len(comp.correlations)) + ' correlations)':58s} {t_cmp:8.2f}")
    print(f"{'process total (incl. synthetic store, imports)':58s} {time.perf_counter() - t0:8.2f}")
    import os

    print(
        f"goal: report < 5 s -> {'met' if fresh < 5 else 'MISSED'} in a fresh interpreter ({fresh:.2f} s); "
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def _matplotlib_baseline(calls) -> int:
    """Draw each recorded chart with matplotlib and write it as SVG to memory."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name, args, kwargs in calls:
        fig, ax = plt.subplots(figsize=(4.6, 2.8))
        if name == "line_chart":
            for s in args[0]:
                ax.plot(
                    list(s.x),
                    list(s.y),
                    marker="o" if s.markers else None,
                    ms=3,
                    label=s.label,
                    ls="--" if s.dashed else "-",
                    drawstyle="steps-mid" if s.step else "default",
                )
            if kwargs.get("xlog"):
                ax.set_xscale("log")
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
        elif name == "dot_rows":
            rows = list(args[0])
            for label, values in args[1]:
                ys = [i for i, r in enumerate(rows) if r in values]
                ax.scatter([values[rows[i]] for i in ys], ys, s=12, label=label)
            ax.set_yticks(range(len(rows)), rows, fontsize=7)
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
        else:
            im = ax.imshow(args[0], cmap="Blues")
            fig.colorbar(im)
        ax.set_xlabel(kwargs.get("xlabel", ""))
        ax.set_ylabel(kwargs.get("ylabel", ""))
        fig.savefig(io.StringIO(), format="svg", bbox_inches="tight")
        plt.close(fig)
    return len(calls)


if __name__ == "__main__":
    main()
