"""Train (or find cached) the two Fashion-MNIST zoo models and print their test accuracy.

Usage: ``python scripts/train_fmnist.py [--eval N]``. The weights land in the visaudit cache
(``VISAUDIT_CACHE``, default ``~/.cache/visaudit``) under ``fmnist-cnn/``, keyed by the hash of
``visaudit/models/fmnist.py``, the hyper-parameters and the training files; a second call
trains nothing. Accuracy: clean, and under 10-step L2 PGD at the robust model's training radius.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from visaudit.models import load_model
from visaudit.models.fmnist import SPECS, ensure_weights, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=int, default=10000, help="test images to evaluate on (0: skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, spec in SPECS.items():
        t0 = time.perf_counter()
        path = ensure_weights(name)
        out = {"model": name, "weights": str(path), "seconds": round(time.perf_counter() - t0, 1)}
        if args.eval:
            out.update(evaluate(load_model(name), spec, n=args.eval))
        print(json.dumps(out))


if __name__ == "__main__":
    main()
