"""A character-level GPT (000 §4.3: 4 layers, 4 heads, embedding 128, block 64; about 0.8M parameters) and an
offline corpus: the source text of Python's own standard library, which ships with every interpreter.

Attention is written out (``softmax(q k^T / sqrt(d)) v`` with a causal mask): the fused kernels of
``scaled_dot_product_attention`` have no double backward, which a Hessian-vector product needs.
"""
from __future__ import annotations

import math
import sysconfig
from pathlib import Path

import torch
from torch import nn

#: standard-library modules whose source is the corpus (present in every CPython 3.x)
CORPUS_MODULES = ("typing.py", "dataclasses.py", "inspect.py", "argparse.py", "functools.py", "pathlib.py",
                  "textwrap.py", "string.py", "random.py", "statistics.py")


def corpus(min_chars: int = 400_000) -> str:
    """ASCII text of the standard library's sources (repeated if short of ``min_chars``)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for name in CORPUS_MODULES:
        path = root / name
        if not path.exists():  # pathlib became a package in Python 3.13
            path = root / name.removesuffix(".py") / "__init__.py"
        if path.exists():
            parts.append(path.read_text(encoding="utf-8", errors="ignore"))
    text = "".join(ch for ch in "\n".join(parts) if ch.isascii())
    if not text:
        raise FileNotFoundError(f"no standard-library source found under {root}")
    return (text * (min_chars // len(text) + 1))[:max(min_chars, len(text))]


def token_batch(text: str, num_sequences: int, block: int, seed: int = 0):
    """``(X, Y, vocab)``: ``num_sequences`` random windows of ``block`` characters and their next characters."""
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, data.numel() - block - 1, (num_sequences,), generator=g)
    X = torch.stack([data[s : s + block] for s in starts.tolist()])
    Y = torch.stack([data[s + 1 : s + block + 1] for s in starts.tolist()])
    return X, Y, vocab


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, block: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.register_buffer("mask", torch.tril(torch.ones(block, block, dtype=torch.bool)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.heads)
        att = att.masked_fill(~self.mask[:T, :T], float("-inf")).softmax(dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    """Token and position embeddings, ``layers`` pre-norm transformer blocks, a final norm and a linear head.

    ``forward`` returns logits flattened to ``(B * T, vocab)`` so the operators' cross-entropy applies directly
    (targets flattened to ``(B * T,)``)."""

    def __init__(self, vocab: int, dim: int = 128, heads: int = 4, layers: int = 4, block: int = 64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(block, dim)
        self.blocks = nn.Sequential(*[_Block(dim, heads, block) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))
        return self.head(self.ln(self.blocks(x))).flatten(0, 1)
