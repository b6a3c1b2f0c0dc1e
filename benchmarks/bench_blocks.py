"""The cost of a block of ``b`` products, ``matmat(V)`` with ``V`` of ``b`` columns, in units of one product
(``matvec``), for b = 1, 2, 4, 8, 16, 32: the numbers block Lanczos' default block size is chosen from."""
from __future__ import annotations

import torch

from benchmarks.bench_estimators import best_of
from hessverify.operators import ggn, hessian

BLOCKS = (1, 2, 4, 8, 16, 32)


def block_costs(problems: dict, repeats: int = 3) -> dict:
    """``{problem: {operator: {b: cost of b products / cost of 1}}}``."""
    out = {}
    for name, (model, X, labels) in problems.items():
        ops = {"hessian[double_backward]": hessian(model, "cross_entropy", X, labels),
               "hessian[jvp]": hessian(model, "cross_entropy", X, labels, backend="jvp"),
               "ggn": ggn(model, "cross_entropy", X, labels)}
        out[name] = {}
        for op_name, op in ops.items():
            g = torch.Generator().manual_seed(0)
            d = op.shape[0]
            one = best_of(lambda: op.matvec(torch.randn(d, generator=g, dtype=op.dtype)), repeats)
            row = {"single_product_ms": 1e3 * one}
            for b in BLOCKS:
                V = torch.randn(d, b, generator=g, dtype=op.dtype)
                row[str(b)] = best_of(lambda: op.matmat(V), repeats) / one
            out[name][op_name] = row
            print(f"{name} {op_name}: " + ", ".join(f"{b}: {c:.2f}" for b, c in row.items()), flush=True)
    return out


def markdown(costs: dict) -> list[str]:
    lines = ["", "## Cost of a block of b products, in single products", "",
             "`matmat` with b columns runs one batched pass (`torch.func.vmap` over the product, or autograd's "
             "batched gradients); b products one at a time would cost b. Each row is in units of that operator's "
             "own single product, whose time is given: compare rows through it.", ""]
    for name, ops in costs.items():
        lines += [f"**{name}**", "", "| operator | one product (ms) | " + " | ".join(f"b={b}" for b in BLOCKS) + " |",
                  "| --- | ---: |" + " ---: |" * len(BLOCKS)]
        lines += [f"| {op} | {row.get('single_product_ms', float('nan')):.1f} | "
                  + " | ".join(f"{row[str(b)]:.2f}" for b in BLOCKS) + " |" for op, row in ops.items()]
        lines.append("")
    return lines
