"""``hessverify verify [PATH ...]``: run conjecture files under the thorough profile and print the verdicts."""
from __future__ import annotations

import argparse
import os
import sys


def _conjecture_files(paths: list[str]) -> list[str]:
    """Files as given (whatever their name); directories expanded to what pytest would collect there,
    ``test_*.py`` and ``*_test.py``: a helper script in the folder is never imported, so its code never runs."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
                out += [os.path.join(root, f) for f in sorted(files)
                        if f.endswith(".py") and (f.startswith("test_") or f.endswith("_test.py"))]
        else:
            out.append(path)
    # a path that starts with "-" would reach pytest as an option
    return [os.path.join(".", p) if p.startswith("-") else p for p in out]


def _verify(args) -> int:
    import pytest

    from hessverify.claims import REGISTRY
    from hessverify.claims.report import grouped_tables, update_readme

    for path in args.paths:
        if not os.path.exists(path):
            print(f"hessverify verify: {path} does not exist; pass conjecture files or directories", file=sys.stderr)
            return 2
    files = _conjecture_files(args.paths)
    if not files:  # pytest given no file would collect every test under the current directory
        print(f"hessverify verify: no test_*.py or *_test.py file in {' '.join(args.paths)}; pass conjecture files "
              "or a folder that holds some", file=sys.stderr)
        return 2
    os.environ["HYPOTHESIS_PROFILE"] = args.profile
    pytest_args = [*files, "-p", "no:cacheprovider", "-v", "-rN", "--no-header",
                   "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if args.report:
        pytest_args += ["--hessverify-report", args.report]
    code = pytest.main(pytest_args)
    records = [r for r in REGISTRY.values() if r.status != "not run"]
    if not records:
        print("no conjecture was collected from " + " ".join(args.paths), file=sys.stderr)
        return 5
    if args.readme:
        update_readme(args.readme, grouped_tables(records))
        print(f"updated the claims table in {args.readme}")
    return int(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hessverify", description="Verify closed-form claims about Hessian spectra.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="run @conjecture property tests and print the verdict table")
    v.add_argument("paths", nargs="*", default=["tests/conjectures"], help="files or directories of conjectures")
    v.add_argument("--profile", default="verify", choices=["ci", "dev", "verify"], help="hypothesis profile")
    v.add_argument("--report", default=None, metavar="PREFIX", help="also write PREFIX.md and PREFIX.json")
    v.add_argument("--readme", default=None, metavar="FILE",
                   help="replace the block between <!-- claims:start --> and <!-- claims:end --> in FILE")
    r = sub.add_parser("reports", help="regenerate the ablation and reproduction reports")
    r.add_argument("--profile", default="quick", choices=["quick", "paper", "test"])
    r.add_argument("--out", default=None, help="output directory (default: reports for quick, reports/paper for "
                   "paper, reports/test for test)")
    r.add_argument("--replace", action="store_true", help="overwrite a folder that holds another profile's or seed's "
                   "reports (refused otherwise)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--only", nargs="*", default=None, help="report groups: ablations seed_figures krylov "
                   "sigmoid_mlp density hierarchy fisher edge_of_stability outliers gradient_subspace")
    r.add_argument("--device", default="cpu", help="torch device for training and the trained networks' curvature "
                   "(e.g. cuda); results off the CPU are cached apart")
    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(args)
    if args.command == "reports":
        from hessverify.reports.runner import ReportsBusy, run_reports

        if args.out is not None and args.out.strip() == "":
            print("hessverify reports: --out '' names no folder (it would write into the current directory); pass a "
                  "folder such as --out reports/mine", file=sys.stderr)
            return 2
        try:
            run_reports(args.out, args.profile, args.seed, args.only, device=args.device, replace=args.replace)
        except (ValueError, TypeError, ReportsBusy) as e:
            print(f"hessverify reports: {e}", file=sys.stderr)
            return 2
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
