"""Reading the pipeline config: layering, schema check with one-line errors, derived run lists.

``rules/common.smk`` builds the config with :func:`layered` (a ``--configfile`` holding only what
it changes goes over ``config/config.yaml``; a full config stands alone), then validates it once
with :func:`check`: ``config/schema.yaml`` (with the attack names from the code) and the
cross-field rules, the first violation as a single line naming the bad value and the allowed ones
(jsonschema's own report is a page long).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# Dataset sources that need no download: scikit-learn's digits and the two shipped subsets of
# real images (data/README of each), relative to the workflow's base directory.
SHIPPED_SUBSETS = {"fashion_mnist_subset": "data/fashion_mnist_subset",
                   "mnist_subset": "data/mnist_subset"}
OFFLINE_SOURCES = ("digits", "imagefolder", "torchvision", *SHIPPED_SUBSETS)  # no download rule
# keys of a dataset entry that only one source takes
SOURCE_KEYS = {"imagefolder": ("train", "test"), "torchvision": ("name", "root", "kwargs", "splits")}
SOURCE_OF_KEY = {k: source for source, keys in SOURCE_KEYS.items() for k in keys}


class ConfigError(ValueError):
    """A config value the schema rejects; the message is one line."""


def load_yaml(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def explain(error: jsonschema.ValidationError) -> str:
    """One line for a schema violation: where, the bad value, and what is allowed."""
    where = _where(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        pattern = schema.get("patternProperties")
        if pattern:
            import re

            extra = [k for k in extra if not any(re.search(p, k) for p in pattern)]
        return (f"config: unknown key {', '.join(map(repr, extra))} in {where}; "
                f"allowed: {', '.join(allowed)}")
    if error.validator == "enum" and "propertyNames" in error.schema_path:
        return (f"config: unknown key {error.instance!r} in {where}; "
                f"allowed: {', '.join(map(str, schema['enum']))}")
    if error.validator == "enum":
        return (f"config: {where} = {error.instance!r} is not allowed; "
                f"allowed: {', '.join(map(str, schema['enum']))}")
    if error.validator == "required":
        return f"config: {where} is missing {error.message.split(' is a')[0]}"
    return f"config: {where}: {error.message}"


def _best(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    err = jsonschema.exceptions.best_match(errors)
    while err.context:  # descend into anyOf/oneOf to the most specific cause
        err = jsonschema.exceptions.best_match(err.context)
    return err


# A config file with every one of these blocks is a full config and stands alone (paper.yaml);
# one with fewer holds only what it changes and is layered over config/config.yaml (:func:`layer`).
FULL_CONFIG_KEYS = ("datasets", "experiments", "attacks", "figures", "uncertainty")
# Blocks that name datasets or nets: an override replaces them whole instead of merging into the
# default's, so runs of different data never mix.
REPLACED = {("datasets",), ("experiments",), ("attacks", "eps"), ("attacks", "feature_eps"),
            ("minimal", "max_eps"), ("uncertainty", "datasets")}


def layer(base: Mapping[str, Any], over: Mapping[str, Any],
          path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``over`` merged into ``base``: nested blocks merge key by key, except the blocks of
    :data:`REPLACED`, which ``over`` replaces whole; any other value of ``over`` wins."""
    import copy

    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        where = (*path, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and \
                where not in REPLACED:
            out[key] = layer(out[key], value, where)
        else:
            out[key] = copy.deepcopy(value)
    return out


def layered(default: str | Path, files: list[str | Path],
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config of ``--configfile files`` (and ``--config`` ``overrides``), the Snakemake way:
    each file is layered (:func:`layer`) over what came before, starting from ``default``
    (config/config.yaml), except a full config (every block of :data:`FULL_CONFIG_KEYS`), which
    starts afresh; then the command line's values on top."""
    config: dict[str, Any] = load_yaml(default)
    for f in files:
        this = load_yaml(f)
        config = this if all(k in this for k in FULL_CONFIG_KEYS) else layer(config, this)
    return layer(config, overrides or {})


def normalize(config: dict[str, Any]) -> dict[str, Any]:
    """Values given on the command line (``--config 'seeds=[0,1,2]'``) arrive as strings: seeds
    that spell integers become integers; anything else is left for :func:`check` to refuse."""
    seeds = config.get("seeds")
    if isinstance(seeds, list):
        config["seeds"] = [int(v) if isinstance(v, str) and v.strip().lstrip("-").isdigit()
                           else v for v in seeds]
    return config


def with_code_enums(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with its enums of names taken from the code, so a name is added in one place
    and the config classes need not check again: the attack names (``upnn.attacks.REGISTRY``),
    the optimizers and schedules (``upnn.train``), the toy's gradient attacks and the
    activations of the toy and word nets (``upnn.toy2d``, ``upnn.stacked``). torch is imported
    here, only when a config is checked."""
    import copy

    from upnn import attacks, stacked, toy2d, train

    out = copy.deepcopy(dict(schema))
    out["$defs"]["attack_name"]["enum"] = list(attacks.REGISTRY)
    out["$defs"]["train"]["properties"]["optimizer"]["enum"] = list(train.OPTIMIZERS)
    out["$defs"]["train"]["properties"]["schedule"]["enum"] = list(train.SCHEDULES)
    toy, words = out["properties"]["toy2d"]["properties"], out["properties"]["words"]["properties"]
    toy["attack"]["properties"]["name"]["enum"] = list(toy2d.GRADIENT_ATTACKS)
    for block in (toy, words):
        block["activation"]["enum"] = list(stacked.ACTIVATIONS)
    return out


def referenced_models(config: Mapping[str, Any]) -> list[str]:
    """The names of the config's own nets (``models.<name>.ref``), allowed beside the built-ins."""
    return [m for m, spec in (config.get("models") or {}).items()
            if isinstance(spec, dict) and "ref" in spec]


def model_reference(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """What :func:`upnn.models.build` needs to rebuild ``model`` beyond its shape: the ``ref``,
    ``kwargs``, ``head`` and ``normalize`` of a referenced net; {} for a built-in one."""
    spec = config["models"].get(model, {})
    return {k: spec[k] for k in ("ref", "kwargs", "head", "normalize") if k in spec}


def imported_runs(config: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """The runs whose checkpoints a researcher already has (``models.<name>.checkpoints``):
    imported, not trained."""
    return [(d, m, s) for d, m, s in runs(config) if "checkpoints" in config["models"][m]]


def check(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` (one line) if ``config`` violates ``schema``; then cross-check
    that every experiment names a configured dataset and model."""
    schema = with_code_enums(schema)
    schema["$defs"]["model_name"]["enum"] += referenced_models(config)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if errors:
        raise ConfigError(explain(_best(errors)))
    datasets = config.get("datasets", {})
    for name, models_ in config.get("experiments", {}).items():
        if name not in datasets:
            raise ConfigError(f"config: experiments.{name}: unknown dataset {name!r}; "
                              f"allowed: {', '.join(datasets)}")
        for m in models_:
            if m not in config.get("models", {}):
                raise ConfigError(f"config: experiments.{name}: model {m!r} has no entry under "
                                  f"models; configured: {', '.join(config.get('models', {}))}")
    _check_datasets(config)
    _check_attacks(config)
    _check_amplitudes(config)
    _check_epochs(config)
    low = (config.get("frequency") or {}).get("low_window")
    if low and not 0 <= low[0] < low[1]:
        raise ConfigError(f"config: frequency.low_window = {low} is empty or reversed; allowed: "
                          f"[start, stop] with 0 <= start < stop (e.g. [5, 26])")
    for name in (config.get("ifa") or {}).get("datasets") or []:
        if name not in config.get("experiments", {}):
            raise ConfigError(f"config: ifa.datasets names {name!r}, which trains no model; "
                              f"allowed: {', '.join(config.get('experiments', {}))}")


def _check_datasets(config: Mapping[str, Any]) -> None:
    """Each dataset entry has what its source needs and no key of another source; a torchvision
    source names a class of ``torchvision.datasets`` with a training and a test split (torchvision
    is imported only when one is configured)."""
    for name, spec in config.get("datasets", {}).items():
        source = spec["source"]
        for k in spec:
            owner = SOURCE_OF_KEY.get(k, source)
            if owner != source:
                raise ConfigError(f"config: datasets.{name}.{k} belongs to source {owner!r}, not "
                                  f"{source!r}; allowed: remove {k}, or source: {owner}")
        need = {"imagefolder": ("train", "test", "image_size"), "torchvision": ("name",)}
        missing = [k for k in need.get(source, ()) if k not in spec]
        if missing:
            raise ConfigError(f"config: datasets.{name} (source {source}) needs {missing[0]!r}; "
                              f"required: {', '.join(need[source])}")
        if source == "torchvision":
            from upnn.data import torchvision_class  # imports torch: only when one is configured

            cls, picks = torchvision_class(spec["name"])
            if cls is None:
                raise ConfigError(f"config: datasets.{name}.name = {spec['name']!r} is not a data set "
                                  f"of torchvision.datasets; allowed: a class name such as MNIST, "
                                  f"KMNIST, CIFAR100, SVHN, STL10")
            if picks is None:
                raise ConfigError(f"config: datasets.{name}.name = {spec['name']!r} takes neither "
                                  f"train= nor split=; allowed: a data set with a training and a "
                                  f"test split")


def _check_attacks(config: Mapping[str, Any]) -> None:
    attacks = config.get("attacks")
    if not attacks:
        if config.get("minimal"):
            raise ConfigError("config: minimal needs the attacks block (its test subset: "
                              "attacks.n_test, attacks.subset_seed)")
        return
    for dataset in config["experiments"]:
        if dataset not in attacks["eps"]:
            raise ConfigError(f"config: attacks.eps has no epsilon for dataset {dataset!r}; "
                              f"given for: {', '.join(attacks['eps']) or 'none'}")
    mini = config.get("minimal")
    if mini:
        attacked = {m for _, m, _, lv in attack_jobs(config) if lv == "pixel"}
        for m in mini["models"]:
            if m not in attacked:
                raise ConfigError(f"config: minimal.models names {m!r}, which is not attacked at "
                                  f"pixel level; attacked: {', '.join(sorted(attacked))}")
        for dataset, models_ in config["experiments"].items():
            if set(models_) & set(mini["models"]) and dataset not in mini["max_eps"]:
                raise ConfigError(f"config: minimal.max_eps has no amplitude for dataset "
                                  f"{dataset!r}; given for: {', '.join(mini['max_eps']) or 'none'}")
            top = mini["max_eps"].get(dataset)
            if top is not None and mini["resolution"] > top:
                raise ConfigError(f"config: minimal.resolution = {mini['resolution']} exceeds "
                                  f"minimal.max_eps.{dataset} = {top}; allowed: 0 < resolution "
                                  f"<= max_eps")
    fig1 = config.get("figures", {}).get("fig1")
    if fig1 and fig1["model"] not in config["experiments"].get(fig1["dataset"], []):
        pairs = ", ".join(f"{d}/{m}" for d, ms in config["experiments"].items() for m in ms)
        raise ConfigError(f"config: figures.fig1 names {fig1['dataset']}/{fig1['model']}, "
                          f"which is not trained; trained: {pairs}")


def _amplitudes(config: Mapping[str, Any]):
    """(where, value) of every l-inf amplitude in pixel units ([0, 1] images)."""
    a = config.get("attacks") or {}
    for d, v in (a.get("eps") or {}).items():
        for i, e in enumerate(eps_list(v)):
            yield (f"attacks.eps.{d}" + (f"[{i}]" if isinstance(v, list) else ""), e)
    for d, v in ((config.get("uncertainty") or {}).get("datasets") or {}).items():
        yield f"uncertainty.datasets.{d}.eps", v["eps"]
    tsne = (config.get("uncertainty") or {}).get("tsne") or {}
    if "eps" in tsne:
        yield "uncertainty.tsne.eps", tsne["eps"]
    for block, keys in (("ifa", ("eps", "attack_eps")), ("frequency", ("eps",))):
        for k in keys:
            if k in (config.get(block) or {}):
                yield f"{block}.{k}", config[block][k]
    for d, v in ((config.get("minimal") or {}).get("max_eps") or {}).items():
        yield f"minimal.max_eps.{d}", v


def _check_amplitudes(config: Mapping[str, Any]) -> None:
    """Every pixel-level amplitude lies in (0, 1]: images are in [0, 1]. A value such as 8 is
    almost always 8/255 meant, and the message says so."""
    for where, e in _amplitudes(config):
        if e > 1:
            hint = f"; did you mean {e:g}/255 = {e / 255:.6g}?" if e <= 255 else ""
            raise ConfigError(f"config: {where} = {e:g} exceeds 1, the pixel range [0, 1]; "
                              f"allowed: 0 < eps <= 1{hint}")


def epoch_list(value: int | str | list[int] | None, top: int, where: str,
               model: str) -> list[int]:
    """The one rule for every setting that names epochs of a trained net: ``"all"`` (or null,
    where a setting allows it) is 1..top; otherwise every listed epoch must be one that training
    produces, 1..top, else :class:`ConfigError` (one line naming the bad values and the allowed
    range). Returns the epochs sorted, without repeats."""
    if value is None or value == "all":
        return list(range(1, top + 1))
    wanted = value if isinstance(value, list) else [value]
    bad = sorted({e for e in wanted if not 1 <= e <= top})
    if bad:
        shown, verb = (bad, "exceed") if isinstance(value, list) else (value, "exceeds")
        raise ConfigError(f"config: {where} = {shown} {verb} the {top} trained epochs of {model}; "
                          f"allowed: 1..{top}" + ("" if isinstance(value, list) else " or null"))
    return sorted(set(wanted))


def epoch_settings(config: Mapping[str, Any]) -> list[tuple[str, Any, int, str]]:
    """(where, value, top, model) of every epoch setting that a stage reads, for every model it
    applies to: the epochs evaluated by the attack, uncertainty (and its t-SNE), IFA and frequency
    stages, Fig. 1's epoch (top: that model's training epochs) and the toy's landscape epochs
    (top: ``toy2d.epochs``)."""
    trained = runs(config)
    out: list[tuple[str, Any, int, str]] = []
    a = config.get("attacks")
    if a:
        for m in sorted({m for _, m, _, _ in attack_jobs(config)}):
            out.append(("attacks.epochs", a["epochs"], epochs(config, m), m))
            if isinstance(a.get("extra_eps_epochs"), list):
                out.append(("attacks.extra_eps_epochs", a["extra_eps_epochs"],
                            epochs(config, m), m))
            for name, spec in (a.get("settings") or {}).items():
                if name in a["names"] and isinstance(spec.get("epochs"), list):
                    out.append((f"attacks.settings.{name}.epochs", spec["epochs"],
                                epochs(config, m), m))
    unc = config.get("uncertainty")
    if unc:
        for m in sorted({m for d, m, _ in trained if m in unc["models"] and d in unc["datasets"]}):
            out.append(("uncertainty.epochs", unc["epochs"], epochs(config, m), m))
        if unc["tsne"]["model"] in config["models"]:
            m = unc["tsne"]["model"]
            out.append(("uncertainty.tsne.epochs", unc["tsne"]["epochs"], epochs(config, m), m))
    ifa = config.get("ifa")
    if ifa:
        datasets = ifa.get("datasets") or list(config["experiments"])
        for m in sorted({m for d, m, _ in trained if m in ifa["models"] and d in datasets}):
            out.append(("ifa.epochs", ifa["epochs"], epochs(config, m), m))
    freq = config.get("frequency")
    if freq:
        for m in sorted({m for _, m, _ in trained if m in freq["models"]}):
            out.append(("frequency.epochs", freq["epochs"], epochs(config, m), m))
    fig1 = (config.get("figures") or {}).get("fig1") or {}
    if fig1.get("epoch") is not None and fig1["model"] in config["models"]:
        out.append(("figures.fig1.epoch", fig1["epoch"], epochs(config, fig1["model"]),
                    fig1["model"]))
    toy = config.get("toy2d") or {}
    if (toy.get("landscape") or {}).get("epochs") and "epochs" in toy:
        out.append(("toy2d.landscape.epochs", toy["landscape"]["epochs"], toy["epochs"], "toy2d"))
    return out


def _check_epochs(config: Mapping[str, Any]) -> None:
    """Every evaluated epoch must be trained (:func:`epoch_list` on every
    :func:`epoch_settings` entry); figure and t-SNE targets must be trained nets, and the nets
    an attack is kept to (``attacks.settings.<name>.models``) attacked ones."""
    trained = {m for _, m, _ in runs(config)}
    a = config.get("attacks") or {}
    for m in a.get("models") or []:
        if m not in trained:
            raise ConfigError(f"config: attacks.models names {m!r}, which is not trained; "
                              f"trained: {', '.join(sorted(trained))}")
    attacked = sorted({m for _, m, _, _ in attack_jobs(config)}) if a else []
    for name, spec in (a.get("settings") or {}).items():
        kept_to = spec.get("models") if name in a.get("names", []) else None
        for m in kept_to or []:
            if m not in attacked:
                raise ConfigError(f"config: attacks.settings.{name}.models names {m!r}, which "
                                  f"is not attacked; attacked: {', '.join(attacked)}")
    for where, value, top, model in epoch_settings(config):
        epoch_list(value, top, where, model)
    tsne = (config.get("uncertainty") or {}).get("tsne")
    if tsne and tsne["model"] not in config["experiments"].get(tsne["dataset"], []):
        pairs = ", ".join(f"{d}/{m}" for d, ms in config["experiments"].items() for m in ms)
        raise ConfigError(f"config: uncertainty.tsne names {tsne['dataset']}/{tsne['model']}, "
                          f"which is not trained; trained: {pairs}")


def runs(config: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """Every (dataset, model, seed) that is trained: the model's own ``seeds`` where its
    ``models`` entry gives them (more runs for the panels a verdict headlines), else ``seeds``."""
    return [(d, m, s) for d, ms in config["experiments"].items() for m in ms
            for s in model_seeds(config, m)]


def model_seeds(config: Mapping[str, Any], model: str) -> list[int]:
    """``model``'s training seeds: its own ``models.<model>.seeds``, else the top-level ``seeds``."""
    return config["models"].get(model, {}).get("seeds", config["seeds"])


def first_seed(config: Mapping[str, Any], model: str) -> int:
    """The first training seed of ``model`` (:func:`runs`): the run a one-run figure shows."""
    return int(model_seeds(config, model)[0])


def train_settings(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The global ``train`` block with the model's own ``train`` overrides on top."""
    return {**config["train"], **config["models"][model].get("train", {})}


def epochs(config: Mapping[str, Any], model: str) -> int:
    return int(train_settings(config, model)["epochs"])


def attack_epochs(config: Mapping[str, Any], model: str) -> list[int]:
    """The evaluated epochs of ``model``: ``attacks.epochs`` ("all" or a list, :func:`epoch_list`)."""
    return epoch_list(config["attacks"]["epochs"], epochs(config, model), "attacks.epochs", model)


def eps_list(value: float | list[float]) -> list[float]:
    """An amplitude setting (one number or a list) as a list; its first entry is the papers' ε."""
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def attack_eps(config: Mapping[str, Any], dataset: str, level: str) -> list[float]:
    """The amplitudes of the attack tables: ``attacks.eps[dataset]`` at pixel level; at feature
    level ``attacks.feature_eps`` (fractions of each feature's range) or, when null, the same
    fractions as the pixel amplitudes."""
    a = config["attacks"]
    if level == "feature" and a.get("feature_eps") is not None:
        return eps_list(a["feature_eps"])
    return eps_list(a["eps"][dataset])


def attack_specs(config: Mapping[str, Any], model: str | None = None,
                 seed: int | None = None) -> list[dict[str, Any]]:
    """``attacks.names`` with each attack's settings: the specs upnn.robustness takes. Given the
    job's ``model`` and ``seed``, an attack with ``seeds: first`` is left out of every seed but
    the model's first (:func:`first_seed`), one with ``models: [...]`` out of every other model,
    and both keys are dropped. ``attacks.success:
    any`` goes into the specs of the attacks that take it (upnn.attacks: bim, illc, pgd, ifgsm)."""
    from upnn.attacks import REGISTRY

    settings = config["attacks"].get("settings", {})
    specs = [{"name": n, **settings.get(n, {})} for n in config["attacks"]["names"]]
    if config["attacks"].get("success", "final") != "final":  # absent under the default rule,
        specs = [{**s, "success": config["attacks"]["success"]}  # so its tables stay as they are
                 if "success" in REGISTRY[s["name"]].options else s for s in specs]
    if model is None:
        return specs
    first = seed is None or int(seed) == first_seed(config, model)
    return [{k: v for k, v in s.items() if k not in ("seeds", "models")} for s in specs
            if (first or s.get("seeds", "all") == "all") and model in s.get("models", [model])]


def attack_jobs(config: Mapping[str, Any]) -> list[tuple[str, str, int, str]]:
    """Every (dataset, model, seed, level) attacked: pixel for the runs of ``attacks.models``
    (default: all), feature for those also in ``attacks.feature_models``."""
    a = config["attacks"]
    attacked = a.get("models") or [m for _, m, _ in runs(config)]
    return [(d, m, s, lv) for d, m, s in runs(config) if m in attacked for lv in a["levels"]
            if lv == "pixel" or m in a["feature_models"]]


def minimal_jobs(config: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """Every (dataset, model, seed) whose minimal amplitudes are searched: ``minimal.models``
    (none when the block is absent) on each model's first seed (:func:`first_seed`), like IFA:
    the bisection costs two attack sweeps a run, and extra seeds go to the attack panels."""
    wanted = (config.get("minimal") or {}).get("models") or []
    return [(d, m, s) for d, m, s in runs(config) if m in wanted and s == first_seed(config, m)]


def ifa_runs(config: Mapping[str, Any]) -> list[tuple[str, str, int, int]]:
    """(dataset, model, seed, N_epoch) of every IFA target (v3 §3): ``ifa.models`` on
    ``ifa.datasets`` (default: all) at each ``ifa.epochs``, on the model's first seed only
    (:func:`first_seed`): IFA and Pix2Pix train on top of one classifier run, and their own
    training costs as much again per run, so extra seeds go to the attack panels."""
    ifa = config.get("ifa")
    if not ifa:
        return []
    datasets = ifa.get("datasets") or list(config["experiments"])
    return [(d, m, s, e) for d, m, s in runs(config)
            if m in ifa["models"] and d in datasets and s == first_seed(config, m)
            for e in epoch_list(ifa["epochs"], epochs(config, m), "ifa.epochs", m)]


def llm_slug(model: str) -> str:
    """The name of ``results/llm/{slug}.parquet``: a hub id "org/name" gives "org--name" (as in
    the Hugging Face cache), an existing local folder its own name."""
    import re

    path = Path(model).expanduser()
    name = path.resolve().name if path.exists() else model.strip("/").replace("/", "--")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def llm_task_files(config: Mapping[str, Any]) -> list[str]:
    """The YAML / JSONL / Python files under ``llm.include_path`` (locally defined lm-eval tasks):
    inputs of the LLM stage, so that editing a task reruns it."""
    root = (config.get("llm") or {}).get("include_path")
    if not root:
        return []
    return sorted(str(p) for ext in ("yaml", "jsonl", "py") for p in Path(root).glob(f"*.{ext}"))
