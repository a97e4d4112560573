"""Loaders for the tiny multiple-choice tasks in this folder (``custom_dataset`` of the YAMLs).

The JSONL files lie beside this module, so the tasks work from any working directory, offline,
and write nothing to the Hugging Face datasets cache.
"""

import json
from pathlib import Path

import datasets

HERE = Path(__file__).resolve().parent


def _load(name: str) -> datasets.DatasetDict:
    rows = [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def load_mc4(**kwargs) -> datasets.DatasetDict:
    return _load("tiny_mc4.jsonl")


def load_mc2(**kwargs) -> datasets.DatasetDict:
    return _load("tiny_mc2.jsonl")
