"""Matrix-free curvature operators of (model, loss, data): Hessian, GGN, NTK, Fisher and empirical Fisher."""
from hessverify.operators.base import CurvatureOperator, ModelOperator
from hessverify.operators.cuda_graph import GraphedHessian, cuda_graphed
from hessverify.operators.distributed import DistributedOperator, distributed
from hessverify.operators.fisher import EmpiricalFisherOperator, FisherOperator, empirical_fisher, fisher
from hessverify.operators.ggn import GGNOperator, ggn
from hessverify.operators.hessian import BACKENDS, HessianOperator, hessian
from hessverify.operators.losses import LOSSES
from hessverify.operators.ntk import NTKOperator, ntk

__all__ = ["CurvatureOperator", "ModelOperator", "hessian", "ggn", "ntk", "fisher", "empirical_fisher",
           "HessianOperator", "GGNOperator", "NTKOperator", "FisherOperator", "EmpiricalFisherOperator",
           "BACKENDS", "LOSSES", "distributed", "DistributedOperator", "cuda_graphed", "GraphedHessian"]
