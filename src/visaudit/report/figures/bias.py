"""Figures of the bias probes: shape bias (every subject in one plot), spectral bias, critical band."""

from __future__ import annotations

import math
from typing import Any

from visaudit.report.figures.common import Figure, by_prefix, matrix, numbers, parse_number
from visaudit.report.records import dataset_name, metrics_of, model_name
from visaudit.report.svg import Series, dot_rows, heatmap, line_chart


def shape_bias_subjects(records: list[dict[str, Any]], title: str = "Shape bias per category") -> list[Figure]:
    """Shape bias per category from ``shape_bias@<category>``, one marker per subject.

    Models and imported human observers are both subjects (their records have the same
    shape), so they share one plot, as in model-vs-human. Subjects are ordered by overall
    shape bias; categories alphabetically.
    """
    subjects = []
    for rec in records:
        if dataset_name(rec) not in ("cue-conflict", "-") and not by_prefix(rec, "shape_bias"):
            continue
        per_cat = by_prefix(rec, "shape_bias")
        if per_cat:
            subjects.append((rec, per_cat))
    if not subjects:
        return []
    subjects.sort(key=lambda s: -metrics_of(s[0]).get("shape_bias", 0.0))
    cats = sorted({c for _, pc in subjects for c in pc})
    series = []
    for rec, pc in subjects:
        overall = metrics_of(rec).get("shape_bias")
        label = model_name(rec) + (f" ({overall:.2f})" if overall is not None else "")
        series.append((label, pc))
    svg = dot_rows(cats, series, xlabel="fraction of 'shape' decisions", top_label="fraction of 'texture' decisions")
    return [Figure(title, svg, [r for r, _ in subjects])]


def shape_bias(rec: dict[str, Any], others: list[dict[str, Any]] | None = None) -> list[Figure]:
    """A model's card figure: its shape bias per category beside every human subject in the store."""
    humans = [r for r in (others or []) if r is not rec and _is_human(r)]
    return shape_bias_subjects(
        [rec] + humans, "Shape bias per category (with human observers)" if humans else "Shape bias per category"
    )


def _is_human(rec: dict[str, Any]) -> bool:
    m = rec.get("model") or {}
    if not isinstance(m, dict):
        return False
    text = f"{m.get('source', '')} {m.get('arch', '')} {m.get('name', '')}".lower()
    return "human" in text or m.get("source") in ("decisions", "import", "subject")


def spectral_bias(rec: dict[str, Any]) -> list[Figure]:
    """Low-/high-pass accuracy vs cutoff and the Fourier sensitivity map.

    Reads :class:`~visaudit.probes.spectral_bias.SpectralBiasData`: ``cutoffs`` with
    ``lowpass_top1`` / ``highpass_top1`` (else the metrics ``top1_lowpass@<cutoff>``), and
    ``fourier_map`` (``f_y``, ``f_x``, ``error`` 2-D) when the map was made.
    """
    data = rec.get("data")
    if not isinstance(data, dict):
        data = {}
    series = []
    for kind in ("lowpass", "highpass"):
        xs, ys = numbers(data.get("cutoffs")), numbers(data.get(f"{kind}_top1"))
        if not xs or not ys or len(xs) != len(ys):
            pts = {}
            for suffix, v in by_prefix(rec, f"top1_{kind}").items():  # top1_lowpass@<cutoff>
                cut = parse_number(suffix)
                if cut is not None:
                    pts[cut] = v
            xs, ys = sorted(pts), [pts[x] for x in sorted(pts)]
        if xs:
            series.append(Series(kind.replace("pass", "-pass"), xs, ys))
    figs = []
    if series:
        svg = line_chart(series, xlabel="cutoff (fraction of half size)", ylabel="top-1 accuracy", ylim=(0, 1))
        figs.append(Figure("Low-/high-pass accuracy", svg, [rec]))
    raw_map = data.get("fourier_map")
    fmap = matrix(raw_map.get("error")) if isinstance(raw_map, dict) else None
    if fmap:
        step = max(1, len(fmap) // 16)
        small = [row[::step] for row in fmap[::step]]
        svg = heatmap(
            small,
            [str(i * step) for i in range(len(small))],
            [str(j * step) for j in range(len(small[0]))],
            xlabel="frequency (columns)",
            ylabel="frequency (rows)",
            cell=16,
            annotate=False,
        )
        figs.append(Figure("Fourier sensitivity map (error rate)", svg, [rec]))
    return figs


SDS = [0.0, 0.02, 0.04, 0.08, 0.16]


def critical_band(rec: dict[str, Any]) -> list[Figure]:
    """The 5 x 7 accuracy grid and the Gaussian fit to the thresholds.

    Uses ``data["grid_percent"]`` (accuracy in %, rows SD 0, .02, .04, .08, .16; columns bands
    0..6), ``data["thresholds"]`` (7 ints), ``data["fit"] = {"A", "mu", "s"}`` and optionally
    ``data["rows_noise_sd"]``.
    """
    data = rec.get("data")
    if not isinstance(data, dict):
        return []
    grid = matrix(data.get("grid_percent"))
    figs = []
    if grid:
        sds = numbers(data.get("rows_noise_sd")) or SDS
        rows = [f"{s:g}" for s in sds] if len(sds) == len(grid) else [str(i) for i in range(len(grid))]
        svg = heatmap(
            grid, rows, [str(j) for j in range(len(grid[0]))], xlabel="octave band", ylabel="noise SD", vmin=0, vmax=100
        )
        figs.append(Figure("Critical-band accuracy grid (%)", svg, [rec]))
    thr = numbers(data.get("thresholds"))
    if thr:
        series = [Series("threshold", list(range(len(thr))), thr)]
        fit = data.get("fit")
        if isinstance(fit, dict) and all(isinstance(fit.get(k), (int, float)) for k in ("A", "mu", "s")):
            a, mu, s = float(fit["A"]), float(fit["mu"]), float(fit["s"]) or 1e-9
            xs = [i / 10 for i in range(0, 10 * (len(thr) - 1) + 1)]
            ys = [a * math.exp(-((x - mu) ** 2) / (2 * s * s)) for x in xs]
            series.append(Series(f"fit A={a:.2f} μ={mu:.2f} s={s:.2f}", xs, ys, markers=False, dashed=True))
        svg = line_chart(series, xlabel="octave band", ylabel="threshold (rows <= 50 %)", ylim=(0, 4.2))
        figs.append(Figure("Critical-band thresholds and Gaussian fit", svg, [rec]))
    return figs


def human_likeness(rec: dict[str, Any]) -> list[Figure]:
    """Error consistency with each observer, beside that observer's mean with the other observers.

    Reads ``data["subjects"]`` ([{"subject", "error_consistency"}]) and ``data["human_pairs"]``
    ({subject: {subject: kappa}}) of :class:`~visaudit.probes.human_likeness.HumanLikenessData`.
    """
    data = rec.get("data")
    rows = data.get("subjects") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return []
    model_ec: dict[str, float] = {}
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("error_consistency"), (int, float)) and row.get("subject"):
            model_ec[str(row["subject"])] = float(row["error_consistency"])
    if not model_ec:
        return []
    pairs = data.get("human_pairs") if isinstance(data, dict) else None
    human_ec: dict[str, float] = {}
    if isinstance(pairs, dict):
        for subject, others in pairs.items():
            vals = numbers(list(others.values())) if isinstance(others, dict) else []
            if vals and subject in model_ec:
                human_ec[str(subject)] = sum(vals) / len(vals)
    series = [(model_name(rec), model_ec)] + ([("other observers (mean)", human_ec)] if human_ec else [])
    svg = dot_rows(sorted(model_ec), series, xlabel="error consistency (Cohen's kappa)", xlim=(-0.2, 1.0))
    return [Figure(f"Error consistency with each observer ({dataset_name(rec)})", svg, [rec])]
