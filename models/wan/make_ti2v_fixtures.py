#!/usr/bin/env python3
"""Record parity fixtures for Wan 2.2 TI2V-5B's form (tiny random model, `export_ti2v.py`) from diffusers 0.42.1,
then re-run them from the ONNX graphs (numpy + ONNX Runtime) as a self-check.

Run after export_ti2v.py. Writes ../wan-ti2v/fixtures/:
  cases.json      same schema as models/wan/fixtures/cases.json (see TI2V.md, "Fixtures")
  i2v_image.png   the synthetic 96x64 conditioning image of case i2v
  <case>/*.bin    raw little-endian C-order float32 / int64 tensors

Cases:
  t2v  WanPipeline(..., expand_timesteps=True), 9 frames, 64x96 (H x W), 4 steps, CFG 5, max_sequence_length 32
  i2v  WanImageToVideoPipeline(..., expand_timesteps=True) (no image encoder), the same arguments plus
       image = fixtures/i2v_image.png (96x64, the generation size: no resize)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export  # noqa: E402  (models/wan/export.py)
import export_ti2v  # noqa: E402
import make_fixtures  # noqa: E402  (Recorder, pack, clean, load, PROMPT, NEGATIVE)

MODEL_DIR = export_ti2v.OUT
COMMON = dict(
    prompt=make_fixtures.PROMPT,
    negative_prompt=make_fixtures.NEGATIVE,
    height=64,
    width=96,
    num_frames=9,
    num_inference_steps=4,
    guidance_scale=5.0,
    max_sequence_length=32,
    output_type="np",
)
CASES = {"t2v": {}, "i2v": {"image": "i2v_image.png"}}


def make_image(path: Path, width: int = 96, height: int = 64):
    """Deterministic synthetic RGB image: gradients, a disc, a checker patch."""
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = xx / (width - 1)
    g = yy / (height - 1)
    b = 0.5 + 0.5 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    img = np.stack([r, g, b], -1)
    disc = (xx - 0.62 * width) ** 2 + (yy - 0.45 * height) ** 2 < (0.22 * height) ** 2
    img[disc] = [0.95, 0.85, 0.1]
    chk = ((xx // 4 + yy // 4) % 2 == 0) & (xx < 24) & (yy > height - 24)
    img[chk] = [0.05, 0.05, 0.3]
    a = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    Image.fromarray(a, "RGB").save(path)


def run_case(name: str, comps, fx: Path, extra: dict) -> dict:
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline
    from PIL import Image

    args = dict(COMMON)
    args.update(extra)
    i2v = "image" in args
    scheduler = UniPCMultistepScheduler(**export_ti2v.TI2V_SCHEDULER)
    base = dict(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                scheduler=scheduler, transformer=comps["transformer"], expand_timesteps=True)
    if i2v:
        pipe = WanImageToVideoPipeline(**base, image_encoder=None, image_processor=None)
    else:
        pipe = WanPipeline(**base)
    pipe.set_progress_bar_config(disable=True)
    rec = make_fixtures.Recorder(fx / name)
    tr, vae = pipe.transformer, pipe.vae
    probes = make_fixtures.Probes()
    probes.text_encoder(pipe.text_encoder)
    probes.transformer(tr)
    probes.vae(vae, encoded=lambda dist: dist.parameters)

    call = {k: v for k, v in args.items() if k != "image"}
    if i2v:
        image = Image.open(fx / args["image"]).convert("RGB")
        assert image.size == (args["width"], args["height"]), image.size
        call["image"] = image
    out, frames = make_fixtures.run_pipeline(pipe, rec, probes, make_fixtures.DrawLogI2V, **call)
    C = int(vae.config.z_dim)
    f, h, w = make_fixtures.latent_grid(vae, args)
    _, ph, pw = tr.config.patch_size
    S = f * (h // ph) * (w // pw)

    probes.put_text(rec)
    rec.put("timesteps", scheduler.timesteps)
    rec.put("sigmas", scheduler.sigmas)

    # the first-frame mask (1 = denoised, 0 = given): all ones for t2v (WanPipeline's `mask`)
    mask = torch.ones(1, 1, f, h, w)
    cond = None
    if i2v:
        mask[:, :, 0] = 0
        x_img, moments = probes["enc"][0]
        rec.put("image_pixels", x_img)  # [1,3,1,H,W] in [-1,1]: what vae.encode got (video_processor.preprocess)
        rec.put("image_moments", moments)  # [1,96,1,h,w]: encoder output (mean ++ logvar)
        lm = torch.tensor(vae.config.latents_mean).view(1, C, 1, 1, 1)
        ls = 1.0 / torch.tensor(vae.config.latents_std).view(1, C, 1, 1, 1)
        cond = (moments[:, :C] - lm) * ls  # diffusers' prepare_latents (sample_mode argmax = mean)
        rec.put("condition", cond)  # [1,48,1,h,w] normalised image latent
    rec.put("first_frame_mask", mask)

    calls = probes["tr"]  # cond then uncond per step (batch 1 each)
    assert len(calls) == 2 * len(scheduler.timesteps)
    for i in range(0, len(calls), 2):
        c, u = calls[i], calls[i + 1]
        assert torch.equal(c["timestep"], u["timestep"]) and torch.equal(c["hidden_states"], u["hidden_states"])
        assert tuple(c["timestep"].shape) == (1, S), c["timestep"].shape
        rec.put(f"timestep_step{i // 2}", c["timestep"].float())  # [1,S] per patch token, as the pipeline passes
        rec.put(f"transformer_input_step{i // 2}", c["hidden_states"])  # [1,48,f,h,w] (i2v: frame 0 = condition)
        rec.put(f"guided_velocity_step{i // 2}", u["out"] + args["guidance_scale"] * (c["out"] - u["out"]))
    rec.put("velocity_step0", torch.cat([calls[1]["out"], calls[0]["out"]]))  # rows [uncond, cond]

    def given(lat):  # (1 - mask) * condition + mask * latents
        return lat if cond is None else (1 - mask) * cond + mask * lat

    for i, st in enumerate(probes["steps"]):
        rec.put(f"latents_step{i}", make_fixtures.pack(given(st["latents"])))
        if i2v:  # diffusers' scheduler state: frame 0 stepped too (never used: replaced before every use)
            rec.put(f"scheduler_latents_step{i}", make_fixtures.pack(st["latents"]))
    final = given(probes["steps"][-1]["latents"])
    rec.put("latents_final", make_fixtures.pack(final))
    z, _ = probes["dec"][-1]
    rec.put("decoder_latent", z)
    rec.put("frames", frames.transpose(0, 3, 1, 2))

    a = make_fixtures.case_args(args, make_fixtures.SHORT_TEXT_NOTE, expand_timesteps=True)
    if i2v:
        a["_image_note"] = ("fixtures/i2v_image.png, opened with PIL (RGB) and passed as is: it is already "
                            "width x height, so video_processor.preprocess does not resize; pixels/127.5 - 1")
    return {
        "pipeline": type(pipe).__name__,
        "kind": "i2v" if i2v else "t2v",
        "args": a,
        "scheduler_config": {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "latent_shape": [1, C, f, h, w],
        "num_tokens": f * h * w,
        "num_patch_tokens": S,
        "draws": rec.draws,
        "tensors": rec.tensors,
    }


# ----------------------------------------------------------------------------------------------
# Self-check from the ONNX graphs
# ----------------------------------------------------------------------------------------------


def onnx_rerun(case: dict, fx: Path, model_dir: Path) -> dict:
    """The runtime's way: frame 0 is never stepped (it is set to the condition after every scheduler step),
    timesteps per patch token from the mask."""
    from diffusers import UniPCMultistepScheduler
    from PIL import Image

    man, args, T, tok, te, tr = make_fixtures.rerun_setup(case, fx, model_dir)
    res = {}
    ctx = make_fixtures.rerun_text(tok, te, args, T, res)

    norm = man["latent"]["norm"]
    C = man["latent"]["channels"]
    mean = np.array(norm["mean"], np.float32).reshape(1, C, 1, 1, 1)
    std = np.array(norm["std"], np.float32).reshape(1, C, 1, 1, 1)
    lat = T[case["draws"][0]["tensor"]].astype(np.float32)
    _, _, f, h, w = lat.shape
    ph = pw = man["components"]["transformer"]["patch_size"]
    mask = np.ones((f, h, w), np.float32)
    cond = None
    if case["kind"] == "i2v":
        assert man["conditioning"]["i2v"]["method"] == "first_frame_mask"
        img = np.asarray(Image.open(fx / args["image"]).convert("RGB"), np.float32)  # [H,W,3]
        px = (img / 255.0 * 2.0 - 1.0).transpose(2, 0, 1)[None, :, None].astype(np.float32)  # [1,3,1,H,W]
        res["image_pixels_max_abs"] = float(np.abs(px - T["image_pixels"]).max())
        enc = export.ort_chunk_fns(model_dir / "vae_encoder_first.onnx", model_dir / "vae_encoder.onnx", "sample")
        moments = export.chunked_encode(*enc, px)  # one pixel frame -> the first encoder graph only
        res["image_moments_max_abs"] = float(np.abs(moments - T["image_moments"]).max())
        cond = (moments[:, :C] - mean) / std
        res["condition_max_abs"] = float(np.abs(cond - T["condition"]).max())
        mask[0] = 0.0
        lat[:, :, :1] = cond  # frame 0 given, never stepped

    sch = UniPCMultistepScheduler(**{k: v for k, v in man["scheduler"].items() if k != "kind"})
    sch.set_timesteps(args["num_inference_steps"])
    res["timesteps_equal"] = bool(np.array_equal(sch.timesteps.numpy(), T["timesteps"]))
    g = float(args["guidance_scale"])
    ts_err, step_err = 0.0, 0.0
    for i, t in enumerate(sch.timesteps):
        ts = export_ti2v.patch_timesteps(mask, float(t), ph, pw)  # [S]
        ts_err = max(ts_err, float(np.abs(ts[None] - T[f"timestep_step{i}"]).max()))
        v = tr.run(None, {"hidden_states": np.concatenate([lat, lat], 0), "timestep": np.stack([ts, ts]),
                          "encoder_hidden_states": ctx})[0]
        if i == 0:
            res["transformer_input_step0_max_abs"] = float(np.abs(lat - T["transformer_input_step0"]).max())
            res["velocity_step0_max_abs"] = float(np.abs(v - T["velocity_step0"]).max())
        v = v[:1] + g * (v[1:] - v[:1])
        lat = sch.step(torch.from_numpy(v), t, torch.from_numpy(lat), return_dict=False)[0].numpy()
        if cond is not None:
            lat[:, :, :1] = cond
        pk = lat[0].transpose(1, 2, 3, 0).reshape(-1, C)
        step_err = max(step_err, float(np.abs(pk - T[f"latents_step{i}"]).max()))
    res["timestep_per_token_max_abs"] = ts_err
    res["latents_steps_max_abs"] = step_err
    packed = lat[0].transpose(1, 2, 3, 0).reshape(-1, C)
    res["latents_final_max_abs"] = float(np.abs(packed - T["latents_final"]).max())
    z = lat * std + mean
    make_fixtures.rerun_decode(model_dir, z, T, res)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(MODEL_DIR / "fixtures"))
    ap.add_argument("--model-dir", default=str(MODEL_DIR))
    ap.add_argument("--seed", type=int, default=export_ti2v.SEED)
    ap.add_argument("--rerun-only", action="store_true")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    fx = Path(args.out)
    fx.mkdir(parents=True, exist_ok=True)
    if args.rerun_only:
        doc = json.loads((fx / "cases.json").read_text())
    else:
        make_image(fx / "i2v_image.png", COMMON["width"], COMMON["height"])
        comps = export_ti2v.tiny_components(args.seed)
        cases = {name: run_case(name, comps, fx, extra) for name, extra in CASES.items()}
        doc = make_fixtures.new_doc(
            "Parity fixtures recorded from diffusers %s WanPipeline / WanImageToVideoPipeline (expand_timesteps=True, "
            "Wan 2.2 TI2V 5B form) with the tiny random model in ../. Tensors are raw little-endian C-order files; "
            "names and meaning in models/wan/TI2V.md (Fixtures)." % __import__("diffusers").__version__,
            args.seed, cases)
    make_fixtures.finish_doc(doc, fx, args.model_dir, onnx_rerun)


if __name__ == "__main__":
    main()
