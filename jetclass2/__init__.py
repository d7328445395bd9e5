"""Shared foundations of the JetClass-II production: where configs and cards live, the Delphes
tree layout, atomic file writing, console-script logging and small kinematics helpers.

The stage packages live under this one, in data-flow order: ``jetclass2.generation`` →
``jetclass2.fastsim`` → ``jetclass2.ntuplizer`` → ``jetclass2.packing`` → ``jetclass2.training`` →
``jetclass2.jetdata``. Each may import the foundation modules here; this file imports none of them.
"""
import os as _os

# The mission's layout keeps ntuplizer/ at the top of the repository. A wheel installs it as
# jetclass2/ntuplizer (pyproject's package-dir); in a checkout, jetclass2.ntuplizer is found there.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if (not _os.path.isdir(_os.path.join(__path__[0], "ntuplizer"))
        and _os.path.isfile(_os.path.join(_checkout, "ntuplizer", "__init__.py"))):
    __path__.append(_checkout)
