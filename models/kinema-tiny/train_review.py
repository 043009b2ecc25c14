#!/usr/bin/env python3
"""Kinema-tiny's frame classifier: which object colours a frame shows, for the frame-review path.

Kinema reviews every generated frame with the classifier a model's manifest names
(`components.frame_classifier`) and flags a shot when a label's score reaches a threshold the
content policy sets. Kinema-tiny's world has no unsafe content, so its classifier answers a
question of that world instead: is there a red (green, blue, ...) object in the frame? A test
policy that forbids "red" then proves the whole path: prompt passes, frames are made, the review
flags them, nothing is served.

The model is fully convolutional and tiny (392 weights): a per-pixel MLP (1x1 conv 3->32, ReLU,
1x1 conv 32->8, sigmoid) gives each pixel's probability of belonging to an object of each colour;
a 4x4 average pool asks for a patch rather than a stray pixel, and a global max pool turns that
into one score per colour per frame. Input `frames` [N, 3, H, W] RGB in 0..1 (any H, W >= 4),
output `scores` [N, 8].

Trained here with numpy (plain gradient descent on per-pixel labels from data.py's palette, with
noise and blur augmentation so generated frames, which are softer than renders, score the same),
then written with the onnx helper API. Deterministic (seeded). Run:

    python models/kinema-tiny/train_review.py            # writes models/kinema-tiny/frame_review.onnx

Prints per-label frame accuracy on held-out scenes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402

LABELS = list(data.COLOURS)
PALETTE = np.array([data.COLOURS[c] for c in LABELS], np.float32) / 255.0
HIDDEN = 32
POOL = 4
# A pixel is a positive for a colour within POS of it, a negative beyond NEG; between, unlabelled.
POS, NEG = 0.2, 0.42
# A frame shows a colour when at least this many of its pixels are that colour (clean render).
MIN_PIXELS = 12


def pixel_labels(img: np.ndarray):
    """img [..., 3] in 0..1 -> (targets [..., 8], weights [..., 8])."""
    d = np.linalg.norm(img[..., None, :] - PALETTE, axis=-1)
    nearest = d.argmin(-1)
    onehot = np.eye(len(LABELS), dtype=np.float32)[nearest]
    pos = (d.min(-1) < POS)[..., None] & (onehot > 0)
    neg = d > NEG
    targets = pos.astype(np.float32)
    weights = (pos | neg).astype(np.float32)
    return targets, weights


def augment(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """frames [F, H, W, 3] 0..1: random blur, colour gain and noise, as a generated frame differs."""
    out = frames.copy()
    if rng.random() < 0.6:  # 3x3 box blur
        p = np.pad(out, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        out = sum(p[:, dy:dy + out.shape[1], dx:dx + out.shape[2]] for dy in range(3) for dx in range(3)) / 9.0
    out = out * rng.uniform(0.9, 1.1, size=(1, 1, 1, 3)) + rng.uniform(-0.04, 0.04, size=(1, 1, 1, 3))
    out = out + rng.normal(0, rng.uniform(0.0, 0.05), size=out.shape)
    return np.clip(out, 0, 1).astype(np.float32)


def forward(x, w1, b1, w2, b2):
    h = np.maximum(x @ w1 + b1, 0)
    return h, 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))


def frame_scores(frames: np.ndarray, params) -> np.ndarray:
    """frames [F, H, W, 3] -> [F, 8]: the exported graph's computation in numpy."""
    _, p = forward(frames, *params)
    f, h, w, c = p.shape
    k = POOL
    cs = np.cumsum(np.cumsum(np.pad(p, ((0, 0), (1, 0), (1, 0), (0, 0))), 1), 2)
    pooled = (cs[:, k:, k:] - cs[:, :-k, k:] - cs[:, k:, :-k] + cs[:, :-k, :-k]) / (k * k)
    return pooled.reshape(f, -1, c).max(1)


def truth(clean: np.ndarray) -> np.ndarray:
    t, _ = pixel_labels(clean)
    return t.reshape(clean.shape[0], -1, len(LABELS)).sum(1) >= MIN_PIXELS


def train(seed: int, clips: int, iters: int):
    rng = np.random.default_rng(seed)
    xs, ts, ws = [], [], []
    for i in range(clips):
        video, _, _ = data.make_clip(seed * 100003 + i)
        frames = video[rng.choice(len(video), 4, replace=False)].astype(np.float32) / 255.0
        t, w = pixel_labels(frames)
        frames = augment(frames, rng)
        xs.append(frames.reshape(-1, 3))
        ts.append(t.reshape(-1, len(LABELS)))
        ws.append(w.reshape(-1, len(LABELS)))
    x, t, w = np.concatenate(xs), np.concatenate(ts), np.concatenate(ws)
    # Object pixels are rare: weight the positives up so each colour's two classes count alike.
    pos_share = (t * w).sum(0) / np.maximum(w.sum(0), 1)
    w = w * np.where(t > 0, 0.5 / np.maximum(pos_share, 1e-4), 0.5 / np.maximum(1 - pos_share, 1e-4))
    w1 = rng.normal(0, 1.0, (3, HIDDEN)).astype(np.float32)
    b1 = np.zeros(HIDDEN, np.float32)
    w2 = rng.normal(0, 0.3, (HIDDEN, len(LABELS))).astype(np.float32)
    b2 = np.zeros(len(LABELS), np.float32)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, batch = 0.02, 8192
    for it in range(1, iters + 1):
        idx = rng.integers(0, len(x), batch)
        xb, tb, wb = x[idx], t[idx], w[idx]
        h, p = forward(xb, *params)
        if it == int(iters * 0.7):
            lr *= 0.2
        g = wb * (p - tb) / batch  # d(weighted BCE)/d(logit)
        gw2, gb2 = h.T @ g, g.sum(0)
        gh = (g @ params[2].T) * (h > 0)
        gw1, gb1 = xb.T @ gh, gh.sum(0)
        for k, grad in enumerate([gw1, gb1, gw2, gb2]):  # Adam
            m[k] = 0.9 * m[k] + 0.1 * grad
            v[k] = 0.999 * v[k] + 0.001 * grad * grad
            params[k] -= lr * (m[k] / (1 - 0.9**it)) / (np.sqrt(v[k] / (1 - 0.999**it)) + 1e-8)
        if it % 1000 == 0:
            loss = -(wb * (tb * np.log(p + 1e-7) + (1 - tb) * np.log(1 - p + 1e-7))).sum() / batch
            print(f"iter {it}: weighted loss {loss:.4f}")
    return params


def evaluate(params, n: int):
    """Frame accuracy per label on held-out scenes, clean and augmented."""
    rng = np.random.default_rng(7)
    rows = {}
    for name, aug in [("clean", False), ("augmented", True)]:
        correct = np.zeros(len(LABELS))
        total = 0
        for s in data.heldout_scenes(n):
            clean = data.render(s).astype(np.float32) / 255.0
            x = augment(clean, rng) if aug else clean
            pred = frame_scores(x, params) >= 0.5
            correct += (pred == truth(clean)).sum(0)
            total += len(clean)
        rows[name] = {label: round(float(c / total), 4) for label, c in zip(LABELS, correct)}
    return rows


def export(params, path: Path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, b1, w2, b2 = params
    inits = [
        numpy_helper.from_array(w1.T.reshape(HIDDEN, 3, 1, 1).astype(np.float32), "w1"),
        numpy_helper.from_array(b1.astype(np.float32), "b1"),
        numpy_helper.from_array(w2.T.reshape(len(LABELS), HIDDEN, 1, 1).astype(np.float32), "w2"),
        numpy_helper.from_array(b2.astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", ["frames", "w1", "b1"], ["h"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Conv", ["hr", "w2", "b2"], ["logits"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["logits"], ["pixel"]),
        helper.make_node("AveragePool", ["pixel"], ["patch"], kernel_shape=[POOL, POOL], strides=[1, 1]),
        helper.make_node("GlobalMaxPool", ["patch"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "kinema_tiny_frame_review",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", len(LABELS)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kinema")
    model.ir_version = 8
    model.doc_string = "Kinema-tiny frame classifier; labels: " + ", ".join(LABELS)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "frame_review.onnx")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--clips", type=int, default=600)
    ap.add_argument("--iters", type=int, default=9000)
    ap.add_argument("--eval", type=int, default=100)
    a = ap.parse_args()
    params = train(a.seed, a.clips, a.iters)
    rows = evaluate(params, a.eval)
    print(json.dumps({"labels": LABELS, "frame_accuracy": rows}, indent=1))
    export(params, a.out)
    check = __import__("onnxruntime").InferenceSession(str(a.out), providers=["CPUExecutionProvider"])
    clean = data.render(data.heldout_scenes(1)[0]).astype(np.float32) / 255.0
    got = check.run(["scores"], {"frames": clean.transpose(0, 3, 1, 2).copy()})[0]
    diff = float(np.abs(got - frame_scores(clean, params)).max())
    print(f"wrote {a.out}: ONNX Runtime matches numpy within {diff:.2e}")
    assert diff < 1e-4


if __name__ == "__main__":
    main()
