"""The attack a probe ran, as written into its record (shared by the probes that attack)."""

from __future__ import annotations

from typing import Any, TypedDict


class AttackSetting(TypedDict):
    """The attack a probe ran, as configured."""

    name: str  # "" when no attack ran
    norm: str
    eps: str  # radius as text, e.g. "8/255"
    options: dict[str, Any]  # keyword overrides of the attack
