"""Send a rule's prints, warnings and tqdm progress to its ``log:`` file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
