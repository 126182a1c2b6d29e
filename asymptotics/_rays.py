"""Deterministic Gaussian integrals over the kept-pattern regions of one block (docs/theory.md Section 10).

Every criterion of Section 10 keeps, in a block with selection variable ``X ~ N(m, G)`` in
``R^B``, the pattern ``S`` (a subset of the ``B`` coordinates) that minimises

    c_S(X) = X' Q_S X + lam |S|,

``Q_S`` positive semi-definite and supported on the pruned coordinates ``P``: the separable
criteria (score ``w_i abs(X_i)`` against a threshold ``t``) have ``Q_S = diag(w^2)_PP`` and
``lam = t^2``; the joint (combinatorial OBS) selection has ``Q_S = ([Sigma^-1]_PP)^-1`` and
``lam = t``. This module computes ``P(S)``, ``E[X 1{S}]`` and ``E[X X' 1{S}]`` for every
pattern, for many ``lam`` at once.

Method (rays from the origin in whitened coordinates)
-----------------------------------------------------
With ``G = L L'`` and ``X = L z``, ``z ~ N(mt, I)``, ``mt = L^-1 m``, and the costs stay
homogeneous quadratic forms ``z' Qt_S z`` (``Qt_S = L' Q_S L``). Along a ray ``z = r e``
(``|e| = 1``) the costs are linear in ``rho = r^2``: ``c_S = q_S(e) rho + lam |S|``, so the
kept pattern along the ray is the lower envelope of at most ``B + 1`` lines (for each size
the pattern of smallest slope), whose breakpoints are ``rho = lam * rho_hat(e)`` with
``rho_hat`` independent of ``lam``. Given ``e``, the radial integrals
``int r^n phi(r - e.mt) dr`` over each segment are closed forms (a recurrence in ``n`` on
the truncated normal, ``n <= B + 1``). What is left is an integral over the directions:

- ``B = 1``: the two directions ``+-1``: exact.
- ``B = 2``: the angle, split at every angle where the envelope's structure can change
  (two slopes equal, ``e'(Qt_S - Qt_T)e = 0``, or three lines concurrent,
  ``e'((|T|-|U|) Qt_S + (|U|-|S|) Qt_T + (|S|-|T|) Qt_U) e = 0``: homogeneous quadratics
  in ``e``, solved in closed form), at ``ANGLE_BASE_PIECES`` uniform points, at geometric
  offsets of ``1/|mt|`` around the direction of ``mt`` (the angular width of the law), and
  graded geometrically (``REFINE_OFFSETS``) next to the double zeros, where a radial
  breakpoint grows like ``1/|angle - root|``. Each piece is integrated by Gauss-Legendre
  (``ANGLE_GL_ORDER`` / ``REFINE_GL_ORDER`` nodes), and every piece whose rule differs from
  the rule on its two halves by more than ``ADAPT_ATOL`` (absolute, on probabilities of unit
  total mass, at up to ``ADAPT_PROBES`` of the requested multipliers) is bisected, up to
  ``ADAPT_MAX_ROUNDS`` times. Within a piece the integrand is analytic, so the rule converges
  geometrically. Measured against a rule with twice the orders and pieces and a 100x smaller
  ``ADAPT_ATOL`` (keep 0.001-0.999, noise 1e-3 to 5, correlations -0.95 to 0.99, OLS, min-norm,
  ridge, near interpolation): risks agree to 5e-9 relative at worst and to 1e-11 in typical
  cases; the absolute error is about 1e-12 of the risk's scale, so the relative error of a
  tiny pruned excess (keep -> 1 at noise 1e-3) is the largest.
- ``B = 3, 4``: hyperspherical product rules with the polar axis along ``mt``
  (Gauss-Legendre in the polar angles on pieces refined around the axis, trapezoid in the
  azimuth). The region boundaries (slabs around great spheres) are not aligned with these
  nodes, so the error is algebraic, not geometric. Measured against the exact diagonal-block
  answer and against finer rules (keep 0.1-0.9, tests/test_asymptotics_blocks.py and the
  development notes): ``B = 3`` about 1e-8 relative for fixed signal and separable criteria,
  up to 6e-5 for ``joint`` and 5e-5 for gaussian signal (mean-zero law, no axis to refine
  around); ``B = 4`` about 1e-6 (fixed) and up to 6e-4 (gaussian). These are stated in
  :data:`SPHERE_ACCURACY`; they are far below the Monte Carlo standard errors used to check
  them, but short of the 1e-8 aimed at for ``B = 2``.

This is the "condition on one coordinate, truncated-Gaussian moments for the other" of
Section 10 with the radius as the inner coordinate: the inner integrals are closed forms
and the outer integrand is analytic on each piece.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import ndtr

ANGLE_GL_ORDER = 32          # Gauss-Legendre nodes per angular piece (B = 2)
ANGLE_BASE_PIECES = 24       # uniform angular breakpoints (B = 2)
PEAK_STEPS = (0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)  # x 1/|mt|
REFINE_GL_ORDER = 16         # Gauss-Legendre nodes per piece of the graded refinement below
REFINE_OFFSETS = tuple(0.5 / 3.0**j for j in range(13))   # rad, around angles where a radial breakpoint -> inf
ADAPT_ATOL = 1e-13           # B = 2: a piece is bisected while its rule and its halves' differ by more
ADAPT_MAX_ROUNDS = 40        # ... (absolute, on unit mass) at any probe multiplier, at most this often
ADAPT_PROBES = 24            # probe multipliers (quantiles of the requested ones) used for the decision
ROOT_ZERO_RTOL = 1e-13       # a breakpoint quadratic form smaller than this (relative) is identically zero
SPHERE_RULES = {             # B: (polar GL order per piece, base polar pieces, inner polar nodes, azimuth nodes)
    3: (16, 8, None, 96),
    4: (12, 6, 32, 48),
}
SPHERE_ACCURACY = {1: 1e-15, 2: 1e-8, 3: 1e-4, 4: 1e-3}   # stated relative accuracy (worst measured case)
_LOG_2PI = math.log(2.0 * math.pi)


def patterns(B):
    """Kept patterns ``(2^B, B)`` boolean (bit ``i`` of the index = coordinate ``i`` kept) and their sizes."""
    idx = np.arange(2**B)
    kept = ((idx[:, None] >> np.arange(B)[None, :]) & 1).astype(bool)
    return kept, kept.sum(1)


def _gauss_legendre(breaks, order):
    """Nodes and weights of ``order``-point Gauss-Legendre on each piece between sorted ``breaks``."""
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = breaks[:-1], breaks[1:]
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    half = 0.5 * (hi - lo)
    nodes = (0.5 * (hi + lo))[:, None] + half[:, None] * x[None, :]
    return nodes.ravel(), (half[:, None] * w[None, :]).ravel()


def _zero_directions(M):
    """Unit vectors ``e`` in R^2 with ``e' M e = 0`` (up to 4; none if ``M`` is definite or zero), and
    whether they are double zeros (``M`` semi-definite of rank one)."""
    mu, V = np.linalg.eigh(M)
    scale = np.abs(mu).max()
    if scale == 0.0:
        return [], False
    mu = np.where(np.abs(mu) <= ROOT_ZERO_RTOL * scale, 0.0, mu)
    if mu[0] * mu[1] > 0:
        return [], False
    if mu[0] == 0.0 and mu[1] == 0.0:
        return [], False
    if mu[0] == 0.0:
        return [V[:, 0], -V[:, 0]], True
    if mu[1] == 0.0:
        return [V[:, 1], -V[:, 1]], True
    a, b = math.sqrt(abs(mu[1])), math.sqrt(abs(mu[0]))
    out = []
    for sgn in (1.0, -1.0):
        e = a * V[:, 0] + sgn * b * V[:, 1]
        e /= np.linalg.norm(e)
        out += [e, -e]
    return out, False


def _circle(Qt, sizes, mt):
    """Initial angular pieces ``(lo, hi, order)`` on the unit circle for ``B = 2`` (module docstring)."""
    norm = float(np.linalg.norm(mt))
    phi0 = math.atan2(mt[1], mt[0]) if norm > 0 else 0.0
    lo, hi = phi0 - math.pi, phi0 + math.pi
    br = [lo + 2 * math.pi * j / ANGLE_BASE_PIECES for j in range(ANGLE_BASE_PIECES + 1)]
    mats = []
    NS = len(Qt)
    for i in range(NS):
        for j in range(i + 1, NS):
            mats.append(Qt[i] - Qt[j])
            for k in range(j + 1, NS):
                mats.append((sizes[j] - sizes[k]) * Qt[i] + (sizes[k] - sizes[i]) * Qt[j]
                            + (sizes[i] - sizes[j]) * Qt[k])
    double = []
    for M in mats:
        dirs, is_double = _zero_directions(M)
        for e in dirs:
            ang = math.atan2(e[1], e[0])
            br.append(lo + (ang - lo) % (2 * math.pi))
            if is_double:
                double.append(br[-1])
    if norm > 0:
        d = 1.0 / norm
        br += [phi0 + s * d * k for k in PEAK_STEPS for s in (-1, 1) if d * k < math.pi]
    br = np.unique(np.clip(np.array(br), lo, hi))
    # at a double zero a radial breakpoint grows like 1/|angle - root|: the integrand varies on the
    # scale sqrt(lam) there, so the pieces next to it are graded geometrically (hp refinement)
    double = [a + c for a in double for c in (-2 * math.pi, 0.0, 2 * math.pi)]    # both sides of the seam
    fine = np.array([a + s * o for a in double for o in REFINE_OFFSETS for s in (-1, 1)] + double)
    fine = np.unique(fine[(fine >= lo) & (fine <= hi)])
    pieces = [(br[:-1], br[1:], np.full(br.size - 1, ANGLE_GL_ORDER))]
    if fine.size:
        # the coarse pieces that contain refinement points get the graded pieces instead
        graded = np.zeros(br.size - 1, bool)
        graded[np.clip(np.searchsorted(br, fine, side="right") - 1, 0, br.size - 2)] = True
        sub = np.unique(np.concatenate([br[:-1][graded], br[1:][graded], fine]))
        mids = 0.5 * (sub[:-1] + sub[1:])
        inside = graded[np.clip(np.searchsorted(br, mids, side="right") - 1, 0, br.size - 2)]
        pieces = [(br[:-1][~graded], br[1:][~graded], np.full(int((~graded).sum()), ANGLE_GL_ORDER)),
                  (sub[:-1][inside], sub[1:][inside], np.full(int(inside.sum()), REFINE_GL_ORDER))]
    plo, phi, order = (np.concatenate(x) for x in zip(*pieces))
    keep = phi > plo
    return plo[keep], phi[keep], order[keep]


def _piece_nodes(plo, phi, order):
    """Gauss-Legendre angles and weights on pieces ``[plo, phi]`` of the given orders; also the piece
    index of every node."""
    ang, w, idx = [], [], []
    for o in np.unique(order):
        sel = np.flatnonzero(order == o)
        x, wx = np.polynomial.legendre.leggauss(int(o))
        half = 0.5 * (phi[sel] - plo[sel])
        ang.append(((0.5 * (phi[sel] + plo[sel]))[:, None] + half[:, None] * x[None, :]).ravel())
        w.append((half[:, None] * wx[None, :]).ravel())
        idx.append(np.repeat(sel, int(o)))
    return np.concatenate(ang), np.concatenate(w), np.concatenate(idx)


def _polar_nodes(norm, order, base):
    """Gauss-Legendre nodes on ``[0, pi]`` refined around 0 at geometric multiples of ``1/norm``."""
    br = list(np.linspace(0.0, math.pi, base + 1))
    if norm > 0:
        br += [k / norm for k in PEAK_STEPS if k / norm < math.pi]
    return _gauss_legendre(np.unique(np.array(br)), order)


def _sphere(B, mt):
    """Product-rule directions and weights on the unit sphere of R^B (B = 3, 4), polar axis along ``mt``."""
    order, base, inner, n_az = SPHERE_RULES[B]
    norm = float(np.linalg.norm(mt))
    axis = mt / norm if norm > 0 else np.eye(B)[0]
    basis = np.linalg.qr(np.column_stack([axis, np.eye(B)]))[0][:, :B]
    basis[:, 0] *= np.sign(basis[:, 0] @ axis) or 1.0
    th, wth = _polar_nodes(norm, order, base)
    az = 2 * math.pi * np.arange(n_az) / n_az
    waz = np.full(n_az, 2 * math.pi / n_az)
    if B == 3:
        T, A = np.meshgrid(th, az, indexing="ij")
        W = (wth * np.sin(th))[:, None] * waz[None, :]
        local = np.stack([np.cos(T), np.sin(T) * np.cos(A), np.sin(T) * np.sin(A)], axis=-1)
    else:
        t2, w2 = _gauss_legendre(np.linspace(0.0, math.pi, 5), inner // 4)
        T, T2, A = np.meshgrid(th, t2, az, indexing="ij")
        W = ((wth * np.sin(th) ** 2)[:, None, None] * (w2 * np.sin(t2))[None, :, None] * waz[None, None, :])
        local = np.stack([np.cos(T), np.sin(T) * np.cos(T2), np.sin(T) * np.sin(T2) * np.cos(A),
                          np.sin(T) * np.sin(T2) * np.sin(A)], axis=-1)
    return local.reshape(-1, B) @ basis.T, W.ravel()


def _envelope(q, sizes, B):
    """Segments of the lower envelope of ``c = q_S rho + |S|`` along each ray.

    ``q`` (D, NS) slopes. Returns ``lo, hi`` (D, B + 1) normalized breakpoints ``rho_hat`` of the
    segment where the envelope has ``s`` kept coordinates (empty: ``lo == hi``) and ``pat`` (D, B + 1)
    the pattern index there.
    """
    D = q.shape[0]
    qs = np.full((D, B + 1), np.inf)
    pat = np.zeros((D, B + 1), dtype=np.int64)
    for s in range(B + 1):
        idx = np.flatnonzero(sizes == s)
        j = np.argmin(q[:, idx], axis=1)
        qs[:, s], pat[:, s] = q[np.arange(D), idx[j]], idx[j]
    lo = np.zeros((D, B + 1))
    hi = np.zeros((D, B + 1))
    cur = np.zeros(D, dtype=np.int64)
    start = np.zeros(D)
    rows = np.arange(D)
    active = np.ones(D, bool)
    for _ in range(B + 1):
        if not active.any():
            break
        qc = qs[rows, cur]
        s_next = np.arange(B + 1)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = (s_next - cur[:, None]) / (qc[:, None] - qs)
        valid = (s_next > cur[:, None]) & (qc[:, None] > qs) & np.isfinite(cross)
        cross = np.where(valid, np.maximum(cross, start[:, None]), np.inf)
        nxt_rho = cross.min(axis=1)
        # among lines crossing at the same point, the one with the most kept coordinates continues
        nxt = np.where(cross <= nxt_rho[:, None], s_next, -1).max(axis=1)
        lo[rows[active], cur[active]] = start[active]
        hi[rows[active], cur[active]] = np.where(np.isfinite(nxt_rho), nxt_rho, np.inf)[active]
        done = ~np.isfinite(nxt_rho) | (nxt < 0)
        hi[rows[active & done], cur[active & done]] = np.inf
        active &= ~done
        start = np.where(active, nxt_rho, start)
        cur = np.where(active, nxt, cur)
    return lo, hi, pat


def _radial(mu, a, b, nmax):
    """``J_n = int_a^b r^n phi(r - mu) dr`` for ``n = 0..nmax`` (``0 <= a <= b <= inf``), shape (nmax+1, ...)."""
    za, zb = a - mu, b - mu
    with np.errstate(invalid="ignore"):
        J0 = np.where(za > 0, ndtr(-za) - ndtr(-zb), ndtr(zb) - ndtr(za))
    pa = np.exp(-0.5 * za * za) / math.sqrt(2 * math.pi)
    pb = np.where(np.isinf(b), 0.0, np.exp(-0.5 * np.where(np.isinf(zb), 0.0, zb) ** 2) / math.sqrt(2 * math.pi))
    binf = np.isinf(b)
    out = [J0]
    prev2, prev = None, J0
    apow = np.ones_like(a)               # a^(n-1), starting at n = 1
    bpow = np.ones_like(b)
    for n in range(1, nmax + 1):
        bterm = np.where(binf, 0.0, np.where(binf, 0.0, bpow) * pb)
        Jn = mu * prev - (bterm - apow * pa)
        if n >= 2:
            Jn = Jn + (n - 1) * prev2
        out.append(Jn)
        prev2, prev = prev, Jn
        apow = apow * a
        bpow = np.where(binf, 1.0, bpow * np.where(binf, 1.0, b))
    return np.maximum(np.stack(out), 0.0)


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


@njit(cache=True)
def _radial_one(mu, a, b, nmax, out):
    """``out[n] = int_a^b r^n phi(r - mu) dr`` for ``n = 0..nmax`` (scalar version of :func:`_radial`)."""
    za = a - mu
    binf = math.isinf(b)
    zb = math.inf if binf else b - mu
    if za > 0:
        J0 = 0.5 * math.erfc(za * _INV_SQRT_2) - (0.0 if binf else 0.5 * math.erfc(zb * _INV_SQRT_2))
    else:
        J0 = (1.0 if binf else 0.5 * math.erfc(-zb * _INV_SQRT_2)) - 0.5 * math.erfc(-za * _INV_SQRT_2)
    pa = math.exp(-0.5 * za * za) * _INV_SQRT_2PI
    pb = 0.0 if binf else math.exp(-0.5 * zb * zb) * _INV_SQRT_2PI
    out[0] = max(J0, 0.0)
    prev2 = 0.0
    prev = J0
    apow = 1.0
    bpow = 1.0
    for n in range(1, nmax + 1):
        Jn = mu * prev - ((0.0 if binf else bpow * pb) - apow * pa)
        if n >= 2:
            Jn += (n - 1) * prev2
        out[n] = max(Jn, 0.0)
        prev2 = prev
        prev = Jn
        apow *= a
        if not binf:
            bpow *= b


@njit(cache=True)
def _segment(lam_i, sl, lo, hi, j, B):
    """Radial bounds ``(a, b)`` of envelope segment ``j`` at multiplier ``lam_i`` (``sl = sqrt(lam_i)``);
    at ``lam_i = 0`` only the all-kept segment ``j = B`` is non-empty, ``[0, inf)``."""
    if lam_i == 0.0:
        return 0.0, (math.inf if j == B else 0.0)
    return sl * math.sqrt(lo), (math.inf if math.isinf(hi) else sl * math.sqrt(hi))


@njit(cache=True)
def _moments_kernel(lam, lo, hi, pat, mu, c, E, group, P, M1, M2):
    """Sums over directions and envelope segments: per multiplier, group ``group[d]`` of directions and pattern,
    ``P`` (n, G, NS, 2) the mass and ``E[|z|^2 1{S}]``; per multiplier and pattern, ``M1 = E[z 1{S}]`` and
    ``M2 = E[z z' 1{S}]`` (whitened). :meth:`RayRule.moments` has one group; the adaptive bisection groups the
    directions by piece."""
    n, D, J = lam.size, mu.size, lo.shape[1]
    B = J - 1
    buf = np.empty(B + 2)
    for i in range(n):
        sl = math.sqrt(lam[i])
        for d in range(D):
            g = group[d]
            for j in range(J):
                a, b = _segment(lam[i], sl, lo[d, j], hi[d, j], j, B)
                if not b > a:
                    continue
                _radial_one(mu[d], a, b, B + 1, buf)
                s = pat[d, j]
                w = c[d]
                P[i, g, s, 0] += w * buf[B - 1]
                P[i, g, s, 1] += w * buf[B + 1]
                for p in range(B):
                    M1[i, s, p] += w * buf[B] * E[d, p]
                    for q in range(B):
                        M2[i, s, p, q] += w * buf[B + 1] * E[d, p] * E[d, q]


@njit(cache=True)
def _kept_kernel(lam, lo, hi, mu, c, out, der):
    """Expected kept count per block and its derivative in ``log lam``."""
    n, D, J = lam.size, mu.size, lo.shape[1]
    B = J - 1
    buf = np.empty(B + 1)
    for i in range(n):
        sl = math.sqrt(lam[i])
        tot = 0.0
        dtot = 0.0
        for d in range(D):
            for j in range(1, J):
                a, b = _segment(lam[i], sl, lo[d, j], hi[d, j], j, B)
                if not b > a:
                    continue
                _radial_one(mu[d], a, b, B - 1, buf)
                tot += c[d] * j * buf[B - 1]
                fa = 0.5 * a**B * math.exp(-0.5 * (a - mu[d]) ** 2) * _INV_SQRT_2PI
                fb = 0.0 if math.isinf(b) else 0.5 * b**B * math.exp(-0.5 * (b - mu[d]) ** 2) * _INV_SQRT_2PI
                dtot += c[d] * j * (fb - fa)
        out[i] = tot
        der[i] = dtot



def _ray_setup(E, W, mt, Qt, sizes):
    """Per direction: ``mu = e.mt``, the weight times density constant ``c``, and the envelope segments."""
    B = E.shape[1]
    mu = E @ mt
    d2 = np.maximum(float(mt @ mt) - mu**2, 0.0)
    c = W * np.exp(-0.5 * (B - 1) * _LOG_2PI - 0.5 * d2)
    q = np.maximum(np.einsum("di,sij,dj->ds", E, Qt, E), 0.0)    # PSD forms: rounding below 0 is 0
    lo, hi, pat = _envelope(q, sizes, B)
    return mu, c, lo, hi, pat


def _moment_arrays(n, B, groups=1):
    """Zeroed outputs of :func:`_moments_kernel` for ``n`` multipliers: ``P`` (n, groups, 2^B, 2), ``M1``
    (n, 2^B, B) and ``M2`` (n, 2^B, B, B)."""
    NS = 2**B
    return np.zeros((n, groups, NS, 2)), np.zeros((n, NS, B)), np.zeros((n, NS, B, B))


class RayRule:
    """The pattern integrals of one block for one selection rule (see the module docstring).

    Parameters
    ----------
    m : ndarray (B,)
        Mean of the selection variable ``X``.
    G : ndarray (B, B)
        Its covariance (positive definite).
    Q : ndarray (2^B, B, B)
        Cost matrices per pattern.
    """

    def __init__(self, m, G, Q, probe_lam=None):
        B = m.size
        self.B = B
        self.kept_patterns, self.sizes = patterns(B)
        self.Q = Q
        self.L = np.linalg.cholesky(G)
        mt = np.linalg.solve(self.L, m)
        Qt = np.einsum("ji,sjk,kl->sil", self.L, Q, self.L)
        self.adapt_error = 0.0
        if B == 1:
            E, W = np.array([[1.0], [-1.0]]), np.ones(2)
        elif B == 2:
            E, W = self._adapt(Qt, mt, probe_lam)
        else:
            E, W = _sphere(B, mt)
        self.E, self.W = E, W
        self.mu, self.c, self.lo, self.hi, self.pat = _ray_setup(E, W, mt, Qt, self.sizes)

    def _adapt(self, Qt, mt, probe_lam):
        """B = 2: the initial pieces of :func:`_circle`, then adaptive bisection of every piece whose
        ``ANGLE``-rule disagrees with the rule on its two halves by more than ``ADAPT_ATOL`` (probabilities
        of each pattern, and ``E[|z|^2 1{S}] / (|mt|^2 + 2)``) at the probe multipliers."""
        plo, phi, order = _circle(Qt, self.sizes, mt)
        probe = np.zeros(0) if probe_lam is None else np.asarray(probe_lam, dtype=float).ravel()
        probe = probe[np.isfinite(probe) & (probe > 0)]
        if probe.size > ADAPT_PROBES:
            probe = np.quantile(probe, np.linspace(0.0, 1.0, ADAPT_PROBES))
        if not probe.size:
            ang, w, _ = _piece_nodes(plo, phi, order)
            return np.stack([np.cos(ang), np.sin(ang)], axis=1), w
        scale = np.array([1.0, 1.0 / (float(mt @ mt) + 2.0)])
        done = []
        for _ in range(ADAPT_MAX_ROUNDS):
            mid = 0.5 * (plo + phi)
            npc = plo.size
            lo3, hi3 = np.concatenate([plo, plo, mid]), np.concatenate([phi, mid, phi])
            ang, w, idx = _piece_nodes(lo3, hi3, np.concatenate([order] * 3))
            E = np.stack([np.cos(ang), np.sin(ang)], axis=1)
            mu, c, lo, hi, pat = _ray_setup(E, w, mt, Qt, self.sizes)
            per, M1, M2 = _moment_arrays(probe.size, self.B, 3 * npc)     # per piece: mass and E[|z|^2 1{S}]
            _moments_kernel(probe, lo, hi, pat, mu, c, E, idx, per, M1, M2)     # (M1, M2 unused: cheap next to J_n)
            per = np.moveaxis(per, 1, 0)
            err = np.abs(per[:npc] - per[npc:2 * npc] - per[2 * npc:]) * scale
            err = err.reshape(npc, -1).max(axis=1)
            bad = err > ADAPT_ATOL
            done.append((plo[~bad], phi[~bad], order[~bad]))        # accepted: within ADAPT_ATOL of its halves
            if not bad.any():
                break
            plo, phi, order = (np.concatenate([plo[bad], mid[bad]]), np.concatenate([mid[bad], phi[bad]]),
                               np.concatenate([order[bad]] * 2))
        else:
            self.adapt_error = float(err[bad].sum())
            done.append((plo, phi, order))
        plo, phi, order = (np.concatenate(x) for x in zip(*done))
        ang, w, _ = _piece_nodes(plo, phi, order)
        return np.stack([np.cos(ang), np.sin(ang)], axis=1), w

    def kept(self, lam, density=False):
        """Expected number of kept coordinates per block at each ``lam`` (n,); with ``density`` also
        its derivative with respect to ``log lam``."""
        lam = np.ascontiguousarray(lam, dtype=float).ravel()
        out, der = np.empty(lam.size), np.empty(lam.size)
        _kept_kernel(lam, self.lo, self.hi, self.mu, self.c, out, der)
        return (out, der) if density else out

    def moments(self, lam):
        """``P`` (n, NS), ``E[X 1{S}]`` (n, NS, B), ``E[X X' 1{S}]`` (n, NS, B, B) at each ``lam``."""
        lam = np.ascontiguousarray(lam, dtype=float).ravel()
        P, M1, M2 = _moment_arrays(lam.size, self.B)
        _moments_kernel(lam, self.lo, self.hi, self.pat, self.mu, self.c, self.E, np.zeros(self.mu.size, np.int64),
                        P, M1, M2)
        L = self.L
        return (np.ascontiguousarray(P[:, 0, :, 0]), np.einsum("ij,nsj->nsi", L, M1),
                np.einsum("ij,nsjk,lk->nsil", L, M2, L))
