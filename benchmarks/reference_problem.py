"""The reference problem of the estimator issue: tanh MLP 64-64-64-10 with biases, cross-entropy,
512 Gaussian inputs, float64, CPU."""
from __future__ import annotations

import torch

from hessverify.models import linear_network


def reference_problem(seed: int = 0, n: int = 512, widths=(64, 64, 64, 10)):
    """``(model, X, labels)``, deterministic given ``seed``."""
    torch.manual_seed(seed)
    model = linear_network(widths, activation="tanh", bias=True)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, widths[0], generator=g, dtype=torch.float64)
    labels = torch.randint(widths[-1], (n,), generator=g)
    return model, X, labels


class SmallCNN(torch.nn.Module):
    """Conv(1 -> 4, 3x3), tanh, Linear(4*6*6 -> 10): a small CNN for the 8x8 digits (1,490 parameters)."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


def cnn_on_digits(seed: int = 0):
    """``(model, X, labels)``: :class:`SmallCNN` on all 1,797 UCI digits (inside scikit-learn), float64."""
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    model = SmallCNN().double()
    d = load_digits()
    X = torch.as_tensor(d.images / 16.0, dtype=torch.float64)[:, None]
    return model, X, torch.as_tensor(d.target, dtype=torch.long)


class ResNetCNN(torch.nn.Module):
    """A ResNet-style CNN for the 8x8 digits (970 parameters): a 3x3 stem conv (1 -> 6), one residual block
    (two 3x3 convs 6 -> 6 with tanh, plus the identity), tanh, 2x2 average pooling and a linear head."""

    def __init__(self, width: int = 6):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, width, 3, padding=1)
        self.conv1 = torch.nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(width, width, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(2)
        self.head = torch.nn.Linear(4 * width, 10)

    def forward(self, x):
        h = torch.tanh(self.stem(x))
        h = torch.tanh(h + self.conv2(torch.tanh(self.conv1(h))))
        return self.head(self.pool(h).flatten(1))


def resnet_cnn(seed: int = 0, n: int = 512):
    """``(model, X, labels)``: :class:`ResNetCNN` on the first ``n`` UCI digits, float64."""
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    model = ResNetCNN().double()
    d = load_digits()
    X = torch.as_tensor(d.images[:n] / 16.0, dtype=torch.float64)[:, None]
    return model, X, torch.as_tensor(d.target[:n], dtype=torch.long)


class LastTokenGPT(torch.nn.Module):
    """A character-level GPT read at the last position of each window: next-character logits ``(B, vocab)``, so
    a batch of windows has one target each (the token-level objective is another issue's)."""

    def __init__(self, vocab: int, dim: int = 16, heads: int = 2, layers: int = 1, block: int = 16):
        super().__init__()
        from benchmarks.char_gpt import CharGPT

        self.gpt = CharGPT(vocab, dim=dim, heads=heads, layers=layers, block=block)

    def forward(self, idx):
        return self.gpt(idx).view(idx.shape[0], idx.shape[1], -1)[:, -1]


def tiny_transformer(seed: int = 0, sequences: int = 64, block: int = 16):
    """``(model, X, labels)``: a one-layer, two-head GPT of width 16 (6,736 parameters, written-out attention)
    on ``sequences`` windows of ``block`` characters of Python's standard-library source, float64."""
    from benchmarks.char_gpt import corpus, token_batch

    X, Y, vocab = token_batch(corpus(50_000), sequences, block, seed=seed)
    torch.manual_seed(seed)
    return LastTokenGPT(len(vocab), block=block).double(), X, Y[:, -1]


def million_parameter_mlp(seed: int = 0, n: int = 64):
    """``(model, X, labels)``: a tanh MLP 784-1024-256-10 with biases (1,068,810 parameters) on ``n`` Gaussian
    inputs, float64: the size of the memory benchmark."""
    return reference_problem(seed, n, widths=(784, 1024, 256, 10))
