"""The experiments behind the literature claims of issue 27: each module computes one statistic a paper's sentence
is about, on trained networks, with its certificate.

``data``
    the real data of these experiments: class subsets of MNIST 5k (or UCI digits), pooled pixels
``descent``
    the training loops: full-batch gradient descent and mini-batch SGD, with a per-step hook
``runs``
    ``RunSetting``: a training run as a claims ``Setting``, rebuilt from its spec, cached in-process
``fisher_definition``
    the Fisher by its definition (an expectation over the predictive distribution), the empirical Fisher against
    it (Kunstner et al. 2019)
``edge_of_stability``
    sharpness along gradient descent, the arrival at ``2/eta``, the share of later iterates in a band (Cohen et
    al. 2021)
``outliers``
    the outlier count of a trained classifier's Hessian by a stated gap rule (Sagun et al. 2017, Papyan 2020)
``gradient_subspace``
    the overlap of the gradient with the top-C Hessian eigenspace along training (Gur-Ari et al. 2018)

Layer: experiments (like ``hessverify.training`` and the reports): may import every layer below, none imports it
except the reports and ``tests/conjectures``.
"""
