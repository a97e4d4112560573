"""The rule files' coupling (issue 28): rules/common.smk owns every path, run list and the final
targets; no other rule file reads a name that a third rule file defines, so include order and
file moves cannot break a rule."""

import re

from conftest import ROOT

DEFINES = re.compile(r"(?:def\s+(\w+)\s*\(|([A-Za-z_]\w*)\s*\+?=(?!=))")


def defined(text: str) -> set[str]:
    """Names a rule file binds at module level, also inside a top-level ``if``/``else`` block
    (not inside a function or rule body: those names are local, or rule keywords)."""
    names, in_if = set(), False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_if = bool(re.match(r"(if|elif|else)\b.*:\s*$", line))
        if indent == 0 or (in_if and indent == 4):
            m = DEFINES.match(line.lstrip())
            if m:
                names.add(m.group(1) or m.group(2))
    return names


def test_no_rule_file_reads_a_name_another_rule_file_defines():
    files = {p.name: p.read_text() for p in sorted((ROOT / "rules").glob("*.smk"))}
    owners: dict[str, str] = {}
    for name, text in files.items():
        for n in defined(text):
            owners.setdefault(n, name)
    assert {"final_targets", "RUNS", "IFA_RUNS", "UNC_RUNS", "LLM_TABLE",
            "FREQUENCY_DATASETS", "FIG1"} <= {n for n, f in owners.items() if f == "common.smk"}
    bad = []
    for name, text in files.items():
        code = re.sub(r"#.*", "", text)
        for word in set(re.findall(r"\b[A-Za-z_]\w*\b", code)):
            owner = owners.get(word)
            if owner and owner not in (name, "common.smk"):
                bad.append(f"{name} reads {word} from {owner}")
    assert not bad, bad
    snakefile = (ROOT / "Snakefile").read_text()
    assert "final_targets()" in snakefile and "TARGETS" not in snakefile
    assert not any("_common" in f for f in files) and "figures.smk" not in files
