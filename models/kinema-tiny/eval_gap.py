"""Gap filling on held-out Kinema-tiny clips, through the kinema CLI (the real bundle): each clip loses
--gap frames after frame --start - 1, and Interpolate's Fill Frames rebuilds them three ways: RIFE
(--gap interpolate), generated with an empty Gap Prompt, and generated with the clip's caption as the
Gap Prompt (--gap generate). Scored against the true frames: PSNR over the gap's frames, and the
object's position error (the detector's centroid in the filled frames against the true frames'), in
pixels, both averaged over clips; and in how many clips generation with the caption beats RIFE.

    python eval_gap.py --n 30 --kinema ../../target/release/kinema

Needs numpy and Pillow (data.py and eval_detector.py); no torch. The clips are data.heldout_scenes
(held-out attribute combinations, one object). Generated frames carry the provenance watermark, as
users get them (a 43 dB mark).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402
import eval_detector as det  # noqa: E402

METHODS = ("rife", "generate_empty", "generate_caption")


def save(frames, d: Path):
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(d / f"{i:04d}.png")


def fill(exe: str, src: Path, out: Path, gap: range, method: str, caption: str, seed: int, bundle: str | None,
         model: str | None = None):
    cmd = [exe] + (["--bundle", bundle] if bundle else [])
    cmd += ["interpolate", str(src / "%04d.png"), "--fill", f"{gap.start}-{gap.stop - 1}", "--out", str(out / "%04d.png")]
    if method == "rife":
        cmd += ["--gap", "interpolate"]
    else:
        cmd += ["--gap", "generate", "--gap-seed", str(seed)] + (["--gap-model", model] if model else [])
        if method == "generate_caption":
            cmd += ["--gap-prompt", caption]
    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{run.stdout}{run.stderr}")
    return det.load_frames(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) / 255 - b.astype(np.float64) / 255) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def position_error(truth: np.ndarray, made: np.ndarray) -> tuple[float, int]:
    """Mean centroid distance over the frames where both show the object, and how many frames lost it."""
    colour, tt, _ = det.track(truth)
    _, mt, _ = det.track(made, colour)
    both = ~np.isnan(tt[:, 0]) & ~np.isnan(mt[:, 0])
    lost = int((~np.isnan(tt[:, 0]) & np.isnan(mt[:, 0])).sum())
    if not both.any():
        return float("nan"), lost
    return float(np.linalg.norm(tt[both, :2] - mt[both, :2], axis=1).mean()), lost


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinema", default=str(ROOT / "target" / "release" / "kinema"))
    ap.add_argument("--bundle", help="the Kinema.ofx.bundle to load (default: kinema's own discovery)")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--start", type=int, default=4, help="first missing frame")
    ap.add_argument("--gap", type=int, default=8, help="missing frames")
    ap.add_argument("--out", help="results folder (default: a temporary one)")
    ap.add_argument("--scene-seed", type=int, default=data.HELDOUT_SEED,
                    help="draws other clips of the held-out triples (a tuning set apart from the reported one)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    ap.add_argument("--gap-model", help="generation model folder (default: the bundle's Kinema-tiny)")
    a = ap.parse_args()
    gap = range(a.start, a.start + a.gap)
    if a.start < 1 or gap.stop >= data.FRAMES:
        sys.exit(f"the gap must leave a good frame on each side inside {data.FRAMES} frames")
    work = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="kinema-tiny-gap-"))
    os.environ.setdefault("KINEMA_CACHE_DIR", str(work / "cache"))
    rows = []
    started = time.time()
    methods = [m for m in a.methods.split(",") if m]
    if not methods or any(m not in METHODS for m in methods):
        sys.exit(f"--methods takes a subset of {', '.join(METHODS)}")
    for i, scene in enumerate(data.heldout_scenes(a.n, a.scene_seed)):
        clip = data.render(scene)
        caption = data.caption(scene)
        src = work / f"clip_{i:03d}" / "source"
        save(clip, src)
        truth = clip[gap.start:gap.stop]
        row = dict(caption=caption)
        for m in methods:
            made = fill(a.kinema, src, work / f"clip_{i:03d}" / m, gap, m, caption, 1000 + i, a.bundle, a.gap_model)
            keep = [t for t in range(data.FRAMES) if t not in gap]
            if not np.array_equal(made[keep], clip[keep]):
                sys.exit(f"clip {i}, {m}: a good frame is not passed through bit-exact")
            err, lost = position_error(truth, made[gap.start:gap.stop])
            row[m] = dict(psnr=psnr(truth, made[gap.start:gap.stop]), position_px=err, lost_frames=lost)
        rows.append(row)
        print(f"[{i}] {caption}: " + ", ".join(f"{m} {row[m]['psnr']:.2f} dB {row[m]['position_px']:.2f} px"
                                               for m in methods), flush=True)
    summary = {m: dict(psnr=float(np.mean([r[m]["psnr"] for r in rows])),
                       position_px=float(np.nanmean([r[m]["position_px"] for r in rows])),
                       lost_frames=int(sum(r[m]["lost_frames"] for r in rows))) for m in methods}
    if {"rife", "generate_caption"} <= set(methods):
        summary["caption_beats_rife"] = dict(
            psnr=int(sum(r["generate_caption"]["psnr"] > r["rife"]["psnr"] for r in rows)),
            position=int(sum(r["generate_caption"]["position_px"] < r["rife"]["position_px"] for r in rows)),
            of=len(rows))
    summary["gap"] = dict(start=a.start, frames=a.gap, clips=len(rows), seconds=round(time.time() - started, 1))
    print(json.dumps(summary, indent=1))
    (work / "results.json").write_text(json.dumps(dict(summary=summary, rows=rows), indent=1))
    print("wrote", work / "results.json")


if __name__ == "__main__":
    main()
