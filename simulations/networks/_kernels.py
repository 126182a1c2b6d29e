"""Numba kernels of a multilayer perceptron (optionally with biases) with one flat parameter vector.

Layout. A network of layer sizes ``(n_0, n_1, ..., n_L)`` has ``L`` weight matrices;
matrix ``l`` has shape ``(n_l, n_{l+1})`` (fan-in by fan-out, ``z_{l+1} = a_l W_l + b_l``),
stored row-major at ``theta[poff[l]:poff[l+1]]``. Entry ``(k, j)`` of matrix ``l`` is
``theta[poff[l] + k * n_{l+1} + j]``: the weight from unit ``k`` of layer ``l`` to unit
``j`` of layer ``l + 1``. Hidden layers apply the activation (``LINEAR``, ``RELU``,
``TANH``), the output layer is linear. Per-sample buffers ``Z`` (pre-activations) and
``A`` (activations) hold the units of layers ``1..L`` at ``uoff[l]:uoff[l+1]``.

Biases. A network with biases has ``theta.size == poff[L] + uoff[L]``: every weight first, then
one bias per unit of layers ``1..L``, the bias of unit ``u`` (its index in ``Z``) at
``theta[poff[L] + u]``. A bias-free network has ``theta.size == poff[L]``; the kernels tell the
two apart by the size (:func:`bias_offset`), and the bias-free arithmetic is unchanged.

Losses (per sample ``i``, output ``f_i``; the objective is their mean):

* ``SQUARED``: ``(f_i - y_i)^2`` (scalar output), Hessian in ``f``: ``2``;
* ``CROSS_ENTROPY``: ``-log softmax(f_i)[y_i]`` (``y_i`` a class index stored as float),
  Hessian in ``f``: ``diag(p) - p p' = sum_c s_c s_c'`` with ``s_c = sqrt(p_c)(e_c - p)``.

The Gauss-Newton matrix of the mean loss is ``(1/n) sum_i J_i' H_i J_i``
(``J_i = df_i/dtheta``); it is computed from the factor rows ``J_i' s_c`` (one
backward pass per factor), never from second derivatives of the network.

Non-finite values propagate: the ReLU maps NaN to NaN. The forward and backward passes skip zero
activations (``0 * w`` adds nothing for finite ``w``); :class:`simulations.networks.model.Network`
refuses non-finite parameters, so the skip never hides a NaN or inf weight.

Every kernel takes arrays and scalars only and writes into preallocated outputs;
randomness (minibatch order) comes from a ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LINEAR, RELU, TANH = 0, 1, 2
SQUARED, CROSS_ENTROPY = 0, 1
SGD, ADAM = 0, 1
BLOCK_ROWS = 256          # full-batch gradients are accumulated over blocks of this many rows


@njit(cache=True)
def offsets(sizes):
    """``(poff, uoff)``: parameter offsets of the ``L`` weight matrices and unit offsets of layers ``1..L``."""
    L = sizes.size - 1
    poff = np.zeros(L + 1, dtype=np.int64)
    uoff = np.zeros(L + 1, dtype=np.int64)
    for l in range(L):
        poff[l + 1] = poff[l] + sizes[l] * sizes[l + 1]
        uoff[l + 1] = uoff[l] + sizes[l + 1]
    return poff, uoff


@njit(cache=True)
def bias_offset(theta, poff):
    """Index of the first bias in ``theta`` (``poff[L]``), or ``-1`` for a bias-free network."""
    L = poff.size - 1
    return poff[L] if theta.size > poff[L] else -1


@njit(cache=True)
def _act(z, act):
    """The hidden activation; NaN stays NaN (``max(z, 0)`` written as a comparison would map it to 0)."""
    if act == RELU:
        if z > 0.0:
            return z
        return 0.0 if z <= 0.0 else z
    if act == TANH:
        return np.tanh(z)
    return z


@njit(cache=True)
def _dact(z, a, act):
    """Derivative of the activation at ``z`` (``a = act(z)``); ReLU'(0) = 0, NaN at NaN."""
    if act == RELU:
        if z > 0.0:
            return 1.0
        return 0.0 if z <= 0.0 else z
    if act == TANH:
        return 1.0 - a * a
    return 1.0


@njit(cache=True)
def _affine(theta, base_off, nin, nout, inp, inp_off, Z, zo, boff):
    """``Z[zo:zo + nout] = inp[inp_off:inp_off + nin] @ W + b`` with ``W`` the ``(nin, nout)`` matrix at
    ``theta[base_off:]`` and ``b = theta[boff + zo:boff + zo + nout]`` (none when ``boff < 0``); zero inputs
    skipped (non-finite ``theta`` is refused before any kernel runs)."""
    for j in range(nout):
        Z[zo + j] = theta[boff + zo + j] if boff >= 0 else 0.0
    for k in range(nin):
        a = inp[inp_off + k]
        if a != 0.0:
            base = base_off + k * nout
            for j in range(nout):
                Z[zo + j] += a * theta[base + j]


@njit(cache=True)
def _forward1(theta, sizes, poff, uoff, act, x, Z, A):
    """One sample: fills ``Z`` and ``A`` (the output block of ``A`` is the linear output)."""
    L = sizes.size - 1
    boff = bias_offset(theta, poff)
    for l in range(L):
        nin = sizes[l]
        nout = sizes[l + 1]
        o = uoff[l]
        if l == 0:
            _affine(theta, poff[l], nin, nout, x, 0, Z, o, boff)
        else:
            _affine(theta, poff[l], nin, nout, A, uoff[l - 1], Z, o, boff)
        if l < L - 1:
            for j in range(nout):
                A[o + j] = _act(Z[o + j], act)
        else:
            for j in range(nout):
                A[o + j] = Z[o + j]


@njit(cache=True)
def _logsumexp(f):
    """``log sum_c exp(f_c)``, shifted by the maximum so that no term overflows."""
    mx = f[0]
    for c in range(1, f.size):
        mx = max(mx, f[c])
    s = 0.0
    for c in range(f.size):
        s += np.exp(f[c] - mx)
    return mx + np.log(s)


@njit(cache=True)
def _loss1(loss, f, yi):
    """Loss of one sample with output ``f``."""
    if loss == SQUARED:
        r = f[0] - yi
        return r * r
    return _logsumexp(f) - f[int(yi)]


@njit(cache=True)
def _loss_grad1(loss, f, yi, dout):
    """Loss of one sample; writes ``d loss / d f`` into ``dout``."""
    if loss == SQUARED:
        r = f[0] - yi
        dout[0] = 2.0 * r
        return r * r
    lse = _logsumexp(f)
    for c in range(f.size):
        dout[c] = np.exp(f[c] - lse)
    c = int(yi)
    dout[c] -= 1.0
    return lse - f[c]


@njit(cache=True)
def _backward1(theta, sizes, poff, uoff, act, x, Z, A, dout, scale, g, D):
    """One sample: adds ``scale * J' dout`` to ``g`` (``dout`` a cotangent of the output); ``D`` is scratch."""
    L = sizes.size - 1
    boff = bias_offset(theta, poff)
    o = uoff[L - 1]
    for j in range(sizes[L]):
        D[o + j] = scale * dout[j]
    for l in range(L - 1, -1, -1):
        nin = sizes[l]
        nout = sizes[l + 1]
        o = uoff[l]
        if boff >= 0:
            for j in range(nout):
                g[boff + o + j] += D[o + j]
        for k in range(nin):
            a = x[k] if l == 0 else A[uoff[l - 1] + k]
            if a != 0.0:
                base = poff[l] + k * nout
                for j in range(nout):
                    g[base + j] += a * D[o + j]
        if l > 0:
            op = uoff[l - 1]
            for k in range(nin):
                base = poff[l] + k * nout
                s = 0.0
                for j in range(nout):
                    s += theta[base + j] * D[o + j]
                D[op + k] = s * _dact(Z[op + k], A[op + k], act)


@njit(cache=True)
def _output_factors(loss, f, S):
    """Rows ``s_c`` of the output Hessian factor (``H = S' S``) into ``S``; returns their number."""
    if loss == SQUARED:
        S[0, 0] = np.sqrt(2.0)
        return 1
    K = f.size
    mx = f[0]
    for c in range(1, K):
        mx = max(mx, f[c])
    tot = 0.0
    for c in range(K):
        tot += np.exp(f[c] - mx)
    p = np.empty(K)
    for c in range(K):
        p[c] = np.exp(f[c] - mx) / tot
    for c in range(K):
        r = np.sqrt(p[c])
        for k in range(K):
            S[c, k] = -r * p[k]
        S[c, c] += r
    return K


@njit(cache=True)
def predict(theta, sizes, act, X, out):
    """Network outputs (logits for cross-entropy) of the rows of ``X`` into ``out`` ``(n, n_L)``."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    Z = np.empty(uoff[L])
    A = np.empty(uoff[L])
    for i in range(X.shape[0]):
        _forward1(theta, sizes, poff, uoff, act, X[i], Z, A)
        for c in range(sizes[L]):
            out[i, c] = A[uoff[L - 1] + c]


@njit(cache=True)
def mean_loss(theta, sizes, act, loss, X, y):
    """Mean loss over the rows of ``X``."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    Z = np.empty(uoff[L])
    A = np.empty(uoff[L])
    tot = 0.0
    for i in range(X.shape[0]):
        _forward1(theta, sizes, poff, uoff, act, X[i], Z, A)
        tot += _loss1(loss, A[uoff[L - 1]:], y[i])
    return tot / X.shape[0]


@njit(cache=True)
def loss_grad(theta, sizes, act, loss, X, y, g):
    """Mean loss; its gradient into ``g``."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    n = X.shape[0]
    Z = np.empty(uoff[L])
    A = np.empty(uoff[L])
    D = np.empty(uoff[L])
    dout = np.empty(sizes[L])
    g[:] = 0.0
    tot = 0.0
    for i in range(n):
        _forward1(theta, sizes, poff, uoff, act, X[i], Z, A)
        tot += _loss_grad1(loss, A[uoff[L - 1]:], y[i], dout)
        _backward1(theta, sizes, poff, uoff, act, X[i], Z, A, dout, 1.0 / n, g, D)
    return tot / n


@njit(cache=True)
def per_sample_grads(theta, sizes, act, loss, X, y, out):
    """Row ``i`` of ``out`` ``(n, P)``: the gradient of sample ``i``'s loss (their mean is :func:`loss_grad`)."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    Z = np.empty(uoff[L])
    A = np.empty(uoff[L])
    D = np.empty(uoff[L])
    dout = np.empty(sizes[L])
    for i in range(X.shape[0]):
        _forward1(theta, sizes, poff, uoff, act, X[i], Z, A)
        _loss_grad1(loss, A[uoff[L - 1]:], y[i], dout)
        row = out[i]
        row[:] = 0.0
        _backward1(theta, sizes, poff, uoff, act, X[i], Z, A, dout, 1.0, row, D)


@njit(cache=True)
def _ggn_workspace(sizes, uoff, P):
    """Buffers of the Gauss-Newton kernels: pre-activations, activations, backward deltas (per unit), the
    output factors ``S`` and one parameter gradient."""
    L = sizes.size - 1
    return (np.empty(uoff[L]), np.empty(uoff[L]), np.empty(uoff[L]), np.empty((sizes[L], sizes[L])),
            np.empty(P))


@njit(cache=True)
def ggn_diag(theta, sizes, act, loss, X, y, out):
    """Diagonal of the Gauss-Newton matrix of the mean loss into ``out`` ``(P,)`` (``y`` unused: kept for
    a uniform signature)."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    n = X.shape[0]
    P = theta.size
    Z, A, D, S, g = _ggn_workspace(sizes, uoff, P)
    out[:] = 0.0
    for i in range(n):
        _forward1(theta, sizes, poff, uoff, act, X[i], Z, A)
        K = _output_factors(loss, A[uoff[L - 1]:], S)
        for c in range(K):
            g[:] = 0.0
            _backward1(theta, sizes, poff, uoff, act, X[i], Z, A, S[c], 1.0, g, D)
            for q in range(P):
                out[q] += g[q] * g[q]
    for q in range(P):
        out[q] /= n


@njit(cache=True)
def ggn_rows(theta, sizes, act, loss, X, idx, scale, out):
    """Factor rows ``scale * (J_i' s_c)[idx]`` of the Gauss-Newton matrix, sample by sample
    (``K`` rows per sample: 1 for squared loss, ``n_L`` for cross-entropy), into ``out``.

    With ``scale = 1/sqrt(n)`` over all ``n`` samples, ``out' out`` is the block ``[idx, idx]`` of the
    Gauss-Newton matrix of the mean loss.
    """
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    P = theta.size
    Z, A, D, S, g = _ggn_workspace(sizes, uoff, P)
    r = 0
    for i in range(X.shape[0]):
        _forward1(theta, sizes, poff, uoff, act, X[i], Z, A)
        K = _output_factors(loss, A[uoff[L - 1]:], S)
        for c in range(K):
            g[:] = 0.0
            _backward1(theta, sizes, poff, uoff, act, X[i], Z, A, S[c], scale, g, D)
            for p in range(idx.size):
                out[r, p] = g[idx[p]]
            r += 1


@njit(cache=True)
def _forward_tail(theta, sizes, poff, uoff, act, Zs, As, l):
    """Given pre-activations ``Zs`` of the units fed by weight matrix ``l``, finish the forward pass."""
    L = sizes.size - 1
    boff = bias_offset(theta, poff)
    o = uoff[l]
    for j in range(sizes[l + 1]):
        As[o + j] = _act(Zs[o + j], act) if l < L - 1 else Zs[o + j]
    for m in range(l + 1, L):
        nin = sizes[m]
        nout = sizes[m + 1]
        o = uoff[m]
        _affine(theta, poff[m], nin, nout, As, uoff[m - 1], Zs, o, boff)
        for j in range(nout):
            As[o + j] = _act(Zs[o + j], act) if m < L - 1 else Zs[o + j]


@njit(cache=True)
def ablation(theta, sizes, act, loss, X, y, idx, out):
    """Ablation importance: ``out[p]`` = mean loss with ``theta[idx[p]] = 0`` (all else fixed) minus the
    mean loss; exact, one forward pass per sample plus the part of the network downstream of the
    parameter (a weight or a bias)."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    U = uoff[L]
    boff = bias_offset(theta, poff)
    n = X.shape[0]
    Z = np.empty(U)
    A = np.empty(U)
    Zs = np.empty(U)
    As = np.empty(U)
    out[:] = 0.0
    for i in range(n):
        x = X[i]
        _forward1(theta, sizes, poff, uoff, act, x, Z, A)
        base = _loss1(loss, A[uoff[L - 1]:], y[i])
        for p in range(idx.size):
            q = idx[p]
            w = theta[q]
            if w == 0.0:
                continue
            l = 0
            if boff >= 0 and q >= boff:                     # the bias of unit u: its input is 1
                u = q - boff
                while u >= uoff[l + 1]:
                    l += 1
                j = u - uoff[l]
                a_in = 1.0
            else:
                while q >= poff[l + 1]:
                    l += 1
                nout = sizes[l + 1]
                r = q - poff[l]
                k = r // nout
                j = r - k * nout
                a_in = x[k] if l == 0 else A[uoff[l - 1] + k]
                if a_in == 0.0:
                    continue
            zj = Z[uoff[l] + j] - w * a_in
            if l == L - 1:                              # an output parameter: one logit moves
                for c in range(U):
                    As[c] = A[c]
                As[uoff[l] + j] = zj
            else:
                da = _act(zj, act) - A[uoff[l] + j]
                if da == 0.0:
                    continue
                # the units fed by matrix l + 1 move along row j of that matrix
                o2 = uoff[l + 1]
                n2 = sizes[l + 2]
                wrow = poff[l + 1] + j * n2
                for c in range(n2):
                    Zs[o2 + c] = Z[o2 + c] + da * theta[wrow + c]
                _forward_tail(theta, sizes, poff, uoff, act, Zs, As, l + 1)
            out[p] += _loss1(loss, As[uoff[L - 1]:], y[i]) - base
    for p in range(idx.size):
        out[p] /= n


@njit(cache=True)
def batch_grad(theta, sizes, act, loss, Xb, yb, scale, g):
    """Adds ``scale`` times the gradient of the summed loss of the rows ``(Xb, yb)`` to ``g`` and returns the
    summed loss; layer by layer with matrix products (BLAS through ``np.dot``). The fast path of
    :func:`train`; with ``scale = 1/n`` over blocks of rows it equals :func:`loss_grad` up to rounding."""
    poff, uoff = offsets(sizes)
    L = sizes.size - 1
    boff = bias_offset(theta, poff)
    B = Xb.shape[0]
    zs = [Xb]
    acts = [Xb]
    a = Xb
    for l in range(L):
        W = theta[poff[l]:poff[l + 1]].reshape((sizes[l], sizes[l + 1]))
        z = np.dot(a, W)
        nout = sizes[l + 1]
        hidden = l < L - 1
        a = np.empty_like(z) if hidden else z
        if boff >= 0:                              # the bias and the activation in one pass
            b = theta[boff + uoff[l]:boff + uoff[l] + nout]
            for i in range(B):
                for j in range(nout):
                    z[i, j] += b[j]
                    if hidden:
                        a[i, j] = _act(z[i, j], act)
        elif hidden:
            for i in range(B):
                for j in range(nout):
                    a[i, j] = _act(z[i, j], act)
        zs.append(z)
        acts.append(a)
    D = np.empty((B, sizes[L]))
    tot = 0.0
    for i in range(B):
        tot += _loss_grad1(loss, acts[L][i], yb[i], D[i])
    D *= scale
    for l in range(L - 1, -1, -1):
        GW = np.dot(acts[l].T, D).ravel()
        o = poff[l]
        for q in range(GW.size):
            g[o + q] += GW[q]
        if boff >= 0:                              # column sums, row by row (contiguous reads)
            o = boff + uoff[l]
            nout = D.shape[1]
            s = np.zeros(nout)
            for i in range(B):
                for j in range(nout):
                    s[j] += D[i, j]
            for j in range(nout):
                g[o + j] += s[j]
        if l > 0:
            W = theta[poff[l]:poff[l + 1]].reshape((sizes[l], sizes[l + 1]))
            Dp = np.dot(D, W.T)
            z, a = zs[l], acts[l]
            for i in range(B):
                for k in range(Dp.shape[1]):
                    Dp[i, k] *= _dact(z[i, k], a[i, k], act)
            D = Dp
    return tot


@njit(cache=True)
def train(theta, sizes, act, loss, X, y, opt, lr, momentum, beta1, beta2, eps, weight_decay, steps, batch,
          gmask, rng, ckpt, snapshots, losses):
    """Train in place for ``steps`` optimizer steps.

    ``opt``: ``SGD`` (``momentum`` as in PyTorch: ``buf = momentum buf + g``, first ``buf = g``) or ``ADAM``
    (PyTorch's bias-corrected form). The gradient is ``(grad of the mean batch loss + weight_decay theta)
    * gmask``: a zero in ``gmask`` freezes that parameter (a pruning mask also needs the parameter zeroed
    by the caller). ``batch >= n``: full batch in sample order (``rng`` unused); otherwise each epoch is a
    fresh ``rng.permutation(n)`` cut into consecutive batches (the last one shorter when ``batch`` does not
    divide ``n``). ``snapshots[c]`` receives ``theta`` after ``ckpt[c]`` steps (``ckpt`` non-decreasing in
    ``[0, steps]``); ``losses[s]`` the batch loss before step ``s``.
    """
    n = X.shape[0]
    P = theta.size
    g = np.empty(P)
    m1 = np.zeros(P)
    m2 = np.zeros(P)
    full = batch >= n
    idx = np.arange(n)
    pos = 0 if full else n
    c = 0
    for step in range(steps):
        while c < ckpt.size and ckpt[c] == step:
            snapshots[c, :] = theta
            c += 1
        if full:
            b0, b1 = 0, n
        else:
            if pos >= n:
                idx = rng.permutation(n)
                pos = 0
            b0 = pos
            b1 = min(pos + batch, n)
            pos = b1
        g[:] = 0.0
        if full:                                   # blocks of rows that stay in cache
            tot = 0.0
            for a in range(0, n, BLOCK_ROWS):
                e = min(a + BLOCK_ROWS, n)
                tot += batch_grad(theta, sizes, act, loss, X[a:e], y[a:e], 1.0 / n, g)
            losses[step] = tot / n
        else:
            rows = idx[b0:b1]
            losses[step] = batch_grad(theta, sizes, act, loss, X[rows], y[rows], 1.0 / (b1 - b0), g) / (b1 - b0)
        if opt == SGD:
            for q in range(P):
                gq = (g[q] + weight_decay * theta[q]) * gmask[q]
                if momentum != 0.0:
                    gq = gq if step == 0 else momentum * m1[q] + gq
                    m1[q] = gq
                theta[q] -= lr * gq
        else:
            t = step + 1
            step_size = lr / (1.0 - beta1**t)
            root_bc2 = np.sqrt(1.0 - beta2**t)
            for q in range(P):
                gq = (g[q] + weight_decay * theta[q]) * gmask[q]
                m1[q] = beta1 * m1[q] + (1.0 - beta1) * gq
                m2[q] = beta2 * m2[q] + (1.0 - beta2) * gq * gq
                theta[q] -= step_size * m1[q] / (np.sqrt(m2[q]) / root_bc2 + eps)
    while c < ckpt.size and ckpt[c] == steps:
        snapshots[c, :] = theta
        c += 1
