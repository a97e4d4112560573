"""The ``upnn`` command: what a user runs by hand, one subcommand each, ``--help`` on every one.

    upnn plan [--configfile FILE ...] [--rates FILE]   the work planner (upnn.plan)
    upnn claims [TABLE] [--full]                   print a claims table (upnn.claims_markdown)
    upnn readme --update TABLE | --check           the README's generated block (upnn.readme)
    upnn data download SOURCE [--root DIR]         pre-stage a torchvision data set (upnn.data)
    upnn llm prefetch [...]                        fill the Hugging Face cache (upnn.llm)

Each is also ``python -m upnn.<module>`` (:data:`MODULES`). The workflow itself runs with ``snakemake``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {"plan": "the work planner: every job, its counted work and estimated time",
            "claims": "print a claims table's summary (or every row with --full)",
            "readme": "rebuild or check the README's block generated from the claims table",
            "data": "pre-stage a torchvision data set for offline machines",
            "llm": "prefetch the LLM stage's model and task data into the Hugging Face cache"}


#: the module of a command whose name is not its module's
MODULES = {"claims": "claims_markdown"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: upnn COMMAND [--help]\n\ncommands:")
        for name, what in COMMANDS.items():
            print(f"  {name:8s} {what}")
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"upnn: unknown command {name!r}; allowed: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"upnn.{MODULES.get(name, name)}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
