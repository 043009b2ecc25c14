#!/usr/bin/env python3
"""Record parity fixtures for the Wan runtime from diffusers' WanPipeline (tiny random model), then re-run them
from the ONNX graphs (numpy + ONNX Runtime) as a self-check.

Run after export.py (same --seed). Writes fixtures/ next to this file:
  cases.json     one entry per case: pipeline arguments, scheduler config, draws, and a tensor table
                 {name: {"file", "dtype", "shape"}} pointing at raw little-endian C-order .bin files
  <case>/*.bin   float32 / int64 tensors

Cases:
  t2v      WanPipeline, 9 frames, 32x48 (H x W, non-square), 4 steps, CFG 5
  t2v_17   WanPipeline, 17 frames, 48x32, 3 steps, CFG 5
  t2v_clean  WanPipeline, 5 frames, 32x32, 2 steps: prompts with HTML entities and messy whitespace (prompt_clean)
  t2v_two_experts  WanPipeline(transformer, transformer_2, boundary_ratio) (Wan 2.2 A14B form), 9 frames, 32x48,
             4 steps, guidance 5 (high-noise expert) / guidance_scale_2 3 (low-noise expert); `experts_per_step`
             says which transformer ran each step (0 = transformer.onnx, 1 = transformer_2.onnx)
  t2v_euler  as t2v (9 frames, 32x48, 4 steps, CFG 5, seed 0) but with FlowMatchEulerDiscreteScheduler(shift=7.0)
             (the scheduler of diffusers' tests/pipelines/wan/test_wan.py) instead of UniPC; the pipeline calls its
             set_timesteps(n) with no sigmas, so timesteps/sigmas are that scheduler's own (float timesteps)

Every random draw diffusers makes is logged in order (`draws`): the runtime replays them instead of its RNG.
The re-run (`onnx_rerun` in cases.json) uses only tokenizer.json, the ONNX graphs, manifest.json and the
recorded draws; the UniPC steps use diffusers' scheduler object (the runtime's own UniPC is checked against the
recorded latents); t2v_euler's re-run steps with diffusers' FlowMatchEulerDiscreteScheduler built from the case's
scheduler_config.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export  # noqa: E402  (models/wan/export.py; it loads models/ltx/export.py as ltx_export)

PROMPT = "a monkey dance on the beach at sunset, camera pans slowly"
NEGATIVE = "worst quality, blurry, jittery, distorted"
COMMON = dict(
    prompt=PROMPT,
    negative_prompt=NEGATIVE,
    height=32,
    width=48,
    num_frames=9,
    num_inference_steps=4,
    guidance_scale=5.0,
    max_sequence_length=32,
    output_type="np",
)
SHORT_TEXT_NOTE = "max_sequence_length 32 keeps the test fast; WanPipeline's default (the manifest's) is 512"
BOUNDARY_RATIO = 0.875
# diffusers' own Wan pipeline test (tests/pipelines/wan/test_wan.py) builds FlowMatchEulerDiscreteScheduler(shift=7.0)
EULER_SCHEDULER = dict(shift=7.0)
CASES = {
    "t2v": {},
    "t2v_17": dict(num_frames=17, height=48, width=32, num_inference_steps=3),
    # prompt cleaning: HTML entities (unescaped twice), tabs/newlines/space runs, leading/trailing blanks, upper case
    "t2v_clean": dict(prompt="  A monkey &amp;amp; a DOG\n\tdance   on the beach &lt;at&gt; night  ",
                      negative_prompt="\n worst  quality,\tblurry ", num_frames=5, height=32, width=32,
                      num_inference_steps=2),
    # Wan 2.2 A14B's two experts: `transformer` while t >= boundary_ratio*1000 (guidance_scale), `transformer_2`
    # after (guidance_scale_2). Timesteps 999, 900, 750, 500: 0.875 (A14B T2V's own value) puts 2 steps on each;
    # 0.5 would put all 4 on `transformer` (diffusers tests t >= 500, and the last timestep is exactly 500).
    # boundary_ratio is a pipeline (constructor) argument, not a __call__ one.
    "t2v_two_experts": dict(guidance_scale_2=3.0, boundary_ratio=BOUNDARY_RATIO),
    # t2v's arguments with diffusers' test scheduler (flow-match Euler, shift 7) in place of UniPC. WanPipeline calls
    # scheduler.set_timesteps(num_inference_steps) with no sigmas: the schedule is the scheduler's own (see README).
    # `_scheduler` is not a __call__ argument (popped in run_case).
    "t2v_euler": dict(_scheduler="flow_match_euler"),
}


class Recorder:
    def __init__(self, case_dir: Path):
        self.dir = case_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tensors: dict[str, dict] = {}
        self.draws: list[dict] = []

    def put(self, name: str, t, dtype=None):
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if dtype is None:
            dtype = "int64" if a.dtype.kind in "iub" else "float32"
        a = np.ascontiguousarray(a.astype("<i8" if dtype == "int64" else "<f4"))
        (self.dir / f"{name}.bin").write_bytes(a.tobytes())
        self.tensors[name] = {"file": f"{self.dir.name}/{name}.bin", "dtype": dtype, "shape": list(a.shape)}
        return a


class DrawLog:
    """Wraps randn_tensor in the Wan pipeline module and torch.randn; logs every draw in order."""

    def __init__(self, rec: Recorder):
        self.rec = rec
        self.n = 0
        self.depth = 0
        self.saved = []

    def __enter__(self):
        import diffusers.pipelines.wan.pipeline_wan as p_wan

        self.wrap_randn_tensor(p_wan)
        orig_randn = torch.randn

        def randn(*a, **k):
            out = orig_randn(*a, **k)
            if self.depth == 0:
                self._log("torch.randn", out)
            return out

        self.saved.append((torch, "randn", orig_randn))
        torch.randn = randn
        return self

    def wrap_randn_tensor(self, mod):
        """Log the draws of `mod`.randn_tensor (each pipeline module has its own binding)."""
        orig = mod.randn_tensor

        def wrapped(*a, **k):
            self.depth += 1
            try:
                out = orig(*a, **k)
            finally:
                self.depth -= 1
            self._log("pipeline", out)
            return out

        self.saved.append((mod, "randn_tensor", orig))
        mod.randn_tensor = wrapped

    def _log(self, label, t):
        name = f"draw_{self.n:02d}"
        self.rec.put(name, t)
        self.rec.draws.append({"index": self.n, "tensor": name, "source": label, "shape": list(t.shape)})
        self.n += 1

    def __exit__(self, *exc):
        for mod, attr, orig in reversed(self.saved):
            setattr(mod, attr, orig)


class DrawLogI2V(DrawLog):
    """DrawLog plus pipeline_wan_i2v.randn_tensor (WanImageToVideoPipeline); also swaps in pipeline_wan's
    basic_clean for pipeline_wan_i2v's, which calls ftfy unconditionally (NameError without ftfy, not installed
    here; pipeline_wan's skips it when missing). ftfy.fix_text is a no-op on these plain ASCII prompts."""

    def __enter__(self):
        super().__enter__()
        import diffusers.pipelines.wan.pipeline_wan as p_wan
        import diffusers.pipelines.wan.pipeline_wan_i2v as p_i2v

        self.wrap_randn_tensor(p_i2v)
        self.saved.append((p_i2v, "basic_clean", p_i2v.basic_clean))
        p_i2v.basic_clean = p_wan.basic_clean
        return self


class Probes(dict):
    """What the pipeline's modules got and gave, call by call: instance-level overrides of their forward /
    decode / encode (remove() drops them), and `callback` for callback_on_step_end (the step tensors)."""

    def __init__(self):
        super().__init__(te=[], tr=[], dec=[], enc=[], ie=[], steps=[])
        self.patched = []

    def _patch(self, m, attr, make):
        setattr(m, attr, make(getattr(m, attr)))
        self.patched.append((m, attr))

    def text_encoder(self, te):
        def make(fwd):
            def te_forward(input_ids=None, attention_mask=None, *a, **k):
                out = fwd(input_ids, attention_mask, *a, **k)
                self["te"].append((input_ids.clone(), attention_mask.clone(), out.last_hidden_state.clone()))
                return out

            return te_forward

        self._patch(te, "forward", make)

    def transformer(self, tr, expert: int | None = None):
        """Keyword arguments and output of every call; `expert` (two-expert pipelines) tags the calls."""
        tag = {} if expert is None else {"expert": expert}

        def make(fwd):
            def tr_forward(*a, **k):
                out = fwd(*a, **k)
                self["tr"].append({kk: (v.clone() if isinstance(v, torch.Tensor) else v) for kk, v in k.items()}
                                  | {"out": out[0].clone()} | tag)
                return out

            return tr_forward

        self._patch(tr, "forward", make)

    def image_encoder(self, ie):
        def make(fwd):
            def ie_forward(*a, **k):
                out = fwd(*a, **k)
                self["ie"].append((k["pixel_values"].clone(), out.hidden_states[-2].clone()))
                return out

            return ie_forward

        self._patch(ie, "forward", make)

    def vae(self, vae, encoded=None):
        """vae.decode (latent in, sample out) and, with `encoded` (latent_dist -> tensor), vae.encode."""

        def make_dec(dec):
            def vae_decode(z, *a, **k):
                out = dec(z, *a, **k)
                self["dec"].append((z.clone(), (out[0] if isinstance(out, tuple) else out.sample).clone()))
                return out

            return vae_decode

        def make_enc(enc):
            def vae_encode(x, *a, **k):
                out = enc(x, *a, **k)
                self["enc"].append((x.clone(), encoded(out.latent_dist).clone()))
                return out

            return vae_encode

        self._patch(vae, "decode", make_dec)
        if encoded is not None:
            self._patch(vae, "encode", make_enc)

    def callback(self, p, i, t, kw):
        self["steps"].append({k: v.clone() for k, v in kw.items()})
        return {}

    def remove(self):
        for m, attr in self.patched:
            m.__dict__.pop(attr, None)

    def put_text(self, rec: Recorder):
        """Text encoder calls are [prompt, negative] (encode_prompt's order); the stored rows are the model batch
        [uncond, cond]. text_encoder_output is the raw last_hidden_state (before the cut-and-zero-pad);
        prompt_embeds / negative_prompt_embeds what the transformer gets (step 0's callback tensors)."""
        (ids_p, m_p, e_p), (ids_n, m_n, e_n) = self["te"][:2]
        rec.put("input_ids", torch.cat([ids_n, ids_p]))
        rec.put("attention_mask", torch.cat([m_n, m_p]))
        rec.put("text_encoder_output", torch.cat([e_n, e_p]))
        s0 = self["steps"][0]
        rec.put("prompt_embeds", s0["prompt_embeds"])
        rec.put("negative_prompt_embeds", s0["negative_prompt_embeds"])


STEP_TENSORS = ["latents", "prompt_embeds", "negative_prompt_embeds"]


def case_args(args: dict, note: str, **extra) -> dict:
    """A case's `args`: the __call__ arguments (output_type last), the note and the cleaned prompts."""
    return {k: v for k, v in args.items() if k != "output_type"} | {
        "output_type": args["output_type"], "_note": note,
        "_cleaned_prompt": clean(args["prompt"]), "_cleaned_negative_prompt": clean(args["negative_prompt"])} | extra


def run_pipeline(pipe, rec: Recorder, probes: Probes, draw_log=DrawLog, **call):
    """pipe(**call) with generator seed 0, every draw logged into `rec`, the step tensors into `probes` (whose
    overrides are removed afterwards). Returns (output, frames [F, H, W, 3] in [0, 1])."""
    gen = torch.Generator().manual_seed(0)
    try:
        with draw_log(rec), torch.no_grad():
            out = pipe(**call, generator=gen, callback_on_step_end=probes.callback,
                       callback_on_step_end_tensor_inputs=STEP_TENSORS)
    finally:
        probes.remove()
    return out, np.asarray(out.frames[0])


def latent_grid(vae, args: dict) -> tuple[int, int, int]:
    """(f, h, w) of the latent for the case's num_frames, height, width."""
    s_ratio, t_ratio = int(vae.config.scale_factor_spatial), int(vae.config.scale_factor_temporal)
    return (args["num_frames"] - 1) // t_ratio + 1, args["height"] // s_ratio, args["width"] // s_ratio


def new_doc(about: str, seed: int, cases: dict) -> dict:
    return {"about": about, "diffusers_version": __import__("diffusers").__version__,
            "torch_version": torch.__version__, "seed": seed, "cases": cases}


def finish_doc(doc: dict, fx: Path, model_dir: Path, rerun, indent=None):
    """onnx_vs_torch from the model's export_report.json, onnx_rerun = rerun(case, fx, model_dir) for every case;
    writes fx/cases.json and prints the re-run."""
    rep = Path(model_dir) / "export_report.json"
    if rep.exists():
        r = json.loads(rep.read_text())
        doc["onnx_vs_torch"] = r.get("ort_vs_torch_max_abs", {}) | r.get("chunked_vae_vs_diffusers_max_abs", {})
    doc["onnx_rerun"] = {name: rerun(c, fx, Path(model_dir)) for name, c in doc["cases"].items()}
    (fx / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    for k, c in doc["cases"].items():
        print(k, "latent", c["latent_shape"], "draws", [d["shape"] for d in c["draws"]])
        print("  onnx re-run:", json.dumps(doc["onnx_rerun"][k], indent=indent))


def pack(lat: torch.Tensor) -> torch.Tensor:
    """[1,C,f,h,w] -> tokens [f*h*w, C] (token-major, f,h,w order)."""
    return lat[0].permute(1, 2, 3, 0).reshape(-1, lat.shape[1])


def run_case(name: str, comps, fx: Path, extra: dict) -> dict:
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanPipeline

    args = dict(COMMON)
    args.update(extra)
    boundary_ratio = args.pop("boundary_ratio", None)  # a pipeline argument
    two = boundary_ratio is not None
    sched_kind = args.pop("_scheduler", None)  # None: Wan's UniPC
    if sched_kind == "flow_match_euler":
        scheduler = FlowMatchEulerDiscreteScheduler(**EULER_SCHEDULER)
    else:
        assert sched_kind is None, sched_kind
        scheduler = UniPCMultistepScheduler(**export.WAN_SCHEDULER)
    if two:
        pipe = WanPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                           scheduler=scheduler, transformer=comps["transformer"],
                           transformer_2=comps["transformer_2"], boundary_ratio=boundary_ratio)
    else:
        pipe = WanPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                           scheduler=scheduler, transformer=comps["transformer"])
    pipe.set_progress_bar_config(disable=True)
    rec = Recorder(fx / name)
    te, tr, vae = pipe.text_encoder, pipe.transformer, pipe.vae
    experts = [tr] + ([pipe.transformer_2] if two else [])
    probes = Probes()
    probes.text_encoder(te)
    for e, model in enumerate(experts):
        probes.transformer(model, e)
    probes.vae(vae)
    out, frames = run_pipeline(pipe, rec, probes, **args)
    f, h, w = latent_grid(vae, args)

    probes.put_text(rec)
    # UniPC: int64, what the transformer gets (as float in the ONNX graph); flow-match Euler: float32 (sigma*1000)
    rec.put("timesteps", scheduler.timesteps)
    rec.put("sigmas", scheduler.sigmas)
    calls = probes["tr"]
    # diffusers calls the transformer twice per step: cond then uncond (batch 1 each)
    c0, u0 = calls[0], calls[1]
    rec.put("transformer_input_step0", c0["hidden_states"])  # [1,16,f,h,w] = draw_00
    rec.put("velocity_step0", torch.cat([u0["out"], c0["out"]]))  # [2,16,f,h,w], rows [uncond, cond]
    for i in range(0, len(calls), 2):
        rec.put(f"timestep_step{i // 2}", calls[i]["timestep"].float())
    for i, st in enumerate(probes["steps"]):  # after scheduler.step i (UniPC: predictor + corrector), packed
        rec.put(f"latents_step{i}", pack(st["latents"]))
    # which transformer ran each step: 0 = `transformer`, 1 = `transformer_2` (both calls of a step: same one)
    experts_per_step = [calls[i]["expert"] for i in range(0, len(calls), 2)]
    assert all(calls[i]["expert"] == calls[i + 1]["expert"] for i in range(0, len(calls), 2))
    for i in range(0, len(calls), 2):  # the CFG-combined flow prediction fed to scheduler.step i, [1,16,f,h,w]
        g = float(args["guidance_scale"] if calls[i]["expert"] == 0 else args["guidance_scale_2"])
        rec.put(f"guided_velocity_step{i // 2}", calls[i + 1]["out"] + g * (calls[i]["out"] - calls[i + 1]["out"]))
    rec.put("latents_final", pack(probes["steps"][-1]["latents"]))
    z, sample = probes["dec"][-1]
    rec.put("decoder_latent", z)  # [1,16,f,h,w], z*std+mean (what the decoder graphs get)
    rec.put("frames", frames.transpose(0, 3, 1, 2))  # [F,3,H,W] in [0,1]
    if two:
        rec.put("experts_per_step", torch.tensor(experts_per_step, dtype=torch.int64))  # int64 [N]
        for i in range(0, len(calls), 2):  # every step's raw transformer output (both experts), rows [uncond, cond]
            if i:
                rec.put(f"velocity_step{i // 2}", torch.cat([calls[i + 1]["out"], calls[i]["out"]]))

    doc = {
        "pipeline": type(pipe).__name__,
        "kind": "t2v",
        "args": case_args(args, SHORT_TEXT_NOTE),
        "scheduler_config": {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "latent_shape": [1, int(vae.config.z_dim), f, h, w],
        "num_tokens": f * h * w,
        "draws": rec.draws,
        "tensors": rec.tensors,
    }
    if sched_kind == "flow_match_euler":
        ts = [float(t) for t in scheduler.timesteps.tolist()]
        sg = [float(x) for x in scheduler.sigmas.tolist()]
        doc["args"] |= {
            "_scheduler": sched_kind,
            "_timesteps": "scheduler's own set_timesteps(n)",
            "_timesteps_note": "WanPipeline calls scheduler.set_timesteps(num_inference_steps) with no sigmas. "
                               "FlowMatchEulerDiscreteScheduler(shift=%g): sigma_max/sigma_min are the ends of its "
                               "shifted training sigmas (1 and shift*s/(1+(shift-1)*s) at s=1/num_train_timesteps); "
                               "t = linspace(1000*sigma_max, 1000*sigma_min, n) (float64), sigma = t/1000, shifted "
                               "AGAIN: sigma = shift*sigma/(1+(shift-1)*sigma), float32; timesteps = sigma*1000 "
                               "(float32, not truncated: the transformer gets these floats); sigmas = [sigma..., 0]. "
                               "Here timesteps %s, sigmas %s. No init_noise_sigma scaling (1.0); step: "
                               "x + (sigma_{i+1} - sigma_i)*v in float32."
                               % (EULER_SCHEDULER["shift"], ts, sg)}
    if two:
        boundary_t = boundary_ratio * scheduler.config.num_train_timesteps
        doc["args"] |= {
            "boundary_ratio": boundary_ratio,
            "_two_experts_note": "WanPipeline(transformer=..., transformer_2=..., boundary_ratio=%g): `transformer` "
                                 "(transformer.onnx) runs the steps with t >= %g with guidance_scale, `transformer_2` "
                                 "(transformer_2.onnx) the rest with guidance_scale_2. The test's manifest adds "
                                 "components.transformer.low_noise = {\"file\": \"transformer_2.onnx\", "
                                 "\"boundary_ratio\": %g}." % (boundary_ratio, boundary_t, boundary_ratio)}
        doc["low_noise"] = {"file": "transformer_2.onnx", "boundary_ratio": boundary_ratio}
        doc["experts_per_step"] = experts_per_step
        assert experts_per_step == [0 if t >= boundary_t else 1 for t in scheduler.timesteps.tolist()]
        assert 0 in experts_per_step and 1 in experts_per_step, experts_per_step  # both experts must run
    return doc


# ----------------------------------------------------------------------------------------------
# Self-check: the same case from the ONNX graphs, tokenizer.json and the recorded draws
# ----------------------------------------------------------------------------------------------


def clean(text: str) -> str:
    """WanPipeline.prompt_clean without ftfy (not installed here; it is a no-op on ASCII prompts): html.unescape
    twice, strip, collapse every whitespace run to one space, strip."""
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def load(fx: Path, meta: dict) -> np.ndarray:
    return np.fromfile(fx / meta["file"], dtype="<i8" if meta["dtype"] == "int64" else "<f4").reshape(meta["shape"])


def rerun_setup(case: dict, fx: Path, model_dir: Path):
    """What every ONNX re-run starts from: manifest.json, the case's args and recorded tensors, tokenizer.json
    (the `tokenizers` library) and the text encoder / transformer sessions."""
    from tokenizers import Tokenizer

    man = json.loads((model_dir / "manifest.json").read_text())
    T = {k: load(fx, v) for k, v in case["tensors"].items()}
    tok = Tokenizer.from_file(str(model_dir / man["components"]["tokenizer"]["file"]))
    te = export._ort(model_dir / "text_encoder.onnx")
    tr = export._ort(model_dir / "transformer.onnx")
    return man, case["args"], T, tok, te, tr


def rerun_text(tok, te, args: dict, T: dict, res: dict, check_mask: bool = True) -> np.ndarray:
    """Both prompts through clean + tokenizer.json + text_encoder.onnx and Wan's cut-and-zero-pad; the diffs
    against the recorded tensors go into `res`. Returns the transformer context [2, L, D], rows [uncond, cond]."""
    L = args["max_sequence_length"]
    embeds, ids_all, mask_all = [], [], []
    for text in (args["negative_prompt"], args["prompt"]):  # [uncond, cond]
        ids = tok.encode(clean(text)).ids[:L]
        n = len(ids)
        ids = np.array([ids + [0] * (L - n)], dtype=np.int64)
        mask = np.array([[1] * n + [0] * (L - n)], dtype=np.int64)
        e = te.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        e[:, n:] = 0.0  # Wan: cut at the prompt's length, zero-pad
        embeds.append(e)
        ids_all.append(ids)
        mask_all.append(mask)
    res["input_ids_equal"] = bool(np.array_equal(np.concatenate(ids_all), T["input_ids"]))
    if check_mask:
        res["attention_mask_equal"] = bool(np.array_equal(np.concatenate(mask_all), T["attention_mask"]))
    res["prompt_embeds_max_abs"] = float(np.abs(embeds[1] - T["prompt_embeds"]).max())
    res["negative_prompt_embeds_max_abs"] = float(np.abs(embeds[0] - T["negative_prompt_embeds"]).max())
    return np.concatenate(embeds, 0).astype(np.float32)


def rerun_decode(model_dir: Path, z: np.ndarray, T: dict, res: dict, from_recorded: bool = True):
    """z = latents*std + mean through the chunked ORT decoder, clamp, x/2 + 0.5; diffs into `res`. from_recorded:
    also decode diffusers' own final latent (isolates the VAE graphs from the denoising loop)."""
    res["decoder_latent_max_abs"] = float(np.abs(z - T["decoder_latent"]).max())
    dec = export.ort_chunk_fns(model_dir / "vae_decoder_first.onnx", model_dir / "vae_decoder.onnx", "latent")
    video = export.chunked_decode(*dec, z.astype(np.float32))  # clamped [-1, 1]
    frames = np.clip(video[0].transpose(1, 0, 2, 3) / 2 + 0.5, 0, 1)  # [F,3,H,W]
    res["frames_max_abs"] = float(np.abs(frames - T["frames"]).max())
    if from_recorded:
        video2 = export.chunked_decode(*dec, T["decoder_latent"].astype(np.float32))
        frames2 = np.clip(video2[0].transpose(1, 0, 2, 3) / 2 + 0.5, 0, 1)
        res["frames_from_recorded_latent_max_abs"] = float(np.abs(frames2 - T["frames"]).max())


def onnx_rerun(case: dict, fx: Path, model_dir: Path) -> dict:
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    man, args, T, tok, te, tr = rerun_setup(case, fx, model_dir)
    res = {}
    # two experts: what the test does, the manifest gains components.transformer.low_noise (the tiny one has none).
    # One-expert cases ignore a manifest's low_noise (they were recorded with one transformer).
    low = None
    if "boundary_ratio" in args:
        low = man["components"]["transformer"].get("low_noise") or case.get("low_noise")
        assert low is not None and low["boundary_ratio"] == args["boundary_ratio"], low
    tr2 = export._ort(model_dir / low["file"]) if low else None

    ctx = rerun_text(tok, te, args, T, res)

    euler = args.get("_scheduler") == "flow_match_euler"
    if euler:  # not the manifest's UniPC: diffusers' flow-match Euler from the case's recorded config
        sch = FlowMatchEulerDiscreteScheduler(**case["scheduler_config"])
    else:
        sch_cfg = {k: v for k, v in man["scheduler"].items() if k != "kind"}
        sch = UniPCMultistepScheduler(**sch_cfg)
    sch.set_timesteps(args["num_inference_steps"])
    res["timesteps_equal"] = bool(np.array_equal(sch.timesteps.numpy(), T["timesteps"]))
    if euler:
        res["sigmas_equal"] = bool(np.array_equal(sch.sigmas.numpy(), T["sigmas"]))
    per_step = low is not None or euler  # per-step diffs (the older one-expert cases keep their recorded report)
    lat = T[case["draws"][0]["tensor"]].astype(np.float32)  # the one draw: initial latents [1,16,f,h,w]
    experts = []
    for i, t in enumerate(sch.timesteps):
        hs = np.concatenate([lat, lat], 0)
        # the runtime's rule (plugin denoise.rs): the low-noise expert when t < boundary_ratio * 1000
        e = 1 if (low is not None and float(t) < low["boundary_ratio"] * sch.config.num_train_timesteps) else 0
        experts.append(e)
        g = float(args["guidance_scale"] if e == 0 else args["guidance_scale_2"])
        v = (tr2 if e else tr).run(None, {"hidden_states": hs, "timestep": np.full([2], float(t), np.float32),
                                          "encoder_hidden_states": ctx})[0]
        if i == 0:
            res["velocity_step0_max_abs"] = float(np.abs(v - T["velocity_step0"]).max())
        elif f"velocity_step{i}" in T:
            res[f"velocity_step{i}_max_abs"] = float(np.abs(v - T[f"velocity_step{i}"]).max())
        v = v[:1] + g * (v[1:] - v[:1])
        if per_step:
            res[f"guided_velocity_step{i}_max_abs"] = float(np.abs(v - T[f"guided_velocity_step{i}"]).max())
        lat = sch.step(torch.from_numpy(v), t, torch.from_numpy(lat), return_dict=False)[0].numpy()
        if per_step:
            pk = lat[0].transpose(1, 2, 3, 0).reshape(-1, lat.shape[1])
            res[f"latents_step{i}_max_abs"] = float(np.abs(pk - T[f"latents_step{i}"]).max())
    if low is not None:
        res["experts_per_step"] = experts
        res["experts_per_step_equal"] = experts == T["experts_per_step"].tolist()
    packed = lat[0].transpose(1, 2, 3, 0).reshape(-1, lat.shape[1])
    res["latents_final_max_abs"] = float(np.abs(packed - T["latents_final"]).max())

    norm = man["latent"]["norm"]
    C = lat.shape[1]
    z = lat * np.array(norm["std"], np.float32).reshape(1, C, 1, 1, 1) + np.array(norm["mean"], np.float32).reshape(1, C, 1, 1, 1)
    rerun_decode(model_dir, z, T, res)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "fixtures"))
    ap.add_argument("--model-dir", default=str(HERE), help="the exported tiny model (for the ONNX re-run)")
    ap.add_argument("--seed", type=int, default=export.SEED)
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    fx = Path(args.out)
    fx.mkdir(parents=True, exist_ok=True)
    comps = export.tiny_components(args.seed)

    cases = {name: run_case(name, comps, fx, extra) for name, extra in CASES.items()}
    doc = new_doc("Parity fixtures recorded from diffusers %s WanPipeline with the tiny random Wan model in ../. "
                  "Tensors are raw little-endian C-order files; names and meaning are documented in ../README.md "
                  "(Fixtures)." % __import__("diffusers").__version__, args.seed, cases)
    finish_doc(doc, fx, args.model_dir, onnx_rerun)


if __name__ == "__main__":
    main()
