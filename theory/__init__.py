"""Closed forms of the seed documents as pure numpy/scipy/sympy functions (no torch, no hessverify).

Each function's docstring cites document and equation. Where a formula is false as printed, the printed
form stays available (``as_printed=True``) next to the derived correction, and the claims registry
(``tests/conjectures``) records both verdicts.
"""
