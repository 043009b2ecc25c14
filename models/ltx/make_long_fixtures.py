#!/usr/bin/env python3
"""Record parity fixtures for long shots from diffusers' LTXI2VLongMultiPromptPipeline (tiny random model).

Run after export.py and make_fixtures.py (same --seed; the I2V case reads fixtures/i2v_image.png). Writes:
  fixtures/long_cases.json   same schema as cases.json (args, scheduler, draws, tensor table), one entry per case
  fixtures/long_<case>/*.bin raw little-endian C-order float32 / int64 tensors

Every random draw is logged in order with where it came from (`draws[].source`): "w<k>.init" (the window's
initial noise), "w<k>.step<i>" (LTXEulerAncestralRFScheduler's ancestral noise), "decode" (decode-noise mix).
The runtime replays them in place of its own RNG. The algorithm is written out in long-spec.md. Cases:
  long_windows   T2V, 29 frames = 8 latent frames, windows of 20/12 px (5/3 latent) -> 3 windows, the last one
                 short; RF scheduler with explicit sigmas (ComfyUI style), adain_factor 0
  long_adain     long_windows with adain_factor 0.5
  long_prompts   long_windows with two prompt segments "A | B" (window 0 gets A, windows 1 and 2 get B)
  long_i2v       I2V: cond_image i2v_image.png, cond_strength 0.8, overlap strength 0.7, adain 0.25, RF scheduler
                 with num_inference_steps=4 (delegates to FlowMatch; the pipeline runs only 3 of the 4 steps)
  long_tiled     32x64, 17 frames, windows 12/4 px (3/1 latent) -> 2 windows (overlap 1: no cross-fade);
                 FlowMatchEulerDiscreteScheduler (the manifest's); tiled VAE decode 3x2 tiles, overlap 1
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
from make_fixtures import NEGATIVE, PROMPT, Recorder  # noqa: E402

COMMON = dict(
    prompt=PROMPT,
    negative_prompt=NEGATIVE,
    height=32,
    width=32,
    num_frames=29,
    frame_rate=25,
    guidance_scale=3.0,
    max_sequence_length=16,
    seed=0,
    temporal_tile_size=20,
    temporal_overlap=12,
    temporal_overlap_cond_strength=0.5,
    adain_factor=0.0,
    skip_steps_sigma_threshold=1.0,
    decode_timestep=0.05,
    decode_noise_scale=0.025,
    decode_horizontal_tiles=1,
    decode_vertical_tiles=1,
    decode_overlap=3,
    output_type="np",
)
SIGMAS = [1.0, 0.9, 0.6, 0.25, 0.0]
PROMPT_B = "a white boat on the sea at night, camera zooms slowly"


class LongProbe:
    """Wraps the pipeline's module functions, the scheduler, the models and randn_tensor; logs draws in order."""

    def __init__(self, pipe, rec: Recorder):
        self.pipe, self.rec = pipe, rec
        self.saved = []
        self.window = -1
        self.step = 0
        self.in_step = False
        self.in_decode = False
        self.depth = 0
        self.n = 0
        self.te, self.tr, self.steps, self.tiles, self.enc = [], [], [], [], []
        self.windows = None
        self.segments = None
        self.adain, self.fuse, self.inject = [], [], []
        self.decode_in = None
        self.cb = []

    def patch(self, obj, name, new):
        self.saved.append((obj, name, getattr(obj, name), name in getattr(obj, "__dict__", {})))
        setattr(obj, name, new)

    def _log(self, t):
        name = f"draw_{self.n:02d}"
        self.rec.put(name, t)
        if self.in_decode:
            src = "decode"
        elif self.in_step:
            src = f"w{self.window}.step{self.step}"
        else:
            src = f"w{self.window}.init"
        self.rec.draws.append({"index": self.n, "tensor": name, "source": src, "shape": list(t.shape)})
        self.n += 1

    def __enter__(self):
        import diffusers.pipelines.ltx.pipeline_ltx_i2v_long_multi_prompt as pl
        import diffusers.schedulers.scheduling_flow_match_euler_discrete as fm
        import diffusers.schedulers.scheduling_ltx_euler_ancestral_rf as rf

        for mod in (pl, rf, fm):
            orig = mod.randn_tensor

            def wrapped(*a, __orig=orig, **k):
                self.depth += 1
                try:
                    out = __orig(*a, **k)
                finally:
                    self.depth -= 1
                self._log(out)
                return out

            self.patch(mod, "randn_tensor", wrapped)
        orig_randn = torch.randn

        def randn(*a, **k):
            out = orig_randn(*a, **k)
            if self.depth == 0:
                raise RuntimeError("unexpected torch.randn outside randn_tensor")
            return out

        self.patch(torch, "randn", randn)

        # window/segment plan
        sp = pl.split_into_temporal_windows

        def split(*a, **k):
            self.windows = sp(*a, **k)
            return self.windows

        self.patch(pl, "split_into_temporal_windows", split)
        pp = pl.parse_prompt_segments

        def parse(*a, **k):
            self.segments = pp(*a, **k)
            return self.segments

        self.patch(pl, "parse_prompt_segments", parse)
        ad = pl.adain_normalize_latents

        def adain(curr, ref, factor):
            out = ad(curr, ref, factor)
            self.adain.append((self.window, curr.clone(), out.clone()))
            return out

        self.patch(pl, "adain_normalize_latents", adain)
        lf = pl.linear_overlap_fuse

        def fuse(prev, new, overlap):
            out = lf(prev, new, overlap)
            self.fuse.append((self.window, prev.clone(), new.clone(), overlap, out.clone()))
            return out

        self.patch(pl, "linear_overlap_fuse", fuse)
        ij = pl.inject_prev_tail_latents

        def inject(wl, tail, mask, ov, strength, prev_len):
            out = ij(wl, tail, mask, ov, strength, prev_len)
            self.inject.append((self.window, None if tail is None else tail.clone(), ov, strength))
            return out

        self.patch(pl, "inject_prev_tail_latents", inject)

        # encode_prompt opens each window (step 6.1), step() counts the window's steps
        ep = self.pipe.encode_prompt

        def encode_prompt(*a, **k):
            self.window += 1
            self.step = 0
            return ep(*a, **k)

        self.patch(self.pipe, "encode_prompt", encode_prompt)
        sch = self.pipe.scheduler
        sstep = sch.step

        def step(model_output, t, sample, *a, **k):
            self.in_step = True
            try:
                out = sstep(model_output, t, sample, *a, **k)
            finally:
                self.in_step = False
            self.steps.append((self.window, float(t), sample.clone(), model_output.clone(), out[0].clone()))
            self.step += 1
            return out

        self.patch(sch, "step", step)

        te = self.pipe.text_encoder
        te_fwd = te.forward

        def te_forward(input_ids=None, attention_mask=None, **k):
            out = te_fwd(input_ids=input_ids, attention_mask=attention_mask, **k)
            self.te.append((self.window, input_ids.clone(), attention_mask, out[0].clone()))
            return out

        self.patch(te, "forward", te_forward)
        tr = self.pipe.transformer
        tr_fwd = tr.forward

        def tr_forward(*a, **k):
            out = tr_fwd(*a, **k)
            self.tr.append((self.window, {kk: (v.clone() if isinstance(v, torch.Tensor) else v) for kk, v in k.items()},
                            out[0].clone()))
            return out

        self.patch(tr, "forward", tr_forward)
        vae = self.pipe.vae
        dec = vae.decode

        def vae_decode(z, temb=None, *a, **k):
            out = dec(z, temb, *a, **k)
            self.tiles.append((z.clone(), None if temb is None else temb.clone(), out[0].clone()))
            return out

        self.patch(vae, "decode", vae_decode)
        enc = vae.encode

        def vae_encode(x, *a, **k):
            out = enc(x, *a, **k)
            self.enc.append((x.clone(), out.latent_dist.parameters.clone()))
            return out

        self.patch(vae, "encode", vae_encode)
        vdt = self.pipe.vae_decode_tiled

        def vae_decode_tiled(latents, *a, **k):
            self.decode_in = latents.clone()
            self.in_decode = True
            try:
                return vdt(latents, *a, **k)
            finally:
                self.in_decode = False

        self.patch(self.pipe, "vae_decode_tiled", vae_decode_tiled)
        return self

    def callback(self, pipe, i, t, kw):
        self.cb.append((self.window, i, {k: v.clone() for k, v in kw.items()}))
        return {}

    def __exit__(self, *exc):
        for obj, name, orig, own in reversed(self.saved):
            if own:  # module functions: put back; instance attributes we added: remove
                setattr(obj, name, orig)
            else:
                delattr(obj, name)


def make_pipe(comps, sched):
    from diffusers import LTXI2VLongMultiPromptPipeline

    pipe = LTXI2VLongMultiPromptPipeline(
        transformer=comps["transformer"], vae=comps["vae"], scheduler=sched,
        text_encoder=comps["text_encoder"], tokenizer=comps["tokenizer"],
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_case(name: str, comps, fx: Path, extra: dict, sched):
    pipe = make_pipe(comps, sched)
    rec = Recorder(fx / name)
    args = dict(COMMON)
    args.update({k: v for k, v in extra.items() if not k.startswith("_")})
    tensor_inputs = ["latents_packed", "window_latents_packed", "cond_mask_tokens"]
    with LongProbe(pipe, rec) as pr, torch.no_grad():
        out = pipe(**args, callback_on_step_end=pr.callback, callback_on_step_end_tensor_inputs=tensor_inputs)
    frames = torch.from_numpy(np.asarray(out.frames[0])).permute(0, 3, 1, 2)  # [F,H,W,3] -> [F,3,H,W], in [0,1]

    vae = comps["vae"]
    T, R = int(vae.temporal_compression_ratio), int(vae.spatial_compression_ratio)
    f, h, w = (args["num_frames"] - 1) // T + 1, args["height"] // R, args["width"] // R
    windows = [list(x) for x in pr.windows]
    info = []
    for k, (ws, we) in enumerate(windows):
        p = f"w{k}_"
        # text: per window the pipeline encodes [positive] then [negative]; the model batch is [negative, positive]
        (_, ids_p, _, e_p), (_, ids_n, _, e_n) = [c for c in pr.te if c[0] == k]
        rec.put(p + "input_ids", torch.cat([ids_n, ids_p]))
        tok = comps["tokenizer"]
        seg = pr.segments[min(k, len(pr.segments) - 1)] if pr.segments else args["prompt"]
        m_n = tok(args["negative_prompt"], padding="max_length", max_length=args["max_sequence_length"], truncation=True).attention_mask
        m_p = tok(seg, padding="max_length", max_length=args["max_sequence_length"], truncation=True).attention_mask
        rec.put(p + "attention_mask", torch.tensor([m_n, m_p]))
        rec.put(p + "prompt_embeds", torch.cat([e_n, e_p]))
        calls = [c for c in pr.tr if c[0] == k]
        cbs = [c for c in pr.cb if c[0] == k]
        first = calls[0][1]
        rec.put(p + "transformer_input_step0", first["hidden_states"][:1])  # = initial (mixed) window latents
        rec.put(p + "video_coords", first["video_coords"][:1])
        rec.put(p + "velocity_step0", calls[0][2])
        assert torch.equal(first["encoder_attention_mask"][1].long(), torch.tensor(m_p)), "mask mismatch"
        for i, (_, kw, _) in enumerate(calls):
            rec.put(f"{p}timestep_step{i}", kw["timestep"].reshape(2, -1))
        rec.put(p + "conditioning_latents", cbs[0][2]["window_latents_packed"])
        rec.put(p + "conditioning_mask", cbs[0][2]["cond_mask_tokens"].reshape(1, -1))
        rec.put(p + "latents_step0", cbs[0][2]["latents_packed"])  # after step 0's post-blend
        rec.put(p + "latents_final", cbs[-1][2]["latents_packed"])  # after the last step, tail tokens included
        inj = [c for c in pr.inject if c[0] == k]
        if k > 0 and args["temporal_overlap"] // T > 0:  # the first injection of a later window is the previous tail
            rec.put(p + "prev_tail", inj[0][1])
        rec.put(p + "step_input0", [c[2] for c in pr.steps if c[0] == k][0])  # what scheduler.step got at step 0
        for _, curr, o in [a for a in pr.adain if a[0] == k]:
            rec.put(p + "adain_in", curr)
            rec.put(p + "adain_out", o)
        for _, prev, new, ov, o in [a for a in pr.fuse if a[0] == k]:
            rec.put(p + "fuse_prev", prev)
            rec.put(p + "fuse_new", new)
            rec.put(p + "fused", o)
        S_eff = int(first["hidden_states"].shape[1])
        info.append({"window": k, "start": ws, "end": we, "frames": we - ws, "tokens": S_eff,
                     "appended_frames": S_eff // (h * w) - (we - ws), "prompt": seg,
                     "steps_run": len(calls), "step_timesteps": [float(x) for x in sorted({c[1] for c in pr.steps if c[0] == k}, reverse=True)]})
    sig = sched.sigmas
    rec.put("sigmas", sig)
    rec.put("timesteps", sched.timesteps)
    for i, (x, moments) in enumerate(pr.enc):
        rec.put(f"vae_encode_input{i}", x)
        rec.put(f"vae_moments{i}", moments)
    rec.put("latents_final", pr.decode_in)  # [1,C,f',h,w] normalised, after all windows are fused
    for j, (z, temb, y) in enumerate(pr.tiles):
        rec.put(f"decode_tile{j}_latent", z)  # decoder input (denormalised, last frame repeated, noise mixed)
    if pr.tiles[0][1] is not None:
        rec.put("decoder_timestep", pr.tiles[0][1])
    rec.put("frames", frames)

    case = {
        "pipeline": "LTXI2VLongMultiPromptPipeline",
        "kind": "long",
        "scheduler": type(sched).__name__,
        "args": {k: v for k, v in args.items() if k not in ("cond_image", "output_type")},
        "scheduler_config": {k: v for k, v in dict(sched.config).items() if not k.startswith("_")},
        "latent_shape": [1, int(vae.config.latent_channels), f, h, w],
        "latent_shape_out": list(pr.decode_in.shape),
        "tokens_per_frame": h * w,
        "windows": info,
        "prompt_segments": pr.segments,
        "draws": rec.draws,
        "tensors": rec.tensors,
    }
    case["args"].update({k: v for k, v in extra.items() if k.startswith("_")})
    return case


def main(argv=None):
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXEulerAncestralRFScheduler

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "fixtures"))
    ap.add_argument("--seed", type=int, default=export.SEED)
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    fx = Path(args.out)
    comps = export.tiny_components(args.seed)
    img = Image.open(fx / "i2v_image.png").convert("RGB")

    def rf():  # the docs' recipe: the RF scheduler made from the pipeline's FlowMatch config
        return LTXEulerAncestralRFScheduler.from_config(FlowMatchEulerDiscreteScheduler(**export.TINY_SCHEDULER).config)

    cases = {
        "long_windows": run_case("long_windows", comps, fx, {"sigmas": SIGMAS}, rf()),
        "long_adain": run_case("long_adain", comps, fx, {"sigmas": SIGMAS, "adain_factor": 0.5}, rf()),
        "long_prompts": run_case("long_prompts", comps, fx, {"sigmas": SIGMAS, "prompt": f"{PROMPT} | {PROMPT_B}"}, rf()),
        "long_i2v": run_case("long_i2v", comps, fx, {
            "num_inference_steps": 4, "cond_image": img, "_image_file": "i2v_image.png", "cond_strength": 0.8,
            "temporal_overlap_cond_strength": 0.7, "adain_factor": 0.25}, rf()),
        "long_tiled": run_case("long_tiled", comps, fx, {
            "num_inference_steps": 4, "width": 64, "num_frames": 17, "temporal_tile_size": 12, "temporal_overlap": 4,
            "decode_horizontal_tiles": 3, "decode_vertical_tiles": 2, "decode_overlap": 1},
            FlowMatchEulerDiscreteScheduler(**export.TINY_SCHEDULER)),
    }
    doc = {
        "about": "Long-shot parity fixtures recorded from diffusers %s LTXI2VLongMultiPromptPipeline with the tiny random "
        "LTX model in ../ (make_long_fixtures.py). Same tensor format as cases.json; names per window are prefixed "
        "w<k>_. The algorithm is written out in ../long-spec.md." % __import__("diffusers").__version__,
        "diffusers_version": __import__("diffusers").__version__,
        "torch_version": torch.__version__,
        "seed": args.seed,
        "cases": cases,
    }
    path = fx / "long_cases.json"
    if path.exists():  # keep results written by reference.py
        prev = json.loads(path.read_text())
        if "numpy_reimplementation" in prev:
            doc["numpy_reimplementation"] = prev["numpy_reimplementation"]
    path.write_text(json.dumps(doc, indent=1) + "\n")
    for k, c in cases.items():
        print(k, "windows", [(w["start"], w["end"], w["tokens"], w["steps_run"]) for w in c["windows"]],
              "draws", len(c["draws"]), "latents", c["latent_shape_out"])


if __name__ == "__main__":
    main()
