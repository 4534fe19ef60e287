"""Inner mechanics maths: layer criticality, 3x3 filter statistics, per-layer fake quantisation.

These modules import torch at top level; probe modules import them inside ``run``.
"""
