"""Probe registry. Entries are lazy: listing probes imports no probe module.

A probe module must not import torch (or other heavy libraries) at import time: the
cache-hit path of ``visaudit run`` resolves probe configs without torch, so that a
repeated run is answered from the store in well under two seconds. Import heavy
libraries inside ``run`` (``tests/test_registries.py`` checks this for every probe).
"""

from visaudit.registry import Registry

PROBES: Registry = Registry("probe")

_CATALOG = {
    "accuracy": ("visaudit.probes.accuracy:AccuracyProbe", "top-1/top-5, per-class accuracy, NLL, confidence"),
    "corruptions": ("visaudit.probes.corruptions:CorruptionsProbe", "ImageNet-C / CIFAR-10-C corruptions, mCE"),
    "solarization": (
        "visaudit.probes.solarization:SolarizationProbe",
        "solarization threshold sweep and RandSol attack",
    ),
    "nuisance-sweeps": (
        "visaudit.probes.nuisance_sweeps:NuisanceSweepsProbe",
        "accuracy vs brightness, blur, noise, JPEG, rotation, shifts",
    ),
    "adversarial": ("visaudit.probes.adversarial:AdversarialProbe", "robust accuracy (AutoAttack protocol, PGD, FGSM)"),
    "confidence": (
        "visaudit.probes.confidence:ConfidenceProbe",
        "confidence of correct, wrong and adversarial predictions",
    ),
    "perturbation-anatomy": (
        "visaudit.probes.perturbation_anatomy:PerturbationAnatomyProbe",
        "where adversarial perturbation energy sits",
    ),
    "shape-bias": ("visaudit.probes.shape_bias:ShapeBiasProbe", "shape vs texture bias on cue-conflict stimuli"),
    "human-likeness": (
        "visaudit.probes.human_likeness:HumanLikenessProbe",
        "error consistency and accuracy difference to human observers (model-vs-human)",
    ),
    "spectral-bias": (
        "visaudit.probes.spectral_bias:SpectralBiasProbe",
        "low-/high-pass accuracy, spectral bias, Fourier map",
    ),
    "critical-band": (
        "visaudit.probes.critical_band:CriticalBandProbe",
        "critical-band masking: centre frequency, bandwidth",
    ),
    "calibration": ("visaudit.probes.calibration:CalibrationProbe", "ECE, MCE, NLL, Brier, temperature scaling"),
    "ood": ("visaudit.probes.ood:OODProbe", "out-of-distribution detection (MSP, energy, Mahalanobis, ViM, KNN, ...)"),
    "layer-criticality": (
        "visaudit.probes.layer_criticality:LayerCriticalityProbe",
        "how much each layer's weights matter",
    ),
    "filters": ("visaudit.probes.filters:FilterStatsProbe", "3x3 convolution filter statistics"),
    "counterfactuals": (
        "visaudit.probes.counterfactuals:CounterfactualsProbe",
        "visual counterfactuals: target confidence in an Lp ball (Auto-Frank-Wolfe, APGD)",
    ),
    "quantization-sensitivity": (
        "visaudit.probes.quantization:QuantizationSensitivityProbe",
        "per-layer quantization sensitivity, mixed precision",
    ),
    "attributions": (
        "visaudit.probes.attributions:AttributionsProbe",
        "saliency, integrated gradients, Grad-CAM (Captum) scored by deletion / insertion AUC",
    ),
    "spurious-features": (
        "visaudit.probes.spurious_features:SpuriousFeaturesProbe",
        "neural PCA of the class logits; AUC on spurious-feature-only images",
    ),
    "disagreement": (
        "visaudit.probes.disagreement:DisagreementProbe",
        "optimise images so that two models disagree most (mode 1, from the store: visaudit.report.disagreement)",
    ),
}

for _name, (_target, _help) in _CATALOG.items():
    PROBES.add_lazy(_name, _target, _help)
