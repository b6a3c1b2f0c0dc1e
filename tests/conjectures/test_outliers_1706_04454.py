"""Sagun, Bottou, LeCun 2016 (arXiv 1611.07476), Sagun, Evci, Guney, Dauphin, Bottou 2017 (arXiv 1706.04454) and
Papyan 2020 (arXiv 2008.11865): the Hessian of a trained classifier has a bulk near zero and a few outliers, and
the outliers follow the classes ("about C" of them).

What we read: the abstracts of 1611.07476 and 1706.04454, the first section of 2008.11865 (its informal definitions
of bulk and outliers), and the slides of Papyan's talk on 1901.08244 ("Number of outliers ≈ number of classes").
None of these states a rule that counts outliers, so the rule is ours and fixed before measuring
(:mod:`hessverify.literature.outliers`): the count is the position ``k`` of the largest relative gap
``lambda_k / lambda_{k+1}`` among the top ``2C`` Hessian eigenvalues. "About C" is read as ``C - 1 <= count <= C``
(two claims, a lower and an upper bound).

Setting (where ../shared/DATA.md and the hierarchy report found outliers: raw pixels, not standardised):
``per_class = 50`` MNIST 5k images of each of ``C`` digits chosen by the seed (14x14, pixels in [0, 1]; UCI digits
where MNIST 5k is not installed), a ``196-32-C`` tanh MLP with biases, plain SGD (lr 0.1, batch 32) from PyTorch's
default initialisation; the count is read at the end of the first epoch with zero training error. The eigenvalues
are Lanczos Ritz values with certified multiplicities; the count is an interval of counts within their residuals.

The record (reports/outliers_1706_04454): the count is C - 1 at C = 2, 3, 4, 5, 10 (seed 0) and C - 2 at C = 6, 7:
there the C - 1-th outlier sits halfway into the bulk (C = 6: eigenvalues 1, 0.73, 0.55, 0.41 | 0.22 | 0.13, 0.10,
... of the largest; gaps 1.86x after the 4th, 1.69x after the 5th), so the largest-gap rule counts C - 2. The upper
bound holds everywhere; the lower bound is refuted, with that counterexample kept.
"""
from hypothesis import strategies as hst

from hessverify import conjecture
from hessverify.claims.assumptions import Assumption
from hessverify.claims.profiles import active_profile
from hessverify.literature.classifier_runs import EPOCHS, SAMPLES, classifier_run
from hessverify.literature.outliers import outliers_at_zero_error
from hessverify.literature.runs import sgd_run

EXAMPLES = 12 if active_profile() == "verify" else 2
SAGUN_2017 = ("In particular, in the context of deep learning, we empirically show that the spectrum of the Hessian "
              "is composed of two parts: (1) the bulk centered near zero, (2) and outliers away from the bulk.")
PAPYAN_TALK = "Number of outliers ≈ number of classes"
SETTING = ("SGD (lr 0.1, batch 32) on 50 MNIST images per class (14x14, pixels in [0, 1]), a 196-32-C tanh MLP, read "
           "at the first epoch with zero training error")
RULE = "the count is the k maximising lambda_k / lambda_(k+1) among the top 2C Hessian eigenvalues"


def classifiers():
    """SGD runs over the number of classes and seeds (shrinking to C = 2, seed 0)."""
    return hst.builds(lambda C, seed: sgd_run(C, seed, per_class=50, hidden=32, lr=0.1, batch_size=32, pool=2),
                      hst.integers(2, 10), hst.integers(0, 3))


def reaches_zero_error() -> Assumption:
    return Assumption("zero_training_error", f"SGD reaches zero training error within {EPOCHS} epochs",
                      lambda s: classifier_run(s, SAMPLES).zero_error_epoch is not None)


@conjecture(setting=classifiers(), quantity=outliers_at_zero_error, relation="le", examples=EXAMPLES,
            also=[sgd_run(10, 0, per_class=50, hidden=32, lr=0.1, batch_size=32, pool=2)],
            source="1706.04454 (outliers, at most C)", quote=PAPYAN_TALK,
            reading="upper bound (about C: at most C outliers, by our largest-gap rule)",
            assumptions=[reaches_zero_error(), SETTING, RULE])
def sagun2017_outliers_at_most_number_of_classes(s):
    """count <= C."""
    return s.spec["num_classes"]


@conjecture(setting=classifiers(), quantity=outliers_at_zero_error, relation="ge", examples=EXAMPLES,
            expect="refuted", also=[sgd_run(6, 0, per_class=50, hidden=32, lr=0.1, batch_size=32, pool=2)],
            source="1706.04454 (outliers, at least C - 1)", quote=SAGUN_2017,
            reading="lower bound (about C: at least C - 1 outliers, by our largest-gap rule)",
            assumptions=[reaches_zero_error(), SETTING, RULE])
def sagun2017_outliers_at_least_number_of_classes_minus_one(s):
    """count >= C - 1 (refuted: C - 2 at C = 6 and 7, seed 0)."""
    return s.spec["num_classes"] - 1
