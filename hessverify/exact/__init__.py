"""Exact rational arithmetic for settings whose numbers are rational: certified ranks and zero counts.

| module | holds |
| --- | --- |
| ``rank`` | ``exact_rank``: the rank of a rational matrix, proved by primes beyond the Hadamard bound |
| ``linear_models`` | ``ExactProblem``: Jacobian, GGN, Hessian of a linear network/CNN under MSE, exactly |
| ``construct`` | dyadic rounding, rational orthogonal matrices (Cayley) for exact balanced/whitened settings |
"""
from hessverify.exact.linear_models import ExactProblem, NoExactRoute, rational, rational_array
from hessverify.exact.rank import exact_rank

__all__ = ["exact_rank", "ExactProblem", "NoExactRoute", "rational", "rational_array"]
