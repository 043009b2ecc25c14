"""Parity figures of an ONNX graph's output against PyTorch's on the same weights and inputs, and the issue's
thresholds per precision: fp32 max abs <= 1e-3 of the output's scale; fp16 and int8 cosine >= 0.999; int4 >= 0.99."""

from __future__ import annotations

import numpy as np

COSINE_MIN = {"fp16": 0.999, "int8": 0.999, "int4": 0.99}
FP32_REL_MAX = 1e-3


def compare(ref, got) -> dict:
    r = np.asarray(ref, dtype=np.float64).ravel()
    g = np.asarray(got, dtype=np.float64).ravel()
    if r.shape != g.shape:
        return {"max_abs": float("inf"), "max_abs_rel": float("inf"), "cosine": -1.0, "finite": False}
    scale = float(np.max(np.abs(r))) or 1.0
    diff = float(np.max(np.abs(r - g)))
    denom = float(np.linalg.norm(r) * np.linalg.norm(g)) or 1.0
    return {
        "max_abs": diff,
        "output_scale": scale,
        "max_abs_rel": diff / scale,
        "cosine": float(np.dot(r, g) / denom),
        "finite": bool(np.isfinite(g).all()),
    }


def passes(case: dict, dtype: str) -> bool:
    if not case["finite"]:
        return False
    if dtype == "fp32":
        return case["max_abs_rel"] <= FP32_REL_MAX
    return case["cosine"] >= COSINE_MIN[dtype]
