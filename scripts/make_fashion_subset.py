"""Make the shipped Fashion-MNIST subset (data/fashion_mnist_subset/) from the original files.

    python scripts/make_fashion_subset.py [--source /usr/share/datasets/fashion-mnist]

The source is Debian's package dataset-fashion-mnist (or any folder with the four original idx
files). The subset is seeded and class-stratified; the same source and seed give the same bytes.
Not a rule script: the subset is committed, so the offline default needs no source at all.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from upnn import data  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--source", default=str(data.DEBIAN_DIR))
p.add_argument("--out", default=str(data.SHIPPED_DIR))
p.add_argument("--train-per-class", type=int, default=800)
p.add_argument("--test-per-class", type=int, default=200)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
sizes = data.make_subset(a.source, a.out, seed=a.seed,
                         per_class={"train": a.train_per_class, "test": a.test_per_class})
print(f"wrote {sizes} to {a.out}")
