"""Data-parallel curvature: the loss is a mean over all targets, so its Hessian (or GGN) is the
target-weighted sum of the shards' operators, ``A = sum_r (D_r / D) A_r`` (``D_r`` the shard's number of
targets: its samples, or its labels that are not ``ignore_index``). Each rank of ``torch.distributed``
holds one shard; a product computes the local ``A_r V`` and all-reduces it (gloo on CPU, NCCL on GPU).

The estimators need no change: called with the same ``seed`` on every rank, they draw the same vectors and see
the same all-reduced products, so every rank runs the same iteration. Launch with ``torchrun``::

    torchrun --nproc_per_node=4 my_script.py   # each process: init_process_group, shard, distributed(...)
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from hessverify.operators.base import CurvatureOperator


class DistributedOperator(CurvatureOperator):
    """``sum_r (D_r / D) A_r V`` over the ranks of ``group``, from this rank's operator ``A_r``.

    Parameters
    ----------
    local
        This rank's operator on its shard.
    group
        The ``torch.distributed`` process group; None: the default group.
    """

    def __init__(self, local: CurvatureOperator, group=None):
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised: call torch.distributed.init_process_group "
                               "(backend 'gloo' on CPU, 'nccl' on GPU) first, e.g. under torchrun")
        data = getattr(local, "data", None)
        if not isinstance(local, CurvatureOperator) or data is None:
            raise TypeError("local must be a hessian(...) or ggn(...) operator built on this rank's shard of the data; "
                            "the NTK is a kernel over all samples and does not split into a sum over shards")
        self.local, self.group = local, group
        self.param_names, self.param_shapes = local.param_names, local.param_shapes
        self.shape, self.dtype, self.device = local.shape, local.dtype, local.device
        self.num_matvecs = 0
        mean = getattr(getattr(local, "loss", None), "reduction", "mean") == "mean"
        local_count = getattr(local, "num_targets", data.n)  # targets of a token mean, samples otherwise
        counts = torch.tensor([float(local_count)], dtype=torch.float64)
        if dist.get_backend(group) == "nccl":
            counts = counts.to(self.device)
        dist.all_reduce(counts, group=group)
        #: the number of targets (samples for a sample mean) of the whole data set
        self.n_total = counts.item()
        if float(self.n_total).is_integer():
            self.n_total = int(self.n_total)
        # a mean over all targets weights each shard by its share; a sum adds the shards as they are
        self.weight = local_count / self.n_total if mean else 1.0
        shapes = [None] * dist.get_world_size(group)
        dist.all_gather_object(shapes, tuple(local.shape), group=group)
        if len(set(shapes)) != 1:
            raise ValueError(f"the ranks' operators have different shapes {shapes}: every rank must hold the same model")

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self.local.matmat(V) * self.weight
        dist.all_reduce(out, group=self.group)
        return out


def distributed(local: CurvatureOperator, group=None) -> DistributedOperator:
    """Wrap this rank's Hessian/GGN operator (on its shard) into the operator of the whole data set. The
    parameter selection, loss and reduction are the local operator's (build it with ``params=`` etc.).

    Parameters
    ----------
    local : CurvatureOperator
        This rank's operator on its shard.
    group
        The ``torch.distributed`` process group; None: the default group.

    Returns
    -------
    DistributedOperator
        The operator of the whole data set, the same on every rank.
    """
    return DistributedOperator(local, group)
