"""Adversarial attacks in [0,1] pixel space and the AutoAttack "standard" protocol.

All attacks take a model that maps float RGB in [0,1] to logits (normalisation inside the
model adapter), so the box constraint is always the pixel box. Entries are lazy: listing
attacks imports nothing heavy.

Example:
    >>> from visaudit.attacks import ATTACKS
    >>> "apgd-ce" in ATTACKS
    True
"""

from visaudit.registry import Registry

ATTACKS: Registry = Registry("attack")

_CATALOG = {
    "fgsm": ("visaudit.attacks.pgd:fgsm", "fast gradient sign / L2 gradient step, one step"),
    "pgd": ("visaudit.attacks.pgd:pgd", "projected gradient descent with random restarts (CE loss)"),
    "apgd-ce": ("visaudit.attacks.apgd:apgd_ce", "APGD with cross-entropy loss (Croce & Hein 2020)"),
    "apgd-dlr": ("visaudit.attacks.apgd:apgd_dlr", "APGD with the untargeted DLR loss"),
    "apgd-t": ("visaudit.attacks.apgd:apgd_t", "APGD with the targeted DLR loss over the top-k classes"),
    "fab-t": ("visaudit.attacks.fab:fab_t", "targeted FAB, minimal-norm boundary attack"),
    "square": ("visaudit.attacks.square:square", "Square attack, score-based black box (margin loss)"),
    "autoattack": (
        "visaudit.attacks.autoattack:autoattack_attack",
        "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square",
    ),
}

for _name, (_target, _help) in _CATALOG.items():
    ATTACKS.add_lazy(_name, _target, _help)
