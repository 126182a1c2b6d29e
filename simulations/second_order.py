"""Compatibility layer: the second-order pruning algorithms live in :mod:`linear_models.second_order`.

Everything is re-exported from there (one implementation, issue 8); only
:func:`empirical_fisher` keeps this module's old signature, where ``damping`` is
*relative* to the Fisher's mean diagonal and the inverse is computed by default.
New code should import from ``linear_models.second_order``.
"""

from linear_models.second_order import *  # noqa: F401,F403
from linear_models.second_order import DEFAULT_DAMPING
from linear_models.second_order import empirical_fisher as _empirical_fisher
from pruning_checks import keep_count as keep_count_of  # noqa: F401


def empirical_fisher(grads, *, damping=DEFAULT_DAMPING, inverse=True):
    """``linear_models.second_order.empirical_fisher(grads, relative_damping=damping, inverse=inverse)``."""
    return _empirical_fisher(grads, relative_damping=damping, inverse=inverse)
