"""Fine-tuning versus training from scratch in the linear limit: an exact comparison (issue 9, part C).

Setting (docs/theory.md Section 8). Dense training is gradient descent (to convergence)
on ``(1/n)||y - X b||^2`` from ``b0 ~ N(0, s0^2/p I)`` with ``n = kappa p < p``:
it ends at the interpolator closest to ``b0``, ``b_hat = b0 + X^+ (y - X b0)``.
A mask ``S`` keeps a fraction ``alpha`` of the coordinates of ``b_hat`` (magnitude
``|b_hat_i|``, hessian ``sqrt(lam_i) |b_hat_i|`` with the population variances,
or random). The pruned architecture is then retrained on ``S`` by gradient descent
to convergence from an initialization ``c`` (zero off ``S``); on an underdetermined
support (``alpha > kappa``) this ends at ``c + X_S^+ (y - X_S c)``, so the start
matters, while on a determined one (``alpha < kappa``) every start gives the
least-squares fit. The starts ("arms"):

============ ============================================================
fine-tune    ``c = b_hat_S``, the surviving trained weights (Liu et al.'s fine-tuning)
scratch      ``c = b0'_S``, a fresh ``b0' ~ N(0, s0^2/p I)`` (Scratch-E = Scratch-B at convergence)
rewind       ``c = b0_S``, the dense model's own initialization (a lottery ticket)
zero         ``c = 0``: the min-norm refit of docs/theory.md Section 4
============ ============================================================

At convergence Scratch-E and Scratch-B (equal steps / equal compute) coincide;
what separates the arms is only the implicit bias toward the start.

Asymptotic risk (our derivation from docs/theory.md Sections 2-4 and 8; fixed signal,
retraining on a **fresh** sample of the same size ``n``):

1. Dense fit: ``tau`` solves ``df(tau) = 1`` and ``rho0^2 = (sigma^2 + B0)/(1 - d2)``
   with ``E[b^2]_k + s0^2`` in ``B0`` (Section 8). Per coordinate of atom ``k``
   ``Y = sqrt(p) b_hat_i = a + c Z``, ``a = lam b/(lam + tau)``,
   ``c^2 = (lam rho0^2/kappa + tau^2 s0^2)/(lam + tau)^2``, ``Z ~ N(0, 1)``; the initial
   value ``s = sqrt(p) b0_i ~ N(0, s0^2)`` has ``Cov(s, Y) = tau s0^2/(lam + tau)``.
2. The mask keeps ``{score >= t}`` with ``sum_k pi_k P_k(kept) = alpha``; within atom ``k``
   ``q_k = P(kept)``, ``m1 = E[Y 1{kept}]``, ``m2 = E[Y^2 1{kept}]`` are the truncated
   Gaussian moments of Section 3 (sign symmetry lets us take ``b = |b_k| > 0``).
3. Retraining from ``c`` with fresh data ``(X', y')``: ``w_S = c_S + X_S'^+ (y' - X_S' c_S)``
   is ``c_S`` plus the min-norm fit of the residual target ``r = beta*_S - c_S`` whose
   noise is ``sigma_S^2 = sigma^2 + sum_k pi_k lam_k b_k^2 (1 - q_k)`` (dropped signal, as
   in Section 4). Because the fresh design is independent of ``r``, Section 2 applies to
   the atoms ``pi_k q_k`` (not renormalised, same ``kappa``) with ``E[b^2]`` replaced by the
   kept per-atom mean square of the target, ``M_k = E[(b - sqrt(p) c_i)^2 1{kept}] / q_k``:

       tau_S:  (1/kappa) sum_k pi_k q_k lam_k/(lam_k + tau_S) = 1     (alpha > kappa; else tau_S = 0)
       risk = (sigma_S^2 + tau_S^2 sum_k pi_k q_k lam_k M_k/(lam_k + tau_S)^2) / (1 - d2_S).

   The arms differ only in ``q_k M_k``:

       fine-tune:  E[(b - Y)^2 1{kept}] = b^2 q - 2 b m1 + m2
       scratch:    E[(b - s')^2 1{kept}] = (b^2 + s0^2) q          (s' independent of the mask)
       rewind:     b^2 q - 2 b E[s 1{kept}] + E[s^2 1{kept}], with kk = Cov(s, Y)/c^2,
                   E[s 1{kept}] = kk (m1 - a q),
                   E[s^2 1{kept}] = kk^2 (m2 - 2 a m1 + a^2 q) + (s0^2 - kk Cov(s, Y)) q   (Section 8)
       zero:       b^2 q

   For random masks ``q = alpha``, ``m1 = a alpha``, ``m2 = (a^2 + c^2) alpha``.

Consequences: fine-tuning beats scratch exactly when the surviving trained weights are
closer (in the ``tau_S``-weighted norm) to the truth than a fresh draw, i.e. when
``2 b m1 - m2 > s0^2 q`` summed with the weights; at large ``s0`` the trained weights
inherit the initialization (``tau s/(lam + tau)``) and the advantage shrinks, and the
zero start (min-norm) beats every random start. Same-data retraining (the support chosen
from, and refitted on, the same sample) has no formula here (docs/theory.md Section 4); the
Monte Carlo reports it beside the fresh-data arms.

Example
-------
>>> from asymptotics import Spectrum
>>> from simulations.regimes.scratch_linear import scratch_risk
>>> spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
>>> r = scratch_risk(spec, kappa=0.5, noise=0.5, keep=0.8, init=1.0, criterion="magnitude")
>>> sorted(r), bool(r["zero"] < r["scratch"])
(['dense', 'fine-tune', 'rewind', 'scratch', 'zero'], True)
"""

from __future__ import annotations

import numbers
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from asymptotics import Spectrum
from pruning_checks import check_bool, check_choice, check_int, check_scalar
from asymptotics.fixed_point import solve_atoms
from asymptotics.moments import truncated_moments
from asymptotics.thresholds import solve_thresholds
from linear_models import atom_counts, fit

from ..runtime.paths import check_output_dir
from ..runtime.stats import mean_sem
from ..runtime.workers import n_workers as _workers

ARMS = ("fine-tune", "scratch", "rewind", "zero")
CRITERIA = ("magnitude", "hessian", "random")


def _check(spectrum, kappa, noise, keep, init, criterion):
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an asymptotics.Spectrum, got {type(spectrum).__name__}.")
    if spectrum.signal_dist != "fixed":
        raise ValueError("spectrum.signal_dist == 'gaussian': only fixed signal is derived here; "
                         "use signal_dist='fixed'.")
    kappa = check_scalar(kappa, "kappa", low=0, high=1, include_low=False, include_high=False)
    noise = check_scalar(noise, "noise", low=0)
    if isinstance(keep, (bool, numbers.Integral, complex)) and not isinstance(keep, float):
        hint = "pass 1.0" if keep == 1 and isinstance(keep, numbers.Integral) else "pass a float in (0, 1]"
        raise TypeError(f"keep == {keep!r} is an integer (a count); this linear limit takes kept fractions: {hint}.")
    keep = check_scalar(keep, "keep", low=0, high=1, include_low=False)
    init = check_scalar(init, "init", low=0)
    check_choice(criterion, "criterion", CRITERIA)
    return kappa, noise, keep, init


def scratch_risk(spectrum, kappa, noise, keep, *, init, criterion="magnitude"):
    """Limiting test risk of each retraining start after pruning (module docstring).

    Parameters
    ----------
    spectrum : asymptotics.Spectrum
        Fixed-signal atoms.
    kappa : float
        ``n/p`` in (0, 1): the dense fit interpolates (gradient descent from ``init`` matters).
    noise : float
        Label-noise standard deviation.
    keep : float
        Kept fraction in (0, 1]; the retraining on the support is underdetermined iff ``keep > kappa``.
    init : float
        Initialization scale ``s0`` (``sqrt(p) b0_i ~ N(0, s0^2)``), also of the scratch start.
    criterion : {"magnitude", "hessian", "random"}

    Returns
    -------
    dict of str -> float
        ``"dense"`` and one risk per arm of :data:`ARMS`.
    """
    kappa, noise, alpha, s0 = _check(spectrum, kappa, noise, keep, init, criterion)
    pi, lam, b = spectrum.weights, spectrum.variances, np.abs(spectrum.signal)
    fp = solve_atoms(pi, lam, b**2 + s0**2, kappa, noise**2, 0.0)
    tau = fp.tau
    a = lam * b / (lam + tau)
    c = np.sqrt(lam * fp.rho2 / kappa + tau**2 * s0**2) / (lam + tau)
    if criterion == "random":
        q = np.full(lam.size, alpha)
        m1, m2 = a * alpha, (a**2 + c**2) * alpha
    else:
        w = np.ones_like(lam) if criterion == "magnitude" else np.sqrt(lam)
        t = solve_thresholds(np.array([alpha]), w * a, w * c, pi).t[0]
        u = t / w
        q, m1, m2 = (np.asarray(v, dtype=float) for v in truncated_moments(a, c, (u - a) / c, (-u - a) / c))
    cov_sy = tau * s0**2 / (lam + tau)
    kk = cov_sy / c**2
    e_s = kk * (m1 - a * q)
    e_s2 = kk**2 * (m2 - 2 * a * m1 + a**2 * q) + (s0**2 - kk * cov_sy) * q
    target = {"fine-tune": b**2 * q - 2 * b * m1 + m2,
              "scratch": (b**2 + s0**2) * q,
              "rewind": b**2 * q - 2 * b * e_s + e_s2,
              "zero": b**2 * q}
    sigma_s2 = noise**2 + float(np.dot(pi * lam, b**2 * (1 - q)))
    out = {"dense": fp.rho2}
    for arm, qm in target.items():
        mean_sq = np.divide(qm, q, out=np.zeros_like(q), where=q > 0)
        out[arm] = solve_atoms(pi * q, lam, mean_sq, kappa, sigma_s2, 0.0).rho2
    return out


# ------------------------------------------------------------------ Monte Carlo

def _problem(spectrum, p):
    counts = atom_counts(spectrum.weights, p)
    return np.repeat(spectrum.variances, counts), np.repeat(np.abs(spectrum.signal), counts)


def _risk(w, beta, lam, noise):
    d = w - beta
    return noise**2 + float(np.dot(lam * d, d))


def _top(scores, k):
    mask = np.zeros(scores.size, dtype=bool)
    mask[np.argsort(-scores, kind="stable")[:k]] = True
    return mask


def scratch_trial(rng, lam, b_scale, n, noise, keep_counts, criteria, s0):
    """One trial: returns ``(dense risk, risks)`` with ``risks[data, criterion, keep, arm]``,
    ``data`` 0 = fresh-data retraining, 1 = same-data retraining (arms in :data:`ARMS` order)."""
    p = lam.size
    sd = np.sqrt(lam)
    beta = rng.choice([-1.0, 1.0], size=p) * b_scale / np.sqrt(p)
    b0 = s0 * rng.standard_normal(p) / np.sqrt(p)
    b0_new = s0 * rng.standard_normal(p) / np.sqrt(p)
    samples = []
    for _ in range(2):
        X = rng.standard_normal((n, p)) * sd
        samples.append((X, X @ beta + noise * rng.standard_normal(n)))
    (X, y), (Xf, yf) = samples
    b_hat = b0 + fit(X, y - X @ b0)                  # GD from b0 to convergence (docs/theory.md Section 8)
    dense = _risk(b_hat, beta, lam, noise)
    u = rng.random(p)                                # random scores, shared across keep levels
    risks = np.empty((2, len(criteria), len(keep_counts), len(ARMS)))
    for ci, crit in enumerate(criteria):
        scores = {"magnitude": np.abs(b_hat), "hessian": sd * np.abs(b_hat), "random": u}[crit]
        for ki, k in enumerate(keep_counts):
            S = _top(scores, int(k))
            starts = (b_hat[S], b0_new[S], b0[S], np.zeros(int(k)))
            for di, (Xr, yr) in enumerate(((Xf, yf), (X, y))):
                XS = Xr[:, S]
                for ai, c in enumerate(starts):
                    w = np.zeros(p)
                    w[S] = c + fit(XS, yr - XS @ c)  # GD on the support from c, to convergence
                    risks[di, ci, ki, ai] = _risk(w, beta, lam, noise)
    return dense, risks


def _run_range(args):
    lam, b_scale, n, noise, keep_counts, criteria, s0, seed, start, stop = args
    dense = np.empty(stop - start)
    out = np.empty((stop - start, 2, len(criteria), len(keep_counts), len(ARMS)))
    with threadpool_limits(limits=1):
        for i, t in enumerate(range(start, stop)):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(t,))))
            dense[i], out[i] = scratch_trial(rng, lam, b_scale, n, noise, keep_counts, criteria, s0)
    return dense, out


def scratch_monte_carlo(spectrum, p, kappa, noise, keep, *, init, criteria=("magnitude",), trials=100, seed=0,
                        n_jobs=None):
    """Exact per-trial risks of the four retraining starts, fresh-data and same-data.

    Trial ``t`` draws from child ``t`` of ``SeedSequence(seed)``; results are bitwise identical for
    any ``n_jobs`` (``None``/1 serial, ``k`` worker processes, -1 one per core).

    Returns
    -------
    dict
        ``keep``, ``keep_counts``, ``dense`` (per-trial array), ``risk`` (array
        ``(trials, 2, criteria, keep, arms)``, data 0 = fresh, 1 = same), ``seconds``.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 2:
        raise ValueError(f"p == {p!r}, must be an integer >= 2.")
    # entry by entry, before any conversion: [0.5, 1] holds an integer (a count), refused as scratch_risk does
    entries = list(np.asarray(keep, dtype=object).ravel()) if np.ndim(keep) else [keep]
    if not entries:
        raise ValueError("keep is empty, must hold at least one kept fraction in (0, 1].")
    for j, kp in enumerate(entries):
        kp = kp.item() if isinstance(kp, np.generic) else kp
        if isinstance(kp, (bool, numbers.Integral)):
            raise TypeError(f"keep[{j}] == {kp!r} is an integer (a count); this linear limit takes kept fractions "
                            f"in (0, 1] as floats{', e.g. 1.0' if kp == 1 else ''}.")
        _check(spectrum, kappa, noise, kp, init, "magnitude")
    keep = np.array(entries, dtype=float)
    seed = check_int(seed, "seed", low=0)
    criteria = (criteria,) if isinstance(criteria, str) else tuple(criteria)
    for c in criteria:
        check_choice(c, "criteria", CRITERIA)
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 2:
        raise ValueError(f"trials == {trials!r}, must be an integer >= 2.")
    n = int(round(kappa * p))
    if n >= p or n < 1:
        raise ValueError(f"kappa * p == {kappa * p}, must round to a sample count in [1, p).")
    lam, b_scale = _problem(spectrum, p)
    keep_counts = np.maximum(1, np.round(keep * p).astype(int))
    base = (lam, b_scale, n, float(noise), keep_counts, criteria, float(init), int(seed))
    workers = _workers(n_jobs)                            # None/1 serial, k processes, -1 one per core
    edges = np.linspace(0, trials, max(2, min(trials, 4 * workers) + 1)).round().astype(int)
    tasks = [base + (int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    t0 = time.perf_counter()
    if workers == 1:
        parts = [_run_range(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_run_range, tasks))
    return dict(keep=keep, keep_counts=keep_counts, criteria=criteria, arms=ARMS,
                dense=np.concatenate([d for d, _ in parts]), risk=np.concatenate([r for _, r in parts]),
                seconds=time.perf_counter() - t0, p=int(p), n=n, trials=int(trials))


TABLE_COLUMNS = ("init", "criterion", "keep", "arm", "data", "source", "risk", "sem", "z", "trials", "p")


def linear_scratch_table(out_dir, quick=False, n_jobs=None):
    """Theory against the exact per-trial Monte Carlo for every start, written as CSV and markdown.

    Two-atom model ``lam = (1, 25)``, ``b = (1, 0.3)`` (fixed signal), ``kappa = 0.5``, noise 0.5,
    init scales ``s0 = 1, 3``, magnitude and hessian masks, kept fractions 0.3 (determined refit), 0.6, 0.8.
    Fresh-data retraining has a theory value and a z-score; same-data retraining is simulated only.
    Returns the CSV and markdown paths (``scratch_linear.csv``, ``scratch_linear.md``).
    """
    from pathlib import Path

    from ..runtime.files import write_tidy_csv

    check_output_dir(out_dir, "out_dir")             # before the work, not when writing its results
    check_bool(quick, "quick")
    _workers(n_jobs)
    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    p, trials = (200, 60) if quick else (400, 200)
    keep, crits = [0.3, 0.6, 0.8], ("magnitude", "hessian")
    rows, md = [], [f"Fine-tuning vs scratch in the linear limit: test risk, kappa = 0.5, noise 0.5, p = {p}, "
                    f"{trials} trials (theory | fresh-data Monte Carlo +- s.e. (z) | same-data Monte Carlo)", "",
                    "| s0 | criterion | keep | " + " | ".join(ARMS) + " |", "|---|---|---|" + "---|" * len(ARMS)]
    for i, s0 in enumerate((1.0, 3.0)):
        mc = scratch_monte_carlo(spec, p, 0.5, 0.5, keep, init=s0, criteria=crits, trials=trials, seed=7000 + i,
                                 n_jobs=n_jobs)
        for ci, crit in enumerate(crits):
            for ki, kp in enumerate(keep):
                th = scratch_risk(spec, 0.5, 0.5, kp, init=s0, criterion=crit)
                cells = []
                for ai, arm in enumerate(ARMS):
                    fresh, same = mc["risk"][:, 0, ci, ki, ai], mc["risk"][:, 1, ci, ki, ai]
                    m, se = mean_sem(fresh)
                    same_m, same_se = mean_sem(same)
                    z = (m - th[arm]) / se
                    base = dict(init=s0, criterion=crit, keep=kp, arm=arm, trials=trials, p=p)
                    rows += [dict(base, data="fresh", source="theory", risk=th[arm], sem="", z=""),
                             dict(base, data="fresh", source="simulation", risk=m, sem=se, z=z),
                             dict(base, data="same", source="simulation", risk=same_m, sem=same_se, z="")]
                    cells.append(f"{th[arm]:.3f} \\| {m:.3f} +- {se:.3f} ({z:+.1f}) \\| {same_m:.3f}")
                md.append(f"| {s0:g} | {crit} | {kp:g} | " + " | ".join(cells) + " |")
    out = Path(out_dir)
    csv = write_tidy_csv(out / "scratch_linear.csv", rows, TABLE_COLUMNS)
    (out / "scratch_linear.md").write_text("\n".join(md) + "\n")
    return csv, out / "scratch_linear.md"
