"""The notebooks that run a registered figure (second-order pruning, regimes, fine-tuning against training
from scratch, the phase diagram): the public calls behind it, then the figure exactly as the command line
runs it."""

from __future__ import annotations

from notebook_cells import figure_notebook, notebook

SO_API = """\
import numpy as np
from simulations.second_order import digits_mlp as soe
from simulations.second_order import loss_modelling
from linear_models import prune

print("recipe:", soe.RECIPE)
data = soe.load_data("digits")             # scikit-learn's bundled digits, fixed seeded split
net = soe.network()                        # 64-40-20-10 ReLU MLP, no biases, softmax cross-entropy
print(net, net.n_params, "weights;", len(data.y_train), "train /", len(data.y_test), "test images")"""


@notebook("cbs_table")
def _cbs():
    return figure_notebook(
        "CBS table — one-shot second-order pruning of a digits MLP",
        """
The Combinatorial Brain Surgeon experiment (Yu et al. 2022, docs/references.md) at small scale: the `64-40-20-10` ReLU MLP without
biases (3,560 weights, so the full empirical Fisher is a 3,560 x 3,560 matrix and every method runs exactly) on
scikit-learn's digits, one-shot pruning without fine-tuning by magnitude, magnitude + multi-weight OBS update,
WoodFisher, greedy OBS and CBS, test accuracy over seeds beside the published MNIST numbers. MNIST cannot be
fetched on these machines; digits ships inside scikit-learn (`pip install -e '.[digits]'`).
""",
        SO_API + """

# one seed of the table by hand: dense training, the empirical Fisher, one-shot pruning at sparsity 0.9
from linear_models import second_order as so

theta = soe.train_dense(net, data, seed=0)
acc = lambda w: 100 * soe.accuracy(net, w, data.X_test, data.y_test)
G = net.per_sample_gradients(theta, data.X_train, data.y_train.astype(float))     # (N, 3560)
fisher = so.empirical_fisher(G, relative_damping=soe.DAMPING, inverse=True)
print(f"dense {acc(theta):.2f}%; Fisher mean diagonal {fisher.mean_diagonal:.3g}, damping {fisher.damping:.3g}")
loss = lambda w: net.loss_value(w, data.X_train, data.y_train.astype(float))
pruned = {"magnitude": so.magnitude(theta, 0.1), "magnitude+update": so.magnitude_update(theta, fisher, 0.1),
          "woodfisher": so.woodfisher(theta, fisher, 0.1),
          "cbs": so.cbs(theta, fisher, 0.1, loss=loss, rng=np.random.default_rng(0), n_starts=10)}
for m, r in pruned.items():
    print(f"{m:17s} sparsity 0.9: test accuracy {acc(r.weights):.2f}%")""",
        'FIGURES_CALL',
        "**Your turn.** Change the Fisher damping (relative to its mean diagonal) and re-prune the same seed:",
        """for dmp in (0.01, 1.0):
    f = so.empirical_fisher(G, relative_damping=dmp, inverse=True)
    print(f"relative damping {dmp:g}: woodfisher {acc(so.woodfisher(theta, f, 0.1).weights):.2f}%, "
          f"magnitude+update {acc(so.magnitude_update(theta, f, 0.1).weights):.2f}%")""")


@notebook("loss_modelling")
def _lm():
    return figure_notebook(
        "Loss modelling — criteria, steps and locality",
        """
The loss-modelling study (Laurent et al. 2020, docs/references.md): magnitude (MP), first-order Taylor (LM, `taylor1`), second-order
Taylor (QM, `taylor2`) and OBD with the exact Gauss-Newton diagonal, in 1, 14 or 140 pruning steps (scores
recomputed, no training between steps) and with a locality penalty `+ 1/2 lambda w^2`. Measured: the training
loss right after pruning, the test accuracy after fine-tuning with the mask fixed, and the rank correlation
between the two across configurations, with a bootstrap interval.
""",
        SO_API + """
from linear_models import second_order as so

# one seed by hand: dense training, then prune to sparsity 0.9 in 1 and 14 steps with the exact statistics
theta = soe.train_dense(net, data, seed=0)
Xtr, ytr = data.X_train, data.y_train.astype(float)
statistics = lambda v: (net.loss_and_grad(v, Xtr, ytr)[1], net.ggn_diagonal(v, Xtr))   # gradient, Gauss-Newton diagonal
print(f"dense: training loss {net.loss_value(theta, Xtr, ytr):.3f}")
for crit in ("magnitude", "taylor1", "taylor2", "hessian"):
    losses = [net.loss_value(so.prune_in_steps(theta, 0.1, crit, steps, statistics).weights, Xtr, ytr) for steps in (1, 14)]
    print(f"{crit:9s} training loss right after pruning: 1 step {losses[0]:.3f}, 14 steps {losses[1]:.3f}")""",
        'FIGURES_CALL',
        "**Your turn.** Multi-step pruning (scores recomputed, no training) on a least-squares problem, where the "
        "gradient and the curvature are exact:",
        """rng = np.random.default_rng(0)
X = rng.standard_normal((400, 50)) * np.r_[np.ones(25), 5 * np.ones(25)]
y = X @ rng.standard_normal(50) + 0.5 * rng.standard_normal(400)
w = np.linalg.lstsq(X, y, rcond=None)[0]
loss = lambda v: float(np.mean((X @ v - y) ** 2))
stats = lambda v: (2 * X.T @ (X @ v - y) / len(y), 2 * np.mean(X**2, axis=0))       # gradient, curvature diagonal
for c in ("magnitude", "taylor2", "hessian"):
    print(c, [round(loss(so.prune_in_steps(w, 0.3, c, steps, stats).weights), 2) for steps in (1, 14)])""")


@notebook("linear_counterpart")
def _lc():
    return figure_notebook(
        "Linear counterpart of the CBS table — where the quadratic model is exact",
        """
For least squares the OBS/CBS objective `w_S' ([H^-1]_SS)^-1 w_S` *is* the training-loss increase of removing `S`
with the optimal update (docs/theory.md Section 5), so CBS's gain over magnitude and WoodFisher is computed exactly,
on the spectra the asymptotic engine uses.
""",
        """\
import numpy as np
from asymptotics import Spectrum
from linear_models import from_spectrum, fit, prune

prob = from_spectrum(Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3)), p=100, noise=0.5, rng=0)
X, y = prob.sample(400, rng=1)
b, H = fit(X, y), X.T @ X
for c in ("magnitude", "obs", "cbs"):
    r = prune(b, 0.2, c, hessian=H)
    print(f"{c:10s} test risk {prob.risk(r.weights):.4f}")""",
        'FIGURES_CALL',
        "**Your turn.** Try a correlated design (`linear_models.ar1_covariance`), where OBD and OBS differ more:",
        """from linear_models import ar1_covariance

rng = np.random.default_rng(2)
L = np.linalg.cholesky(ar1_covariance(100, 0.8))
Xc = rng.standard_normal((400, 100)) @ L.T
yc = Xc @ rng.standard_normal(100) / 10 + 0.5 * rng.standard_normal(400)
bc, Hc = fit(Xc, yc), Xc.T @ Xc
for c in ("magnitude", "hessian", "obs"):
    r = prune(bc, 0.2, c, hessian=Hc)
    print(f"{c:10s} training loss after pruning {np.mean((Xc @ r.weights - yc) ** 2):.4f}")""")


RG_API = """\
import numpy as np
from simulations.networks.similarity import linear_cka, mode_connectivity

A = np.random.default_rng(0).standard_normal((100, 3))
Q = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
print("CKA(A, A Q) =", round(linear_cka(A, A @ Q), 12), "(1: invariant to orthogonal transforms)")"""


@notebook("regimes")
def _regimes():
    return figure_notebook(
        "Three regimes — temperature, load, mode connectivity and output similarity",
        """
The three-regime model (Zhou et al. 2023, docs/references.md) on the shallow teacher-student task: temperature is the minibatch size
at a fixed number of iterations (and, second knob, the training length), load is the density after magnitude
pruning. Each pruned mask is retrained from two SGD seeds; we record the test error, the linear mode connectivity
`mc` of the two retrained networks (train error along the straight path, 11 points) and the linear CKA of their
outputs, over dense seeds. The linear counterpart is figure 8 (phase diagram).
""",
        RG_API + """

# one cell of the grid by hand: dense training at the first temperature, magnitude masks, two retrainings each
from simulations.regimes.grid import compute_cell, grid_config

cfg = grid_config(QUICK)
cell = compute_cell(cfg, 0)
print(f"knob {cell['knob']}, temperature {cfg['batches'][cell['temperature_index']]}, dense test error {cell['dense_test_error']:.3f}")
for d, e, m, k in zip(cfg["densities"], cell["test_error"], cell["mc"], cell["cka"]):
    print(f"density {d:4g}: test error {e:.3f}, mc {m:+.4f}, CKA {k:.3f}")""",
        'FIGURES_CALL',
        "**Your turn.** On a convex loss (least squares) the chord barrier `max_t [E(t) - ((1 - t) E(0) + t E(1))]` "
        "is never positive; `mc`, which compares the worst path point with the mean of the two endpoints' errors, "
        "is negative here all the same, because the endpoints' errors differ (the zero start has error about 1):",
        """X = np.random.default_rng(2).standard_normal((50, 5)); y = X[:, 0]
err = lambda w: float(np.mean((X @ w - y) ** 2))
r = mode_connectivity(np.zeros(5), np.linalg.lstsq(X, y, rcond=None)[0], err)
print(f"chord barrier {r.barrier:.3g}, mc {r.mc:.3f}, endpoint errors {r.errors[0]:.3f} and {r.errors[-1]:.2g}")""")


@notebook("scratch_table")
def _scratch():
    return figure_notebook(
        "Fine-tuning vs training from scratch on networks",
        """
"Rethinking the value of pruning" (Liu et al. 2019, docs/references.md) at small scale: masks from magnitude pruning at several
densities; fine-tune the surviving weights, Scratch-E (same mask, fresh initialization, same steps as the dense
training) and Scratch-B (steps scaled by the dense/pruned nonzero-weight compute), over seeds, beside the
published numbers.
""",
        """\
# one dense seed by hand: dense training, magnitude masks, then each arm's test error (MSE / Var y)
from simulations.regimes.scratch_networks import compute_scratch_cell, scratch_config

cfg = scratch_config(QUICK)
cell = compute_scratch_cell(cfg, 0)
print(f"dense test error {cell['dense']:.3f}")
for di, d in enumerate(cfg["densities"]):
    print(f"density {d:4g}: " + ", ".join(f"{a} {cell[a][di]:.3f}" for a in ("fine-tune", "scratch-E", "scratch-B")))""",
        'FIGURES_CALL',
        "**Your turn.** The exact linear-limit version of the comparison (the `linear_scratch` notebook), in one call:",
        """from asymptotics import Spectrum
from simulations.regimes.scratch_linear import scratch_risk

spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
print({arm: round(r, 3) for arm, r in scratch_risk(spec, 0.5, 0.5, 0.8, init=1.0).items()})""")


@notebook("linear_scratch")
def _lscratch():
    return figure_notebook(
        "Fine-tuning vs training from scratch in the linear limit",
        """
Gradient descent from `b0` on an underdetermined least-squares problem converges to the interpolator closest to
`b0`: fine-tuning starts from the pruned weights, Scratch from a fresh `b0 ~ N(0, s0^2/p)`, rewinding from the
dense model's own initialization, and the zero start gives min-norm. With fresh data the refit risk of each start
follows from docs/theory.md Sections 2-4 and 8; the table compares it with an exact per-trial Monte Carlo (z-scores).
""",
        """\
from simulations.regimes import scratch_linear
print(scratch_linear.__doc__.split("Example")[0][:1500])""",
        'FIGURES_CALL',
        "**Your turn.** Which start wins depends on whether the refit is determined (kept fraction below kappa):",
        """from asymptotics import Spectrum

spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
for keep in (0.3, 0.8):          # kappa = 0.5: determined refit below, underdetermined above
    r = scratch_linear.scratch_risk(spec, 0.5, 0.5, keep, init=3.0)
    print(f"keep {keep}:", {arm: round(r[arm], 3) for arm in scratch_linear.ARMS})""")


@notebook("phase_diagram")
def _phase():
    return figure_notebook(
        "Figure 8 — The linear phase diagram of temperature and load",
        """
docs/theory.md Section 9: the mask comes from a ridge fit at `mu` (temperature; `mu -> inf` is marginal screening),
the support is refitted with fresh data at a fixed ridge `mu_r = 0`, and load is kept parameters per sample,
`keep / kappa`. The map is the risk after the refit, the colours the sign of `dR/dmu`, the line where it flips
(root finding), and simulation points on cuts across the boundary.
""",
        """\
import numpy as np
from asymptotics import Spectrum, phase_diagram

spec = Spectrum([25.0, 16.0, 1.0], [0.3, 0.2, 1.0], [1 / 3, 1 / 3, 1 / 3])
pd = phase_diagram(spec, 5.0, 0.5, loads=np.linspace(0.02, 0.19, 18), ridges=np.geomspace(1e-3, 1e3, 25))
print(pd.risk.shape)""",
        'FIGURES_CALL',
        "**Your turn.** Use hessian masks (`criterion=\"hessian\"`) and watch the boundary move.",
        """pd_h = phase_diagram(spec, 5.0, 0.5, loads=np.linspace(0.02, 0.19, 18), ridges=np.geomspace(1e-3, 1e3, 25), criterion="hessian")
print(pd_h.risk.min())""")
