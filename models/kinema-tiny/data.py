#!/usr/bin/env python3
"""Kinema-tiny's synthetic world: coloured shapes moving over plain or gradient backgrounds.

Every clip is 17 frames of 64x64 RGB (the LTX frame rule 4k+1 for a VAE with temporal ratio 4),
rendered with 2x supersampling, and captioned from the scene, e.g.
"a red circle moving left on a dark blue background".

Deterministic: `sample_scene(rng)` draws a scene from a numpy Generator and `render(scene)` is pure, so
`make_clip(seed)` always returns the same clip and caption.

Held-out set: HELD_OUT is a fixed list of colour x shape x motion triples (about 1/8 of all triples, chosen
with seed 1234 so that every colour-shape, colour-motion and shape-motion pair still occurs in training).
Training scenes never use a held-out triple as their main object; `heldout_prompts(n)` draws evaluation
scenes made only of held-out triples.
"""

from __future__ import annotations

import itertools

import numpy as np

H = W = 64
FRAMES = 17
SS = 2  # supersampling factor

# Bright object colours (all have max channel >= 200) and dark backgrounds (all channels <= 80), so the
# detector can separate object from background by brightness and name the colour by nearest palette entry.
COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (60, 100, 255),
    "yellow": (240, 220, 40),
    "purple": (170, 60, 230),
    "orange": (250, 140, 20),
    "white": (240, 240, 240),
    "cyan": (40, 220, 230),
}
BACKGROUNDS = {
    "black": (0, 0, 0),
    "dark blue": (10, 20, 80),
    "dark green": (10, 60, 20),
    "dark gray": (60, 60, 60),
    "dark red": (80, 10, 10),
    "dark purple": (50, 10, 70),
}
SHAPES = ["circle", "square", "triangle"]
# (dx, dy) per clip in units of the travel distance; y grows downwards.
DIRECTIONS = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
    "up left": (-1, -1),
    "up right": (1, -1),
    "down left": (-1, 1),
    "down right": (1, 1),
}
MOTIONS = list(DIRECTIONS) + ["still", "growing", "shrinking", "bouncing"]
PHRASE = {m: f"moving {m}" for m in DIRECTIONS}
PHRASE.update(still="standing still", growing="growing", shrinking="shrinking", bouncing="bouncing left and right")


def _pick_heldout(seed: int = 1234, frac: float = 0.125):
    triples = list(itertools.product(COLOURS, SHAPES, MOTIONS))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(triples))
    target = int(round(frac * len(triples)))
    held: list = []
    train = set(triples)
    for i in order:
        if len(held) >= target:
            break
        t = triples[i]
        cand = train - {t}
        c, s, m = t
        # keep every pair of attributes visible in training
        if not any(x[0] == c and x[1] == s for x in cand):
            continue
        if not any(x[0] == c and x[2] == m for x in cand):
            continue
        if not any(x[1] == s and x[2] == m for x in cand):
            continue
        held.append(t)
        train = cand
    return sorted(held)


HELD_OUT = _pick_heldout()
HELD_OUT_SET = set(HELD_OUT)
TRAIN_TRIPLES = sorted(set(itertools.product(COLOURS, SHAPES, MOTIONS)) - HELD_OUT_SET)


def caption(scene: dict) -> str:
    o = scene["objects"][0]
    art = "an" if o["colour"][0] in "aeiou" else "a"
    text = f"{art} {o['colour']} {o['shape']} {PHRASE[o['motion']]}"
    if len(scene["objects"]) > 1:
        o2 = scene["objects"][1]
        text += f" and a small {o2['colour']} {o2['shape']}"
    bg = scene["background"]
    if bg["kind"] == "plain":
        text += f" on a {bg['a']} background"
    else:
        text += f" on a {bg['a']} to {bg['b']} gradient"
    return text


def _trajectory(rng, motion: str, size: float, frames: int = FRAMES):
    """Centre (x, y) and half-size per frame, in pixels."""
    t = np.linspace(0.0, 1.0, frames)
    s = np.full(frames, size)
    margin = size + 2
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        dist = rng.uniform(22, 32) if (dx == 0 or dy == 0) else rng.uniform(18, 26)
        x0 = rng.uniform(margin, W - margin - dist) if dx > 0 else (
            rng.uniform(margin + dist, W - margin) if dx < 0 else rng.uniform(margin, W - margin))
        y0 = rng.uniform(margin, H - margin - dist) if dy > 0 else (
            rng.uniform(margin + dist, H - margin) if dy < 0 else rng.uniform(margin, H - margin))
        return x0 + dx * dist * t, y0 + dy * dist * t, s
    if motion == "bouncing":  # right then back left (or the reverse), reversing at a wall
        dist = rng.uniform(18, 26)
        sign = 1 if rng.random() < 0.5 else -1
        x0 = rng.uniform(margin, W - margin - dist) if sign > 0 else rng.uniform(margin + dist, W - margin)
        tri = 1 - np.abs(2 * t - 1)  # 0 -> 1 -> 0
        y0 = rng.uniform(margin, H - margin)
        return x0 + sign * dist * tri, np.full(frames, y0), s
    lo, hi = 5.0, 13.0
    if motion == "growing":
        s = np.linspace(lo, hi, frames)
    elif motion == "shrinking":
        s = np.linspace(hi, lo, frames)
    m = s.max() + 2
    x0, y0 = rng.uniform(m, W - m), rng.uniform(m, H - m)
    return np.full(frames, x0), np.full(frames, y0), s


def sample_scene(rng: np.random.Generator, *, triple=None, allow_heldout: bool = False, two_objects_p: float = 0.1):
    if triple is None:  # a colour first, so each is drawn equally often however many of its triples are held out
        pool = TRAIN_TRIPLES if not allow_heldout else list(itertools.product(COLOURS, SHAPES, MOTIONS))
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        pool = [t for t in pool if t[0] == colour]
        triple = pool[rng.integers(len(pool))]
    colour, shape, motion = triple
    size = float(rng.uniform(7, 11))  # half-size in pixels
    xs, ys, ss = _trajectory(rng, motion, size)
    objs = [dict(colour=colour, shape=shape, motion=motion, x=xs.tolist(), y=ys.tolist(), s=ss.tolist())]
    if rng.random() < two_objects_p:
        c2 = [c for c in COLOURS if c != colour][rng.integers(len(COLOURS) - 1)]
        s2 = SHAPES[rng.integers(3)]
        sz = float(rng.uniform(3.5, 4.5))
        # a small still object placed away from the main trajectory
        for _ in range(20):
            x2, y2 = rng.uniform(6, W - 6), rng.uniform(6, H - 6)
            d = np.min(np.hypot(xs - x2, ys - y2) - ss)
            if d > sz + 4:
                break
        objs.append(dict(colour=c2, shape=s2, motion="still", x=[x2] * FRAMES, y=[y2] * FRAMES, s=[sz] * FRAMES))
    bgs = list(BACKGROUNDS)
    if rng.random() < 0.5:
        bg = dict(kind="plain", a=bgs[rng.integers(len(bgs))])
    else:
        a, b = rng.choice(len(bgs), 2, replace=False)
        bg = dict(kind="gradient", a=bgs[a], b=bgs[b], axis=int(rng.integers(2)))
    return dict(objects=objs, background=bg)


def _shape_mask(shape: str, cx: float, cy: float, s: float, gx, gy):
    if shape == "circle":
        return (gx - cx) ** 2 + (gy - cy) ** 2 <= s * s
    if shape == "square":
        return (np.abs(gx - cx) <= s * 0.89) & (np.abs(gy - cy) <= s * 0.89)  # same area as the circle
    if shape == "triangle":  # upright isosceles, apex on top
        h = 2.0 * s * 1.15
        top, bot = cy - h / 2, cy + h / 2
        frac = (gy - top) / h
        return (gy >= top) & (gy <= bot) & (np.abs(gx - cx) <= frac * s * 1.15)
    raise ValueError(shape)


def render(scene: dict) -> np.ndarray:
    """uint8 [F, H, W, 3]; F is the length of the objects' tracks (FRAMES for sampled scenes)."""
    n = H * SS
    g = (np.arange(n) + 0.5) / SS
    gx, gy = np.meshgrid(g, g)
    bg = scene["background"]
    a = np.array(BACKGROUNDS[bg["a"]], np.float32)
    if bg["kind"] == "plain":
        base = np.broadcast_to(a, (n, n, 3)).copy()
    else:
        b = np.array(BACKGROUNDS[bg["b"]], np.float32)
        t = (gy if bg["axis"] == 0 else gx) / H
        base = a * (1 - t[..., None]) + b * t[..., None]
    frames = len(scene["objects"][0]["x"])
    out = np.empty((frames, H, W, 3), np.uint8)
    for f in range(frames):
        img = base.copy()
        for o in scene["objects"][::-1]:  # main object drawn last (on top)
            m = _shape_mask(o["shape"], o["x"][f], o["y"][f], o["s"][f], gx, gy)
            img[m] = np.array(COLOURS[o["colour"]], np.float32)
        img = img.reshape(H, SS, W, SS, 3).mean(axis=(1, 3))
        out[f] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return out


def continued(scene: dict, n: int, backward: bool = False) -> dict:
    """The scene's next n frames (or the n before it), every object carried on at its constant velocity and size:
    what a perfect extension of the clip shows. Only for scenes whose objects move in straight lines or stand still."""
    objs = []
    for o in scene["objects"]:
        if o["motion"] not in DIRECTIONS and o["motion"] != "still":
            raise ValueError(f"no straight continuation for {o['motion']!r}")
        x, y = np.asarray(o["x"]), np.asarray(o["y"])
        last = len(x) - 1
        vx, vy = (x[-1] - x[0]) / last, (y[-1] - y[0]) / last
        f = np.arange(-n, 0) if backward else np.arange(last + 1, last + 1 + n)
        end = o["s"][0] if backward else o["s"][-1]
        objs.append(dict(o, x=(x[0] + vx * f).tolist(), y=(y[0] + vy * f).tolist(), s=[end] * n))
    return dict(scene, objects=objs)


def in_frame(scene: dict, margin: float = 2.0) -> bool:
    """Every object lies wholly inside the frame (with `margin` pixels to spare) in every frame."""
    for o in scene["objects"]:
        x, y, s = (np.asarray(o[k]) for k in ("x", "y", "s"))
        r = s * 1.15 + margin  # the triangle's half-height is the largest extent of the three shapes
        if (x - r < 0).any() or (x + r > W).any() or (y - r < 0).any() or (y + r > H).any():
            return False
    return True


def make_clip(seed: int, **kw):
    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, **kw)
    return render(scene), caption(scene), scene


HELDOUT_SEED = 99991  # the reported evaluation scenes


def heldout_scenes(n: int, seed: int = HELDOUT_SEED):
    """n evaluation scenes, one object each, cycling over the held-out triples."""
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(n):
        t = HELD_OUT[i % len(HELD_OUT)]
        scenes.append(sample_scene(rng, triple=t, two_objects_p=0.0))
    return scenes


def heldout_prompts(n: int, seed: int = HELDOUT_SEED):
    return [(caption(s), s) for s in heldout_scenes(n, seed)]


VOCAB_SENTENCES = [caption(dict(objects=[dict(colour=c, shape=s, motion=m), dict(colour=c, shape=s, motion="still")],
                                background=dict(kind="gradient", a=a, b=b)))
                   for c, s, m in itertools.product(COLOURS, SHAPES, MOTIONS) for a in BACKGROUNDS for b in BACKGROUNDS]


if __name__ == "__main__":
    import sys

    print(f"{len(HELD_OUT)} held-out triples of {len(COLOURS) * len(SHAPES) * len(MOTIONS)}:")
    for t in HELD_OUT:
        print("  ", *t)
    if len(sys.argv) > 1:
        from PIL import Image

        out = sys.argv[1]
        import os

        for i in range(4):
            clip, cap, _ = make_clip(i)
            os.makedirs(f"{out}/{i}", exist_ok=True)
            for f in range(FRAMES):
                Image.fromarray(clip[f]).save(f"{out}/{i}/{f:04d}.png")
            print(i, cap)
