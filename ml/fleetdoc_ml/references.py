"""
Classic detectors that bench:byom (ml/byom_eval.py) measures beside the platform, on the same data in the same
run: PCA T²+Q as monitoring textbooks give it, and the SKAB benchmark's own T²+Q pipeline.
"""
from __future__ import annotations

import math

import numpy as np


def principal_axes(z: np.ndarray, var: float) -> tuple[np.ndarray, np.ndarray, int]:
    """PCA of standardised rows: the axes (rows of vt), their variances, and how many explain `var` of the total."""
    _, s, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    ev = s**2 / (len(z) - 1)
    return vt, ev, min(int(np.searchsorted(np.cumsum(ev) / ev.sum(), var) + 1), z.shape[1])


class PcaT2Q:
    """Classic PCA monitoring: T² on the retained components plus Q (SPE), each over its 99th percentile on training."""

    def __init__(self, x: np.ndarray, var: float = 0.95, q: float = 0.99):
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-9
        vt, ev, k = principal_axes((x - self.mu) / self.sd, var)
        self.p, self.ev = vt[:k].T, ev[:k]
        t2, spe = self._parts(x)
        self.t2l, self.spel = np.quantile(t2, q), np.quantile(spe, q)

    def _parts(self, x):
        z = (x - self.mu) / self.sd
        t = z @ self.p
        return (t**2 / self.ev).sum(1), ((z - t @ self.p.T) ** 2).sum(1)

    def alarm(self, x):
        t2, spe = self._parts(x)
        return (t2 > self.t2l) | (spe > self.spel)


class SkabT2Q:
    """
    The SKAB benchmark's own T²+Q pipeline (its core/t2.py, T2(scaling=True, using_pca=True) with the notebook's
    predict(window_size=5)): fitted on an experiment's first samples (constant columns dropped, standardised, PCA to
    85 % of the variance), upper control limits at p = 0.999 (T² from the F distribution; Q by the benchmark's
    version of Jackson-Mudholkar, whose theta_i is (sum of the residual eigenvalues)^i, not the sum of their i-th
    powers, which gives h0 = 1/3 and a looser limit; kept as the benchmark has it, with the eigenvalues taken
    largest first where it takes numpy.linalg.eig's order), both statistics through a trailing median of 5
    samples, alarm when either exceeds its limit. Like the benchmark's notebook it judges every sample, its
    training samples included.
    """

    def __init__(self, x: np.ndarray, var: float = 0.85, p: float = 0.999, window: int = 5):
        from scipy import stats

        self.keep = (x != x[0]).any(axis=0)
        x = x[:, self.keep]
        self.mu, self.sd = x.mean(0), x.std(0)
        z = (x - self.mu) / self.sd
        vt, _, k = principal_axes(z, var)
        self.centre, self.p, self.window = z.mean(0), vt[:k].T, window
        self.inv = np.linalg.inv(np.atleast_2d(np.cov(((z - self.centre) @ self.p).T)))
        n, grid = len(z), np.linspace(0, 15, 10000)
        self.t2l = k * (n - 1) * (n + 1) / (n * (n - k)) * grid[stats.f.cdf(grid, k, n - k) < p][-1]
        w = np.sort(np.linalg.eigvalsh(np.cov(z.T)))[::-1]
        th = [w[k:].sum() ** i for i in (1, 2, 3)]
        h0 = 1 - 2 * th[0] * th[2] / (3 * th[1] ** 2)
        c = grid[stats.norm.cdf(grid) < p][-1]
        self.ql = th[0] * (1 + c * h0 * math.sqrt(2 * th[1]) / th[0] + th[1] * h0 * (h0 - 1) / th[0] ** 2) ** (1 / h0) if k < z.shape[1] else math.inf

    def _median(self, a: np.ndarray) -> np.ndarray:
        out = np.full(len(a), np.nan)
        for i in range(self.window - 1, len(a)):
            out[i] = np.median(a[i - self.window + 1:i + 1])
        return out

    def alarm(self, x: np.ndarray) -> np.ndarray:
        z = (x[:, self.keep] - self.mu) / self.sd
        t = (z - self.centre) @ self.p
        t2 = self._median(np.einsum("ij,jk,ik->i", t, self.inv, t))
        resid = z - z @ self.p @ self.p.T
        q = self._median((resid**2).sum(1))
        with np.errstate(invalid="ignore"):
            return (t2 > self.t2l) | (q > self.ql)
