#!/usr/bin/env python3
"""Scripted detector for Kinema-tiny clips: the dominant object's colour, shape and motion.

No learned parts: fixed thresholds on numpy arrays (PIL is used only to decode PNG files).

  colour  object pixels are the bright ones (max channel >= 120; data.py's backgrounds are <= 80, its objects
          >= 200); each is given the nearest palette colour; the dominant object is the most frequent colour.
  shape   per frame, the dominant-colour mask's area over (longest row run x longest column run):
          circle pi/4, square 1, triangle 1/2; plus the triangle's top/bottom mass asymmetry. Majority vote.
  motion  centroid track and area track of that mask: growing / shrinking (area ratio), bouncing (x goes out
          and comes back), still (small displacement), else one of 8 directions (45 degree sectors, y down).

Self-test (`python eval_detector.py --selftest N`): renders N ground-truth clips with data.py (held-out and
training scenes, some with a second small object) and reports the accuracy per attribute.
CLI: `python eval_detector.py DIR` prints the detection for a PNG sequence in DIR (sorted by name).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402  (palette and vocabulary only)

PALETTE_NAMES = list(data.COLOURS)
PALETTE = np.array([data.COLOURS[c] for c in PALETTE_NAMES], np.float32)
BRIGHT = 120.0
DIR_NAMES = ["right", "down right", "down", "down left", "left", "up left", "up", "up right"]  # angle 0,45,.. (y down)


def load_frames(d) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in Path(d).iterdir() if p.suffix.lower() == ".png")
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])


def _labels(frames: np.ndarray):
    x = frames.astype(np.float32)
    bright = x.max(axis=-1) >= BRIGHT
    d = ((x[..., None, :] - PALETTE) ** 2).sum(-1)
    return bright, d.argmin(-1)


def _shape_of(mask: np.ndarray):
    area = mask.sum()
    if area < 12:
        return None
    rows = mask.sum(axis=1).max()
    cols = mask.sum(axis=0).max()
    fill = area / float(rows * cols)
    ys = np.nonzero(mask)[0]
    mid = (ys.min() + ys.max()) / 2.0
    top, bot = (ys < mid).sum(), (ys > mid).sum()
    asym = top / max(bot, 1)
    if fill < 0.64 or asym < 0.7:
        return "triangle"
    if fill > 0.9:
        return "square"
    return "circle"


def track(frames: np.ndarray, colour: str | None = None):
    """Per-frame (cx, cy, area) of the dominant (or given) colour's mask; NaN where absent."""
    bright, lab = _labels(frames)
    if colour is None:
        counts = np.bincount(lab[bright], minlength=len(PALETTE))
        colour = PALETTE_NAMES[int(counts.argmax())] if counts.sum() else None
    out = np.full((len(frames), 3), np.nan)
    if colour is None:
        return colour, out, None
    ci = PALETTE_NAMES.index(colour)
    masks = bright & (lab == ci)
    yy, xx = np.mgrid[: frames.shape[1], : frames.shape[2]]
    for f, m in enumerate(masks):
        a = m.sum()
        if a >= 4:
            out[f] = [xx[m].mean(), yy[m].mean(), a]
    return colour, out, masks


def motion_of(tr: np.ndarray, still_px: float = 5.0):
    ok = ~np.isnan(tr[:, 0])
    if ok.sum() < 3:
        return "unknown", (0.0, 0.0)
    t = tr[ok]
    k = max(1, min(3, len(t) // 4))
    a0, a1 = t[:k, 2].mean(), t[-k:, 2].mean()
    p0, p1 = t[:k, :2].mean(0), t[-k:, :2].mean(0)
    dx, dy = p1 - p0
    if a1 / a0 > 1.8:
        return "growing", (dx, dy)
    if a1 / a0 < 1 / 1.8:
        return "shrinking", (dx, dy)
    exc = np.abs(t[:, 0] - p0[0])
    if exc.max() > 10 and abs(dx) < 0.4 * exc.max() and abs(dy) < 6:
        return "bouncing", (dx, dy)
    if np.hypot(dx, dy) < still_px:
        return "still", (dx, dy)
    ang = np.degrees(np.arctan2(dy, dx)) % 360
    return DIR_NAMES[int(((ang + 22.5) % 360) // 45)], (float(dx), float(dy))


def detect(frames: np.ndarray) -> dict:
    colour, tr, masks = track(frames)
    if colour is None:
        return dict(colour=None, shape=None, motion="unknown", track=tr.tolist())
    votes = [s for s in (_shape_of(m) for m in masks) if s]
    shape = max(set(votes), key=votes.count) if votes else None
    motion, (dx, dy) = motion_of(tr)
    return dict(colour=colour, shape=shape, motion=motion, dx=float(dx), dy=float(dy), track=tr.tolist())


def selftest(n: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    res = {"colour": 0, "shape": 0, "motion": 0}
    errors = []
    for i in range(n):
        heldout = i % 2 == 0
        scene = data.sample_scene(rng, allow_heldout=heldout, two_objects_p=0.0 if heldout else 0.3)
        d = detect(data.render(scene))
        o = scene["objects"][0]
        for k in res:
            ok = d[k] == o[k]
            res[k] += ok
            if not ok:
                errors.append((k, o[k], d[k], data.caption(scene)))
    acc = {k: v / n for k, v in res.items()}
    return acc, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--selftest", type=int, default=0)
    a = ap.parse_args()
    if a.selftest:
        acc, errs = selftest(a.selftest)
        print(json.dumps({"n": a.selftest, "accuracy": acc}))
        for e in errs[:20]:
            print("  miss", e)
    if a.dir:
        d = detect(load_frames(a.dir))
        d.pop("track")
        print(json.dumps(d))


if __name__ == "__main__":
    main()
