#!/usr/bin/env python3
"""Record parity fixtures for the LTX runtime from diffusers' own pipelines (tiny random model).

Run after export.py (same --seed). Writes fixtures/ next to this file:
  cases.json         one entry per case: pipeline arguments, scheduler config, and a tensor table
                     {name: {"file", "dtype", "shape"}} pointing at raw little-endian .bin files
  <case>/*.bin       float32 / int64 tensors, C order
  *.png              synthetic conditioning inputs (8-bit RGB)
  schedulers.json    written by make_scheduler_fixtures.py

Every random draw diffusers makes is logged in order (`draws` in cases.json): the runtime replays them
in place of its own RNG. Cases:
  t2v                 LTXPipeline, static-shift scheduler (the manifest's)
  t2v_dynamic_shift   LTXPipeline with the LTX 0.9.0/0.9.1 scheduler (dynamic shift + shift_terminal)
  i2v                 LTXImageToVideoPipeline, image i2v_image.png
  condition_extend    LTXConditionPipeline, 5-frame video at frame_index 0 (forward extension)
  condition_keyframes LTXConditionPipeline, image at frame 0 (strength 1) + image at the last frame (strength 0.8)
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
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export  # noqa: E402

PROMPT = "a monkey dance on the beach at sunset, camera pans slowly"
NEGATIVE = "worst quality, blurry, jittery, distorted"
COMMON = dict(
    prompt=PROMPT,
    negative_prompt=NEGATIVE,
    height=32,
    width=32,
    num_frames=9,
    frame_rate=25,
    num_inference_steps=4,
    guidance_scale=3.0,
    max_sequence_length=16,
    decode_timestep=0.05,
    decode_noise_scale=0.025,
    output_type="pt",
)


# ----------------------------------------------------------------------------------------------
# Synthetic inputs
# ----------------------------------------------------------------------------------------------


def synth_frame(h: int, w: int, t: float, hue: float) -> np.ndarray:
    """A colour gradient with a bright square whose position moves with t (0..1)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = xx / (w - 1)
    g = yy / (h - 1)
    b = 0.5 + 0.5 * np.sin(hue + 6.0 * (xx + yy) / (w + h))
    img = np.stack([r, g, b], -1)
    s = max(h // 4, 2)
    x0 = int(round(t * (w - s - 2))) + 1
    y0 = h // 2 - s // 2
    img[y0 : y0 + s, x0 : x0 + s] = [1.0, 0.9 - 0.5 * hue / 3.0, 0.1]
    return (np.clip(img, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def write_inputs(fx: Path, h: int, w: int):
    Image.fromarray(synth_frame(h, w, 0.0, 0.0)).save(fx / "i2v_image.png")
    for i in range(5):
        Image.fromarray(synth_frame(h, w, i / 8.0, 1.0)).save(fx / f"cond_video_{i}.png")
    Image.fromarray(synth_frame(h, w, 1.0, 2.0)).save(fx / "keyframe_last.png")


# ----------------------------------------------------------------------------------------------
# Recording helpers
# ----------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, case_dir: Path):
        self.dir = case_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tensors: dict[str, dict] = {}
        self.draws: list[dict] = []
        self.step_latents: list[torch.Tensor] = []

    def put(self, name: str, t, dtype=None):
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if dtype is None:
            dtype = "int64" if a.dtype.kind in "iub" else "float32"
        a = np.ascontiguousarray(a.astype("<i8" if dtype == "int64" else "<f4"))
        (self.dir / f"{name}.bin").write_bytes(a.tobytes())
        self.tensors[name] = {"file": f"{self.dir.name}/{name}.bin", "dtype": dtype, "shape": list(a.shape)}
        return a


class DrawLog:
    """Wraps randn_tensor / torch.randn in the pipeline and VAE modules and logs every draw in order."""

    def __init__(self, rec: Recorder):
        self.rec = rec
        self.n = 0
        self.depth = 0
        self.saved = []

    def __enter__(self):
        import diffusers.models.autoencoders.vae as vae_mod
        import diffusers.pipelines.ltx.pipeline_ltx as p_t2v
        import diffusers.pipelines.ltx.pipeline_ltx_condition as p_cond
        import diffusers.pipelines.ltx.pipeline_ltx_image2video as p_i2v

        for mod, label in ((p_t2v, "pipeline"), (p_i2v, "pipeline"), (p_cond, "pipeline"), (vae_mod, "vae_posterior")):
            orig = mod.randn_tensor

            def wrapped(*a, __orig=orig, __label=label, **k):
                self.depth += 1
                try:
                    out = __orig(*a, **k)
                finally:
                    self.depth -= 1
                self._log(__label, out)
                return out

            self.saved.append((mod, "randn_tensor", orig))
            mod.randn_tensor = wrapped
        orig_randn = torch.randn

        def randn(*a, **k):
            out = orig_randn(*a, **k)
            if self.depth == 0:  # randn_tensor calls torch.randn itself
                self._log("torch.randn", out)
            return out

        self.saved.append((torch, "randn", orig_randn))
        torch.randn = randn
        return self

    def _log(self, label, t):
        name = f"draw_{self.n:02d}"
        self.rec.put(name, t)
        self.rec.draws.append({"index": self.n, "tensor": name, "source": label, "shape": list(t.shape)})
        self.n += 1

    def __exit__(self, *exc):
        for mod, attr, orig in reversed(self.saved):
            setattr(mod, attr, orig)


def install_probes(pipe, rec: Recorder):
    """Record the text-encoder inputs/outputs, transformer inputs of the first call, VAE encode/decode I/O."""
    probes = {"te_calls": [], "tr_calls": [], "enc_calls": [], "dec_calls": []}
    te, tr, vae = pipe.text_encoder, pipe.transformer, pipe.vae

    te_fwd = te.forward

    def te_forward(input_ids=None, attention_mask=None, **k):
        out = te_fwd(input_ids=input_ids, attention_mask=attention_mask, **k)
        probes["te_calls"].append((input_ids.clone(), None if attention_mask is None else attention_mask.clone(), out[0].clone()))
        return out

    te.forward = te_forward

    tr_fwd = tr.forward

    def tr_forward(*a, **k):
        out = tr_fwd(*a, **k)
        probes["tr_calls"].append({kk: (v.clone() if isinstance(v, torch.Tensor) else v) for kk, v in k.items()} | {"out": out[0].clone()})
        return out

    tr.forward = tr_forward

    enc = vae.encode

    def vae_encode(x, *a, **k):
        out = enc(x, *a, **k)
        probes["enc_calls"].append((x.clone(), out.latent_dist.parameters.clone()))
        return out

    vae.encode = vae_encode
    dec = vae.decode

    def vae_decode(z, temb=None, *a, **k):
        out = dec(z, temb, *a, **k)
        probes["dec_calls"].append((z.clone(), None if temb is None else temb.clone(), out[0].clone()))
        return out

    vae.decode = vae_decode

    prep = pipe.prepare_latents

    def prepare_latents(*a, **k):
        out = prep(*a, **k)
        probes["prepare"] = tuple(o.clone() if isinstance(o, torch.Tensor) else o for o in (out if isinstance(out, tuple) else (out,)))
        return out

    pipe.prepare_latents = prepare_latents
    return probes


def step_callback(rec: Recorder):
    def cb(pipe, i, t, kw):
        rec.step_latents.append(kw["latents"].clone())
        return {}

    return cb


# ----------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------


def t2v_coords(f, h, w, t_ratio, s_ratio, fps, patch=1, patch_t=1):
    """video_coords equivalent to LTXVideoRotaryPosEmbed._prepare_video_coords with
    rope_interpolation_scale = (t_ratio / fps, s_ratio, s_ratio), *before* the division by the base."""
    ff, hh, ww = torch.meshgrid(
        torch.arange(f, dtype=torch.float32), torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
        indexing="ij",
    )
    c = torch.stack([ff * (t_ratio / fps) * patch_t, hh * s_ratio * patch, ww * s_ratio * patch], 0)
    return c.reshape(1, 3, -1)


def run_case(name: str, kind: str, comps, fx: Path, extra: dict, sched_cfg: dict):
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXImageToVideoPipeline,
        LTXPipeline,
    )

    cls = {"t2v": LTXPipeline, "i2v": LTXImageToVideoPipeline, "condition": LTXConditionPipeline}[kind]
    scheduler = FlowMatchEulerDiscreteScheduler(**sched_cfg)
    pipe = cls(
        transformer=comps["transformer"], vae=comps["vae"], scheduler=scheduler,
        text_encoder=comps["text_encoder"], tokenizer=comps["tokenizer"],
    )
    pipe.set_progress_bar_config(disable=True)
    rec = Recorder(fx / name)
    probes = install_probes(pipe, rec)
    args = dict(COMMON)
    args.update({k: v for k, v in extra.items() if not k.startswith("_")})
    gen = torch.Generator().manual_seed(0)
    with DrawLog(rec), torch.no_grad():
        out = pipe(**args, generator=gen, callback_on_step_end=step_callback(rec), callback_on_step_end_tensor_inputs=["latents"])
    frames = out.frames[0]  # [F, 3, H, W] in [0, 1]
    # restore the instance attributes we wrapped
    for m, attr in ((pipe.text_encoder, "forward"), (pipe.transformer, "forward"), (pipe.vae, "encode"), (pipe.vae, "decode"), (pipe, "prepare_latents")):
        if attr in m.__dict__:
            del m.__dict__[attr]

    vae = comps["vae"]
    t_ratio, s_ratio = int(vae.temporal_compression_ratio), int(vae.spatial_compression_ratio)
    f = (args["num_frames"] - 1) // t_ratio + 1
    h, w = args["height"] // s_ratio, args["width"] // s_ratio

    # text: calls are [positive, negative] (encode_prompt order); model batch is [negative, positive]
    (ids_p, m_p, e_p), (ids_n, m_n, e_n) = probes["te_calls"][:2]
    rec.put("input_ids", torch.cat([ids_n, ids_p]))
    tok = comps["tokenizer"]
    mask_n = tok(args["negative_prompt"], padding="max_length", max_length=args["max_sequence_length"], truncation=True).attention_mask
    mask_p = tok(args["prompt"], padding="max_length", max_length=args["max_sequence_length"], truncation=True).attention_mask
    rec.put("attention_mask", torch.tensor([mask_n, mask_p]))
    rec.put("prompt_embeds", torch.cat([e_n, e_p]))

    first = probes["tr_calls"][0]
    prep = probes["prepare"]
    rec.put("initial_latents", prep[0])  # packed, after conditioning assembly (condition: extra tokens first)
    if kind != "t2v":
        rec.put("conditioning_mask", prep[1][:1])  # per token, [1, S(+extra)]
    rec.put("transformer_input_step0", first["hidden_states"][:1])  # condition: after the step-0 re-noise
    for i, c in enumerate(probes["tr_calls"]):
        ts = c["timestep"]
        if ts.ndim == 1:
            ts = ts[:, None].expand(-1, c["hidden_states"].shape[1])
        rec.put(f"timestep_step{i}", ts)
    if kind == "condition":
        coords = first["video_coords"][:1]
    else:
        coords = t2v_coords(f, h, w, t_ratio, s_ratio, args["frame_rate"])
    rec.put("video_coords", coords)
    rec.put("velocity_step0", first["out"])
    rec.put("sigmas", scheduler.sigmas)
    rec.put("timesteps", scheduler.timesteps)
    rec.put("latents_step0", rec.step_latents[0])
    rec.put("latents_final", rec.step_latents[-1])
    for i, (x, moments) in enumerate(probes["enc_calls"]):
        rec.put(f"vae_encode_input{i}", x)
        rec.put(f"vae_moments{i}", moments)
    z, temb, dec = probes["dec_calls"][-1]
    rec.put("decoder_latent", z)
    if temb is not None:
        rec.put("decoder_timestep", temb)
    rec.put("frames", frames)

    # sanity: our explicit video_coords reproduce diffusers' rope path for T2V/I2V
    if kind != "condition":
        with torch.no_grad():
            v2 = export.TransformerWrapper(comps["transformer"])(
                first["hidden_states"], first["encoder_hidden_states"],
                first["encoder_attention_mask"].long(),
                first["timestep"][:, None].expand(-1, first["hidden_states"].shape[1]) if first["timestep"].ndim == 1 else first["timestep"],
                coords.expand(2, -1, -1),
            )
        rope_check = float((v2 - first["out"]).abs().max())
    else:
        rope_check = None

    case = {
        "pipeline": cls.__name__,
        "kind": kind,
        "args": {k: v for k, v in args.items() if k not in ("conditions", "image", "output_type")},
        "scheduler_config": {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "latent_shape": [1, int(vae.config.latent_channels), f, h, w],
        "num_tokens": f * h * w,
        "extra_tokens": int(first["hidden_states"].shape[1] - f * h * w),
        "draws": rec.draws,
        "tensors": rec.tensors,
        "checks": {"explicit_video_coords_vs_rope_interpolation_max_abs": rope_check},
    }
    case["args"].update({k: v for k, v in extra.items() if k.startswith("_")})
    return case


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "fixtures"))
    ap.add_argument("--seed", type=int, default=export.SEED)
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    fx = Path(args.out)
    fx.mkdir(parents=True, exist_ok=True)
    comps = export.tiny_components(args.seed)
    H, W = COMMON["height"], COMMON["width"]
    write_inputs(fx, H, W)

    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    img = Image.open(fx / "i2v_image.png").convert("RGB")
    video = [Image.open(fx / f"cond_video_{i}.png").convert("RGB") for i in range(5)]
    last = Image.open(fx / "keyframe_last.png").convert("RGB")

    cases = {}
    cases["t2v"] = run_case("t2v", "t2v", comps, fx, {}, export.TINY_SCHEDULER)
    cases["t2v_dynamic_shift"] = run_case("t2v_dynamic_shift", "t2v", comps, fx, {}, export.SCHEDULER_091)
    cases["i2v"] = run_case("i2v", "i2v", comps, fx, {"image": img, "_image_file": "i2v_image.png"}, export.TINY_SCHEDULER)
    cases["condition_extend"] = run_case(
        "condition_extend", "condition", comps, fx,
        {
            "conditions": [LTXVideoCondition(video=video, frame_index=0, strength=1.0)],
            "_conditions": [{"video": [f"cond_video_{i}.png" for i in range(5)], "frame_index": 0, "strength": 1.0}],
            "image_cond_noise_scale": 0.15,
        },
        export.TINY_SCHEDULER,
    )
    cases["condition_keyframes"] = run_case(
        "condition_keyframes", "condition", comps, fx,
        {
            "conditions": [
                LTXVideoCondition(image=img, frame_index=0, strength=1.0),
                LTXVideoCondition(image=last, frame_index=COMMON["num_frames"] - 1, strength=0.8),
            ],
            "_conditions": [
                {"image": "i2v_image.png", "frame_index": 0, "strength": 1.0},
                {"image": "keyframe_last.png", "frame_index": COMMON["num_frames"] - 1, "strength": 0.8},
            ],
            "image_cond_noise_scale": 0.15,
        },
        export.TINY_SCHEDULER,
    )
    doc = {
        "about": "Parity fixtures recorded from diffusers 0.42.1 pipelines with the tiny random LTX model in ../. "
        "Tensors are raw little-endian C-order files; names and meaning are documented in ../README.md (Fixtures).",
        "diffusers_version": __import__("diffusers").__version__,
        "torch_version": torch.__version__,
        "seed": args.seed,
        "cases": cases,
    }
    old = fx / "cases.json"
    if old.exists():  # keep results written by export/reference runs
        prev = json.loads(old.read_text())
        for k in ("onnx_vs_torch", "numpy_reimplementation"):
            if k in prev:
                doc[k] = prev[k]
    rep = HERE / "export_report.json"
    if rep.exists():
        doc["onnx_vs_torch"] = json.loads(rep.read_text())["ort_vs_torch_max_abs"]
    old.write_text(json.dumps(doc, indent=1) + "\n")
    for k, c in cases.items():
        print(k, "tokens", c["num_tokens"], "+", c["extra_tokens"], "draws", [d["shape"] for d in c["draws"]], "rope_check", c["checks"])


if __name__ == "__main__":
    main()
