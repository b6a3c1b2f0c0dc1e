"""A Hessian-vector product captured once in a CUDA graph and replayed: same arithmetic as the eager product,
without the per-kernel launch cost that dominates small models on a GPU (idea: PyTorch's "whole network
capture", ``torch.cuda.graph``)."""
from __future__ import annotations

import torch

from hessverify.operators.attention import attention_kernels
from hessverify.operators.base import CurvatureOperator
from hessverify.operators.hessian import HessianOperator


class GraphedHessian(CurvatureOperator):
    """``op``'s products replayed from a CUDA graph; a snapshot of ``op`` (same parameters and data).

    Parameters
    ----------
    op
        A single-batch ``double_backward`` Hessian on CUDA.
    warmup
        Products run before capture.
    """

    def __init__(self, op: HessianOperator, warmup: int = 3):
        if not isinstance(op, HessianOperator):
            raise TypeError(f"op must be a HessianOperator (hessverify.operators.hessian), got {type(op).__name__}")
        if op.device.type != "cuda":
            raise ValueError(f"op is on {op.device}; CUDA graphs need the model and data on a CUDA device")
        if op.backend != "double_backward" or not op.data.single_batch:
            raise ValueError("cuda_graphed needs backend='double_backward' and the data in one batch "
                             "(batch_size=None): the captured graph replays one fixed sequence of kernels")
        self.shape, self.dtype, self.device = op.shape, op.dtype, op.device
        self.num_matvecs = 0
        self._v = torch.zeros(op.shape[0], dtype=op.dtype, device=op.device)
        stream = torch.cuda.Stream(op.device)
        stream.wait_stream(torch.cuda.current_stream(op.device))
        # autograd runs a backward op on the stream of its forward op: build the gradient graph on the
        # capture stream, or its replayed backward would touch another stream during capture
        with torch.cuda.stream(stream), attention_kernels(op.uses_attention):
            self._theta, self._grad = op._gradient_graph(*next(op.batches()))
            for _ in range(warmup):
                self._product()
        torch.cuda.current_stream(op.device).wait_stream(stream)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph, stream=stream), attention_kernels(op.uses_attention):
            self._out = self._product()

    def _product(self) -> torch.Tensor:
        return torch.autograd.grad(self._grad, self._theta, grad_outputs=self._v, retain_graph=True)[0]

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        cols = []
        for j in range(V.shape[1]):
            self._v.copy_(V[:, j])
            self._graph.replay()
            cols.append(self._out.clone())
        return torch.stack(cols, dim=1)


def cuda_graphed(op: HessianOperator, warmup: int = 3) -> GraphedHessian:
    """``op`` (a single-batch ``double_backward`` Hessian on CUDA) with its product captured in a CUDA graph.

    Parameters
    ----------
    op : HessianOperator
        A single-batch ``double_backward`` Hessian on CUDA.
    warmup : int
        Products run before capture.

    Returns
    -------
    GraphedHessian
        The operator whose products replay the graph.
    """
    return GraphedHessian(op, warmup=warmup)
