"""The network notebooks: the ``network_experiment`` runs behind each network figure, then the figure drawn
from them by the function the command line uses."""

from __future__ import annotations

from notebook_cells import FIG_SETUP, SHOW_PATHS, code, md, notebook

NET_SETUP = """\
import numpy as np
from simulations import network_experiment
from simulations.figures import captions
from simulations.figures.networks import KEEP, base_config

cfg = base_config(QUICK)       # docs/theory.md Section 6's illustrative configuration (smaller in quick mode)
print({k: v for k, v in cfg.items() if k != "criteria"})
print("criteria:", cfg["criteria"])"""


def _network_notebook(title, intro, compute_md, compute, draw, outro, your_turn):
    """A network notebook: the public calls behind the figure (``network_experiment`` per point, a few printed
    numbers), then the figure drawn from those results by the same function the command line uses."""
    return [md(f"# {title}\n\n{intro.strip()}"), code(FIG_SETUP), code(NET_SETUP), md(compute_md), code(compute),
            code(draw + "\n" + SHOW_PATHS), md(outro), code(your_turn)]


SCALING_COMPUTE = """\
from simulations.figures.networks import SCALING_CS, scaled_groups

cs = SCALING_CS[QUICK]
results = [network_experiment(**dict(cfg, groups=scaled_groups(c), n_jobs=-1)) for c in cs]   # one run per scale c
ki = results[0].keep.index(KEEP)
for c, r in zip(cs, results):
    w, imp = r.extras["group_abs_weight"][:, 0].mean(), r.extras["group_importance"][:, 0].mean()
    print(f"c = {c:4g}: scaled group mean |W| {w:.4f}, mean importance {imp:.3g}; keep {KEEP}: "
          + ", ".join(f"{k} {r.mean[k][ki]:.3f}" for k in ("magnitude", "hessian", "random")))"""


INIT_COMPUTE = """\
from simulations.figures.networks import INITS

inits = INITS[QUICK]
init_results = [network_experiment(**dict(cfg, init=s, n_jobs=-1)) for s in inits]     # one run per init scale
ki = init_results[0].keep.index(KEEP)
for s, r in zip(inits, init_results):
    print(f"init {s:5g}: movement ||W - W0|| / ||W0|| {r.extras['weight_change'].mean():8.3g}, dense {r.mean['dense']:.3g}; "
          f"keep {KEEP}: " + ", ".join(f"{k} {r.mean[k][ki]:.3g}" for k in ("magnitude", "hessian", "random")))"""


@notebook("network_scaling")
def _net_scaling():
    return _network_notebook(
        "Network figure 1 — Magnitude pruning under covariance scaling",
        """
A shallow ReLU network `f(x) = sum_j v_j relu(w_j . x)` is trained on a linear teacher whose first feature group
is scaled by `c` while its teacher weight is `1/c`: the group's importance (`c^2 w^2 = 1`) does not change. The
covariance-scaling argument of docs/theory.md Section 1 says the learned first-layer weights on that group should then
shrink like `1/c`; what the network does is measured here. Every criterion goes through the same pruning library
as the linear models (`linear_models.prune`), fed with the network's gradient and Gauss-Newton matrix. The panel
titles are computed from the measured numbers (`simulations.figures.captions`).
""",
        """
One `network_experiment` per scale `c` (the same calls, seeds and sizes as `python -m simulations figure
network-scaling`): the mean `|W|` of the scaled group's first-layer weights, their mean ablation importance, and the
test loss after pruning 70% of the weights.
""",
        SCALING_COMPUTE,
        """\
from simulations.figures.networks import plot_network_scaling

paths = plot_network_scaling(cs, results, OUT)     # the drawing of `figure network-scaling`""",
        """
In the full run the weights shrink, but about like `c^-0.5`, not `1/c`, and their ablation importance *grows*
with `c`; magnitude pruning removes them first and is worse than random from `c = 5` on, while the
Gauss-Newton-weighted criteria are not. The CSV holds every number with its standard error over trials.

**Your turn.** Fine-tune after pruning (`finetune_steps`) at the largest scale and compare with the loss before
fine-tuning:
""",
        """res = network_experiment(**dict(cfg, groups=scaled_groups(cs[-1]), criteria=("magnitude", "hessian"),
                              finetune_steps=200, trials=2, n_jobs=-1))
for c in ("magnitude", "hessian"):
    print(c, "after fine-tuning", np.round(res.mean[c], 3), "before", np.round(res.extras["before_finetune"][c].mean(axis=0), 3))""")


@notebook("network_init")
def _net_init():
    return _network_notebook(
        "Network figure 2 — Initialization scale and magnitude pruning",
        """
Sweep the initialization scale `init` (`w_j ~ N(0, init^2/d I)`, `v_j ~ N(0, init^2/m)`) over three decades and
measure how far training moves the first layer (`||W - W0|| / ||W0||`) and the loss after pruning. The right
panel is the exact linear-limit counterpart (docs/theory.md Section 8, min-norm from `b0 ~ N(0, s0^2/p I)`), where the
initialization survives in proportion `tau/(lam+tau)`. The movement panel's title is computed from the numbers.
""",
        """
One `network_experiment` per initialization scale (the same calls as `python -m simulations figure network-init`):
""",
        INIT_COMPUTE,
        """\
from simulations.figures.networks import plot_network_init

paths = plot_network_init(inits, init_results, OUT)     # the drawing of `figure network-init`""",
        """
In the full run the first layer moves by 108 times its initial norm from init 0.01 and by 0.66 at init 10;
magnitude pruning's loss stays near 0.9 up to init 0.3, is lower at init 1 (0.39) and fails at init 3 (7.8,
random 7.9, hessian 0.074). At init 10 the dense network no longer fits (dense loss 4.4 x Var(y)), so that
point says nothing about pruning.

**Your turn.** Train with plain SGD instead of Adam at init 0.3 (with this learning rate SGD diverges from init 1
on: the losses come out NaN):
""",
        """for opt in ("adam", "sgd"):
    res = network_experiment(**dict(cfg, optimizer=opt, lr=0.01, init=0.3, criteria=("magnitude", "hessian", "random"),
                                  trials=2, n_jobs=-1))
    print(opt, {c: np.round(res.mean[c], 3) for c in ("magnitude", "hessian", "random")},
          "movement", np.round(res.extras["weight_change"], 2))""")


@notebook("network_hessian")
def _net_hessian():
    return _network_notebook(
        "Network figure 3 — Hessian structure and the important weights",
        """
For every criterion, the Spearman rank correlation of its per-weight scores with the exact ablation importance
(the test-loss increase of zeroing that weight alone, on a large fresh sample): during training from a small start
(left) and at the end of training over the initialization scale (right). The right panel's title is computed from
the numbers.
""",
        """
One run of the base configuration that records the correlations every 25th of training (`record_every`), and
the init sweep (the same calls as `python -m simulations figure network-hessian`):
""",
        INIT_COMPUTE + """
from simulations.figures.networks import hessian_run

run = hessian_run(QUICK, n_jobs=-1)         # network_experiment(**dict(cfg, record_every=steps // 25))
v = run.extras["corr_over_steps"]
print("checkpoints:", run.extras["checkpoints"][:3], "...", run.extras["checkpoints"][-1])
for c in ("magnitude", "hessian", "taylor2", "obs"):
    print(f"{c:10s} Spearman with importance: at the first checkpoint {v[c][:, 0].mean():.2f}, at the end {v[c][:, -1].mean():.2f}")""",
        """\
from simulations.figures.networks import plot_network_hessian

paths = plot_network_hessian(run, inits, init_results, OUT)     # the drawing of `figure network-hessian`""",
        """
The printed numbers and the right panel's title say how closely each criterion's scores follow the ablation
importance during and at the end of training; in the full run the Gauss-Newton-weighted scores (hessian,
taylor2) and the OBS saliency reach a Spearman correlation near 0.9 and magnitude stays far below.

**Your turn.** Record the correlations every 100 steps of your own run:
""",
        """res = network_experiment(**dict(cfg, criteria=("magnitude", "hessian"), record_every=100, trials=2, n_jobs=-1))
print(res.extras["checkpoints"], np.round(res.extras["corr_over_steps"]["hessian"].mean(axis=0), 2))""")


@notebook("network_claims")
def _net_claims():
    return _network_notebook(
        "Network claims table — docs/theory.md Section 6, measured",
        """
Each seed claim of docs/theory.md Section 6, the configuration it was measured in, the numbers with standard errors
over trials, and whether it held — plus docs/theory.md's illustrative numbers beside ours. The runs are the sweeps of
network figures 1 and 2 (same calls, same seeds), so the table and the figures agree.
""",
        """
The two sweeps: one `network_experiment` per scale `c`, one per initialization scale.
""",
        SCALING_COMPUTE + "\n\n" + INIT_COMPUTE,
        """\
from simulations.figures.networks import claims_table

paths = claims_table(cs, results, inits, init_results, OUT)     # the table of `figure network-claims`""",
        "**Your turn.** Change the activation to tanh and re-run the illustrative configuration:",
        """res = network_experiment(**dict(cfg, activation="tanh", criteria=("magnitude", "hessian", "random"), trials=2, n_jobs=-1))
print({c: np.round(res.mean[c], 3) for c in ("magnitude", "hessian", "random")})""")


@notebook("network_allocation")
def _net_allocation():
    return _network_notebook(
        "Network figure 4 — Pruning both layers: one global selection or the same fraction per layer",
        """
The same shallow ReLU network, now with biases, pruned in both weight matrices at once (`prune_layers="all"`, the
biases kept). `scope="global"` ranks the first layer `W` and the readout `v` together (one Gauss-Newton block for
OBS); `scope="layer"` keeps the same fraction of each layer, each pruned with its own block, as
`torch.nn.utils.prune.l1_unstructured` applied layer by layer. The masks come back in `extras["masks"]`, so the
share of `v` each criterion keeps is measured, not inferred. The title is computed from the numbers.
""",
        """
One `network_experiment` per scope on the same trained networks (the same calls as `python -m simulations figure
network-allocation`):
""",
        """\
from simulations.figures.allocation import SCOPES, allocation_config

acfg = allocation_config(QUICK)      # the base configuration with biases, both layers, magnitude/OBD/OBS/random
runs = {s: network_experiment(**acfg, scope=s, n_jobs=-1) for s in SCOPES}
second = runs["global"].extras["pruned_indices"] >= acfg["d"] * acfg["width"]        # the readout v
for s, r in runs.items():
    for c in acfg["criteria"]:
        share = r.extras["masks"][c][:, :, second].mean(axis=(0, 2))
        print(f"{s:6s} {c:9s} loss", np.round(r.mean[c], 3), " share of v kept", np.round(share, 2))""",
        """\
from simulations.figures.allocation import plot_network_allocation

paths = plot_network_allocation(runs, OUT)     # the drawing of `figure network-allocation`""",
        """
In the full run global magnitude pruning removes the whole readout up to keep 0.3 (relative loss 1: a constant
prediction), OBD's global selection keeps the readout and is the best configuration from keep 0.05 on, OBS with the
joint block is worse than OBD at every keep, and per-layer OBS diverges at small keep, where `v` keeps one to six
weights.

**Your turn.** Prune the readout only (`prune_layers=[1]`) and see how much of the loss the first layer accounts for:
""",
        """res = network_experiment(**dict(acfg, prune_layers=[1], criteria=("magnitude", "hessian"), trials=2, n_jobs=-1))
print({c: np.round(res.mean[c], 3) for c in ("magnitude", "hessian")}, "kept counts", res.keep_counts)""")
