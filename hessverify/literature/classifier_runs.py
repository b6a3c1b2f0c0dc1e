"""SGD runs of the classifier claims (outliers; the gradient's subspace): one pass over a fixed number of epochs
that keeps

- the parameters at the end of the first epoch with zero training error (``E0``; the outlier count is read there,
  as Sagun et al. and Papyan read trained classifiers), and
- the parameters at ``samples`` steps drawn uniformly with replacement (seeded, before training) from the window
  after the initial phase, ``[ceil(INITIAL * S), S)`` of the ``S`` updates of the run (the gradient overlap is read
  there),

plus the training loss and error at every epoch end. The run is deterministic given the setting.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from hessverify._validation import as_int
from hessverify.claims.profiles import active_profile
from hessverify.literature.descent import sgd, snapshot
from hessverify.literature.runs import RunSetting, cached

#: epochs of every run
EPOCHS = 100
#: the share of the run counted as the initial phase (its steps are not drawn)
INITIAL = 0.1
#: steps drawn from each window (a tighter interval in the thorough profile)
SAMPLES = 100 if active_profile() == "verify" else 40


@dataclass
class ClassifierRun:
    """What :func:`classifier_run` kept."""

    steps: int
    steps_per_epoch: int
    #: training loss and error at every epoch end
    losses: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    #: first epoch (1-based) whose end has zero training error, and the parameters there
    zero_error_epoch: int | None = None
    zero_error_params: list[torch.Tensor] | None = None
    window: tuple[int, int] = (0, 0)
    drawn: list[int] = field(default_factory=list)
    params: dict[int, list[torch.Tensor]] = field(default_factory=dict)


def classifier_run(setting: RunSetting, samples: int, *, epochs: int = EPOCHS) -> ClassifierRun:
    """Train a copy of ``setting.model`` (an :func:`hessverify.literature.runs.sgd_run`) by SGD for ``epochs`` and keep
    the states of the module docstring; cached in-process by the setting, ``samples`` and ``epochs``."""
    samples = as_int("samples", samples, minimum=1)
    epochs = as_int("epochs", epochs, minimum=1)

    def compute() -> ClassifierRun:
        spec = setting.spec
        n, batch = setting.n, spec["batch_size"]
        per_epoch = math.ceil(n / batch)
        total = epochs * per_epoch
        start = math.ceil(INITIAL * total)
        rng = np.random.default_rng([spec["seed"], 2])
        run = ClassifierRun(total, per_epoch, window=(start, total),
                            drawn=[int(t) for t in rng.integers(start, total, size=samples)])
        wanted = set(run.drawn)
        model = copy.deepcopy(setting.model)

        def on_step(step: int, net: torch.nn.Module) -> None:
            if step in wanted:
                run.params[step] = snapshot(net)
            if step > 0 and step % per_epoch == 0:
                with torch.no_grad():
                    out = net(setting.X)
                    run.losses.append(float(torch.nn.functional.cross_entropy(out, setting.labels)))
                    run.errors.append(float((out.argmax(1) != setting.labels).double().mean()))
                if run.zero_error_epoch is None and run.errors[-1] == 0.0:
                    run.zero_error_epoch = len(run.errors)
                    run.zero_error_params = snapshot(net)

        sgd(model, "cross_entropy", setting.X, setting.labels, lr=spec["lr"], batch_size=batch, epochs=epochs,
            generator=torch.Generator().manual_seed(spec["seed"] + 1), on_step=on_step)
        return run

    return cached("classifier_run", setting, compute, samples=samples, epochs=epochs)
