import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from upnn import io


def test_tensor_column_roundtrip_and_pandas_opens_it(tmp_path):
    x = np.random.default_rng(0).random((6, 3, 4, 5), dtype=np.float32)
    path = tmp_path / "t.parquet"
    io.write_table(path, {"label": np.arange(6)}, tensors={"image": x}, metadata={"k": "v"}, params={})
    table = io.read_table(path)
    assert isinstance(table.schema.field("image").type, pa.FixedShapeTensorType)
    assert table.schema.field("image").type.shape == [3, 4, 5]
    assert torch.equal(io.column_tensor(table, "image"), torch.from_numpy(x))
    assert io.read_metadata(path)["k"] == "v"
    df = pd.read_parquet(path)
    assert list(df.columns) == ["label", "image"] and len(df) == 6
    np.testing.assert_array_equal(df["image"][2], x[2].ravel())
    assert list(io.read_frame(path).columns) == ["label"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_write_leaves_a_temporary_no_glob_matches_and_the_next_write_cleans_it(tmp_path):
    target = tmp_path / "out.parquet"
    left = tmp_path / ".out.parquet.k1ll3d.upnn-tmp"  # what a SIGKILL mid-write leaves
    left.write_bytes(b"half")
    assert io.is_temporary(left) and not io.is_temporary(target)
    assert list(tmp_path.glob("*.parquet")) == [] and list(tmp_path.glob("out*")) == []
    io.write_table(target, pd.DataFrame({"a": [1]}), params={})
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_fingerprint_covers_settings_and_tensors():
    a = io.fingerprint({"lr": 1}, 3, tensors=(torch.zeros(2, 2),))
    assert a == io.fingerprint({"lr": 1}, 3, tensors=(torch.zeros(2, 2),))
    assert a != io.fingerprint({"lr": 2}, 3, tensors=(torch.zeros(2, 2),))
    assert a != io.fingerprint({"lr": 1}, 3, tensors=(torch.zeros(4),))  # same bytes, new shape
    assert a != io.fingerprint({"lr": 1}, 3, tensors=(torch.ones(2, 2),))


def test_atomic_write_replaces_old_file(tmp_path):
    target = tmp_path / "t.parquet"
    io.write_table(target, pd.DataFrame({"a": [1, 2]}), params={})
    io.write_table(target, pd.DataFrame({"a": [3]}), params={})
    assert pd.read_parquet(target)["a"].tolist() == [3]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_write_nothing_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing to write"):
        io.write_table(tmp_path / "x.parquet", {}, params={})


def test_atomic_write_uses_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        io.write_table(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}), params={})
    finally:
        os.umask(umask)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o644


def test_reading_tables_and_drawing_figures_does_not_import_torch():
    """The figure jobs start without torch (≈ 1.6 s each); io imports it where a function needs it."""
    code = ("import sys, upnn.io, upnn.figures.style, upnn.figures.fig4, upnn.figures.fig6, "
            "upnn.summary, upnn.intervals, upnn.figures.robustness_eps, "
            "upnn.figures.robustness, upnn.figures.ifa_frequency, upnn.figures.conjugate_tsne; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_slowed_write_killed_mid_way_leaves_no_result(tmp_path):
    """SIGKILL a process inside ``atomic_path`` (after it wrote half the data): no file under the
    target's name, the leftover is recognisably temporary, and the next write cleans it."""
    import os
    import signal

    target = tmp_path / "table.parquet"
    code = (f"import time; from upnn import io\n"
            f"with io.atomic_path({str(target)!r}) as tmp:\n"
            f"    tmp.write_bytes(b'half of a table')\n"
            f"    print('written', flush=True)\n"
            f"    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    left = list(tmp_path.iterdir())
    assert not target.exists() and len(left) == 1 and io.is_temporary(left[0])
    assert list(tmp_path.glob("*.parquet")) == []
    io.write_table(target, pd.DataFrame({"a": [1]}), params={})
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_every_table_carries_its_provenance(tmp_path, monkeypatch):
    """upnn's version, the commit, the params' hash, torch's version and the device, under the
    metadata key ``upnn``; ``params`` is required, so no caller can leave it out."""
    import json
    from importlib.metadata import version

    import upnn

    path = tmp_path / "t.parquet"
    monkeypatch.setattr(io, "DEVICE", "none")
    io.write_table(path, pd.DataFrame({"a": [1]}), params={"lr": 1})
    prov = io.read_provenance(path)
    assert set(prov) == set(io.PROVENANCE_FIELDS)
    assert prov["version"] == upnn.__version__ and prov["torch"] == version("torch")
    assert prov["params_hash"] == io.fingerprint({"lr": 1}) and prov["device"] == "none"
    assert prov["commit"] is None or len(prov["commit"]) == 40
    assert json.loads(pq_meta(path)[b"upnn"]) == prov
    io.write_table(path, pd.DataFrame({"a": [1]}), params={"lr": 2}, device="cuda:1")
    assert io.read_provenance(path)["params_hash"] != prov["params_hash"]
    assert io.read_provenance(path)["device"] == "cuda:1"
    with pytest.raises(TypeError, match="params"):
        io.write_table(path, pd.DataFrame({"a": [1]}))  # no params: refused


def test_provenance_records_the_resolved_device_and_a_rule_scripts_job(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from upnn import device

    monkeypatch.setattr(io, "DEVICE", "none")
    device.resolve("cpu")
    assert io.DEVICE == "cpu"
    sm = SimpleNamespace(rule="train", wildcards={"seed": "0"}, params={"width": 0.5})
    io.write_table(tmp_path / "t.parquet", pd.DataFrame({"a": [1]}), params=sm)
    prov = io.read_provenance(tmp_path / "t.parquet")
    assert prov["device"] == "cpu"
    assert prov["params_hash"] == io.fingerprint(
        {"rule": "train", "wildcards": {"seed": "0"}, "params": {"width": 0.5}})


def test_git_commit_is_this_checkouts_head():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=io.Path(io.__file__).parent,
                          capture_output=True, text=True)
    assert io.git_commit() == (head.stdout.strip() if head.returncode == 0 else None)


def pq_meta(path):
    import pyarrow.parquet as pq

    return pq.read_schema(path).metadata


def test_a_folder_read_sees_finished_tables_only_beside_a_resume_cache(tmp_path):
    """A killed per-epoch job leaves its RowCache beside the finished tables: pandas reading the
    folder (as a user does) returns the finished tables with their key columns, never the cache."""
    import pandas as pd

    done = tmp_path / "attacks" / "a.parquet"
    io.write_table(done, pd.DataFrame({"epoch": [1, 2], "model": ["m", "m"]}), params={})
    cache = io.RowCache(tmp_path / "attacks" / "b.parquet", key="k")
    cache.add([{"epoch": 1, "robust_acc": 0.5}])  # job b killed after one epoch
    assert cache.path.exists() and cache.path.name.startswith(".")
    frame = pd.read_parquet(tmp_path / "attacks")
    assert list(frame.columns) == ["epoch", "model"] and len(frame) == 2
    again = io.RowCache(tmp_path / "attacks" / "b.parquet", key="k")  # the rerun resumes it
    assert again.done("epoch", 1)
    again.finish()
    assert not cache.path.exists()
