"""CITATION.cff is valid CFF 1.2.0: checked against the format's own JSON schema
(tests/data/cff-1.2.0.schema.json, as shipped in cffconvert 2.0.0, whose jsonschema < 4 pin upnn
cannot take) with upnn's jsonschema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_citation_file_is_valid_cff_1_2_0():
    schema = json.loads((ROOT / "tests/data/cff-1.2.0.schema.json").read_text())
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    jsonschema.Draft7Validator(schema).validate(cff)
    papers = {r["title"].split(":")[0]: r for r in cff["references"]}
    assert all(a.get("given-names") for r in papers.values() for a in r["authors"])


def test_the_schema_rejects_what_cffconvert_rejected():
    """Authors given by family name only, two of them the same, are 'non-unique elements'."""
    schema = json.loads((ROOT / "tests/data/cff-1.2.0.schema.json").read_text())
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    cff["references"][0]["authors"] = [{"family-names": "Zhang"}, {"family-names": "Zhang"}]
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(cff))
    assert any("non-unique" in e.message for e in errors)
