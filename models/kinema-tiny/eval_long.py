#!/usr/bin/env python3
"""Kinema-tiny long shots (issue 15, item 7): shots many windows long, made through the release CLI only.

Run through eval.py (`python eval.py --checks long --n-long 8 --long-frames 121,241`). Each shot is
  kinema generate PROMPT --model MODEL --frames N --size 64x64 --seed S --out D/%04d.png [--loop]
and is cut into the runtime's windows (a port of `window_plan` in plugin/src/diffusion/long/plan.rs), so every
check can be read per window and the frame pairs at the seams told apart from those inside windows.

Configurations: `default` (the manifest's windows), `adain0` (adain_factor 0), `overlap2` (overlap 2 frames =
1 latent frame, the smallest the runtime takes), `loop` (default windows, --loop). The ablations run on copies of
this folder with manifest.json's `windows` edited (the runtime refuses symlinks out of a model folder). Overlap 0 is
tried once on a short shot to record the runtime's refusal.

Prompts: training triples (data.TRAIN_TRIPLES) whose object stays in frame -- still, bouncing, growing, shrinking,
cycled -- with data.py backgrounds; the long checks measure the windows, not generalisation to held-out triples.
The same prompts and seeds are used for every length and configuration, so the rows compare side by side.

Checks per shot (per window, then aggregated); a shot passes a check when:
  colour/shape  the detector (eval_detector.detect) on every window's own frames names the prompt's colour and shape;
  one object    >= 95% of frames hold exactly one bright blob (8-connected, >= MIN_BLOB px; a split, a ghost
                or a vanished object fails the frame);
  size          still/bouncing only: area coefficient of variation of the largest blob over the shot <= 0.15.
                growing/shrinking are excluded (each window re-runs a 17-frame growth the shot cannot continue);
                for them the fraction of windows whose area moves the prompt's way is reported as information;
  background    per-channel mean of the background (object dilated by 2 px left out), first window's frames
                vs the last window's: max |difference| <= 3 levels;
  seam          mean |frame difference| at each seam (the pair whose second frame is window k+1's first own frame)
                <= 1.5 x the median difference of pairs inside windows (pairs in a seam's cross-fade zone left out);
  loop          (loop configuration) last frame -> first frame, the same ratio, <= 1.5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import data
import eval_detector as det

HERE = Path(__file__).resolve().parent
LONG_MOTIONS = ["still", "bouncing", "growing", "shrinking"]
CONFIGS = {"default": {}, "adain0": {"adain_factor": 0.0}, "overlap2": {"overlap": 2}, "loop": {"loop": True}}
MIN_BLOB = 6
SEAM_MAX, LOOP_MAX, DRIFT_MAX, SIZE_CV_MAX, ONE_OBJECT_MIN = 1.5, 1.5, 3.0, 0.15, 0.95


def window_plan(latent_frames: int, tile: int, overlap: int):
    """`[start, end)` latent windows, as plan.rs's `window_plan` (diffusers' split_into_temporal_windows)."""
    tile = max(tile, 1)
    stride = max(tile - overlap, 1)
    out, start = [], 0
    while start < latent_frames:
        end = min(start + tile, latent_frames)
        out.append((start, end))
        if end == latent_frames:
            break
        start += stride
    return out


def pixel_windows(frames: int, windows: dict, t: int):
    """Per window: its latent range, its own pixel frames [a, b) (a partition of the shot) and the first pixel frame
    its cross-fade touches. Latent 0 is pixel 0 and latent f > 0 pixels t(f-1)+1 .. tf; stitch.rs drops a later
    window's first latent frame, blends the next overlap-1 into the shot and appends the rest, so window k+1's own
    frames start at latent e_k (window k's end), pixel t(e_k-1)+1."""
    plan = window_plan((frames - 1) // t + 1, (windows["frames"] - 1) // t + 1, windows["overlap"] // t)
    starts = [0] + [t * (e - 1) + 1 for _, e in plan[:-1]]
    ends = starts[1:] + [frames]
    blend = [0] + [t * s + 1 for s, _ in plan[1:]]  # pixel frames of latent s+1, the first blended one
    return [dict(latent=list(p), own=[a, b], blend_from=z) for p, a, b, z in zip(plan, starts, ends, blend)]


def long_prompts(n: int, seed: int = 4242):
    """n single-object scenes of training triples, motions cycled through LONG_MOTIONS."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pool = [t for t in data.TRAIN_TRIPLES if t[2] == LONG_MOTIONS[i % len(LONG_MOTIONS)]]
        scene = data.sample_scene(rng, triple=pool[rng.integers(len(pool))], two_objects_p=0.0)
        out.append((data.caption(scene), scene))
    return out


def model_copy(src: Path, root: Path, name: str, **windows) -> Path:
    """A copy of the model folder whose manifest's `windows` has `windows` changed."""
    dst = root / name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.py", "fixtures", "__pycache__", "*.json", "README.md"))
    shutil.copy2(src / "tokenizer.json", dst / "tokenizer.json")
    m = json.loads((src / "manifest.json").read_text())
    m["windows"].update(windows)
    (dst / "manifest.json").write_text(json.dumps(m, indent=2))
    return dst


def generate(gen, model, prompt, frames, seed, out: Path, loop=False):
    """One shot through the CLI: (seconds, None) or (seconds, the runtime's error text)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cmd = [gen.exe, "generate", prompt, "--model", str(model), "--frames", str(frames), "--size", "64x64",
           "--seed", str(seed), "--out", str(out / "%04d.png")]
    cmd += ["--steps", str(gen.steps)] if gen.steps else []
    cmd += ["--guidance", str(gen.guidance)] if gen.guidance is not None else []
    cmd += ["--loop"] if loop else []
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == 0:
        return time.time() - t, None
    lines = (p.stderr + p.stdout).strip().splitlines()  # the cause is on the first line; the rest is per frame
    return time.time() - t, next((x for x in lines if "rror" in x), lines[0] if lines else f"exit {p.returncode}")


def _neighbours_max(x: np.ndarray) -> np.ndarray:
    """3x3 maximum over the last two axes (zero outside)."""
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)])
    h, w = x.shape[-2:]
    return np.max([p[..., i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)


def blobs(mask: np.ndarray):
    """Per frame of a [N, H, W] mask: blobs of >= MIN_BLOB px (8-connected), and the largest blob's area. Labels
    spread by neighbourhood maximum until they settle (no scipy in the venv)."""
    n, h, w = mask.shape
    lab = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:
        nxt = np.where(mask, _neighbours_max(lab), 0)
        if np.array_equal(nxt, lab):
            break
        lab = nxt
    ids, counts = np.unique(lab[lab > 0], return_counts=True)
    frame = (ids - 1) // (h * w)
    big = counts >= MIN_BLOB
    count = np.bincount(frame[big], minlength=n)
    largest = np.zeros(n)
    np.maximum.at(largest, frame, counts)
    return count, largest


def measure(frames: np.ndarray, scene: dict, wins: list, loop: bool) -> dict:
    """All checks on one shot; per-window lists and the shot's verdicts."""
    o = scene["objects"][0]
    x = frames.astype(np.float32)
    diff = np.abs(x[1:] - x[:-1]).mean(axis=(1, 2, 3))  # diff[p]: pair p -> p+1
    bright = x.max(-1) >= det.BRIGHT
    count, area = blobs(bright)
    bg_mask = ~_neighbours_max(_neighbours_max(bright.astype(np.uint8))).astype(bool)
    per = []
    for k, wd in enumerate(wins):
        a, b = wd["own"]
        d = det.detect(frames[a:b])
        bg = [float((x[a:b, ..., c] * bg_mask[a:b]).sum() / max(bg_mask[a:b].sum(), 1)) for c in range(3)]
        ar = area[a:b]
        kk = max(1, min(3, len(ar) // 4))
        per.append(dict(own=[a, b], colour=d["colour"], shape=d["shape"],
                        agree=d["colour"] == o["colour"] and d["shape"] == o["shape"],
                        one_object=float(np.mean(count[a:b] == 1)), area=float(ar.mean()), background=bg,
                        area_trend=float(ar[-kk:].mean() / max(ar[:kk].mean(), 1.0))))
    # pairs inside windows: none of a seam's pair or its cross-fade zone (blend_from-1 .. own start-1)
    inside = np.ones(len(diff), bool)
    seams = []
    for wd in wins[1:]:
        s = wd["own"][0]
        inside[max(wd["blend_from"] - 1, 0):s] = False
        seams.append(float(diff[s - 1]))
    med = float(np.median(diff[inside])) if inside.any() else float("nan")
    ratios = [c / max(med, 1e-6) for c in seams]
    zone = [float(diff[max(wd["blend_from"] - 1, 0):wd["own"][0]].max()) / max(med, 1e-6) for wd in wins[1:]]
    loop_ratio = float(np.abs(x[-1] - x[0]).mean()) / max(med, 1e-6)
    drift = float(np.max(np.abs(np.subtract(per[-1]["background"], per[0]["background"]))))
    sized = o["motion"] in ("still", "bouncing")
    cv = float(area.std() / max(area.mean(), 1e-6))
    way = (lambda r: r > 1.1) if o["motion"] == "growing" else (lambda r: r < 1 / 1.1)
    res = dict(windows=per, inside_median=med, seam_changes=seams, seam_ratios=ratios, seam_zone_ratios=zone,
               loop_ratio=loop_ratio, background_drift=drift,
               background_drift_max=float(max(np.max(np.abs(np.subtract(w["background"], per[0]["background"])))
                                              for w in per)),
               colour_shape=float(np.mean([w["agree"] for w in per])), one_object=float(np.mean(count == 1)),
               area_cv=cv if sized else None,
               trend_windows=None if sized else float(np.mean([way(w["area_trend"]) for w in per])))
    res["ok"] = dict(colour_shape=all(w["agree"] for w in per), one_object=res["one_object"] >= ONE_OBJECT_MIN,
                     size=(cv <= SIZE_CV_MAX) if sized else None, background=drift <= DRIFT_MAX,
                     seam=bool(ratios) and max(ratios) <= SEAM_MAX, loop=(loop_ratio <= LOOP_MAX) if loop else None)
    res["ok"]["all"] = all(v for v in res["ok"].values() if v is not None)
    return res


def summarise(rows: list) -> dict:
    good = [r for r in rows if "error" not in r]
    if not good:
        return dict(n=len(rows), errors=len(rows))
    ok = lambda k: [r["ok"][k] for r in good if r["ok"][k] is not None]  # noqa: E731
    cvs = [r["area_cv"] for r in good if r["area_cv"] is not None]
    return dict(n=len(rows), errors=len(rows) - len(good),
                colour_shape=float(np.mean([r["colour_shape"] for r in good])),
                one_object=float(np.mean([r["one_object"] for r in good])),
                area_cv_median=float(np.median(cvs)) if cvs else None,
                trend_windows=float(np.mean([r["trend_windows"] for r in good if r["trend_windows"] is not None]
                                            or [np.nan])),
                background_drift_max=float(max(r["background_drift"] for r in good)),
                seam_ratio_worst=float(max(max(r["seam_ratios"]) for r in good)),
                seam_ratio_median=float(np.median([s for r in good for s in r["seam_ratios"]])),
                seam_zone_ratio_worst=float(max(max(r["seam_zone_ratios"]) for r in good)),
                loop_ratio_median=float(np.median([r["loop_ratio"] for r in good])),
                loop_ratio_worst=float(max(r["loop_ratio"] for r in good)),
                passes={k: [int(sum(ok(k))), len(ok(k))] for k in good[0]["ok"]},
                inside_median=float(np.median([r["inside_median"] for r in good])),
                mean_seconds=float(np.mean([r["seconds"] for r in good])))


def table(summaries: dict, steps) -> str:
    head = ("| config | frames | colour+shape (windows) | one object (frames) | size CV median (still/bouncing) "
            "| max bg drift (levels) | inside change median (levels) | seam ratio worst / median | loop seam ratio median / worst "
            "| passes: colour+shape, one object, size, bg, seam, loop, all | s/shot |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    f = lambda v, p=2: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{p}f}"  # noqa: E731
    for key, s in summaries.items():
        cfg, n = key.rsplit("@", 1)
        if "passes" not in s:
            lines.append(f"| {cfg} | {n} | all {s['n']} shots failed to generate |" + " |" * 7)
            continue
        p = s["passes"]
        pc = ", ".join("-" if p[k][1] == 0 else f"{p[k][0]}/{p[k][1]}" for k in
                       ("colour_shape", "one_object", "size", "background", "seam", "loop", "all"))
        loop = (f"{f(s['loop_ratio_median'])} / {f(s['loop_ratio_worst'])}" if cfg == "loop"
                else f"({f(s['loop_ratio_median'])} / {f(s['loop_ratio_worst'])})")
        lines.append(f"| {cfg} | {n} | {f(100 * s['colour_shape'], 0)}% | {f(100 * s['one_object'], 1)}% "
                     f"| {f(s['area_cv_median'], 3)} | {f(s['background_drift_max'])} | {f(s['inside_median'])} "
                     f"| {f(s['seam_ratio_worst'])} / {f(s['seam_ratio_median'])} | {loop} | {pc}"
                     f"{' (' + str(s['errors']) + ' errors)' if s['errors'] else ''} | {f(s['mean_seconds'], 1)} |")
    lines.append(f"\nSteps: {steps or 'model default (30)'}; seam ratio = change at the seam / median change inside "
                 f"windows (pass <= {SEAM_MAX}); loop seam ratio in brackets: not looped, for comparison.")
    return "\n".join(lines)


def check_long(gen, n: int, work: Path, lengths=(121, 241), configs=tuple(CONFIGS), seed0=4000, model=None):
    """Every configuration x length on the same n prompts and seeds; returns eval.py-style results (rows + summary)
    with the markdown table under "table"."""
    src = Path(model or gen.model).resolve()
    # A clip cache of this run's own: shots left by an earlier build are not served, while the loop rows still reuse
    # this run's finished windows (as a user's cache would).
    os.environ.setdefault("KINEMA_CACHE_DIR", str(work / "kinema-cache"))
    manifest = json.loads((src / "manifest.json").read_text())
    t = manifest["latent"]["temporal_ratio"]
    models_root = Path(tempfile.mkdtemp(prefix="kinema-long-models-"))
    res = dict(n=n, lengths=list(lengths), configs=list(configs), steps=gen.steps, guidance=gen.guidance,
               prompts="data.TRAIN_TRIPLES, motions " + "/".join(LONG_MOTIONS), seed0=seed0)
    # overlap 0 (no latent frame shared): the runtime refuses it; record how
    m0 = model_copy(src, models_root, "overlap0", overlap=0)
    _, err = generate(gen, m0, long_prompts(1)[0][0], 41, seed0, work / "long_overlap0")
    res["overlap0"] = dict(refused=err is not None, message=err)
    print(f"[long] overlap 0: {'refused: ' + err if err else 'accepted'}", flush=True)
    rows, summaries = [], {}
    prompts = long_prompts(n)
    try:
        for cfg in configs:
            edit = {k: v for k, v in CONFIGS[cfg].items() if k != "loop"}
            mdir = model_copy(src, models_root, cfg, **edit) if edit else src
            windows = dict(manifest["windows"], **edit)
            for frames in lengths:
                wins = pixel_windows(frames, windows, t)
                cfg_rows = []
                for i, (prompt, scene) in enumerate(prompts):
                    out = work / f"long_{cfg}_{frames}_{i:02d}"
                    dt, err = generate(gen, mdir, prompt, frames, seed0 + i, out, loop=CONFIGS[cfg].get("loop", False))
                    row = dict(config=cfg, frames=frames, prompt=prompt, motion=scene["objects"][0]["motion"],
                               seed=seed0 + i, seconds=dt, plan=wins)
                    got = det.load_frames(out) if err is None else None
                    if err is None and len(got) != frames:
                        err = f"{len(got)} frames written, {frames} asked"
                    if err is not None:
                        row["error"] = err
                        print(f"[long {cfg} {frames} {i}] error: {err}", flush=True)
                    else:
                        row.update(measure(got, scene, wins, CONFIGS[cfg].get("loop", False)))
                        print(f"[long {cfg} {frames} {i}] {prompt}: cs {row['colour_shape']:.2f} one "
                              f"{row['one_object']:.2f} cv {row['area_cv'] if row['area_cv'] is not None else '-'} "
                              f"drift {row['background_drift']:.2f} seam max {max(row['seam_ratios']):.2f} "
                              f"loop {row['loop_ratio']:.2f} ({dt:.1f}s, {len(wins)} windows)", flush=True)
                    cfg_rows.append(row)
                rows += cfg_rows
                summaries[f"{cfg}@{frames}"] = summarise(cfg_rows)
                (work / "long_partial.json").write_text(json.dumps(dict(res, summary=summaries, rows=rows), indent=1))
    finally:
        shutil.rmtree(models_root, ignore_errors=True)
    res.update(summary=summaries, table=table(summaries, gen.steps), rows=rows)
    return res
