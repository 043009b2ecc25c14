#!/usr/bin/env python3
"""Record parity fixtures for Wan 2.1 image-to-video from diffusers' WanImageToVideoPipeline (tiny random models of
export_i2v.py), then re-run them from the ONNX graphs (numpy + ONNX Runtime) as a self-check.

Run after export_i2v.py. Writes <model>/fixtures/ for models/wan-i2v and models/wan-flf2v:
  cases.json          same schema as models/wan/fixtures/cases.json (+ image files in args)
  *.png               the input images (32x32 RGB, deterministic synthetic)
  <case>/*.bin        float32 / int64 tensors (raw little-endian, C order)

Cases:
  wan-i2v   "i2v"    first frame i2v_image.png, 9 frames, 32x32, 4 steps, CFG 5, flow_shift 3
  wan-flf2v "flf2v"  first frame i2v_image.png + last frame flf2v_last.png, 9 frames, 32x32, 4 steps, CFG 5,
                     flow_shift 16

Reuses models/wan/make_fixtures.py (Recorder, DrawLog, pack, clean, load) and models/wan/export.py (chunked ORT
VAE drivers). Tensor names and the runtime contract: I2V.md.
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
import export_i2v  # noqa: E402
import make_fixtures as mf  # noqa: E402  (models/wan/make_fixtures.py)

COMMON = dict(
    prompt="the square drifts to the right",
    negative_prompt="blurry",
    height=32,
    width=32,
    num_frames=9,
    num_inference_steps=4,
    guidance_scale=5.0,
    max_sequence_length=32,
    output_type="np",
)
FIRST_PNG = "i2v_image.png"
LAST_PNG = "flf2v_last.png"


def synth_image(square_x: int) -> "PIL.Image.Image":
    """32x32 RGB: a red-green gradient (blue 96) with a 9x9 yellow-orange square at rows 11..19, cols x..x+8."""
    from PIL import Image

    y, x = np.mgrid[0:32, 0:32]
    img = np.stack([x * 8, y * 8, np.full_like(x, 96)], -1).astype(np.uint8)
    img[11:20, square_x:square_x + 9] = (250, 190, 30)
    return Image.fromarray(img, "RGB")


def run_case(variant: str, name: str, comps, fx: Path) -> dict:
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline
    from PIL import Image

    K = export_i2v.NUM_IMAGES[variant]
    scheduler = UniPCMultistepScheduler(**dict(comps["scheduler"].config))
    pipe = WanImageToVideoPipeline(
        tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"], scheduler=scheduler,
        image_processor=comps["image_processor"], image_encoder=comps["image_encoder"],
        transformer=comps["transformer"])
    pipe.set_progress_bar_config(disable=True)
    rec = mf.Recorder(fx / name)

    synth_image(6).save(fx / FIRST_PNG)
    images = {"image": FIRST_PNG}
    if K == 2:
        synth_image(17).save(fx / LAST_PNG)
        images["last_image"] = LAST_PNG
    pil = {k: Image.open(fx / v).convert("RGB") for k, v in images.items()}
    assert all(p.size == (32, 32) for p in pil.values())

    vae = pipe.vae
    probes = mf.Probes()
    probes.text_encoder(pipe.text_encoder)
    probes.transformer(pipe.transformer)
    probes.image_encoder(pipe.image_encoder)
    probes.vae(vae, encoded=lambda dist: dist.mode())

    args = dict(COMMON)
    out, frames = mf.run_pipeline(pipe, rec, probes, mf.DrawLogI2V, **pil, **args)
    f, h, w = mf.latent_grid(vae, args)
    C = int(vae.config.z_dim)

    probes.put_text(rec)

    assert len(probes["ie"]) == 1
    pv, emb = probes["ie"][0]
    rec.put("pixel_values", pv)  # [K,3,32,32], CLIP processor output
    rec.put("image_embeds", emb)  # [K,N,D], hidden_states[-2]
    calls = probes["tr"]
    c0, u0 = calls[0], calls[1]
    img_tok = c0["encoder_hidden_states_image"]  # what diffusers hands the transformer: [K, N, D] (batch 1)
    assert torch.equal(img_tok, emb)
    rec.put("encoder_hidden_states_image", img_tok.reshape(1, -1, img_tok.shape[-1]))  # [1, K*N, D] graph row

    assert len(probes["enc"]) == 1
    vid, mode = probes["enc"][0]
    rec.put("video_condition", vid)  # [1,3,F,H,W] in [-1,1]: [img, 0...] / [img, 0..., last]
    rec.put("condition_latent_mode", mode)  # [1,16,f,h,w] posterior mode, before normalisation
    hs0 = c0["hidden_states"]  # [1,36,f,h,w]
    rec.put("transformer_input_step0", hs0)
    rec.put("condition", hs0[:, C:])  # [1,20,f,h,w]: 4 mask channels + 16 normalised condition latents
    rec.put("mask", hs0[:, C:C + 4])

    rec.put("timesteps", scheduler.timesteps)
    rec.put("sigmas", scheduler.sigmas)
    rec.put("velocity_step0", torch.cat([u0["out"], c0["out"]]))  # [2,16,f,h,w], rows [uncond, cond]
    g = float(args["guidance_scale"])
    for i in range(0, len(calls), 2):
        rec.put(f"timestep_step{i // 2}", calls[i]["timestep"].float())
        rec.put(f"guided_velocity_step{i // 2}", calls[i + 1]["out"] + g * (calls[i]["out"] - calls[i + 1]["out"]))
    for i, st in enumerate(probes["steps"]):
        rec.put(f"latents_step{i}", mf.pack(st["latents"]))
    rec.put("latents_final", mf.pack(probes["steps"][-1]["latents"]))
    z, _ = probes["dec"][-1]
    rec.put("decoder_latent", z)
    rec.put("frames", frames.transpose(0, 3, 1, 2))  # [F,3,H,W] in [0,1]

    return {
        "pipeline": type(pipe).__name__,
        "kind": "flf2v" if K == 2 else "i2v",
        "args": mf.case_args(args | images, "images are fixture files (32x32 RGB PNG) passed as PIL images; "
                             "max_sequence_length 32 keeps the test fast (the manifest's is 512)"),
        "scheduler_config": {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "latent_shape": [1, C, f, h, w],
        "num_tokens": f * h * w,
        "image_tokens": int(img_tok.shape[0] * img_tok.shape[1]),
        "draws": rec.draws,
        "tensors": rec.tensors,
    }


# ----------------------------------------------------------------------------------------------
# Self-check from the ONNX graphs, tokenizer.json, manifest.json, the PNGs and the recorded draws
# ----------------------------------------------------------------------------------------------


def build_mask(num_frames: int, f: int, h: int, w: int, last_frame: bool, t_ratio: int = 4) -> np.ndarray:
    """[1,4,f,h,w]: pixel-frame mask (1 = given frame), first frame repeated t_ratio times, folded into latent
    frames of t_ratio pixel frames each, channel = position inside the group."""
    m = np.zeros(num_frames, np.float32)
    m[0] = 1
    if last_frame:
        m[-1] = 1
    m = np.concatenate([np.repeat(m[:1], t_ratio), m[1:]])  # 4 + (F-1) = 4f entries
    m = m.reshape(f, t_ratio).T  # [4, f]
    return np.ascontiguousarray(np.broadcast_to(m[None, :, :, None, None], (1, t_ratio, f, h, w)))


def onnx_rerun(case: dict, fx: Path, model_dir: Path) -> dict:
    from diffusers import UniPCMultistepScheduler
    from PIL import Image

    man, args, T, tok, te, tr = mf.rerun_setup(case, fx, model_dir)
    ie = export._ort(model_dir / man["components"]["image_encoder"]["file"])
    res = {}
    ctx = mf.rerun_text(tok, te, args, T, res, check_mask=False)

    # images: 32x32 already, so no resize / crop (CLIP) and no resize (VAE)
    names = [args["image"]] + ([args["last_image"]] if "last_image" in args else [])
    u8 = [np.asarray(Image.open(fx / n).convert("RGB")) for n in names]  # [32,32,3] uint8
    ic = man["components"]["image_encoder"]
    mean, std = np.array(ic["mean"], np.float32), np.array(ic["std"], np.float32)
    pv = np.stack([((a.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1) for a in u8]).astype(np.float32)
    res["pixel_values_max_abs"] = float(np.abs(pv - T["pixel_values"]).max())
    emb = ie.run(None, {"pixel_values": pv})[0]  # [K,N,D]
    res["image_embeds_max_abs"] = float(np.abs(emb - T["image_embeds"]).max())
    img_tok = np.repeat(emb.reshape(1, -1, emb.shape[-1]), 2, 0)  # [2, K*N, D]

    # condition video [1,3,F,H,W] in [-1,1]: first image, zeros, (last image); one chunked encode over all frames
    F_ = args["num_frames"]
    px = [a.astype(np.float32).transpose(2, 0, 1) / 255.0 * 2 - 1 for a in u8]
    vid = np.zeros((1, 3, F_, args["height"], args["width"]), np.float32)
    vid[0, :, 0] = px[0]
    if len(px) == 2:
        vid[0, :, -1] = px[1]
    res["video_condition_max_abs"] = float(np.abs(vid - T["video_condition"]).max())
    enc = export.ort_chunk_fns(model_dir / "vae_encoder_first.onnx", model_dir / "vae_encoder.onnx", "sample")
    moments = export.chunked_encode(*enc, vid)
    C = man["latent"]["channels"]
    mode = moments[:, :C]
    res["condition_latent_mode_max_abs"] = float(np.abs(mode - T["condition_latent_mode"]).max())
    norm = man["latent"]["norm"]
    lm = np.array(norm["mean"], np.float32).reshape(1, C, 1, 1, 1)
    ls = np.array(norm["std"], np.float32).reshape(1, C, 1, 1, 1)
    _, _, f, h, w = case["latent_shape"]
    mask = build_mask(F_, f, h, w, man["conditioning"]["i2v"]["last_frame"])
    res["mask_equal"] = bool(np.array_equal(mask, T["mask"]))
    cond = np.concatenate([mask, (mode - lm) / ls], 1).astype(np.float32)
    res["condition_max_abs"] = float(np.abs(cond - T["condition"]).max())

    sch = UniPCMultistepScheduler(**{k: v for k, v in man["scheduler"].items() if k != "kind"})
    sch.set_timesteps(args["num_inference_steps"])
    res["timesteps_equal"] = bool(np.array_equal(sch.timesteps.numpy(), T["timesteps"]))
    lat = T[case["draws"][0]["tensor"]].astype(np.float32)
    g = float(args["guidance_scale"])
    for i, t in enumerate(sch.timesteps):
        hs = np.concatenate([lat, cond], 1)
        hs = np.concatenate([hs, hs], 0)
        v = tr.run(None, {"hidden_states": hs, "timestep": np.full([2], float(t), np.float32),
                          "encoder_hidden_states": ctx, "encoder_hidden_states_image": img_tok})[0]
        if i == 0:
            res["velocity_step0_max_abs"] = float(np.abs(v - T["velocity_step0"]).max())
        v = v[:1] + g * (v[1:] - v[:1])
        lat = sch.step(torch.from_numpy(v), t, torch.from_numpy(lat), return_dict=False)[0].numpy()
    packed = lat[0].transpose(1, 2, 3, 0).reshape(-1, C)
    res["latents_final_max_abs"] = float(np.abs(packed - T["latents_final"]).max())

    z = (lat * ls + lm).astype(np.float32)
    mf.rerun_decode(model_dir, z, T, res, from_recorded=False)
    return res


def make(variant: str, model_dir: Path, seed: int):
    torch.set_grad_enabled(False)
    fx = model_dir / "fixtures"
    fx.mkdir(parents=True, exist_ok=True)
    comps = export_i2v.tiny_i2v_components(variant, seed)
    name = variant
    cases = {name: run_case(variant, name, comps, fx)}
    doc = mf.new_doc(
        "Parity fixtures recorded from diffusers %s WanImageToVideoPipeline with the tiny random Wan %s model in "
        "../. Tensors are raw little-endian C-order files; names, meaning and the condition/mask contract are "
        "documented in ../../wan/I2V.md." % (__import__("diffusers").__version__, variant.upper()), seed, cases)
    mf.finish_doc(doc, fx, model_dir, onnx_rerun, indent=1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=["i2v", "flf2v", "both"], default="both")
    ap.add_argument("--seed", type=int, default=export_i2v.SEED)
    ap.add_argument("--rerun-only", default=None, metavar="MODEL_DIR",
                    help="only re-run the --variant's recorded fixtures from the graphs in MODEL_DIR (e.g. an "
                         "export_i2v.py --from-pretrained output) and print the diffs")
    args = ap.parse_args(argv)
    if args.rerun_only:
        assert args.variant != "both", "--rerun-only needs --variant i2v or flf2v"
        fx = export_i2v.OUT_DIRS[args.variant] / "fixtures"
        doc = json.loads((fx / "cases.json").read_text())
        for n, c in doc["cases"].items():
            print(n, json.dumps(onnx_rerun(c, fx, Path(args.rerun_only))))
        return
    for v in (["i2v", "flf2v"] if args.variant == "both" else [args.variant]):
        make(v, export_i2v.OUT_DIRS[v], args.seed)


if __name__ == "__main__":
    main()
