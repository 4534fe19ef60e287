"""``human-likeness``: trial-by-trial agreement of a model with human observers (model-vs-human).

The model decides each 16-class stimulus as in ``shape-bias`` (the run's shared clean pass,
the 1000 -> 16 mean-probability rule, argmax). Each observer's decisions are read from
model-vs-human's raw-data CSV files (``subj, session, trial, rt, object_response, category,
condition, imagename``) and matched to the dataset's stimuli by file name. Per observer:
16-class accuracy, observed consistency and error consistency (Cohen's kappa on correctness,
Geirhos et al. 2020) on the trials both answered; their means, model-vs-human's accuracy
difference (the mean squared accuracy difference) and, for scale, the humans' own mean
pairwise error consistency. Definitions: :mod:`visaudit.metrics.human_likeness`.

The observers' files are inputs of the job (content fingerprints in the key): by default
every ``*subject-*.csv`` under ``human-decisions/<dataset>`` of the data root (model-vs-human's
folder names: ``edge``, ``silhouette``, ``cue-conflict``, ...), or the files and folders of
the ``humans`` option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from visaudit.data.base import ImageDataset
    from visaudit.probes.base import ProbeContext

from visaudit.metrics.human_likeness import MVH_SOURCE


@dataclass
class HumanLikenessConfig(ProbeConfig):
    """Options of the human-likeness probe.

    Attributes:
        humans: decision CSV files or folders (each folder: its ``*subject-*.csv``); empty =
            ``human-decisions/<model-vs-human dataset folder>`` under the data root.
    """

    humans: list[str] = field(default_factory=list)


class SubjectAgreement(TypedDict):
    """The model against one observer, on the trials both answered."""

    subject: str
    n_trials: int
    subject_accuracy: float
    model_accuracy: float  # on the same trials
    observed_consistency: float
    expected_consistency: float
    error_consistency: float


class HumanLikenessData(TypedDict):
    """``data`` of a human-likeness record."""

    subjects: list[SubjectAgreement]
    human_pairs: dict[str, dict[str, float]]  # subject -> subject -> error consistency
    files: list[str]  # the observers' decision files read
    n_images: int  # stimuli the model decided


@register_probe
class HumanLikenessProbe(Probe):
    """Error consistency, observed consistency and accuracy difference to human observers."""

    name = "human-likeness"
    version = 2  # 2: the model's decision per stimulus in the samples table
    Config = HumanLikenessConfig
    Data = HumanLikenessData
    headline = "error_consistency"
    metrics = {
        "error_consistency": MetricSpec(True, "Cohen's kappa of trial-by-trial correctness vs a human (mean)"),
        "observed_consistency": MetricSpec(True, "share of trials right or wrong together with a human (mean)"),
        "accuracy_difference": MetricSpec(False, "squared 16-class accuracy difference to a human (mean)"),
        "human_accuracy": MetricSpec(True, "the observers' mean 16-class accuracy"),
        "human_error_consistency": MetricSpec(True, "mean error consistency between pairs of observers"),
        "top1_16class": MetricSpec(True, "the model's 16-class accuracy on the stimuli"),
        "subject_accuracy": MetricSpec(True, "one observer's 16-class accuracy"),
    }

    def check(self, model: Any, dataset: "ImageDataset | None") -> None:
        space = getattr(getattr(dataset, "label_space", None), "name", None)
        if space is not None and str(space) != "imagenet16":
            raise VisauditError(
                "human-likeness runs on the 16-class stimuli that observers decided (edges, silhouettes, "
                f"cue-conflict, ...), not on a dataset with label space {space!r}"
            )
        self.decision_files(dataset)

    def decision_files(self, dataset: "ImageDataset | None") -> list[Path]:
        """The observers' CSV files this job reads (sorted), or a clear error."""
        from visaudit.data.resolver import resolve

        if self.config.humans:
            places = [Path(p) for p in self.config.humans]
        else:
            from visaudit.data.benchmarks import mvh_dataset_of

            name = str(getattr(dataset, "name", ""))
            folder = mvh_dataset_of(name)
            if folder is None:
                raise VisauditError(
                    f"human-likeness: no default human decisions for dataset {name!r}; "
                    f"give the observers' CSV files with the option humans (from {MVH_SOURCE})"
                )
            places = [resolve(f"human-decisions/{folder}", kind="data", what=f"human decisions for {name}")]
        files: list[Path] = []
        for p in places:
            if p.is_dir():
                files += sorted(p.glob("*subject-*.csv"))
            elif p.is_file():
                files.append(p)
            else:
                raise VisauditError(f"human-likeness: {p} does not exist")
        if not files:
            raise VisauditError(f"human-likeness: no *subject-*.csv decision file in {', '.join(map(str, places))}")
        return sorted(set(files))

    def inputs(self, model: Any, dataset: "ImageDataset | None") -> dict[str, Any]:
        from visaudit.data.fingerprint import file_digest

        return {"humans": {f.name: file_digest(f) for f in self.decision_files(dataset)}}

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import numpy as np
        import pandas as pd
        import torch

        from visaudit.metrics import human_likeness as hl

        files = self.decision_files(ctx.dataset)
        decisions = _read_humans(files)
        from visaudit.data.benchmarks import mvh_dataset_of

        mvh = mvh_dataset_of(ctx.dataset.name)
        if mvh is not None:
            try:
                hl.check_decisions_dataset(decisions["imagename"], mvh)
            except ValueError as err:
                raise VisauditError(f"human-likeness: {err}") from err
        humans = hl.correctness_by_stimulus(decisions)
        cp = ctx.clean_logits()
        if len(cp.index) == 0:
            raise VisauditError(f"human-likeness: no image of {ctx.dataset.name} could be read")
        pred = ctx.scores(torch.from_numpy(cp.logits).to(ctx.device)).argmax(dim=1).cpu().numpy()
        stimuli = [hl.stimulus_name(i) for i in cp.ids]
        model = dict(zip(stimuli, (pred == cp.labels).tolist()))
        classes = ctx.dataset.label_space.classes
        samples = pd.DataFrame(
            {
                "sample_id": cp.ids,
                "stimulus": stimuli,
                "label": cp.labels,
                "pred": pred,
                "decision": [classes[int(i)] for i in pred],
                "correct": pred == cp.labels,
            }
        )

        known = {hl.stimulus_name(i) for i in ctx.dataset.ids}
        rows: list[SubjectAgreement] = []
        for subject, correct in humans.items():
            unknown = sorted(set(correct.index) - known)
            if len(unknown) == len(correct):
                raise VisauditError(
                    f"human-likeness: no image name of observer {subject!r} matches a stimulus of "
                    f"{ctx.dataset.name} (e.g. {unknown[0]!r}); are these decisions on another dataset?"
                )
            shared = [s for s in correct.index if s in model]
            if not shared:
                continue  # the job's subset holds none of this observer's trials
            r = hl.error_consistency([model[s] for s in shared], correct.loc[shared].tolist())
            rows.append(
                {
                    "subject": subject,
                    "n_trials": len(shared),
                    "subject_accuracy": r["accuracy_b"],
                    "model_accuracy": r["accuracy_a"],
                    "observed_consistency": r["observed"],
                    "expected_consistency": r["expected"],
                    "error_consistency": r["kappa"],
                }
            )
        if not rows:
            raise VisauditError("human-likeness: the job's images hold none of the observers' trials")

        pairs: dict[str, dict[str, float]] = {}
        names = sorted(humans)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                both = humans[a].index.intersection(humans[b].index)
                if len(both):
                    k = hl.error_consistency(humans[a].loc[both], humans[b].loc[both])["kappa"]
                    pairs.setdefault(a, {})[b] = k
                    pairs.setdefault(b, {})[a] = k
        between = [v for a in pairs for b, v in pairs[a].items() if a < b]

        metrics: dict[str, float] = {
            "top1_16class": float(np.mean(pred == cp.labels)),
            "error_consistency": float(np.mean([r["error_consistency"] for r in rows])),
            "observed_consistency": float(np.mean([r["observed_consistency"] for r in rows])),
            "accuracy_difference": float(
                np.mean([hl.accuracy_difference(r["model_accuracy"], r["subject_accuracy"]) for r in rows])
            ),
            "human_accuracy": float(np.mean([r["subject_accuracy"] for r in rows])),
            "human_error_consistency": float(np.mean(between)) if between else float("nan"),
        }
        for r in rows:
            metrics[f"error_consistency@{r['subject']}"] = r["error_consistency"]
            metrics[f"observed_consistency@{r['subject']}"] = r["observed_consistency"]
            metrics[f"subject_accuracy@{r['subject']}"] = r["subject_accuracy"]
        data: HumanLikenessData = {
            "subjects": rows,
            "human_pairs": pairs,
            "files": [str(f) for f in files],
            "n_images": int(len(cp.index)),
        }
        warnings = []
        if any(r["n_trials"] < len(humans[r["subject"]]) for r in rows):
            warnings.append("the job's subset holds only some of the observers' trials: metrics are on those")
        return ProbeResult(metrics=metrics, data=data, samples=samples, warnings=warnings)


def _read_humans(files: list[Path]) -> "pd.DataFrame":
    from visaudit.metrics.shape_bias import normalise_decisions, read_decision_csvs

    try:
        return normalise_decisions(read_decision_csvs([str(f) for f in files]))
    except ValueError as err:
        raise VisauditError(f"human-likeness: {err}") from err
