"""OOD detectors. The registry lists them without importing the maths module.

Example:
    >>> from visaudit.ood import DETECTORS
    >>> DETECTORS.names()[:3]
    ['ash', 'energy', 'knn']
"""

from visaudit.registry import Registry

DETECTORS: Registry = Registry("ood detector")

_CATALOG = {
    "msp": ("MSP", "maximum softmax probability (Hendrycks & Gimpel 2017)"),
    "maxlogit": ("MaxLogit", "maximum logit (Hendrycks et al. 2022)"),
    "energy": ("Energy", "negative free energy, logsumexp of the logits (Liu et al. 2020)"),
    "odin": ("ODIN", "temperature scaling + input perturbation; re-runs the model (Liang et al. 2018)"),
    "mahalanobis": ("Mahalanobis", "class-conditional Gaussians, shared covariance (Lee et al. 2018)"),
    "vim": ("ViM", "virtual-logit matching (Wang et al. 2022)"),
    "knn": ("KNN", "k-th nearest normalised fit feature (Sun et al. 2022)"),
    "react": ("ReAct", "energy after clipping features at the 90th percentile (Sun et al. 2021)"),
    "ash": ("ASH", "ASH-S activation shaping + energy (Djurisic et al. 2023)"),
}

for _name, (_attr, _help) in _CATALOG.items():
    DETECTORS.add_lazy(_name, f"visaudit.ood.detectors:{_attr}", _help)
