"""A plain-NumPy Monte Carlo of docs/theory.md Sections 2-4, written independently of the
package (no import from asymptotics, linear_models or simulations), used as the
reference the asymptotic formulas are checked against."""

import numpy as np


def draw_problem(variances, signal, weights, signal_dist, p, rng):
    counts = np.floor(np.asarray(weights) * p).astype(int)
    counts[np.argmax(weights)] += p - counts.sum()
    lam = np.repeat(variances, counts)
    b = np.repeat(signal, counts)
    s = rng.choice([-1.0, 1.0], size=p) if signal_dist == "fixed" else rng.standard_normal(p)
    return lam, s * b / np.sqrt(p)


def fit(X, y, ridge):
    n, p = X.shape
    if ridge > 0:
        return np.linalg.solve(X.T @ X / n + ridge * np.eye(p), X.T @ y / n)
    if n > p:
        return np.linalg.solve(X.T @ X, X.T @ y)
    return X.T @ np.linalg.solve(X @ X.T, y)


def sample(lam, beta, n, noise, rng):
    """``n`` Gaussian rows with variances ``lam`` and labels ``X beta + noise z`` (design drawn first)."""
    X = rng.standard_normal((n, lam.size)) * np.sqrt(lam)
    return X, X @ beta + noise * rng.standard_normal(n)


def scores(criterion, lam, beta, bh, rng):
    """The score of docs/theory.md Section 3. Uniform scores are drawn for every criterion (only ``random`` uses
    them), so the stream, and the checks' pre-registered draws, do not depend on the criterion."""
    uniform = rng.random(lam.size)
    return {"magnitude": np.abs(bh), "hessian": np.sqrt(lam) * np.abs(bh), "oracle": lam * beta**2,
            "random": uniform}[criterion]


def top_k(score, k, rng):
    """Indices of the k largest scores, ties broken at random."""
    order = np.lexsort((rng.random(score.size), -score))
    return order[:k]


def monte_carlo(variances, signal, weights, signal_dist, p, kappa, noise, ridge, keep, criteria,
                retrain, trials, seed, refit_ridge=None):
    """Risk samples: dict criterion -> array (trials, len(keep)); 'dense' -> (trials,).

    The fresh refit uses ``refit_ridge`` (default: ``ridge``)."""
    refit_ridge = ridge if refit_ridge is None else refit_ridge
    rng = np.random.default_rng(seed)
    n = int(round(kappa * p))
    out = {c: np.empty((trials, len(keep))) for c in criteria}
    out["dense"] = np.empty(trials)
    for t in range(trials):
        lam, beta = draw_problem(variances, signal, weights, signal_dist, p, rng)
        X, y = sample(lam, beta, n, noise, rng)
        bh = fit(X, y, ridge)
        out["dense"][t] = noise**2 + np.sum(lam * (bh - beta) ** 2)
        if retrain == "fresh":
            X2, y2 = sample(lam, beta, n, noise, rng)
        for c in criteria:
            score = scores(c, lam, beta, bh, rng)
            for j, a in enumerate(keep):
                S = top_k(score, int(round(a * p)), rng)
                b = np.zeros(p)
                if retrain == "fresh":
                    b[S] = fit(X2[:, S], y2, refit_ridge)
                else:
                    b[S] = bh[S]
                out[c][t, j] = noise**2 + np.sum(lam * (b - beta) ** 2)
    return out


def fit_from(X, y, ridge, b0):
    """Gradient descent from b0 run to convergence on (1/n)||y - X b||^2 + ridge ||b||^2: the ridge /
    OLS solution when the objective is strictly convex, else the interpolator closest to b0
    (b0 + X^+ (y - X b0)), docs/theory.md Section 8."""
    n, p = X.shape
    if ridge > 0 or n > p:
        return fit(X, y, ridge)
    return b0 + X.T @ np.linalg.solve(X @ X.T, y - X @ b0)


def monte_carlo_init(variances, signal, weights, signal_dist, p, kappa, noise, ridge, init, keep, criteria,
                     trials, seed):
    """Risk samples of gradient descent from b0 ~ N(0, init^2/p I), pruned without retraining
    ("none") and refit on the support with fresh data from b0 restricted to it ("fresh").

    Returns dict: "dense" -> (trials,), (criterion, "none"|"fresh") -> (trials, len(keep)).
    """
    rng = np.random.default_rng(seed)
    n = int(round(kappa * p))
    out = {(c, r): np.empty((trials, len(keep))) for c in criteria for r in ("none", "fresh")}
    out["dense"] = np.empty(trials)
    for t in range(trials):
        lam, beta = draw_problem(variances, signal, weights, signal_dist, p, rng)
        b0 = init * rng.standard_normal(p) / np.sqrt(p)
        X, y = sample(lam, beta, n, noise, rng)
        bh = fit_from(X, y, ridge, b0)
        out["dense"][t] = noise**2 + np.sum(lam * (bh - beta) ** 2)
        X2, y2 = sample(lam, beta, n, noise, rng)
        for c in criteria:
            score = scores(c, lam, beta, bh, rng)
            for j, a in enumerate(keep):
                S = top_k(score, int(round(a * p)), rng)
                b = np.zeros(p)
                b[S] = bh[S]
                out[(c, "none")][t, j] = noise**2 + np.sum(lam * (b - beta) ** 2)
                b = np.zeros(p)
                b[S] = fit_from(X2[:, S], y2, ridge, b0[S])
                out[(c, "fresh")][t, j] = noise**2 + np.sum(lam * (b - beta) ** 2)
    return out
