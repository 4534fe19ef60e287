"""Test-only oracle: ``imagecorruptions`` 1.1.2 (the reference implementation) on today's stack.

imagecorruptions 1.1.2 (last release, 2020) uses four APIs that later library versions
removed; the shims below restore exactly those names and nothing else, so the reference
numerics are untouched:

- ``pkg_resources.resource_filename`` (setuptools >= 81 dropped ``pkg_resources``): a
  function that joins the package folder and the relative path;
- ``np.float_`` (removed in NumPy 2.0): the same type, ``np.float64``;
- ``skimage.filters.gaussian(..., multichannel=True)`` (removed in scikit-image 0.21):
  forwarded as ``channel_axis=-1``, its documented replacement.

Install (not part of the package): ``pip install imagecorruptions==1.1.2 --no-deps
scikit-image==0.26.0 opencv-python-headless==4.12.0.88``.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np


def load_reference():
    """Import and return the shimmed ``imagecorruptions`` module (skip the test if absent)."""
    import pytest

    try:
        import cv2  # noqa: F401
        import skimage.filters
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"reference oracle needs scikit-image and opencv: {exc}")
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")

            def resource_filename(package: str, rel: str) -> str:
                mod = sys.modules[package]
                return os.path.join(os.path.dirname(mod.__file__), rel)

            shim.resource_filename = resource_filename
            sys.modules["pkg_resources"] = shim
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    try:
        import imagecorruptions
        from imagecorruptions import corruptions as ref
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"imagecorruptions is not installed: {exc}")
    if not getattr(ref, "_visaudit_shimmed", False):
        original = skimage.filters.gaussian

        def gaussian(image, *args, multichannel=None, **kwargs):
            if multichannel:
                kwargs["channel_axis"] = -1
            return original(image, *args, **kwargs)

        ref.gaussian = gaussian
        # scikit-image >= 0.19 draws impulse noise from its own unseeded generator: seed it
        # from NumPy's global state so that np.random.seed fixes the reference's output
        random_noise = ref.sk.util.random_noise

        def seeded_random_noise(image, *args, **kwargs):
            kwargs.setdefault("rng", int(np.random.randint(0, 2**31 - 1)))
            return random_noise(image, *args, **kwargs)

        ref.sk.util.random_noise = seeded_random_noise
        ref._visaudit_shimmed = True
    return imagecorruptions
