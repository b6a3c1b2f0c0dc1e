"""The operator interface shared by Hessian, GGN and NTK: ``shape``, ``dtype``, ``device``, ``matvec``,
``matmat``, ``dense`` and ``to_scipy`` (a ``scipy.sparse.linalg.LinearOperator``, as in curvlinops)."""
from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as sla
import torch


class CurvatureOperator:
    """A symmetric ``d x d`` matrix available through products. Subclasses implement ``_matmat``."""

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    #: number of matrix-vector products (columns) applied so far
    num_matvecs: int = 0

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:  # (d, k) -> (d, k)
        raise NotImplementedError

    def _check_operand(self, V: torch.Tensor, name: str) -> None:
        if not isinstance(V, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(V).__name__}; use to_scipy() for numpy")
        if V.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {V.dtype} but the operator has {self.dtype}; convert with .to({self.dtype})")
        if V.device != self.device:
            raise ValueError(f"{name} is on {V.device} but the operator is on {self.device}; move it with .to('{self.device}')")
        if V.shape[0] != self.shape[1]:
            raise ValueError(f"{name} has leading size {V.shape[0]} but the operator has size {self.shape[1]}")

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` for a flat 1-D ``v``."""
        self._check_operand(v, "v")
        if v.ndim != 1:
            raise ValueError(f"v must be 1-D of length {self.shape[1]}, got shape {tuple(v.shape)}; use matmat for blocks")
        return self.matmat(v[:, None])[:, 0]

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A V`` for ``V`` of shape ``(d, k)``, batched over columns."""
        self._check_operand(V, "V")
        if V.ndim != 2:
            raise ValueError(f"V must be 2-D of shape ({self.shape[1]}, k), got {tuple(V.shape)}")
        self.num_matvecs += V.shape[1]
        if V.shape[1] == 0:
            return V.clone()
        return self._matmat(V)

    def __matmul__(self, other: torch.Tensor) -> torch.Tensor:
        return self.matvec(other) if other.ndim == 1 else self.matmat(other)

    def dense(self, chunk: int = 256) -> torch.Tensor:
        """The full matrix, built from ``matmat`` on identity columns (``chunk`` at a time)."""
        d = self.shape[0]
        cols = []
        for start in range(0, d, chunk):
            eye = torch.zeros(d, min(chunk, d - start), dtype=self.dtype, device=self.device)
            eye[torch.arange(start, start + eye.shape[1]), torch.arange(eye.shape[1])] = 1
            cols.append(self.matmat(eye))
        return torch.cat(cols, dim=1)

    def to_scipy(self) -> sla.LinearOperator:
        """A float64 ``scipy.sparse.linalg.LinearOperator`` view (copies through the host)."""
        op = self

        def mv(x: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(np.asarray(x), device=op.device).to(op.dtype)
            y = op.matmat(x.reshape(op.shape[1], -1))
            return y.detach().cpu().double().numpy().reshape(np.shape(x))

        return sla.LinearOperator(self.shape, matvec=mv, rmatvec=mv, matmat=mv, dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, device={self.device})"
