"""Tests generated from the registries: every probe and dataset entry is well-formed."""

from __future__ import annotations

import dataclasses

import pytest

from tests.helpers import run_python
from visaudit.data.catalog import DATASETS
from visaudit.probes import PROBES
from visaudit.probes.base import Probe, ProbeConfig


@pytest.mark.parametrize("name", PROBES.names())
def test_probe_entry_is_well_formed(name):
    cls = PROBES.get(name)
    assert issubclass(cls, Probe) and cls.name == name
    assert isinstance(cls.version, int) and cls.version >= 1
    assert issubclass(cls.Config, ProbeConfig) and dataclasses.is_dataclass(cls.Config)
    cfg = cls.Config()
    assert cls.Config.from_dict(cfg.to_dict()) == cfg, "the config must round-trip through a plain dict"
    assert cls.metrics, "a probe declares its metrics and their direction"
    assert cls.headline is None or cls.metric_spec(cls.headline) is not None
    assert PROBES.help(name), "the catalog gives a one-line description"


def test_probe_modules_import_without_torch():
    code = (
        "import sys\n"
        "from visaudit.probes import PROBES\n"
        "for n in PROBES.names():\n"
        "    cls = PROBES.get(n); cls.Config()\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'torchvision', 'scipy', 'pandas') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_entry_has_help_and_resolves_or_explains(name):
    from visaudit.data import open_dataset
    from visaudit.errors import DataNotFoundError

    assert DATASETS.help(name)
    try:
        ds = open_dataset(name)
    except DataNotFoundError as err:
        assert "VISAUDIT_DATA" in str(err)
        return
    assert len(ds) > 0 and len(ds.ids) == len(ds)
