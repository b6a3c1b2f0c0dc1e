"""A content-addressed cache of finished work: ``key = sha256(config)``, files written atomically.

An interrupted run resumes where it stopped: a cell whose result file exists is loaded, never recomputed;
a half-written file cannot exist because every write goes to a temporary name first and is renamed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def config_key(config: dict) -> str:
    """Stable hash of a JSON-able configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultCache:
    """``cache.get_or_compute(config, fn)``: JSON results of ``fn()`` stored under ``directory/<key>.json``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def path(self, config: dict) -> Path:
        return self.directory / f"{config_key(config)}.json"

    def get_or_compute(self, config: dict, compute: Callable[[], dict]) -> dict:
        path = self.path(config)
        if path.exists():
            self.hits += 1
            return json.loads(path.read_text())["result"]
        self.misses += 1
        result = compute()
        atomic_write_text(path, json.dumps({"config": config, "result": result}, sort_keys=True, default=float))
        return result
