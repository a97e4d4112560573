import copy
import re

import pytest
from conftest import ROOT

from upnn import config as C

SCHEMA = C.load_yaml(ROOT / "config" / "schema.yaml")


@pytest.mark.parametrize("name", ["config", "paper", "ci", "fashion"])
def test_shipped_configs_are_valid(name):
    C.check(C.load_yaml(ROOT / "config" / f"{name}.yaml"), SCHEMA)


def check_mutated(mutate):
    cfg = copy.deepcopy(C.load_yaml(ROOT / "config" / "config.yaml"))
    mutate(cfg)
    with pytest.raises(C.ConfigError) as err:
        C.check(cfg, SCHEMA)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_unknown_model_names_the_allowed_ones():
    msg = check_mutated(lambda c: c["experiments"].update(mnist=["cnn9"]))
    assert "'cnn9'" in msg and "cnn3, cnn4, resnet9, googlenet" in msg


@pytest.mark.parametrize("mutate, value, allowed", [
    (lambda c: c["train"].update(optimizer="lbfgs"), "'lbfgs'", "sgd, adam"),
    (lambda c: c["train"].update(schedule="step"), "'step'", "constant, cosine"),
    (lambda c: c["toy2d"]["attack"].update(name="sparsefool"), "'sparsefool'",
     "fgsm, osnt, bim, pgd, ifgsm"),
    (lambda c: c["toy2d"].update(activation="gelu"), "'gelu'", "relu, tanh, sigmoid"),
    (lambda c: c["words"].update(activation="elu"), "'elu'", "relu, tanh, sigmoid"),
    (lambda c: c["toy2d"]["landscape"].update(epochs=[1, 600]), "[600]", "allowed: 1.."),
    (lambda c: c["words"].update(embeding_sizes=[2]), "'embeding_sizes'", ""),
])
def test_the_schema_checks_what_the_config_classes_trust(mutate, value, allowed):
    """Issue 28: TrainConfig, ToyConfig and WordsConfig trust the schema; its enums come from
    the code (upnn.config.with_code_enums), so the error names the allowed values of the code."""
    msg = check_mutated(mutate)
    assert value in msg and allowed in msg, msg


def test_unknown_dataset_source():
    msg = check_mutated(lambda c: c["datasets"]["mnist"].update(source="svhn"))
    assert "'svhn'" in msg
    assert "mnist, fashion_mnist, fashion_mnist_subset, mnist_subset, cifar10, digits" in msg


def test_a_torchvision_source_by_class_name_is_valid():
    cfg = copy.deepcopy(C.load_yaml(ROOT / "config" / "config.yaml"))
    cfg["datasets"]["mnist"] = {"source": "torchvision", "name": "KMNIST", "root": "data/raw",
                                "kwargs": {}, "image_size": 28}
    C.check(cfg, SCHEMA)


def test_experiment_on_unconfigured_dataset():
    msg = check_mutated(lambda c: c["experiments"].update(imagenet=["cnn3"]))
    assert "'imagenet'" in msg and "allowed: mnist, fashion32" in msg


def test_misspelled_key():
    msg = check_mutated(lambda c: c["train"].update(epoch=3))
    assert "unknown key 'epoch' in train" in msg and "epochs" in msg
    msg = check_mutated(lambda c: c.update(devise="cpu"))
    assert "'devise'" in msg and "device" in msg


def test_unknown_model_key_in_models_block():
    msg = check_mutated(lambda c: c["models"].update(vgg={"width": 1}))
    assert "unknown key 'vgg' in models" in msg


def test_train_overrides_merge():
    cfg = C.load_yaml(ROOT / "config" / "paper.yaml")
    assert C.train_settings(cfg, "resnet9")["optimizer"] == "sgd"
    assert C.train_settings(cfg, "cnn3")["optimizer"] == "adam"
    assert C.epochs(cfg, "cnn4") == 50
    assert ("cifar10", "resnet9", 0) in C.runs(cfg)


def test_paper_config_has_the_papers_settings():
    cfg = C.load_yaml(ROOT / "config" / "paper.yaml")
    assert {d["source"] for d in cfg["datasets"].values()} == {"mnist", "cifar10"}
    assert set(cfg["experiments"]["cifar10"]) == {"cnn4", "resnet9", "googlenet"}
    assert cfg["train"]["epochs"] == 50
    assert all(m["width"] == 1.0 for m in cfg["models"].values())


def test_llm_block_is_closed_and_off_by_default():
    assert C.load_yaml(ROOT / "config" / "config.yaml")["llm"]["enabled"] is False
    assert C.load_yaml(ROOT / "config" / "ci.yaml")["llm"]["enabled"] is False
    msg = check_mutated(lambda c: c["llm"].update(conditions=["none", "pgd"]))
    assert "'pgd'" in msg and "none, random, fgsm, bim" in msg
    msg = check_mutated(lambda c: c["llm"].update(epsilonn=0.1))
    assert "unknown key 'epsilonn' in llm" in msg


def test_llm_slug():
    assert C.llm_slug("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T") == \
        "TinyLlama--TinyLlama-1.1B-intermediate-step-1431k-3T"
    assert C.llm_slug(str(ROOT / "tests" / "data" / "llm")) == "llm"


def test_attack_jobs_follow_attacks_models_and_feature_models():
    cfg = C.load_yaml(ROOT / "config" / "config.yaml")
    cfg["experiments"]["fashion32"].append("googlenet")
    cfg["models"]["googlenet"] = {"width": 0.0625}
    jobs = C.attack_jobs(cfg)
    assert ("fashion32", "googlenet", 0, "pixel") not in jobs  # trained, not attacked
    assert ("fashion32", "resnet9", 0, "feature") in jobs
    assert ("mnist", "cnn3", 0, "feature") not in jobs
    del cfg["attacks"]["models"]
    assert ("fashion32", "googlenet", 0, "pixel") in C.attack_jobs(cfg)


def test_ifa_datasets_must_name_a_trained_dataset():
    msg = check_mutated(lambda c: c["ifa"].update(datasets=["imagenet"]))
    assert "ifa.datasets names 'imagenet'" in msg and "allowed: mnist, fashion32" in msg


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c["attacks"]["eps"].update(mnist=8),
     "attacks.eps.mnist = 8 exceeds 1, the pixel range [0, 1]; allowed: 0 < eps <= 1; did you "
     "mean 8/255 = 0.0313725?"),
    (lambda c: c["attacks"]["eps"].update(mnist=[0.1, 16]), "attacks.eps.mnist[1] = 16 exceeds 1"),
    (lambda c: c["uncertainty"]["datasets"]["mnist"].update(eps=2),
     "uncertainty.datasets.mnist.eps = 2 exceeds 1"),
    (lambda c: c["minimal"]["max_eps"].update(mnist=300), "minimal.max_eps.mnist = 300 exceeds 1"),
    (lambda c: c["frequency"].update(low_window=[26, 5]),
     "frequency.low_window = [26, 5] is empty or reversed; allowed: [start, stop] with 0 <= start "
     "< stop"),
    (lambda c: c.update(seeds=[0, 0]), "seeds: [0, 0] has non-unique elements"),
    (lambda c: c["attacks"].update(names=["pgd", "pgd"]), "has non-unique elements"),
    (lambda c: c["attacks"].update(epochs=[99]),
     "attacks.epochs = [99] exceed the 10 trained epochs of cnn3; allowed: 1..10"),
    (lambda c: c["attacks"].update(models=["googlenet", "vgg"]), "is not allowed"),
    (lambda c: c["figures"]["fig1"].update(epoch=99),
     "figures.fig1.epoch = 99 exceeds the 10 trained epochs of cnn3; allowed: 1..10 or null"),
    (lambda c: c["uncertainty"]["tsne"].update(model="googlenet"),
     "uncertainty.tsne names mnist/googlenet, which is not trained"),
    (lambda c: c.pop("attacks"), "(top level) is missing 'attacks'"),
    (lambda c: c.pop("figures"), "(top level) is missing 'figures'"),
    (lambda c: c.pop("uncertainty"), "(top level) is missing 'uncertainty'"),
    (lambda c: c["datasets"]["mnist"].update(source="torchvision"),
     "datasets.mnist (source torchvision) needs 'name'; required: name"),
    (lambda c: c["datasets"]["mnist"].update(source="torchvision", name="NoSuch"),
     "datasets.mnist.name = 'NoSuch' is not a data set of torchvision.datasets; allowed: a class "
     "name such as MNIST"),
    (lambda c: c["datasets"]["mnist"].update(source="torchvision", name="FakeData"),
     "'FakeData' takes neither train= nor split="),
    (lambda c: c["datasets"]["mnist"].update(name="KMNIST"),
     "datasets.mnist.name belongs to source 'torchvision', not 'mnist_subset'"),
    (lambda c: c["datasets"]["mnist"].update(source="imagefolder", train="a", image_size=28),
     "datasets.mnist (source imagefolder) needs 'test'; required: train, test, image_size"),
])
def test_cross_field_rules_fail_before_any_job_with_one_line(mutate, expected):
    assert expected in check_mutated(mutate)


def test_attacks_models_must_be_trained():
    def mutate(c):
        c["experiments"]["fashion32"] = ["cnn4", "resnet9"]  # googlenet no longer trained
        c["attacks"]["models"] = ["cnn3", "googlenet"]
        c["frequency"]["models"] = ["cnn4"]
        c["minimal"]["models"] = ["cnn3"]
    assert "attacks.models names 'googlenet', which is not trained" in check_mutated(mutate)


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c["uncertainty"].update(epochs=[1, 11]),
     "uncertainty.epochs = [11] exceed the 10 trained epochs of cnn3; allowed: 1..10"),
    (lambda c: c["uncertainty"]["tsne"].update(epochs=[1, 41, 21]),
     "uncertainty.tsne.epochs = [21, 41] exceed the 10 trained epochs of cnn3; allowed: 1..10"),
    (lambda c: c["ifa"].update(epochs=[1, 5, 50]),
     "ifa.epochs = [50] exceed the 10 trained epochs of cnn4; allowed: 1..10"),
    (lambda c: c["frequency"].update(epochs=[1, 2, 3, 5, 10, 50]),
     "frequency.epochs = [50] exceed the 10 trained epochs of cnn4; allowed: 1..10"),
    (lambda c: c["models"]["cnn4"].update(train={"epochs": 4}),
     "ifa.epochs = [5, 10] exceed the 4 trained epochs of cnn4; allowed: 1..4"),
    (lambda c: c["toy2d"]["landscape"].update(epochs=[100, 600]),
     "toy2d.landscape.epochs = [600] exceed the 500 trained epochs of toy2d; allowed: 1..500"),
])
def test_every_epoch_setting_refuses_untrained_epochs_the_same_way(mutate, expected):
    """One rule for every stage's epochs (upnn.config.epoch_list): an epoch that training does
    not produce is a config error before any job, never silently dropped."""
    msg = check_mutated(mutate)
    assert msg == f"config: {expected}", msg


def test_epoch_list_all_null_and_lists():
    assert C.epoch_list("all", 3, "x.epochs", "m") == [1, 2, 3]
    assert C.epoch_list(None, 2, "x.epoch", "m") == [1, 2]
    assert C.epoch_list([3, 1, 3], 3, "x.epochs", "m") == [1, 3]
    assert C.epoch_list(2, 3, "x.epoch", "m") == [2]
    with pytest.raises(C.ConfigError, match=r"^config: x.epochs = \[0, 4\] exceed the 3 trained "
                                            r"epochs of m; allowed: 1..3$"):
        C.epoch_list([0, 1, 4], 3, "x.epochs", "m")


def test_all_is_allowed_for_every_epoch_list_and_covers_the_trained_epochs():
    cfg = copy.deepcopy(C.load_yaml(ROOT / "config" / "config.yaml"))
    for block in ("attacks", "uncertainty", "ifa", "frequency"):
        cfg[block]["epochs"] = "all"
    C.check(cfg, SCHEMA)
    assert C.attack_epochs(cfg, "cnn3") == list(range(1, 11))
    settings = {(where, m): value for where, value, _, m in C.epoch_settings(cfg)}
    assert settings[("frequency.epochs", "resnet9")] == "all"
    assert {w for w, _ in settings} == {"attacks.epochs", "uncertainty.epochs",
                                        "uncertainty.tsne.epochs", "ifa.epochs", "frequency.epochs",
                                        "toy2d.landscape.epochs"}


def test_normalize_turns_command_line_seed_strings_into_integers():
    assert C.normalize({"seeds": ["0", "1", 2]})["seeds"] == [0, 1, 2]
    assert C.normalize({"seeds": ["a", "1.5"]})["seeds"] == ["a", "1.5"]  # left for check
    assert C.normalize({"device": "cpu"}) == {"device": "cpu"}
    cfg = C.load_yaml(ROOT / "config" / "ci.yaml")
    for seeds, msg in ((["0", "0"], "seeds: [0, 0] has non-unique elements"),
                       (["a"], "seeds.0: 'a' is not of type 'integer'")):
        with pytest.raises(C.ConfigError, match=f"^config: {re.escape(msg)}$"):
            C.check(C.normalize({**cfg, "seeds": seeds}), SCHEMA)


# ------------------------------------------------------------------------------------------------
# --configfile the Snakemake way: a partial file is layered over the default


def test_a_one_line_override_changes_only_that_setting(tmp_path):
    (tmp_path / "two.yaml").write_text("seeds: [0, 1]\n")
    default = C.load_yaml(ROOT / "config" / "config.yaml")
    got = C.layered(ROOT / "config" / "config.yaml", [tmp_path / "two.yaml"])
    assert got["seeds"] == [0, 1]
    assert {k: v for k, v in got.items() if k != "seeds"} == \
        {k: v for k, v in default.items() if k != "seeds"}
    C.check(got, SCHEMA)
    own = {m for m, spec in default["models"].items() if "seeds" in spec}  # keep their own seeds
    assert len([r for r in C.runs(got) if r[1] not in own]) == \
        2 * len([r for r in C.runs(default) if r[1] not in own])
    assert [r for r in C.runs(got) if r[1] in own] == [r for r in C.runs(default) if r[1] in own]


def test_a_model_with_its_own_seeds_trains_those(tmp_path):
    cfg = C.load_yaml(ROOT / "config" / "config.yaml")
    cfg["seeds"] = [5]
    cfg["models"]["cnn3"]["seeds"] = [0, 1, 2]
    runs = C.runs(cfg)
    assert {s for _, m, s in runs if m == "cnn3"} == {0, 1, 2}
    assert {s for _, m, s in runs if m == "resnet9"} == {5}
    assert C.first_seed(cfg, "cnn3") == 0 and C.first_seed(cfg, "resnet9") == 5
    cfg["models"]["cnn3"]["seeds"] = []
    with pytest.raises(C.ConfigError, match="seeds"):
        C.check(cfg, SCHEMA)


def test_a_full_config_stands_alone():
    got = C.layered(ROOT / "config" / "config.yaml", [ROOT / "config" / "paper.yaml"])
    assert got == C.load_yaml(ROOT / "config" / "paper.yaml")  # nothing of the default mixed in


def test_blocks_naming_datasets_are_replaced_and_the_rest_merged(tmp_path):
    (tmp_path / "mixed.yaml").write_text(
        "datasets: {mnist: {source: mnist_subset, limit_train: 500}}\n"
        "experiments: {mnist: [cnn3]}\n"
        "attacks: {models: [cnn3], feature_models: [], eps: {mnist: 0.05}}\n"
        "train: {epochs: 4}\n")
    got = C.layered(ROOT / "config" / "config.yaml", [tmp_path / "mixed.yaml"],
                    {"train": {"lr": 0.01}})
    assert got["datasets"] == {"mnist": {"source": "mnist_subset", "limit_train": 500}}
    assert got["experiments"] == {"mnist": ["cnn3"]} and got["attacks"]["eps"] == {"mnist": 0.05}
    default = C.load_yaml(ROOT / "config" / "config.yaml")
    assert got["attacks"]["names"] == default["attacks"]["names"]  # merged, key by key
    assert got["train"] == {**default["train"], "epochs": 4, "lr": 0.01}  # --config on top
    assert "fashion32" not in got["datasets"]  # runs of other data never mix in


def test_the_workflow_layers_a_one_line_configfile(tmp_path):
    from conftest import planned_jobs, snakemake

    (tmp_path / "two.yaml").write_text("seeds: [0, 1]\n")
    run = snakemake(ROOT, "-n", "--directory", str(tmp_path / "wd"), "--configfile",
                    str(tmp_path / "two.yaml"))
    default = C.load_yaml(ROOT / "config" / "config.yaml")
    own = {m for m, spec in default["models"].items() if "seeds" in spec}  # keep their own seeds
    assert planned_jobs(run)["train"] == len(C.runs(default)) + len(
        [r for r in C.runs(default) if r[1] not in own])


def test_an_attack_with_seeds_first_runs_on_each_nets_first_seed_only():
    cfg = C.load_yaml(ROOT / "config" / "config.yaml")
    cfg["models"]["cnn3"]["seeds"] = [3, 4]
    cfg["attacks"]["settings"]["autoattack"] = {"n": 20, "epochs": "last", "seeds": "first"}
    C.check(cfg, SCHEMA)
    names = [s["name"] for s in C.attack_specs(cfg, "cnn3", 3)]
    assert "autoattack" in names and "autoattack" not in [
        s["name"] for s in C.attack_specs(cfg, "cnn3", 4)]
    assert all("seeds" not in s for s in C.attack_specs(cfg, "cnn3", 3))
    assert [s["name"] for s in C.attack_specs(cfg, "cnn3", 4)] == [n for n in names
                                                                    if n != "autoattack"]
    cfg["attacks"]["settings"]["autoattack"]["seeds"] = "some"
    with pytest.raises(C.ConfigError, match="some"):
        C.check(cfg, SCHEMA)


def test_an_attack_with_models_runs_on_those_nets_only():
    """Issue 26 item 3 (extras where they pay): ``models: [...]`` keeps a costly check such as
    AutoAttack to the nets named; a net that is not attacked is one line."""
    cfg = C.load_yaml(ROOT / "config" / "config.yaml")
    cfg["attacks"]["settings"]["autoattack"] = {"n": 20, "epochs": "last", "models": ["cnn4"]}
    C.check(cfg, SCHEMA)
    assert "autoattack" in [s["name"] for s in C.attack_specs(cfg, "cnn4", 0)]
    for model in ("cnn3", "resnet9"):
        assert [s["name"] for s in C.attack_specs(cfg, model, 0)] == [
            n for n in cfg["attacks"]["names"] if n != "autoattack"]
    assert all("models" not in s for s in C.attack_specs(cfg, "cnn4", 0))
    cfg["attacks"]["settings"]["autoattack"]["models"] = ["googlenet"]  # a net, not attacked
    with pytest.raises(C.ConfigError, match=r"^config: attacks\.settings\.autoattack\.models "
                                            r"names 'googlenet', which is not attacked; "
                                            r"attacked: cnn3, cnn4, resnet9$"):
        C.check(cfg, SCHEMA)
    cfg["attacks"]["names"].remove("autoattack")  # settings of an attack not run: not read
    C.check(cfg, SCHEMA)
    cfg["attacks"]["settings"]["autoattack"]["models"] = ["vgg"]
    with pytest.raises(C.ConfigError, match="vgg"):
        C.check(cfg, SCHEMA)


def test_success_any_goes_into_the_iterative_attacks_specs_only():
    cfg = C.load_yaml(ROOT / "config" / "config.yaml")
    assert all("success" not in s for s in C.attack_specs(cfg))  # final: specs as before
    cfg["attacks"]["success"] = "any"
    C.check(cfg, SCHEMA)
    got = {s["name"]: s.get("success") for s in C.attack_specs(cfg)}
    assert got == {"ost": None, "osnt": None, "bim": "any", "illc": "any", "pgd": "any",
                   "sparsefool": None, "autoattack": None}
    cfg["attacks"]["success"] = "first"
    with pytest.raises(C.ConfigError, match="first"):
        C.check(cfg, SCHEMA)


def test_an_extra_at_an_epoch_that_is_not_trained_is_refused_with_one_line():
    cfg = C.load_yaml(ROOT / "config" / "config.yaml")  # 10 epochs
    cfg["attacks"]["settings"]["autoattack"]["epochs"] = [1, 10, 20]
    with pytest.raises(C.ConfigError, match=r"attacks.settings.autoattack.epochs = \[20\] exceed "
                                            r"the 10 trained epochs of \w+; allowed: 1..10$"):
        C.check(cfg, SCHEMA)
    cfg["attacks"]["settings"]["autoattack"]["epochs"] = [1, 10]
    cfg["attacks"]["extra_eps_epochs"] = [5, 11]
    with pytest.raises(C.ConfigError, match=r"attacks.extra_eps_epochs = \[11\] exceed"):
        C.check(cfg, SCHEMA)
    cfg["attacks"]["extra_eps_epochs"] = [1, 10]
    C.check(cfg, SCHEMA)
