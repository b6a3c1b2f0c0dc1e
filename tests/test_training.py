"""The training loops the reports share (hessverify.training): SGD on cross-entropy and full-batch Adam."""
import pytest
import torch

from hessverify.models import linear_network
from hessverify.training import (cross_entropy_and_error, load_checkpoint, snapshot, train_adam_full_batch,
                                 train_sgd)


def _problem(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g, dtype=torch.float64)
    y = (X[:, 0] > 0).long() + 2 * (X[:, 1] > 0).long()
    torch.manual_seed(seed)
    return linear_network((6, 8, 4), activation="tanh", bias=True), X, y


def _reference_sgd(model, X, y, lr, batch, generator, epochs):
    """The loop written out by hand: reshuffle every epoch, one torch.optim.SGD step per batch."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(X.shape[0], generator=generator)
        for i in range(0, X.shape[0], batch):
            b = order[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X[b]), y[b]).backward()
            opt.step()
        with torch.no_grad():
            losses.append(float(torch.nn.functional.cross_entropy(model(X), y)))
    return losses


def test_train_sgd_is_the_hand_written_loop_and_keeps_what_it_says():
    model, X, y = _problem()
    ref, _, _ = _problem()
    trace = train_sgd(model, X, y, lr=0.2, batch_size=16, generator=torch.Generator().manual_seed(3), max_epochs=7,
                      checkpoint=(2, 5))
    losses = _reference_sgd(ref, X, y, 0.2, 16, torch.Generator().manual_seed(3), 7)
    assert trace.losses[1:] == losses and trace.epochs == 7
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ref.parameters()))
    assert sorted(trace.checkpoints) == [0, 2, 5, 7]
    init, _, _ = _problem()
    assert all(torch.equal(p, q) for p, q in zip(trace.checkpoints[0], init.parameters()))
    load_checkpoint(init, trace.checkpoints[7])
    assert cross_entropy_and_error(init, X, y) == (trace.losses[-1], trace.errors[-1])


def test_train_sgd_stops_at_its_rule_and_checkpoints_by_callable():
    model, X, y = _problem()
    trace = train_sgd(model, X, y, lr=0.5, batch_size=8, generator=torch.Generator().manual_seed(0), max_epochs=200,
                      stop=lambda t: t.errors[-1] <= 0.05, checkpoint=lambda e, t: e % 3 == 0)
    assert trace.errors[-1] <= 0.05 and all(err > 0.05 for err in trace.errors[:-1])
    assert trace.first_epoch(lambda loss, err: err <= 0.05) == trace.epochs
    assert set(trace.checkpoints) == {e for e in range(trace.epochs + 1) if e % 3 == 0} | {trace.epochs}


def test_train_sgd_rejects_bad_input():
    model, X, y = _problem()
    with pytest.raises(ValueError, match="lr"):
        train_sgd(model, X, y, lr=-1.0, batch_size=8, generator=torch.Generator(), max_epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        train_sgd(model, X, y, lr=0.1, batch_size=0, generator=torch.Generator(), max_epochs=1)
    with pytest.raises(ValueError, match="max_epochs"):
        train_sgd(model, X, y, lr=0.1, batch_size=8, generator=torch.Generator(), max_epochs=-1)
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN"):  # bad parameters are not a divergence: named before any step
        train_sgd(model, X, y, lr=0.1, batch_size=60, generator=torch.Generator(), max_epochs=5)


def test_adam_stops_at_the_target_accuracy_after_the_checkpoints():
    model, X, y = _problem()
    saved, step, loss = train_adam_full_batch(model, X, y, lr=0.05, max_steps=500, target_accuracy=0.9,
                                              checkpoints=(0, 5))
    _, err = cross_entropy_and_error(model, X, y)
    assert 1 - err >= 0.9 and step >= 5 and set(saved) == {0, 5, step}
    assert all(torch.equal(p, q) for p, q in zip(saved[step], snapshot(model)))
