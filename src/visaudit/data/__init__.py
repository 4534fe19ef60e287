"""Datasets, label spaces and the resolver.

Example:
    >>> from visaudit.data import open_dataset
    >>> ds = open_dataset("cifar10-test")          # doctest: +SKIP
    >>> len(ds), ds.label_space.name                # doctest: +SKIP
    (10000, 'cifar10')
"""

from visaudit.data.catalog import DATASETS, open_dataset

__all__ = ["DATASETS", "open_dataset"]
