"""Figure functions per probe, all drawn from stored records only.

Each function takes one record (a dict with the brief's schema) and returns a list of
:class:`Figure` (empty when the record holds nothing it can draw). Where the metric names
already encode a curve, the figure is derived from them; otherwise it reads ``record["data"]``
with the layout below. A typed probe declares its layout as a ``TypedDict`` beside the
probe class (``<Probe>.Data``, e.g. :class:`visaudit.probes.solarization.SolarizationData`);
its figures read exactly those keys. An unknown or missing layout yields no figure (the metrics
table still shows), never an exception: :func:`figures_for` also catches any error of a
figure function and turns it into a note.

=====================  ==================================================================
probe                  drawn from (``m:`` metric names, ``d:`` ``record["data"]`` keys)
=====================  ==================================================================
accuracy               m: ``class_top1@<class>`` (or d: ``per_class`` {class: {"n", "top1"}})
corruptions            m: ``top1@<corruption>/<severity>`` (or d: ``grid`` {corruption:
                       {severity: top1}}); ``top1``/``clean_top1`` as severity 0
solarization           d: ``sweep`` {"threshold": [...], "top1": [...]}, ``randsol``
                       {"iteration": [...], "robust_top1": [...]};
                       m: ``sweep_worst_threshold`` marks the worst t
nuisance-sweeps        d: ``curves`` {knob: {"value": [...], "top1": [...], "unit": str}}
adversarial            m: ``robust_top1@<attack>/<norm>=<eps>`` (eps as float or "8/255"),
                       ``clean_top1`` as eps 0; d: ``curve`` {"norm", "eps": [...],
                       "top1": [...], "estimate"}
confidence             d: ``bin_edges`` [n+1] and ``histograms`` {group: [n counts]}; a
                       group without samples draws no line
perturbation-anatomy   d: ``energy_map`` 2-D list (image rows x columns)
shape-bias             m: ``shape_bias@<category>``, ``shape_bias``; imported subjects
                       (``model.source`` "decisions" or "human") share the plot
human-likeness         d: ``subjects`` [{"subject", "error_consistency"}], ``human_pairs``
                       {subject: {subject: kappa}}
spectral-bias          d: ``cutoffs``, ``lowpass_top1``, ``highpass_top1`` (or m:
                       ``top1_lowpass@<cutoff>``); d: ``fourier_map`` {"error": 2-D, "f_y",
                       "f_x"} (a bare 2-D list also works)
critical-band          d: ``grid_percent`` 5x7 accuracy in % (rows SD 0,.02,.04,.08,.16;
                       cols bands 0..6), ``rows_noise_sd``, ``thresholds`` [7],
                       ``fit`` {"A", "mu", "s"}
calibration            d: ``reliability`` {"lower", "upper", "count", "confidence",
                       "accuracy"} per bin (None for empty bins, which are not drawn);
                       ``temperature_scaling`` {"reliability_before",
                       "reliability_after"} of the same layout
ood                    m: ``auroc@<detector>/<set>``; d: ``histograms``
                       {"<det>/<set>": {"edges", "id", "ood"}}
layer-criticality      d: ``layers`` [{"module", "criticality"}] (or m:
                       ``criticality@<module>`` in depth order)
filters                m: ``sparsity@<m>``, ``variance_entropy_norm@<m>`` (else
                       ``variance_entropy@<m>``), ``orthogonality@<m>``
quantization-          m: ``delta_top1@<module>/<bits>bit``
sensitivity
any probe              ``record["artifacts"]`` PNG/JPEG/SVG files -> example images (except
                       those ``data["gallery"]`` lists: failures.html shows them);
                       any d: key holding {"x": [...], "y": [...]} -> a generic line chart
=====================  ==================================================================
"""

from __future__ import annotations

import base64
import html
from typing import Any, Callable

from visaudit.report.figures import bias, mechanics, reliability, robustness
from visaudit.report.figures.common import Figure, first, numbers
from visaudit.report.svg import Series, line_chart

FigureFn = Callable[[dict[str, Any]], list[Figure]]

FIGURES: dict[str, list[FigureFn]] = {
    "accuracy": [mechanics.per_class],
    "corruptions": [robustness.corruptions],
    "solarization": [robustness.solarization],
    "nuisance-sweeps": [robustness.nuisance_sweeps],
    "adversarial": [robustness.adversarial],
    "confidence": [robustness.confidence],
    "perturbation-anatomy": [robustness.perturbation_anatomy],
    "human-likeness": [bias.human_likeness],
    "spectral-bias": [bias.spectral_bias],
    "critical-band": [bias.critical_band],
    "calibration": [reliability.calibration],
    "ood": [reliability.ood],
    "layer-criticality": [mechanics.layer_criticality],
    "filters": [mechanics.filters],
    "quantization-sensitivity": [mechanics.quantization],
}

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
MAX_EXAMPLES = 8
MAX_IMAGE_BYTES = 2_000_000


def generic(rec: dict[str, Any]) -> list[Figure]:
    """Line charts for any ``data`` entry shaped ``{"x": [...], "y": [...]}`` (unknown probes)."""
    figs = []
    for key, c in (rec.get("data") or {}).items():
        if isinstance(c, dict):
            x, y = numbers(c.get("x")), numbers(c.get("y"))
            if x and y and len(x) == len(y):
                svg = line_chart(
                    [Series(str(key), x, y)], xlabel=str(c.get("xlabel", "x")), ylabel=str(c.get("ylabel", key))
                )
                figs.append(Figure(str(key), svg, [rec]))
    return figs


def gallery_artifacts(rec: dict[str, Any]) -> set[str]:
    """File names of the artifacts a record's ``data["gallery"]`` lists (shown in the failure browser)."""
    names: set[str] = set()
    gallery = (rec.get("data") or {}).get("gallery") if isinstance(rec.get("data"), dict) else None
    for item in gallery if isinstance(gallery, list) else []:
        for im in item.get("images") or [] if isinstance(item, dict) else []:
            if isinstance(im, dict) and isinstance(im.get("artifact"), str):
                names.add(im["artifact"])
    return names


def examples(rec: dict[str, Any], resolve: Callable[[str], Any]) -> list[Figure]:
    """Example images stored as record artifacts, inlined as base64 ``<img>`` (at most 8).

    Gallery artifacts are left to the failure browser (``failures.html``), which shows them
    with their captions.
    """
    imgs = []
    in_gallery = gallery_artifacts(rec)
    for rel in (rec.get("artifacts") or [])[:50]:
        if not isinstance(rel, str) or rel.rsplit("/", 1)[-1] in in_gallery:
            continue
        ext = "." + rel.rsplit(".", 1)[-1].lower() if "." in rel else ""
        if ext not in IMAGE_TYPES:
            continue
        path = resolve(rel)
        if path is None:
            continue
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        if len(raw) > MAX_IMAGE_BYTES:
            continue
        b64 = base64.b64encode(raw).decode("ascii")
        name = html.escape(rel.rsplit("/", 1)[-1])
        imgs.append(
            f'<figure class="ex"><img alt="{name}" src="data:{IMAGE_TYPES[ext]};base64,{b64}">'
            f"<figcaption>{name}</figcaption></figure>"
        )
        if len(imgs) >= MAX_EXAMPLES:
            break
    if not imgs:
        return []
    return [Figure("Examples", '<div class="examples">' + "".join(imgs) + "</div>", [rec])]


def figures_for(
    rec: dict[str, Any], resolve: Callable[[str], Any], others: list[dict[str, Any]] | None = None
) -> list[Figure]:
    """All figures of one record; a failing figure function becomes a note, never an exception.

    Args:
        rec: the record.
        resolve: maps an artifact path of the record to an existing file (or None).
        others: records of the same probe from other subjects (for shape bias beside humans).
    """
    probe = str((rec.get("probe") or {}).get("name", "")) if isinstance(rec.get("probe"), dict) else ""
    fns: list[Callable[[], list[Figure]]]
    if probe == "shape-bias":
        fns = [lambda: bias.shape_bias(rec, others)]
    elif probe in FIGURES:
        fns = [(lambda f=f: f(rec)) for f in FIGURES[probe]]
    else:
        fns = [lambda: generic(rec)]
    fns.append(lambda: examples(rec, resolve))
    out: list[Figure] = []
    for fn in fns:
        try:
            out.extend(fn())
        except Exception as exc:  # noqa: BLE001 - a malformed record must not break the report
            out.append(Figure("figure not drawn", "", [rec], note=f"{type(exc).__name__}: {exc}"))
    return out


__all__ = ["Figure", "FIGURES", "figures_for", "generic", "examples", "first"]
