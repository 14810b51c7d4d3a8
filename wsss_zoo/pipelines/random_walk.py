"""The one random walk shared by AffinityNet (PSA/SEAM/SBNet/CDA) and IRN (CDA/RIB).

Both upstream walks build a symmetric affinity matrix A over a feature grid from pair affinities
(A[i, j] = A[j, i] = a_ij for each pair within a radius, A[i, i] = 1, 0 elsewhere), raise it to the
power beta, normalise each column to sum 1 (T = A^beta D^-1) and propagate row vectors of class
scores with T^(2^logt):

* PSA ``infer_aff.py``: ``trans_mat = aff^beta / colsum``; square ``logt`` times; ``cam_vec @ trans_mat``;
* IRN ``misc/indexing.py`` ``to_transition_matrix`` / ``propagate_to_edge``: the same with
  ``exp_times``.

Upstream materialises the dense n x n matrix and squares it (O(n^3) per squaring). T is sparse
(about 70 non-zeros per column for radius 5), so ``x T^(2^t)`` is computed here as 2^t sparse
products, which is the same linear map (exact up to floating-point rounding) and two orders of
magnitude cheaper; ``mode="dense"`` keeps the upstream order of operations for checking.
"""
from __future__ import annotations

import warnings

import torch


def _symmetric_indices(n: int, src: torch.Tensor, dst: torch.Tensor, values: torch.Tensor, dtype):
    src = src.reshape(-1).long()
    dst = dst.reshape(-1).long()
    values = values.reshape(-1).to(dtype)
    diag = torch.arange(n, device=src.device)
    rows = torch.cat([src, dst, diag])
    cols = torch.cat([dst, src, diag])
    vals = torch.cat([values, values, torch.ones(n, dtype=dtype, device=values.device)])
    return rows, cols, vals


def dense_affinity(n: int, src, dst, values, dtype=torch.float32) -> torch.Tensor:
    """Dense symmetric affinity matrix with unit diagonal from pair lists (upstream ``to_dense``)."""
    rows, cols, vals = _symmetric_indices(n, src, dst, values, dtype)
    A = torch.zeros(n, n, dtype=dtype, device=vals.device)
    A.index_put_((rows, cols), vals, accumulate=True)
    return A


def transition_matrix_dense(A: torch.Tensor, beta: float, logt: int) -> torch.Tensor:
    """Upstream order of operations: ``A^beta``, column normalisation, ``logt`` squarings."""
    T = A.pow(beta)
    T = T / T.sum(dim=0, keepdim=True)
    for _ in range(int(logt)):
        T = T @ T
    return T


def random_walk(x: torch.Tensor, n: int, src, dst, values, beta: float, logt: int, mode: str = "sparse",
                dtype=torch.float64) -> torch.Tensor:
    """Propagate class scores ``x`` [K, n] with the affinity random walk: ``x @ T^(2^logt)``.

    ``src``/``dst``/``values``: the pairs (i, j) with i != j, each listed once, and their affinity.
    Returns float32 [K, n].
    """
    x = x.reshape(x.shape[0], n)
    if mode == "dense":
        A = dense_affinity(n, src, dst, values, dtype=torch.float32)
        T = transition_matrix_dense(A, beta, logt)
        return (x.float() @ T).float()
    if mode != "sparse":
        raise ValueError(f"mode must be 'sparse' or 'dense', got {mode!r}")
    rows, cols, vals = _symmetric_indices(n, src, dst, values, dtype)
    vals = vals.pow(beta)
    colsum = torch.zeros(n, dtype=dtype, device=vals.device).index_add_(0, cols, vals)
    vals = vals / colsum[cols]
    # y <- y T  is  y^T <- T^T y^T ; T^T has entries (col, row)
    with warnings.catch_warnings():  # torch flags sparse CSR support as beta; the products used here are stable
        warnings.simplefilter("ignore", UserWarning)
        Tt = torch.sparse_coo_tensor(torch.stack([cols, rows]), vals, (n, n)).coalesce().to_sparse_csr()
    y = x.to(dtype).t().contiguous()
    for _ in range(2 ** int(logt)):
        y = Tt @ y
    return y.t().float().contiguous()
