"""The data-parallel operator: 2 processes on gloo give the single-process operator to rounding."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hessverify.estimators import lanczos
from hessverify.models import linear_network
from hessverify.operators import distributed, ggn, hessian

WORLD = 2


def problem():
    torch.manual_seed(0)
    model = linear_network((4, 6, 3), activation="tanh", bias=True)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(11, 4, generator=g, dtype=torch.float64)  # 11 samples: shards of 6 and 5
    labels = torch.randint(3, (11,), generator=g)
    return model, X, labels


def _worker(rank, rendezvous, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    try:
        model, X, labels = problem()
        shard = slice(rank, None, WORLD)
        H = distributed(hessian(model, "cross_entropy", X[shard], labels[shard]))
        G = distributed(ggn(model, "cross_entropy", X[shard], labels[shard]))
        top = lanczos(H, k=3, seed=0)
        torch.save({"H": H.dense(), "G": G.dense(), "top": top.eigenvalues, "n": H.n_total},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()
    # Reached only on success. Skip interpreter finalisation: torch 2.13's gloo worker threads can abort it with
    # "terminate called without an active exception" after every result is saved (3 of 20 runs here; the teardown
    # race is pytorch/pytorch#179291's). An exception above still propagates and fails the test.
    os._exit(0)


def test_two_gloo_ranks_equal_one_process(tmp_path):
    mp.start_processes(_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=WORLD, join=True,
                       start_method="spawn")
    model, X, labels = problem()
    H_ref = hessian(model, "cross_entropy", X, labels).dense()
    G_ref = ggn(model, "cross_entropy", X, labels).dense()
    top_ref = lanczos(H_ref, k=3, seed=0).eigenvalues
    for rank in range(WORLD):
        r = torch.load(tmp_path / f"rank{rank}.pt")
        assert r["n"] == 11
        assert float((r["H"] - H_ref).norm() / H_ref.norm()) < 1e-13
        assert float((r["G"] - G_ref).norm() / G_ref.norm()) < 1e-13
        assert torch.allclose(r["top"], top_ref, rtol=1e-10, atol=0)


def test_needs_an_initialised_process_group():
    model, X, labels = problem()
    with pytest.raises(RuntimeError, match="init_process_group"):
        distributed(hessian(model, "cross_entropy", X, labels))
