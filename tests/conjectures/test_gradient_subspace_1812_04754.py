"""Gur-Ari, Roberts, Dyer, "Gradient descent happens in a tiny subspace" (arXiv 1812.04754): after a short
initial phase the gradient lies mostly in the span of the top Hessian eigenvectors, as many as there are classes.

What we read: the abstract (quoted below). We could not read the paper's experimental sections, so we do not know
its optimiser settings, run lengths or whether its gradient is the mini-batch or the full-batch one; the claim is
checked as the abstract states it, on the conditions below, and its verdict carries them.

Statistic (:mod:`hessverify.literature.gradient_subspace`): the overlap ``||P_top g||^2 / ||g||^2`` of the
full-batch gradient with the top-``C`` Hessian eigenspace, at SGD steps drawn uniformly with replacement from the
window after the initial phase (the first 10% of the run); each overlap carries a Davis-Kahan bound from the
Lanczos residuals and the gap after the ``C``-th eigenvalue. The claim, our reading of "lies mostly in": at least
0.8 of the window's iterates have overlap >= 1/2 (Clopper-Pearson interval, level ``1 - ALPHA - certificate
failures``).

Setting: the SGD runs of the outlier claims (``per_class = 50`` MNIST 5k images of each of ``C`` digits, 14x14,
pixels in [0, 1], a ``196-32-C`` tanh MLP, SGD with batch 32 and lr 0.1 or 0.5 for 100 epochs from PyTorch's default
initialisation; the window runs past zero training error, which these runs reach after 10-80 epochs). The record:
refuted, e.g. at ``C = 3`` the median overlap over the window is about 0.02-0.05 (see the report for the overlap
along training and before/after zero training error).
"""
from hypothesis import strategies as hst

from hessverify import conjecture
from hessverify.claims.profiles import active_profile
from hessverify.claims.sequential import ALPHA
from hessverify.literature.classifier_runs import EPOCHS, INITIAL, SAMPLES
from hessverify.literature.gradient_subspace import fraction_mostly_in_top_subspace
from hessverify.literature.runs import sgd_run

EXAMPLES = 10 if active_profile() == "verify" else 1
#: "mostly": at least this share of the gradient's squared norm in the subspace
MOSTLY = 0.5
#: the claimed least fraction of the window's iterates
FRACTION = 0.8
ABSTRACT = ("We show that in a variety of large-scale deep learning scenarios the gradient dynamically converges to a "
            "very small subspace after a short period of training. The subspace is spanned by a few top eigenvectors "
            "of the Hessian (equal to the number of classes in the dataset), and is mostly preserved over long periods "
            "of training.")
READING = (f"statistical: at least {FRACTION:g} of the SGD iterates after the first {INITIAL:.0%} of training have "
           f"||P_top g||^2 / ||g||^2 >= {MOSTLY:g} (top-C Hessian eigenspace, full-batch gradient); Clopper-Pearson "
           f"interval from {SAMPLES} iterates drawn with replacement, level 1 - {ALPHA:g} - certificate failures")


def classifiers():
    """SGD runs over the number of classes, the learning rate and seeds (shrinking to C = 2, lr 0.1, seed 0)."""
    return hst.builds(lambda C, lr, seed: sgd_run(C, seed, per_class=50, hidden=32, lr=lr, batch_size=32, pool=2),
                      hst.integers(2, 10), hst.sampled_from([0.1, 0.5]), hst.integers(0, 3))


def fraction_mostly_in_subspace(s):
    """The Clopper-Pearson interval of the window's fraction with overlap >= MOSTLY."""
    return fraction_mostly_in_top_subspace(s, SAMPLES, MOSTLY)


@conjecture(setting=classifiers(), quantity=fraction_mostly_in_subspace, relation="ge", examples=EXAMPLES,
            expect="refuted", prediction_error=0.0,
            also=[sgd_run(3, 0, per_class=50, hidden=32, lr=0.1, batch_size=32, pool=2)],
            source="1812.04754 (gradient in the top-C subspace)", quote=ABSTRACT, reading=READING,
            assumptions=[f"SGD (batch 32, lr 0.1 or 0.5) for {EPOCHS} epochs on 50 MNIST images per class (14x14, "
                         "pixels in [0, 1]), a 196-32-C tanh MLP; the window runs past zero training error",
                         "the top-C eigenvectors by Lanczos with certified multiplicities; each overlap within its "
                         "Davis-Kahan bound"])
def gur_ari2018_gradient_mostly_in_top_subspace(s):
    """At least 0.8 of the iterates after the initial phase have overlap >= 1/2."""
    return FRACTION
