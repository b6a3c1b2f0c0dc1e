"""A content-addressed cache of finished work: ``key = sha256(config)``, files written atomically.

An interrupted run resumes where it stopped: a cell whose result file exists is loaded, never recomputed;
a half-written file cannot exist because every write goes to a temporary name first and is renamed
(:mod:`hessverify.files`). An entry carries a schema version, its configuration and a SHA-256 checksum of its
result; an entry that fails to parse, has another schema or configuration, or whose result does not match its
checksum (truncated, corrupted, edited) is reported by path, moved aside to ``<name>.bad`` and recomputed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hessverify._validation import as_path
from hessverify.files import atomic_write_text, read_bounded

#: version of the entry layout; entries of another version are recomputed
SCHEMA = 2
#: an entry larger than this, or nested deeper, is not parsed (a crafted file cannot exhaust memory or the stack)
MAX_ENTRY_BYTES = 64 * 2**20
MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in the JSON ``text`` (brackets inside strings not counted), without
    recursion: a 100,000-deep file costs one pass, not a ``RecursionError``."""
    if not text:
        return 0
    codes = np.frombuffer(_STRING.sub(b'""', text), dtype=np.uint8)
    step = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def config_key(config: dict) -> str:
    """Stable hash of a JSON-able configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=float)


def checksum(result) -> str:
    """SHA-256 of the result's canonical JSON."""
    return hashlib.sha256(_canonical(result).encode()).hexdigest()


class CacheEntryError(ValueError):
    """A cache file that cannot be trusted."""


def read_entry(path: Path, config: dict):
    """The result stored at ``path`` for ``config``; raises :class:`CacheEntryError` saying what is wrong (a link,
    over :data:`MAX_ENTRY_BYTES`, nested over :data:`MAX_DEPTH`, not JSON, another schema or configuration, a
    checksum that does not match)."""
    try:
        raw = read_bounded(path, MAX_ENTRY_BYTES)
    except (OSError, ValueError) as e:
        raise CacheEntryError(f"unreadable ({type(e).__name__}: {e})") from None
    depth = json_depth(raw)
    if depth > MAX_DEPTH:
        raise CacheEntryError(f"nested {depth} deep (at most {MAX_DEPTH})")
    try:
        entry = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CacheEntryError(f"unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(entry, dict) or not {"schema", "config", "result", "sha256"} <= set(entry):
        raise CacheEntryError("not a cache entry (needs schema, config, result, sha256)")
    if entry["schema"] != SCHEMA:
        raise CacheEntryError(f"schema {entry['schema']!r}, expected {SCHEMA}")
    if _canonical(entry["config"]) != _canonical(json.loads(_canonical(config))):
        raise CacheEntryError("its configuration differs from the one its name stands for")
    if checksum(entry["result"]) != entry["sha256"]:
        raise CacheEntryError("its result does not match its checksum (corrupted or edited)")
    return entry["result"]


class ResultCache:
    """``cache.get_or_compute(config, fn)``: JSON results of ``fn()`` stored under ``directory/<key>.json``."""

    def __init__(self, directory: str | Path):
        self.directory = as_path("directory", directory)
        self.hits = 0
        self.misses = 0
        self.rejected: list[Path] = []

    def path(self, config: dict) -> Path:
        """Where the entry of ``config`` (a JSON-able dict) lives."""
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict of JSON values, got {type(config).__name__}")
        try:
            _canonical(config)
        except (TypeError, ValueError, RecursionError) as e:
            raise TypeError(f"config must hold JSON values only ({type(e).__name__}: {e})") from None
        return self.directory / f"{config_key(config)}.json"

    def get_or_compute(self, config: dict, compute: Callable[[], dict]) -> dict:
        """The stored result for ``config``, or ``compute()`` stored and returned as a later run will read it.

        Parameters
        ----------
        config : dict
            JSON values naming the cell (its key is their SHA-256).
        compute : callable
            ``compute()`` returns the JSON-able result (nested at most :data:`MAX_DEPTH` deep).

        Returns
        -------
        The result, as it reads back from JSON (tuples become lists).
        """
        path = self.path(config)
        if not callable(compute):
            raise TypeError(f"compute must be a callable returning the result, got {type(compute).__name__}")
        if path.exists() or path.is_symlink():
            try:
                result = read_entry(path, config)
                self.hits += 1
                return result
            except CacheEntryError as e:
                aside = path.with_name(path.name + ".bad")
                os.replace(path, aside)
                self.rejected.append(path)
                warnings.warn(f"cache entry {path} is not usable: {e}; moved to {aside.name} and recomputed",
                              RuntimeWarning, stacklevel=2)
        self.misses += 1
        result = compute()
        try:
            stored = json.loads(_canonical(result))  # what a later run reads back
        except (TypeError, ValueError, RecursionError) as e:
            raise TypeError(f"the result of compute() is not JSON-able ({type(e).__name__}: {e}); return numbers, "
                            "strings, lists and dicts") from None
        text = json.dumps({"schema": SCHEMA, "config": config, "result": stored, "sha256": checksum(stored)},
                          sort_keys=True, default=float)
        for name, part in (("config", config), ("the result of compute()", stored)):
            depth = json_depth(_canonical(part).encode()) + 1  # inside the entry's own braces
            if depth > MAX_DEPTH:
                raise ValueError(f"{name} is nested {depth} deep; a cache entry holds at most {MAX_DEPTH} levels "
                                 "(a deeper one could not be read back)")
        if len(text.encode()) > MAX_ENTRY_BYTES:
            raise ValueError(f"the result of compute() takes {len(text.encode())} bytes as JSON; a cache entry holds at "
                             f"most {MAX_ENTRY_BYTES} (a larger one could not be read back)")
        atomic_write_text(path, text)
        return stored
