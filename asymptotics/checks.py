"""Argument checks (and the result property) shared by the diagonal (:mod:`asymptotics.pruning`) and the block
(:mod:`asymptotics.block_risk`) pruned risks.

A low module: it imports nothing from the rest of :mod:`asymptotics`, so both implementations
can use it without importing each other.
"""

from __future__ import annotations

from pruning_checks import check_keep, check_scalar

RETRAIN = ("none", "fresh")       # None is accepted as an alias of "none"
UPDATES = ("none", "obs")         # None is accepted as an alias of "none"


def check_keep_fraction(keep):
    """Return ``(array, is_scalar)`` for kept fractions in (0, 1]; refuse counts and non-reals.

    A float is a fraction; an integer would be a count of weights, which has no
    meaning in the proportional limit (there is no ``p``), so int, bool and
    complex ``keep`` are refused with an explanation (:func:`pruning_checks.check_keep`).
    """
    return check_keep(keep, where="asymptotics")


def _check_none_alias(value, name, choices):
    """``value`` if it is one of the strings ``choices``; ``None`` is an alias of ``"none"``."""
    if value is None:
        return "none"
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} == {value!r}, must be one of {listed} (None is an alias of 'none').")
    return value


def check_retrain(retrain):
    """Canonical retrain name: ``"none"`` (``None`` is an alias) or ``"fresh"``."""
    return _check_none_alias(retrain, "retrain", RETRAIN)


def check_update(update):
    """Canonical update name: ``"none"`` (``None`` is an alias) or ``"obs"``."""
    return _check_none_alias(update, "update", UPDATES)


def check_refit_ridge(refit_ridge, ridge, retrain):
    """Ridge of the fresh-data refit: ``ridge`` by default; a separate value only with ``retrain="fresh"``."""
    if refit_ridge is None:
        return ridge
    refit_ridge = check_scalar(refit_ridge, "refit_ridge", low=0)
    if retrain != "fresh" and refit_ridge != ridge:
        raise ValueError(f"refit_ridge == {refit_ridge!r} has no effect with retrain == {retrain!r}; "
                         f"it sets the ridge of the fresh-data refit (retrain='fresh').")
    return refit_ridge


class RiskCurve:
    """What the diagonal and the block pruning results share: ``risk`` and the ``dense`` fit."""

    @property
    def excess_risk(self):
        """``risk - sigma^2``."""
        return self.risk - self.dense.noise_var
