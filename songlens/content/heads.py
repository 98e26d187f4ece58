"""Reading the small fitted *heads* that ship as ``.npz`` files beside the code (the sentiment
heads on text vectors, the instrument head on audio vectors): named arrays plus an ``about`` JSON
that says what they were fitted on. One reader, so that every head refuses a damaged or foreign
file the same way: a :class:`ConfigError` naming the file, never a traceback from numpy or zip."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from songlens.errors import ConfigError

__all__ = ["read_head"]


def read_head(path: Path, what: str, arrays: Sequence[str]) -> tuple[dict[str, Any],
                                                                      dict[str, np.ndarray]]:
    """(``about``, ``{name: array}``) of the head file ``path``; ``what`` names it in errors.

    Raises
    ------
    ConfigError
        The file cannot be read, lacks one of ``arrays`` or ``about``, or holds a non-finite
        number.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            about = json.loads(str(data["about"]))
            out = {name: np.asarray(data[name]) for name in arrays}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"cannot read {what} {path.name!r}: {exc}") from exc
    if not isinstance(about, dict):
        raise ConfigError(f"{what} {path.name!r}: 'about' is not a JSON object")
    for name, arr in out.items():
        if arr.dtype.kind not in "fiu" or not np.all(np.isfinite(arr)):
            raise ConfigError(f"{what} {path.name!r}: {name!r} is not an array of finite "
                              f"numbers")
    return about, out
