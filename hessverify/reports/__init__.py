"""Ablation and reproduction reports: ``hessverify reports`` / ``nox -s reports`` writes ``reports/<name>/``."""
