"""What the reports cover and what they do not: the data sets used and skipped on this machine, and per seed
document the figures and claims not attempted, with the reason. Read by the index."""
from __future__ import annotations

from hessverify.reports.datasets import INSTALL, installed

#: data set -> the reports that use it (quick profile; the paper profile adds Fashion-MNIST where installed)
DATA_SETS = {
    "mnist_5k": "ablations, label imbalance, real data (14x14), 003 Fig 3/4, 000 §4 sigmoid MLP, 002 hierarchy (28x28), "
                "004 ex 6.1 (7x7)",
    "digits": "real data; the stand-in of every MNIST report where MNIST 5k is missing, and of the test profile",
    "fashion_mnist": "the paper profile's ablations and sigmoid MLP (000 §4 and 003 use it)",
    "cifar10": "000 §4 (grey 28x28), 002 and 003 use it; no report here can",
}

#: seed -> (what, why) not attempted by any report
NOT_ATTEMPTED = {
    "000": [("§4 on CIFAR-10 (grey 28x28) and Fig A.5/A.6", "CIFAR-10 is not installable offline (../shared/DATA.md)"),
            ("§4 on Fashion-MNIST in the quick profile", "needs `apt-get install -y dataset-fashion-mnist` (root); "
             "the paper profile runs it where installed"),
            ("§4 on the full 60,000-image training sets", "a dense 12,730 x 12,730 Hessian over 60,000 images is "
             "hours on 2 CPU cores; subsets of 1,000 (quick) / 4,000 (paper) are used and stated"),
            ("Fig 3.2 (Lanczos runtime against size)", "timings are not deterministic: `nox -s bench` measures them "
             "(reports/performance.md)")],
    "002": [("VGG11/ResNet18 (tens of millions of parameters) on MNIST, Fashion-MNIST, CIFAR-10/100 (Fig 2, 3, 4, 9)",
             "GPU-scale training and Hessian products; the hierarchy report uses one-hidden-layer MLPs (Sagun et al.'s "
             "setting that 002 cites)"),
            ("the test Hessian (Fig 2d-f, 3 bottom)", "not attempted in this round: the same operators on held-out "
             "images would double the hierarchy's cost"),
            ("Fig 4 (log-spectrum of H, power-law fit) and Fig 5's SLQ bulk panels", "not attempted in this round: "
             "the density report checks SLQ on 002 Fig 8's synthetic matrices; the hierarchy report draws deflated "
             "top eigenvalues instead of densities"),
            ("20 sample sizes x 100 learning rates (App. C)", "16,000 trainings; three sample sizes, one rate")],
    "003": [("CIFAR-10 cells", "CIFAR-10 is not installable offline"),
            ("n = 5,000, width 64 (256 for Fig 3/4), 10,000 epochs at rate 0.01 in the quick profile",
             "minutes on 2 CPU cores: the quick profile uses n = 400 on 14x14 MNIST 5k and rate 0.05; the paper "
             "profile has the documents' sizes")],
    "004": [("Exercises 0.1, 0.3, 0.4, 1.1-1.4, 2.1, 2.3, 3.1", "checks of implementations, covered by the unit tests "
             "(tests/test_operators, tests/test_estimators), not reports; 1.4's timings by `nox -s bench`")],
}


def data_sets_lines() -> list[str]:
    """The data-set table of the index: installed here or not, who uses it, how to install it."""
    lines = ["## Data sets", "", "| data set | on this machine | used by | install |", "| --- | --- | --- | --- |"]
    for name, users in DATA_SETS.items():
        here = "installed" if name != "cifar10" and installed(name) else "**skipped**"
        lines.append(f"| {name} | {here} | {users} | `{INSTALL[name]}` |")
    return lines


def not_attempted_lines(profile: str) -> list[str]:
    """Per seed document, what no report attempts and why."""
    lines = ["## Not attempted, and why", ""]
    for seed, items in NOT_ATTEMPTED.items():
        lines.append(f"- **{seed}**: " + "; ".join(f"{what} ({why})" for what, why in items))
    if profile != "paper":
        lines += ["", "The paper profile (`hessverify reports --profile paper`, [paper/index.md](paper/index.md)) runs "
                  "the documents' sizes where a 2-core CPU allows; its index lists what it ran."]
    return lines
