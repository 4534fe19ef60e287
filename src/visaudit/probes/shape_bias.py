"""Shape-vs-texture bias on cue-conflict stimuli; 16-class accuracy on edges / silhouettes.

Protocol (Geirhos et al. 2019, model-vs-human): the model's 1000-way softmax is reduced
to the 16 entry-level categories by the mean probability over each category's ImageNet
indices (``ctx.scores``); the decision is the argmax. On ``cue-conflict`` the 80 images
whose shape and texture agree are dropped and shape bias = #shape / (#shape + #texture).
Decisions are stored per image in the human psychophysics schema, so the same analysis
(:func:`visaudit.metrics.shape_bias.shape_bias_from_decisions`) serves models and people.

For zero-shot CLIP models the probe can re-run with prompt templates that ask for the
object's shape or its texture ("prompt steering") and report how far the bias moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from visaudit.probes.base import ProbeContext

#: Default steering prompts: one set asks for the shape, one for the texture.
STEERING_TEMPLATES: dict[str, list[str]] = {
    "shape": [
        "an image of an object shaped like a {}.",
        "a shape of a {}.",
        "the outline and form of a {}.",
        "an object with the shape of a {}.",
    ],
    "texture": [
        "an image with the texture of a {}.",
        "a surface texture of a {}.",
        "the fur, skin or material pattern of a {}.",
        "a close-up of the texture of a {}.",
    ],
}


@dataclass
class ShapeBiasConfig(ProbeConfig):
    """Options of the shape-bias probe.

    Attributes:
        prompt_steering: for zero-shot (CLIP) models, also run with ``steering_templates``.
        steering_templates: name -> prompt templates (``{}`` is the class name).
    """

    prompt_steering: bool = True
    steering_templates: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in STEERING_TEMPLATES.items()}
    )


class ShapeBiasCounts(TypedDict):
    """Decision counts on the cue-conflict images whose shape and texture differ."""

    n_conflict: int
    n_shape: int  # decisions equal to the shape label
    n_texture: int  # decisions equal to the texture label


class SteeringResult(TypedDict):
    """Shape bias of a zero-shot model under one prompt set."""

    shape_bias: float
    shape_match: float
    texture_match: float


class PromptSteering(TypedDict):
    """Prompt-steering runs of a zero-shot model."""

    templates: dict[str, list[str]]  # {prompt set: templates}
    results: dict[str, SteeringResult]  # {prompt set: result}


class ShapeBiasData(TypedDict, total=False):
    """``data`` of a shape-bias record; which keys are present depends on the dataset.

    On edges / silhouettes only ``n_images``. On cue-conflict ``counts``, plus
    ``prompt_steering`` when the option is on: the runs of a zero-shot model, or a text
    saying why they were skipped.
    """

    n_images: int  # images decided (edges / silhouettes only)
    counts: ShapeBiasCounts  # cue-conflict only
    prompt_steering: PromptSteering | str  # cue-conflict with prompt_steering on only


def _is_cue_conflict(dataset: Any) -> bool:
    aux = getattr(dataset, "aux_labels", None) or {}
    return "texture" in aux or getattr(dataset, "name", "") == "cue-conflict"


def _class_names(ctx: "ProbeContext") -> list[str]:
    ds = ctx.dataset
    for attr in ("classes", "class_names"):
        names = getattr(ds, attr, None)
        if names:
            return [str(n) for n in names]
    space = getattr(ds, "label_space", None)
    names = getattr(space, "classes", None) or getattr(space, "names", None)
    if names:
        return [str(n) for n in names]
    raise VisauditError("shape-bias needs a dataset with class names (the 16 entry-level categories)")


def _decision_rows(subject: str, names: list[str], pred: Any, y: Any, index: Any, ids: list[str]) -> "pd.DataFrame":
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "subj": subject,
            "session": 1,
            "trial": np.asarray(index, dtype=np.int64) + 1,
            "rt": np.nan,
            "object_response": [names[int(p)] for p in pred],
            "category": [names[int(t)] for t in y],
            "condition": "0",
            "imagename": [str(i).replace("\\", "/").rsplit("/", 1)[-1] for i in ids],
        }
    )


@register_probe
class ShapeBiasProbe(Probe):
    """Shape vs texture bias on cue-conflict; 16-class accuracy on edges and silhouettes."""

    name = "shape-bias"
    version = 2  # 2: decided from the run's shared clean pass (same decisions)
    Config = ShapeBiasConfig
    Data = ShapeBiasData
    headline = "shape_bias"
    metrics = {
        "shape_bias": MetricSpec(
            True, "#shape decisions / (#shape + #texture) on the 1200 cue-conflict images (human mean 0.958)"
        ),
        "shape_match": MetricSpec(True, "fraction of cue-conflict decisions equal to the shape label"),
        "texture_match": MetricSpec(False, "fraction of cue-conflict decisions equal to the texture label"),
        "top1_16class": MetricSpec(True, "16-class top-1 accuracy (edges, silhouettes)"),
        "shape_bias_prompt": MetricSpec(True, "shape bias of a zero-shot model under a steering prompt set"),
        "prompt_steering_range": MetricSpec(True, "shape bias with shape prompts minus with texture prompts"),
    }

    def check(self, model: Any, dataset: Any) -> None:
        space = getattr(dataset, "label_space", None)
        space_name = getattr(space, "name", space)
        if space_name is not None and str(space_name) not in ("imagenet16", "16-class"):
            raise VisauditError(
                f"shape-bias runs on the 16-class stimuli (cue-conflict, edges, silhouettes), "
                f"not on a dataset with label space {space_name!r}"
            )

    def _decisions(
        self, ctx: "ProbeContext", forward: Any, subject: str, tag: str, describe: Any = None
    ) -> "pd.DataFrame":
        """Decision rows; ``describe`` (a description head's ``describe``) adds the deciding text."""
        names = _class_names(ctx)
        if forward is None and describe is None:  # the plain model: the run's shared clean pass
            import torch

            cp = ctx.clean_logits()
            if len(cp.index) == 0:
                raise VisauditError("shape-bias got no images")
            pred = ctx.scores(torch.from_numpy(cp.logits).to(ctx.device)).argmax(dim=1).cpu().numpy()
            return _decision_rows(subject, names, pred, cp.labels, cp.index, cp.ids)

        def fn(batches: Any) -> ChunkResult:
            frames = []
            n = 0
            for b in batches:
                decisive = None
                if describe is not None:
                    with ctx.autocast():  # a zero-shot model's description head, in the run's precision
                        logits, decisive = describe(ctx.model.normalize(b.x))
                    probs = ctx.scores(logits.float())
                else:
                    probs = ctx.scores(forward(b.x))
                pred = probs.argmax(dim=1).cpu().numpy()
                rows = _decision_rows(subject, names, pred, b.y.cpu().numpy(), b.index, b.ids)
                if decisive is not None:
                    rows["decisive_description"] = decisive
                frames.append(rows)
                n += len(pred)
            import pandas as pd

            return ChunkResult(rows=pd.concat(frames, ignore_index=True) if frames else None, n=n)

        rows = ctx.map_chunks(fn, tag=tag).rows
        if rows is None:
            raise VisauditError("shape-bias got no images")
        return rows

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        from visaudit.metrics.shape_bias import shape_bias_from_decisions

        cfg: ShapeBiasConfig = ctx.config  # type: ignore[assignment]
        subject = str(getattr(ctx.model.info, "name", "model"))
        net = getattr(ctx.model, "net", None)
        describe = net.describe if getattr(net, "mode", None) == "descriptions" else None
        rows = self._decisions(ctx, None, subject, "main", describe)
        warnings: list[str] = []
        if not _is_cue_conflict(ctx.dataset):
            acc = float((rows["object_response"] == rows["category"]).mean())
            only_n: ShapeBiasData = {"n_images": int(len(rows))}
            return ProbeResult(metrics={"top1_16class": acc}, data=only_n, samples=rows)

        res = shape_bias_from_decisions(rows)
        metrics = {k: float(v) for k, v in res.items() if not k.startswith("n_")}
        data: ShapeBiasData = {
            "counts": {
                "n_conflict": int(res["n_conflict"]),
                "n_shape": int(res["n_shape"]),
                "n_texture": int(res["n_texture"]),
            },
        }
        if metrics["shape_bias"] != metrics["shape_bias"]:  # NaN
            warnings.append("no decision matched either cue; shape bias is undefined (NaN)")

        steer = getattr(getattr(ctx.model, "net", None), "with_templates", None)
        if cfg.prompt_steering and steer is not None and cfg.steering_templates:
            from visaudit.models.classifier import Classifier

            steering: dict[str, SteeringResult] = {}
            for set_name, templates in cfg.steering_templates.items():
                steered = Classifier(steer(list(templates)), ctx.model.info).to(ctx.device).eval()
                srows = self._decisions(
                    ctx, lambda x, m=steered: _steered_logits(ctx, m, x), subject, f"prompt-{set_name}"
                )
                sres = shape_bias_from_decisions(srows, per_category=False)
                steering[set_name] = {
                    "shape_bias": float(sres["shape_bias"]),
                    "shape_match": float(sres["shape_match"]),
                    "texture_match": float(sres["texture_match"]),
                }
                metrics[f"shape_bias_prompt@{set_name}"] = steering[set_name]["shape_bias"]
            data["prompt_steering"] = {"templates": cfg.steering_templates, "results": steering}
            if "shape" in steering and "texture" in steering:
                metrics["prompt_steering_range"] = steering["shape"]["shape_bias"] - steering["texture"]["shape_bias"]
        elif cfg.prompt_steering and steer is None:
            data["prompt_steering"] = "skipped: not a zero-shot model"
        return ProbeResult(metrics=metrics, data=data, samples=rows, warnings=warnings)


def _steered_logits(ctx: "ProbeContext", model: Any, x: Any) -> Any:
    """Logits of a re-prompted zero-shot head, in the run's precision."""
    with ctx.autocast():
        return model(x).float()
