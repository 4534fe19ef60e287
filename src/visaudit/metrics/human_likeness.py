"""Human-likeness of decisions: model-vs-human's trial-by-trial metrics (Geirhos et al.).

Two decision makers (a model, an observer) answered the same trials. With ``c_i`` the
per-trial correctness of each and ``p_i`` their accuracies:

- observed consistency ``c_obs`` = share of trials both got right or both got wrong;
- expected consistency ``c_exp = p1 p2 + (1 - p1)(1 - p2)`` (independent observers of those accuracies);
- error consistency ``kappa = (c_obs - c_exp) / (1 - c_exp)`` (Cohen's kappa on correctness;
  Geirhos, Meding & Wichmann, NeurIPS 2020), 1.0 when ``c_obs`` is 1;
- accuracy difference = ``(p1 - p2) ** 2`` (model-vs-human's squared 16-class accuracy difference).

Example:
    >>> r = error_consistency([1, 1, 0, 0], [1, 0, 0, 1])
    >>> r["observed"], r["expected"], r["kappa"]
    (0.5, 0.5, 0.0)
    >>> error_consistency([1, 0, 1], [1, 0, 1])["kappa"]
    1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: model-vs-human's dataset code in a trial's image name (``0001_edg_s01_...``) -> its dataset name.
#: Edge and silhouette stimuli share file names (``oven10.png``): only this code tells them apart.
MVH_IMAGE_CODES = {"edg": "edge", "sif": "silhouette"}
#: where the observers' decision files are published.
MVH_SOURCE = "github.com/bethgelab/model-vs-human, raw-data/<dataset>/<dataset>_subject-NN_session_N.csv"


def error_consistency(correct_a: Iterable[bool | int], correct_b: Iterable[bool | int]) -> dict[str, float]:
    """Observed, expected and error consistency (kappa) of two aligned correctness vectors.

    Raises:
        ValueError: if the vectors differ in length or are empty.
    """
    a = np.asarray(list(correct_a), dtype=bool)
    b = np.asarray(list(correct_b), dtype=bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two non-empty correctness vectors of one length, got {a.size} and {b.size}")
    p_a, p_b = float(a.mean()), float(b.mean())
    observed = float((a == b).mean())
    expected = p_a * p_b + (1.0 - p_a) * (1.0 - p_b)
    kappa = 1.0 if observed == 1.0 else (observed - expected) / (1.0 - expected)
    return {"observed": observed, "expected": expected, "kappa": kappa, "accuracy_a": p_a, "accuracy_b": p_b}


def accuracy_difference(accuracy_a: float, accuracy_b: float) -> float:
    """model-vs-human's accuracy difference: the squared difference of two accuracies."""
    return float((accuracy_a - accuracy_b) ** 2)


def stimulus_name(imagename: str) -> str:
    """The stimulus file name inside a psychophysics ``imagename``.

    model-vs-human prefixes each stimulus with trial, session and condition fields
    (``<trial>_<experiment>_<subject>_<condition>_<category>_<xx>_<stimulus>``): the stimulus part
    is what a human trial shares with the release's DNN copy of the image. Plain names pass
    through (their last ``_`` field).

    Example:
        >>> stimulus_name("0001_edg_s01_0_oven_00_oven10.png"), stimulus_name("oven10.png")
        ('oven10.png', 'oven10.png')
        >>> stimulus_name("dnn/session-1/0001_cop_dnn_c30_knife_10_n03041632_7380.png")
        'n03041632_7380.png'
    """
    base = str(imagename).replace("\\", "/").rsplit("/", 1)[-1]
    parts = base.split("_", 6)
    if len(parts) == 7 and parts[0].isdigit():
        return parts[6]
    return base.rsplit("_", 1)[-1]


def dataset_of_imagename(imagename: str) -> str | None:
    """The model-vs-human dataset named by the code in a trial's image name, if known.

    Example:
        >>> dataset_of_imagename("0001_edg_s01_0_oven_00_oven10.png"), dataset_of_imagename("oven10.png")
        ('edge', None)
    """
    parts = str(imagename).replace("\\", "/").rsplit("/", 1)[-1].split("_")
    if len(parts) > 2 and parts[0].isdigit():
        return MVH_IMAGE_CODES.get(parts[1])
    return None


def check_decisions_dataset(imagenames: Iterable[str], dataset: str) -> None:
    """Refuse decisions whose image names say they were made on another model-vs-human dataset.

    Args:
        imagenames: the trials' image names.
        dataset: model-vs-human's name of the stimuli they are matched to (``edge``, ``contrast``, ...).

    Raises:
        ValueError: naming the dataset the image names point to.
    """
    others = {d for d in map(dataset_of_imagename, imagenames) if d is not None and d != dataset}
    if others:
        why = (
            "; edge and silhouette stimuli share file names, so a name match proves nothing"
            if dataset in MVH_IMAGE_CODES.values()
            else ""
        )
        raise ValueError(
            f"the decisions are on {', '.join(sorted(others))} (model-vs-human's code in the image names), "
            f"not on {dataset}{why}"
        )


def correctness_by_stimulus(decisions: "pd.DataFrame") -> dict[str, "pd.Series"]:
    """Per subject, a boolean Series of correctness indexed by stimulus file name.

    Raises:
        ValueError: if a subject answered one stimulus more than once.
    """
    out = {}
    table = decisions.assign(
        stimulus=decisions["imagename"].map(stimulus_name),
        correct=decisions["object_response"].astype(str).str.strip() == decisions["category"].astype(str).str.strip(),
    )
    for subject, rows in table.groupby("subj", sort=True):
        twice = rows["stimulus"][rows["stimulus"].duplicated()].tolist()
        if twice:
            raise ValueError(f"subject {subject!r} answered {twice[:3]} more than once")
        out[str(subject)] = rows.set_index("stimulus")["correct"].astype(bool)
    return out


def mean_rank_order(scores: dict[str, dict[str, float]], higher_is_better: dict[str, bool]) -> list[tuple[str, float]]:
    """Subjects ordered by their mean rank over several metrics (model-vs-human's benchmark ranking).

    Each metric ranks the subjects (1 = best; ties share the mean of their ranks); a subject's
    score is its mean rank over the metrics, lower first. Subjects that lack a metric are ranked
    on the others.

    Example:
        >>> mean_rank_order({"a": {"ec": 0.3, "ad": 0.01}, "b": {"ec": 0.1, "ad": 0.02}},
        ...                 {"ec": True, "ad": False})
        [('a', 1.0), ('b', 2.0)]
    """
    from scipy.stats import rankdata

    ranks: dict[str, list[float]] = {s: [] for s in scores}
    for metric, higher in higher_is_better.items():
        have = [s for s in scores if metric in scores[s] and np.isfinite(scores[s][metric])]
        if not have:
            continue
        values = np.array([scores[s][metric] for s in have], dtype=float)
        r = rankdata(-values if higher else values, method="average")
        for s, v in zip(have, r):
            ranks[s].append(float(v))
    mean = {s: float(np.mean(r)) for s, r in ranks.items() if r}
    return sorted(mean.items(), key=lambda kv: (kv[1], kv[0]))
