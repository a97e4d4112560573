"""The opening of every rule script (:func:`job`): torch's threads pinned to the rule's
``threads``, and the rule's prints, warnings and tqdm progress sent to its ``log:`` file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def to_file(path: str | Path | None) -> Iterator[logging.Logger]:
    """Redirect stdout/stderr (so tqdm and tracebacks) and the ``upnn`` logger to ``path``."""
    logger = logging.getLogger("upnn")
    logger.setLevel(logging.INFO)
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
        logger.addHandler(handler)
        try:
            yield logger
        finally:
            logger.removeHandler(handler)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as fh:
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = fh
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        try:
            yield logger
        except BaseException:
            logger.exception("failed")
            raise
        finally:
            logger.removeHandler(handler)
            sys.stdout, sys.stderr = old


@contextmanager
def job(sm: Any) -> Iterator[logging.Logger]:
    """Every rule script runs inside this, given its ``snakemake`` object: torch's intra-op threads
    are set to the rule's ``threads`` (when the script has imported torch: scripts that only
    draw figures never load it), so a table does not depend on the machine's core count or on
    OMP_NUM_THREADS; then :func:`to_file` on the rule's log, whose first line names the rule,
    its wildcards and the thread count (which each table's provenance records too)."""
    threads = max(1, int(getattr(sm, "threads", 1) or 1))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    with to_file(sm.log[0] if len(sm.log) else None) as logger:
        logger.info("rule %s %s: %d thread(s)", sm.rule, dict(sm.wildcards.items()), threads)
        yield logger
