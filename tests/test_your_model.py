"""Issue 29: the papers' analysis for a researcher's own classifier. The worked example of
docs/your_model.md, run as written (its YAML block is the config): a torchvision ResNet-18
trained outside upnn by a plain PyTorch loop on a 3-class ImageFolder written from the shipped
Fashion-MNIST subset, a state dict per epoch; upnn builds the attack tables, the figures and the
claims table from those checkpoints with one snakemake command. Plus the error paths."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import torchvision
import yaml
from conftest import ROOT, SNAKEMAKE, copy_workflow, snakemake
from PIL import Image

from upnn import data, external, models

DOC = ROOT / "docs" / "your_model.md"
CLASSES = {0: "0_tshirt", 1: "1_trouser", 7: "2_sneaker"}  # Fashion-MNIST labels → folders


def doc_config() -> dict:
    """The YAML block of docs/your_model.md (the one with ``datasets:``)."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    return yaml.safe_load(next(b for b in blocks if "datasets:" in b))


def write_image_folder(root, per_class: dict[str, int]) -> None:
    """The shipped Fashion-MNIST subset's images of three classes as PNG files."""
    for split, count in per_class.items():
        x, y = data.load_split("fashion_mnist_subset", split)
        for label, folder in CLASSES.items():
            target = root / split / folder
            target.mkdir(parents=True)
            for i, k in enumerate(np.flatnonzero(y == label)[:count]):
                Image.fromarray(x[k, 0]).save(target / f"{i:04d}.png")


def train_outside_upnn(root, epochs: int) -> None:
    """The doc's plain PyTorch loop: nothing of upnn but reading the folder back."""
    tf = torchvision.transforms.Compose([torchvision.transforms.Grayscale(3),
                                         torchvision.transforms.Resize(32),
                                         torchvision.transforms.ToTensor()])
    ds = torchvision.datasets.ImageFolder(root / "shirts" / "train", transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    out = root / "runs" / "shirts"
    out.mkdir(parents=True)
    for epoch in range(1, epochs + 1):
        net.train()
        for x, y in loader:
            loss = F.cross_entropy(net((x - 0.5) / 0.25), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.save(net.state_dict(), out / f"epoch_{epoch}.pt")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("your_model"))
    write_image_folder(wd / "shirts", {"train": 60, "test": 20})
    train_outside_upnn(wd, epochs=3)
    (wd / "my_model.yaml").write_text(yaml.safe_dump(doc_config()))
    run = snakemake(wd, "--cores", "2", "--configfile", "my_model.yaml", timeout=1500)
    return wd, run


def test_the_worked_example_builds_tables_figures_and_claims(example):
    wd, _ = example
    table = pd.read_parquet(wd / "results/train/shirts/mynet/seed0.parquet")
    assert table["epoch"].tolist() == [1, 2, 3] and table["train_loss"].isna().all()
    assert table["test_acc"].iloc[-1] > 0.8  # it learnt: chance is 1/3
    attacks = pd.read_parquet(wd / "results/attacks")
    assert set(attacks["level"]) == {"pixel", "feature"} and set(attacks["epoch"]) == {1, 2, 3}
    for fig in ("fig1", "fig2", "fig5", "robustness_eps", "conjugate_uncertainty", "claims"):
        assert (wd / f"results/figures/{fig}.pdf").stat().st_size > 0, fig
    claims = pd.read_parquet(wd / "results/claims.parquet")
    got = claims.set_index("claim")["verdict"]
    for claim in ("ta_change", "ra_change", "ta_rises", "ra_falls", "feature_faster",
                  "dx_falls", "minimal_eps_falls", "minimal_eps_change", "feature_stronger"):
        assert claim in got.index and (claims[claims["claim"] == claim]["dataset"] == "shirts").all()
    for claim in ("toy_ra_falls", "words_correct_zero", "ifa_ta_rises", "hf_ratio_ta",
                  "hf_ratio_change", "llm_chance"):
        assert got[claim] == "not run", claim
    assert (claims[claims["claim"] == "gap_last"]["verdict"] == "n/a").all()  # not MNIST/CIFAR
    # the imported checkpoints rebuild the user's net, normalisation inside, inputs in [0, 1]
    ckpt = torch.load(wd / "results/checkpoints/shirts/mynet/seed0/epoch003.pt",
                      weights_only=True)
    model = models.from_checkpoint(ckpt)
    net = torchvision.models.resnet18(num_classes=3)
    net.load_state_dict(torch.load(wd / "runs/shirts/epoch_3.pt", weights_only=True))
    x = torch.rand(4, 3, 32, 32)
    torch.testing.assert_close(model(x), net.eval()((x - 0.5) / 0.25))
    dry = subprocess.run([SNAKEMAKE, "-n", "--configfile", "my_model.yaml"], cwd=wd,
                         capture_output=True, text=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_a_missing_epoch_stops_the_run_with_one_line(example, tmp_path):
    wd, _ = example
    cfg = doc_config()
    cfg["models"]["mynet"]["train"]["epochs"] = 5
    (wd / "five.yaml").write_text(yaml.safe_dump(cfg))
    run = subprocess.run([SNAKEMAKE, "-n", "--configfile", "five.yaml"], cwd=wd,
                         capture_output=True, text=True)
    assert run.returncode != 0
    line = next(x for x in run.stderr.splitlines() if x.startswith("upnn:"))
    assert line == ("upnn: config: models.mynet.checkpoints runs/shirts/epoch_{epoch}.pt: "
                    "epochs [4, 5] missing (seed 0); found: 1, 2, 3; every epoch 1..5 is needed")
    assert "Traceback" not in run.stderr


def test_a_checkpoint_that_does_not_fit_the_model_is_named(tmp_path):
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "e1.pt")
    reference = {"ref": "torchvision:resnet18", "kwargs": {"num_classes": 3}}
    with pytest.raises(external.ExternalCheckpointError,
                       match=r"^checkpoint .*e1\.pt does not fit model myres "
                             r"\(torchvision:resnet18\): .*fc\.weight"):
        external.load_into("myres", tmp_path / "e1.pt", reference, in_channels=3,
                           image_size=32, num_classes=3)
    torch.save({"model": torch.zeros(1), "epoch": 1}, tmp_path / "e2.pt")
    with pytest.raises(external.ExternalCheckpointError, match="does not fit|not a state dict"):
        external.load_into("myres", tmp_path / "e2.pt", reference, in_channels=3,
                           image_size=32, num_classes=3)
