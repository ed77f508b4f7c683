"""
The type-level anomaly model, fitted on normal data standardised by each
device's own baseline, and its ONNX graph.

Graph inputs: x, mu, sigma [B, F] (raw features and the device baselines),
prev [B] (each device's smoothed score so far). The type's knowledge is in
the graph as constants: the Ledoit-Wolf shrunk precision (Hotelling T²) and
the PCA loadings (squared prediction error, Q/SPE).

  z        = clip((x - mu) / sigma, -C, C) - centre
  t2       = sum(z * (z @ P))
  spe      = |z - (z @ V) @ V'|²
  score    = wT * t2 + wS * spe            (wT, wS = 0.5 / 99th pct on normal data)
  contrib  = wT * z * (z @ P) + wS * resid²   (sums to score)
  smoothed = a * score + (1 - a) * prev
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA

OPSET = 17
IR_VERSION = 8


def fit(z: np.ndarray, var_explained: float = 0.95, quantile: float = 0.99) -> dict:
    """Fits LW precision and PCA on standardised normal rows (no NaN)."""
    lw = LedoitWolf().fit(z)
    centre = lw.location_
    precision = lw.precision_
    pca = PCA().fit(z - centre)
    cum = np.cumsum(pca.explained_variance_ratio_)
    k = int(np.searchsorted(cum, var_explained) + 1)
    k = max(1, min(k, z.shape[1] - 1)) if z.shape[1] > 1 else 1
    loadings = pca.components_[:k].T  # F x k
    params = {"centre": centre, "precision": precision, "loadings": loadings, "shrinkage": float(lw.shrinkage_), "components": k}
    t2, spe = t2_spe(z, params)
    params["t2Limit"] = float(max(np.quantile(t2, quantile), 1e-9))
    params["speLimit"] = float(max(np.quantile(spe, quantile), 1e-9))
    return params


def t2_spe(z: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    d = z - p["centre"]
    t2 = np.einsum("ij,ij->i", d, d @ p["precision"])
    resid = d - (d @ p["loadings"]) @ p["loadings"].T
    return t2, (resid**2).sum(axis=1)


def numpy_run(p: dict, clip: float, alpha: float):
    """The graph in numpy (float64), to check the export."""
    wt, ws = 0.5 / p["t2Limit"], 0.5 / p["speLimit"]

    def run(x, mu, sigma, prev):
        z = np.clip((x.astype(np.float64) - mu) / sigma, -clip, clip) - p["centre"]
        zp = z @ p["precision"]
        resid = z - (z @ p["loadings"]) @ p["loadings"].T
        contrib = wt * z * zp + ws * resid**2
        score = contrib.sum(axis=1)
        return score, alpha * score + (1 - alpha) * prev, contrib

    return run


def build_graph(p: dict, n_features: int, clip: float, alpha: float, name: str) -> onnx.ModelProto:
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    wt, ws = 0.5 / p["t2Limit"], 0.5 / p["speLimit"]
    inits = [
        numpy_helper.from_array(f32(p["centre"]).reshape(1, -1), "centre"),
        numpy_helper.from_array(f32(p["precision"]), "precision"),
        numpy_helper.from_array(f32(p["loadings"]), "loadings"),
        numpy_helper.from_array(f32(p["loadings"]).T.copy(), "loadings_t"),
        numpy_helper.from_array(f32(-clip), "clip_lo"),
        numpy_helper.from_array(f32(clip), "clip_hi"),
        numpy_helper.from_array(f32(wt), "w_t2"),
        numpy_helper.from_array(f32(ws), "w_spe"),
        numpy_helper.from_array(f32(alpha), "alpha"),
        numpy_helper.from_array(f32(1.0 - alpha), "one_minus_alpha"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    n = helper.make_node
    nodes = [
        n("Sub", ["x", "mu"], ["xc"]),
        n("Div", ["xc", "sigma"], ["zr"]),
        n("Clip", ["zr", "clip_lo", "clip_hi"], ["zc"]),
        n("Sub", ["zc", "centre"], ["z"]),
        n("MatMul", ["z", "precision"], ["zp"]),
        n("Mul", ["z", "zp"], ["t2_terms"]),
        n("MatMul", ["z", "loadings"], ["scores"]),
        n("MatMul", ["scores", "loadings_t"], ["recon"]),
        n("Sub", ["z", "recon"], ["resid"]),
        n("Mul", ["resid", "resid"], ["spe_terms"]),
        n("Mul", ["t2_terms", "w_t2"], ["t2_w"]),
        n("Mul", ["spe_terms", "w_spe"], ["spe_w"]),
        n("Add", ["t2_w", "spe_w"], ["contrib"]),
        n("ReduceSum", ["contrib", "axis1"], ["score"], keepdims=0),
        n("Mul", ["score", "alpha"], ["s_new"]),
        n("Mul", ["prev", "one_minus_alpha"], ["s_old"]),
        n("Add", ["s_new", "s_old"], ["smoothed"]),
    ]
    bf = lambda nm: helper.make_tensor_value_info(nm, TensorProto.FLOAT, ["batch", n_features])  # noqa: E731
    b = lambda nm: helper.make_tensor_value_info(nm, TensorProto.FLOAT, ["batch"])  # noqa: E731
    graph = helper.make_graph(nodes, name, [bf("x"), bf("mu"), bf("sigma"), b("prev")], [b("score"), b("smoothed"), bf("contrib")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fleetdoc-ml")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def ort_run(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])

    def run(x, mu, sigma, prev):
        score, smoothed, contrib = sess.run(None, {"x": x, "mu": mu, "sigma": sigma, "prev": prev})
        return score, smoothed, contrib

    return run
