"""PyTorch bridge: prune an ``nn.Module`` with any registered criterion of the toolkit.

:func:`prune_module` collects the prunable weights of a model (the ``weight`` of every
``nn.Linear`` and ``nn.Conv1d/2d/3d`` by default, or the parameters named), lays them end to end
in one flat float64 vector (each tensor flattened in PyTorch's row-major order, tensors in the
order of ``model.named_modules()``), computes what the criterion's registry entry needs
(:mod:`linear_models.criteria`) from ``data``, prunes the flat vector with
:func:`linear_models.prune` (or, with ``block_size``, with
:func:`linear_models.blockwise.prune_blockwise`), writes the updated weights back and applies
the masks through ``torch.nn.utils.prune.custom_from_mask``: the model then carries
``weight_orig`` / ``weight_mask`` as after ``torch.nn.utils.prune.global_unstructured``, and
``torch.nn.utils.prune.remove(module, "weight")`` makes the pruning permanent.

Statistics (per-sample gradients by ``torch.func.vmap(torch.func.grad(...))`` over
``torch.func.functional_call``, the model in ``eval()`` mode, other parameters such as biases
held fixed), accumulated over ``data`` in chunks so the ``N x d`` gradient matrix is never held:

=================== ========================================================================
need                computed
=================== ========================================================================
``grad``            mean gradient of the loss over ``data``
``hessian_diag``    diagonal of the empirical Fisher ``(1/N) sum_n g_n g_n'``
``hessian_inverse`` the empirical Fisher, full (``block_size=None``) or in diagonal blocks of
                    ``block_size`` weights inside each layer, damped, inverted
=================== ========================================================================

Vocabulary (``torch.nn.utils.prune``): ``keep`` is the kept part, ``amount`` the pruned part, so
``keep = 1 - amount`` for fractions; an integer ``keep`` is a count of kept weights (PyTorch's
integer ``amount`` is a count of pruned ones: ``keep = d - amount``). A float rounds as
``round(keep * d)``; PyTorch rounds ``amount * d``, so pass integers where the two must agree to
the weight. ``scope="global"`` is one threshold over all layers (``global_unstructured``);
``scope="layer"`` keeps the same fraction of every layer (``l1_unstructured`` layer by layer).

Example
-------
>>> import torch
>>> from linear_models import prune_module
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
>>> res = prune_module(net, keep=0.5)
>>> sorted(res.masks), int(sum(m.sum() for m in res.masks.values()))
(['0.weight', '2.weight'], 9)
>>> hasattr(net[0], "weight_orig") and hasattr(net[0], "weight_mask")
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pruning_checks import as_generator, check_choice, check_int

from . import blockwise as _bw
from .criteria import get_criterion
from .pruning import SCOPES, prune, scope_counts
from .fisher_blocks import finish_block_fisher
from .second_order import WOODFISHER_SCALE, PruneResult, resolve_damping

#: Copies of the full ``d x d`` matrix the full-matrix path holds at once (Fisher, damped Fisher,
#: inverse, greedy OBS's working inverse).
FULL_COPIES = 4

__all__ = ["ModulePruneResult", "prune_module", "prunable_parameters"]


def _torch():
    try:
        import torch
        import torch.func  # noqa: F401
        import torch.nn.utils.prune  # noqa: F401
    except ImportError as exc:
        raise ImportError("prune_module needs PyTorch, which is an optional extra: "
                          "pip install 'pruning-mechanics[torch]'.") from exc
    return torch


@dataclass(frozen=True)
class ModulePruneResult:
    """What :func:`prune_module` did.

    Attributes
    ----------
    masks : dict of str to torch.Tensor (bool)
        Kept entries of every pruned parameter, by its name in ``model.named_parameters()`` (before
        pruning), shaped like the parameter.
    scores : dict of str to torch.Tensor or None
        Per-weight scores (largest kept) of score-based criteria, shaped like the parameters; None for
        the selections ``obs`` and ``cbs``.
    loss_increase : float or None
        The quadratic model's predicted change of the loss, ``1/2 dw' F dw`` with ``F`` the damped
        empirical Fisher used (full, blocks, or its diagonal), summed over layers for
        ``scope="layer"``; None when no Fisher was computed (e.g. magnitude without data).
    kept : dict of str to int
        Kept weights per parameter.
    results : list of PruneResult
        The flat results: one for ``scope="global"``, one per parameter for ``"layer"``.
    weights : numpy.ndarray, shape (d,)
        The pruned (and updated) flat weight vector.
    """

    masks: dict
    scores: dict | None
    loss_increase: float | None
    kept: dict
    results: list = field(repr=False)
    weights: np.ndarray = field(repr=False)


def prunable_parameters(model, parameters=None):
    """``[(name, module, attribute)]`` of the weights :func:`prune_module` prunes.

    By default the ``weight`` of every ``nn.Linear`` and ``nn.Conv*d`` (``torch.nn.modules.conv._ConvNd``)
    in ``model.named_modules()`` order; otherwise the parameters named in ``parameters``: names from
    ``model.named_parameters()`` (``"0.weight"``) or ``(module, "weight")`` pairs as in
    ``torch.nn.utils.prune.global_unstructured``.

    Raises
    ------
    ValueError
        No prunable parameter, a name that is not a parameter of ``model``, a repeated parameter, or a
        module already pruned by ``torch.nn.utils.prune`` (call ``prune.remove`` first).
    TypeError
        ``model`` is not an ``nn.Module``.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    names_of = {id(m): n for n, m in model.named_modules()}
    out = []
    if parameters is None:
        for mname, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                attr = "weight_orig" if hasattr(m, "weight_orig") else "weight"
                if attr == "weight" and not isinstance(getattr(m, "weight", None), nn.Parameter):
                    continue
                out.append((f"{mname}.weight" if mname else "weight", m, "weight"))
        if not out:
            raise ValueError("model has no prunable layers (no nn.Linear or nn.Conv*d weight); name the parameters "
                             "to prune with parameters=[...].")
    else:
        if isinstance(parameters, (str, bytes)) or not hasattr(parameters, "__iter__"):
            raise TypeError("parameters must be a sequence of parameter names or (module, name) pairs.")
        for i, item in enumerate(parameters):
            if isinstance(item, str):
                prefix, _, attr = item.rpartition(".")
                try:
                    m = model.get_submodule(prefix) if prefix else model
                except AttributeError:
                    raise ValueError(f"parameters[{i}] == {item!r} is not a parameter of the model.") from None
                name = item
            else:
                try:
                    m, attr = item
                except (TypeError, ValueError):
                    raise TypeError(f"parameters[{i}] must be a name or a (module, name) pair, got {item!r}.") from None
                if id(m) not in names_of:
                    raise ValueError(f"parameters[{i}]: the module {type(m).__name__} is not part of the model.")
                name = f"{names_of[id(m)]}.{attr}" if names_of[id(m)] else attr
            if not (isinstance(m._parameters.get(attr), nn.Parameter) or f"{attr}_orig" in m._parameters):
                raise ValueError(f"parameters[{i}] == {name!r} is not a parameter of the model.")
            out.append((name, m, attr))
        if not out:
            raise ValueError("parameters is empty; name at least one parameter to prune.")
    seen = set()
    for name, m, attr in out:
        if f"{attr}_orig" in m._parameters:
            raise ValueError(f"parameter {name!r} is already pruned (it has {attr}_orig and {attr}_mask); call "
                             f"torch.nn.utils.prune.remove(module, {attr!r}) first.")
        if name in seen:
            raise ValueError(f"parameter {name!r} is named twice in parameters.")
        seen.add(name)
    return out


def _data_iter(torch, data, batch_size):
    """A function returning a fresh iterator of ``(x, y)`` batches, and the number of samples if known."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        X, y = data
        if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
            raise ValueError(f"data == (X, y) with X of shape {tuple(X.shape)} and y of shape {tuple(y.shape)}: "
                             "they must have the same number of samples (first dimension).")
        if X.shape[0] == 0:
            raise ValueError("data has no samples.")
        return (lambda: ((X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)),
                int(X.shape[0]))
    if isinstance(data, torch.utils.data.DataLoader):
        return (lambda: iter(data)), None
    raise TypeError(f"data must be an (X, y) pair of tensors or a torch DataLoader, got {type(data).__name__}.")


def prune_module(model, keep, criterion="magnitude", *, scope="global", data=None, update=None, parameters=None,
                 loss=None, damping=None, relative_damping=None, block_size=None, n_samples=None, batch_size=256,
                 rng=None, importance=None, locality=0.0, update_scale=WOODFISHER_SCALE, start="magnitude",
                 cbs_options=None, max_memory=None):
    """Prune the weights of a PyTorch model with a criterion of the toolkit's registry.

    Parameters
    ----------
    model : torch.nn.Module
        Modified in place: pruned parameters are reparametrised by ``torch.nn.utils.prune``
        (``weight_orig`` holds the updated weights, ``weight_mask`` the mask).
    keep : float in (0, 1] or int
        Kept fraction (``1 - amount``) or count of kept weights, over all pruned parameters
        (``scope="global"``) or in each (``"layer"``; an integer is split over the layers in proportion
        to their sizes, at least one weight each).
    criterion : str or Criterion
        Any registered criterion (``magnitude``, ``hessian`` = OBD, ``taylor1``, ``taylor2``,
        ``random``, ``woodfisher``, ``obs``, ``cbs``, and user criteria).
    scope : {"global", "layer"}
    data : (X, y) tensors or torch.utils.data.DataLoader, optional
        Samples for the gradient and the empirical Fisher; required by every criterion or update that
        needs them. ``X`` must be a batch the model accepts; ``y`` what ``loss`` takes.
    update : {"none", "obs", "single"}, optional
        Update of the kept weights (default: the criterion's own: ``obs``/``cbs`` "obs",
        ``woodfisher`` "single", others "none"); "obs" and "single" need ``data``.
    parameters : sequence, optional
        The parameters to prune, by name (``"0.weight"``) or as ``(module, "weight")`` pairs; default the
        weights of every ``nn.Linear`` and ``nn.Conv*d``.
    loss : callable, optional
        ``loss(outputs, targets) -> scalar``, the mean loss over a batch (default
        ``torch.nn.functional.cross_entropy`` for integer targets, ``mse_loss`` otherwise).
    damping, relative_damping : float, optional
        Added to the Fisher's diagonal: an absolute value, or that multiple of the mean diagonal of the
        whole Fisher (resolved once, so every layer and block gets the same value).
    block_size : int, optional
        Fisher in diagonal blocks of at most this many weights inside each layer
        (:mod:`linear_models.blockwise`); None: the full matrix.
    n_samples : int, optional
        Use at most this many samples of ``data``.
    batch_size : int
        Samples per chunk of per-sample gradients (for an ``(X, y)`` pair; a DataLoader keeps its own).
    rng : Generator or int, optional
        For ``random`` and CBS's randomized starts.
    importance : array_like, shape (d,), optional
        For ``oracle``: the true importance of every weight of the flat vector.
    locality, update_scale, start, cbs_options :
        As in :func:`linear_models.prune` (``cbs`` always runs the CBS paper's search,
        ``cbs_search="paper"``; ``start`` is "magnitude" or "random-magnitude"). As in the CBS paper,
        ``cbs`` chooses its start and the search iteration it returns by the mean loss of the model on the
        samples of the Fisher (``data``, at most ``n_samples``), every weight outside the pruned layer at
        its current value for ``scope="layer"``.
    max_memory : float, optional
        Bytes the Fisher may take (default :data:`linear_models.blockwise.DEFAULT_MAX_MEMORY`, 2 GiB);
        the full-matrix path refuses larger networks and suggests a ``block_size``.

    Returns
    -------
    ModulePruneResult

    Raises
    ------
    ImportError
        PyTorch is not installed (the ``torch`` extra).
    ValueError
        Before any statistic is computed: no prunable parameter; ``keep`` out of range; an unknown
        criterion, scope or update; ``data`` missing but needed, or of a shape the model or the loss
        refuses; ``block_size`` larger than every layer; invalid damping.
    MemoryError
        The Fisher (full or in blocks) would exceed ``max_memory``.
    RankDeficientError
        The damped Fisher (or a block, or its kept part) is singular; pass ``damping`` or
        ``relative_damping``.
    """
    torch = _torch()
    params = prunable_parameters(model, parameters)
    names = [n for n, _, _ in params]
    tensors = [getattr(m, a) for _, m, a in params]
    sizes = [int(t.numel()) for t in tensors]
    d = sum(sizes)
    check_choice(scope, "scope", SCOPES)
    crit = get_criterion(criterion)
    if update is not None:
        check_choice(update, "update", ("none", "obs", "single"))
    upd = crit.update if update is None else update
    counts = scope_counts(keep, sizes, scope, names)
    if scope == "global":
        groups = [(0, d)]
    else:
        offs = np.concatenate([[0], np.cumsum(sizes)])
        groups = [(int(offs[i]), int(offs[i + 1])) for i in range(len(sizes))]
    needs = set(crit.needs)
    need_matrix = "hessian_inverse" in needs or "hessian" in needs or upd != "none"
    need_diag = "hessian_diag" in needs
    need_grad = "grad" in needs
    if "importance" in needs and importance is None:
        raise ValueError(f"criterion {crit.name!r} needs importance= (the true importance of each of the {d} weights).")
    if importance is not None:
        importance = np.asarray(importance, dtype=float)
        if importance.shape != (d,):
            raise ValueError(f"importance has shape {importance.shape}, must be ({d},) (one per prunable weight).")
    if "rng" in needs and rng is None:
        raise ValueError(f"criterion {crit.name!r} needs rng= (a seed or a Generator).")
    blocks = None
    if block_size is not None:
        blocks = _bw.layer_blocks(sizes, block_size, names)
    need_stats = need_matrix or need_diag or need_grad
    if need_stats and data is None:
        what = "the empirical Fisher" if (need_matrix or need_diag) else "the gradient"
        raise ValueError(f"criterion {crit.name!r} with update {upd!r} needs {what}; pass data=(X, y) or a DataLoader.")
    if damping is not None and relative_damping is not None and damping:
        raise ValueError("pass damping or relative_damping, not both.")
    if need_matrix:
        if blocks is None:
            nbytes = _bw.memory_estimate([d], FULL_COPIES)
            example = _bw.layer_blocks(sizes, min(2000, max(sizes)))
            _bw.check_memory(nbytes, max_memory, f"the full {d} x {d} Fisher of criterion {crit.name!r}",
                             f"pass block_size (block_size={min(2000, max(sizes))} needs "
                             f"{_bw.format_bytes(_bw.memory_estimate([b - a for a, b in example], 2))})")
        else:
            _bw.check_memory(_bw.memory_estimate([b - a for a, b in blocks], 2), max_memory,
                             f"the Fisher in blocks of {block_size}", "pass a smaller block_size")
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)

    w = np.concatenate([t.detach().cpu().double().reshape(-1).numpy() for t in tensors])
    grad = hdiag = H = bfisher = full_loss = None
    if need_stats:
        batches, _ = _data_iter(torch, data, batch_size)
        loss_fn = _check_data(torch, model, batches, loss)
        acc = _Accumulator(d)
        chunks = _grad_chunks(torch, model, params, batches, loss_fn, n_samples, acc)
        if need_matrix:
            bl = [(0, d)] if blocks is None else blocks
            bfisher = _bw.block_fisher(chunks, bl, damping=0.0, inverse=False, max_memory=max_memory)
        else:
            for _ in chunks:
                pass
        grad, hdiag = acc.mean(), acc.sq_mean()
        if crit.name == "cbs":
            full_loss = _weights_loss(torch, model, params, batches, loss_fn, n_samples)
        lam = resolve_damping(float(np.mean(hdiag)), damping, relative_damping)
        if need_matrix and blocks is None:
            H = bfisher.matrices[0]
        elif need_matrix:
            bfisher = _damped_inverse_blocks(bfisher, lam, crit.name in ("obs", "woodfisher") or upd == "single")
    else:
        lam = None
        if damping is not None or relative_damping is not None:
            resolve_damping(1.0, damping, relative_damping)      # validated, nothing to damp

    options = dict(update=update, update_scale=update_scale, locality=locality, rng=rng, cbs_options=cbs_options)
    results, new_w, total = [], np.zeros(d), 0.0
    have_inc = need_stats and (need_matrix or need_diag)
    for (a, b), k in zip(groups, counts):
        wg = w[a:b]
        extra = dict(grad=None if grad is None else grad[a:b], importance=None if importance is None else importance[a:b])
        if full_loss is not None:            # the group's weights in the model, every other weight as it was
            extra["loss"] = lambda v, a=a, b=b: full_loss(np.concatenate([w[:a], v, w[b:]]))
        if bfisher is not None and blocks is not None:
            res = _bw.prune_blockwise(wg, k, crit, bfisher.restrict(a, b), start=start, overwrite=True,
                                      **extra, **options)
            inc = res.loss_increase
        else:
            hess = H[a:b, a:b] if H is not None else (hdiag[a:b] if hdiag is not None and need_diag else None)
            res = prune(wg, k, crit, hessian=hess, damping=lam if need_matrix else None, start=start,
                        cbs_search="paper", **extra, **options)
            inc = res.loss_increase
            if inc is None and have_inc:
                dw = res.weights - wg
                if H is not None:
                    Hg = H[a:b, a:b]
                    inc = 0.5 * float(dw @ (Hg @ dw)) + 0.5 * lam * float(dw @ dw)
                else:
                    inc = 0.5 * float(np.sum(hdiag[a:b] * dw * dw))
        results.append(res)
        new_w[a:b] = res.weights
        total = total + inc if (inc is not None and total is not None) else None
    mask = np.concatenate([r.mask for r in results])
    scores = None if results[0].scores is None else np.concatenate([r.scores for r in results])
    return _apply(torch, params, sizes, w, new_w, mask, scores, total if have_inc else None, results)


class _Accumulator:
    def __init__(self, d):
        self.n, self.s, self.sq = 0, np.zeros(d), np.zeros(d)

    def add(self, G):
        self.n += G.shape[0]
        self.s += G.sum(axis=0)
        self.sq += np.einsum("ij,ij->j", G, G)

    def mean(self):
        return self.s / self.n

    def sq_mean(self):
        return self.sq / self.n


def _default_loss(torch, y):
    F = torch.nn.functional
    return F.cross_entropy if not (y.is_floating_point() or y.is_complex()) else F.mse_loss


def _check_data(torch, model, batches, loss):
    """Run the model and the loss on one sample of the first batch; one-line ``ValueError`` if they refuse it."""
    try:
        x, y = next(iter(batches()))
    except StopIteration:
        raise ValueError("data has no samples.") from None
    except (TypeError, ValueError):
        raise ValueError("data must yield (inputs, targets) batches.") from None
    loss_fn = _default_loss(torch, y) if loss is None else loss
    if not callable(loss_fn):
        raise TypeError(f"loss must be callable as loss(outputs, targets), got {type(loss).__name__}.")
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                out = model(x[:1])
            except Exception as exc:  # noqa: BLE001 - any refusal of the model is a data-shape error
                raise ValueError(f"data: the model does not accept inputs of shape {tuple(x.shape)} "
                                 f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}).") from None
            if loss is None and loss_fn is torch.nn.functional.mse_loss and tuple(out.shape) != tuple(y[:1].shape):
                raise ValueError(f"data: targets of shape {tuple(y.shape)} do not match the outputs of shape "
                                 f"{tuple(out.shape)[1:]} per sample for the default mse_loss (integer targets "
                                 "get cross_entropy); pass loss= or reshape the targets.")
            try:
                val = loss_fn(out, y[:1])
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"data: the loss does not accept outputs of shape {tuple(out.shape)} with targets of "
                                 f"shape {tuple(y.shape)} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}).") from None
            if val.numel() != 1:
                raise ValueError(f"loss returned {val.numel()} values, must return the mean loss (a scalar).")
    finally:
        model.train(was)
    return loss_fn


def _grad_chunks(torch, model, params, batches, loss_fn, n_samples, acc):
    """Per-sample gradients of the prunable weights, ``(n_chunk, d)`` float64 arrays, chunk by chunk."""
    from torch.func import functional_call, grad, vmap

    names = [n for n, _, _ in params]
    full = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    fixed = {n: p.detach() for n, p in full.items() if n not in names}
    pw = {n: full[n].detach() for n in names}

    def sample_loss(p, x, y):
        out = functional_call(model, ({**fixed, **p}, buffers), (x.unsqueeze(0),))
        return loss_fn(out, y.unsqueeze(0))

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    was = model.training
    model.eval()
    seen = 0
    try:
        for x, y in batches():
            if n_samples is not None:
                if seen >= n_samples:
                    break
                x, y = x[:n_samples - seen], y[:n_samples - seen]
            g = per_sample(pw, x, y)
            G = np.concatenate([g[n].detach().reshape(x.shape[0], -1).double().cpu().numpy() for n in names], axis=1)
            seen += x.shape[0]
            acc.add(G)
            yield G
    finally:
        model.train(was)


def _weights_loss(torch, model, params, batches, loss_fn, n_samples):
    """``loss(flat) -> float``: the mean loss over the samples of the Fisher (at most ``n_samples``) with the
    prunable weights set to the flat vector ``flat`` (the CBS paper chooses its start and search iteration
    by the training loss)."""
    from torch.func import functional_call

    names = [n for n, _, _ in params]
    full = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    fixed = {n: p.detach() for n, p in full.items() if n not in names}
    shapes = [(n, full[n].shape, full[n].dtype, full[n].device, full[n].numel()) for n in names]
    data, seen = [], 0
    for x, y in batches():
        if n_samples is not None:
            if seen >= n_samples:
                break
            x, y = x[:n_samples - seen], y[:n_samples - seen]
        data.append((x, y))
        seen += x.shape[0]

    def loss(flat):
        p, off = {}, 0
        for n, shape, dtype, device, k in shapes:
            p[n] = torch.from_numpy(np.ascontiguousarray(flat[off:off + k])).reshape(shape).to(dtype=dtype,
                                                                                               device=device)
            off += k
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                tot = sum(float(loss_fn(functional_call(model, ({**fixed, **p}, buffers), (x,)), y)) * x.shape[0]
                          for x, y in data)
        finally:
            model.train(was)
        return tot / seen

    return loss


def _damped_inverse_blocks(bf, lam, inverse):
    """The undamped one-pass blocks of ``bf``, damped by ``lam`` and (optionally) inverted."""
    return finish_block_fisher(bf.blocks, bf.matrices, bf.diagonal, lam, bf.n_samples, inverse)


def _apply(torch, params, sizes, w, new_w, mask, scores, inc, results):
    tprune = torch.nn.utils.prune
    masks, score_d, kept = {}, ({} if scores is not None else None), {}
    off = 0
    for (name, m, attr), n in zip(params, sizes):
        p = getattr(m, attr)
        sl = slice(off, off + n)
        mk = torch.from_numpy(mask[sl].copy()).reshape(p.shape)
        vals = np.where(mask[sl], new_w[sl], w[sl])          # pruned entries keep their original values
        with torch.no_grad():
            p.copy_(torch.from_numpy(vals).reshape(p.shape).to(dtype=p.dtype, device=p.device))
        tprune.custom_from_mask(m, attr, mk.to(device=p.device))
        masks[name] = mk
        kept[name] = int(mask[sl].sum())
        if scores is not None:
            score_d[name] = torch.from_numpy(scores[sl].copy()).reshape(p.shape)
        off += n
    return ModulePruneResult(masks, score_d, None if inc is None else float(inc), kept, results, new_w)
