#!/usr/bin/env python3
"""LTX pipelines re-implemented with ONLY the ONNX graphs + numpy + tokenizer.json + the recorded draws.

This is the executable form of README.md: no torch, no diffusers. It reads manifest.json, runs every case
in fixtures/cases.json and fixtures/long_cases.json (long shots: reference_long.py), compares each intermediate
with what diffusers recorded, and writes the max-abs diffs into those files under "numpy_reimplementation".
A Rust runtime that follows README.md should land in the same place (final latents within 1e-3, frames
within 1/255; schedulers within 1e-6).

  python reference.py [--cases t2v,long_windows,...]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
F32 = np.float32


# ----------------------------------------------------------------------------------------------
# Small pieces (each mirrors one diffusers function; see README.md for the source lines)
# ----------------------------------------------------------------------------------------------


def tokenize(tok: Tokenizer, text: str, max_length: int, pad_id: int):
    tok.no_padding()  # the manifest's rules below, not a padding/truncation a saved tokenizer.json may carry
    tok.no_truncation()
    ids = tok.encode(text).ids  # post-processor appends </s>
    if len(ids) > max_length:  # HF truncation keeps room for the special token
        ids = ids[: max_length - 1] + [ids[-1]]
    n = len(ids)
    ids = ids + [pad_id] * (max_length - n)
    mask = [1] * n + [0] * (max_length - n)
    return np.array([ids], np.int64), np.array([mask], np.int64)


def pack(z):  # [B,C,F,H,W] -> [B,F*H*W,C] (patch 1x1x1)
    b, c = z.shape[:2]
    return np.ascontiguousarray(z.reshape(b, c, -1).transpose(0, 2, 1))


def unpack(x, f, h, w):  # [B,S,C] -> [B,C,F,H,W]
    b, s, c = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1).reshape(b, c, f, h, w))


def lerp(a, b, w):
    """torch.lerp: start + w*(end-start) for w < 0.5, else end - (end-start)*(1-w)."""
    a, b = a.astype(F32), b.astype(F32)
    w = F32(w)
    return (a + w * (b - a)) if w < 0.5 else (b - (b - a) * (F32(1) - w))


def posterior_sample(moments, eps, c):
    mean = moments[:, :c]
    logvar = np.clip(moments[:, c:], F32(-30.0), F32(20.0))
    std = np.exp(F32(0.5) * logvar)
    return (mean + std * eps).astype(F32)


def normalize(z, mean, std, sf=1.0):
    m = np.asarray(mean, F32).reshape(1, -1, 1, 1, 1)
    s = np.asarray(std, F32).reshape(1, -1, 1, 1, 1)
    return ((z - m) * F32(sf) / s).astype(F32)


def denormalize(z, mean, std, sf):
    m = np.asarray(mean, F32).reshape(1, -1, 1, 1, 1)
    s = np.asarray(std, F32).reshape(1, -1, 1, 1, 1)
    return (z * s / F32(sf) + m).astype(F32)


def load_image(path: Path):
    """PNG -> [1,3,H,W] float32 in [-1,1] (VaeImageProcessor: /255 then 2x-1; no resize at the target size)."""
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / F32(255.0)
    a = F32(2.0) * a - F32(1.0)
    return a.transpose(2, 0, 1)[None]


def calculate_shift(seq_len, base_seq, max_seq, base_shift, max_shift):
    m = (max_shift - base_shift) / (max_seq - base_seq)
    b = base_shift - m * base_seq
    return seq_len * m + b


def linear_quadratic_schedule(n, threshold_noise=0.025, linear_steps=None):
    if linear_steps is None:
        linear_steps = n // 2
    if n < 2:
        return np.array([1.0], F32)
    lin = [i * threshold_noise / linear_steps for i in range(linear_steps)]
    diff = linear_steps - threshold_noise * n
    q_steps = n - linear_steps
    qc = diff / (linear_steps * q_steps**2)
    lc = threshold_noise / linear_steps - 2 * diff / (q_steps**2)
    const = qc * (linear_steps**2)
    quad = [qc * (i**2) + lc * i + const for i in range(linear_steps, n)]
    sched = [1.0 - x for x in lin + quad + [1.0]]
    return np.array(sched[:-1], F32)


def flow_match_set_timesteps(cfg, n=None, sigmas=None, timesteps=None, mu=None):
    """FlowMatchEulerDiscreteScheduler.set_timesteps (no karras/exponential/beta/invert).

    Returns (timesteps [n] f32, sigmas [n+1] f32 with the appended 0). Dtypes follow diffusers: given sigmas
    or timesteps are cast to f32 first and all later math stays f32; the default linspace path is f64 until
    the final cast."""
    T = cfg["num_train_timesteps"]
    given_t = timesteps is not None
    if given_t:
        timesteps = np.asarray(timesteps, dtype=np.float64).astype(F32)
    if sigmas is None:
        if timesteps is None:
            # sigma_max/sigma_min of the *training* schedule built in __init__ (shifted when static)
            s_train = (np.linspace(1, T, T, dtype=F32)[::-1] / F32(T)).astype(F32)
            if not cfg["use_dynamic_shifting"]:
                sh = cfg["shift"]
                s_train = (sh * s_train / (1 + (sh - 1) * s_train)).astype(F32)
            timesteps = np.linspace(float(s_train[0]) * T, float(s_train[-1]) * T, n)  # f64
        sig = timesteps / T
    else:
        sig = np.asarray(sigmas, dtype=np.float64).astype(F32)
    if cfg["use_dynamic_shifting"]:
        if cfg["time_shift_type"] == "exponential":
            sig = math.exp(mu) / (math.exp(mu) + (1 / sig - 1) ** 1.0)
        else:
            sig = mu / (mu + (1 / sig - 1) ** 1.0)
    else:
        sh = cfg["shift"]
        sig = sh * sig / (1 + (sh - 1) * sig)
    if cfg.get("shift_terminal"):
        omz = 1 - sig
        scale = omz[-1] / (1 - cfg["shift_terminal"])
        sig = 1 - (omz / scale)
    sig = np.asarray(sig).astype(F32)
    ts = timesteps if given_t else (sig * F32(T)).astype(F32)
    return ts, np.concatenate([sig, np.zeros(1, F32)])


def euler_step(x, v, sigma, sigma_next):
    return (x + (F32(sigma_next) - F32(sigma)) * v).astype(F32)


def euler_step_per_token(x, model_output, per_token_t, sigmas, T=1000):
    """FlowMatchEuler step with per_token_timesteps: model_output is -v in LTX's Condition pipeline."""
    pts = (per_token_t / F32(T)).astype(F32)  # [B,S]
    lower = sigmas[:, None, None] < (pts[None] - F32(1e-6))
    lower_s = (lower * sigmas[:, None, None]).max(axis=0)
    dt = (pts - lower_s)[..., None]
    return (x + dt * model_output).astype(F32)


def ddim_set_timesteps(cfg, n):
    T = cfg["num_train_timesteps"]
    sp = cfg["timestep_spacing"]
    if sp == "linspace":
        ts = np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)
    elif sp == "leading":
        r = T // n
        ts = (np.arange(0, n) * r).round()[::-1].astype(np.int64) + cfg["steps_offset"]
    elif sp == "trailing":
        r = T / n
        ts = np.round(np.arange(T, 0, -r)).astype(np.int64) - 1
    else:
        raise ValueError(sp)
    return ts


def torch_linspace_f32(start, end, steps):
    """torch.linspace(start, end, steps, dtype=float32), bit-exact: f32 step, two-sided evaluation."""
    a, b = F32(start), F32(end)
    step = (b - a) / F32(steps - 1)
    i = np.arange(steps, dtype=np.float64)
    v = np.where(i < steps // 2, np.float64(a) + i * np.float64(step), np.float64(b) - (steps - 1 - i) * np.float64(step))
    return v.astype(F32)


def ddim_alphas_cumprod(cfg):
    """betas as torch builds them (f32 linspace), alphas_cumprod = cumprod accumulated in f64 (torch CPU) -> f32."""
    T = cfg["num_train_timesteps"]
    if cfg["beta_schedule"] == "linear":
        betas = torch_linspace_f32(cfg["beta_start"], cfg["beta_end"], T)
    elif cfg["beta_schedule"] == "scaled_linear":
        betas = (torch_linspace_f32(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, T) ** 2).astype(F32)
    else:
        raise ValueError(cfg["beta_schedule"])
    return np.cumprod((F32(1) - betas).astype(np.float64)).astype(F32)


def ddim_step(cfg, n, ac, model_output, t, x):
    """DDIMScheduler.step with eta = 0. Returns (prev_sample, pred_original_sample)."""
    T = cfg["num_train_timesteps"]
    prev_t = t - T // n
    a_t = ac[t]
    a_prev = ac[prev_t] if prev_t >= 0 else (F32(1.0) if cfg["set_alpha_to_one"] else ac[0])
    b_t = F32(1) - a_t
    sa, sb = F32(np.sqrt(np.float64(a_t))), F32(np.sqrt(np.float64(b_t)))
    if cfg["prediction_type"] == "epsilon":
        x0 = (x - sb * model_output) / sa
        eps = model_output
    elif cfg["prediction_type"] == "v_prediction":
        x0 = sa * x - sb * model_output
        eps = sa * model_output + sb * x
    else:
        raise ValueError(cfg["prediction_type"])
    if cfg["clip_sample"]:
        r = F32(cfg["clip_sample_range"])
        x0 = np.clip(x0, -r, r)
    prev = F32(np.sqrt(np.float64(a_prev))) * x0 + F32(np.sqrt(np.float64(F32(1) - a_prev))) * eps
    return prev.astype(F32), x0.astype(F32)


def check_schedulers(path: Path):
    doc = json.loads(path.read_text())
    worst = {}

    def upd(k, a, b):
        d = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(b) else 0.0
        worst[k] = max(worst.get(k, 0.0), d)

    fm = doc["flow_match_euler"]
    for c in fm["set_timesteps"]:
        st = c["set_timesteps"]
        ts, sig = flow_match_set_timesteps(c["config"], n=st["num_inference_steps"], sigmas=st["sigmas"],
                                           timesteps=st["timesteps"], mu=st["mu"])
        upd("flow_set_timesteps", ts, c["timesteps"])
        upd("flow_set_timesteps", sig, c["sigmas"])
    for c in fm["step"]:
        sig = np.asarray(c["sigmas"], F32)
        if "model_outputs" in c:
            x = np.asarray(c["sample"], F32)
            for i, mo in enumerate(c["model_outputs"]):
                x = euler_step(x, np.asarray(mo, F32), sig[i], sig[i + 1])
                upd("flow_step", x, c["samples_after_each_step"][i])
        else:
            y = euler_step_per_token(np.asarray(c["sample"], F32), np.asarray(c["model_output"], F32),
                                     np.asarray(c["per_token_timesteps"], F32), sig)
            upd("flow_step_per_token", y, c["prev_sample"])
    for c in doc["ddim"]:
        cfg, n = c["config"], c["num_inference_steps"]
        upd("ddim_timesteps", ddim_set_timesteps(cfg, n), c["timesteps"])
        ac = ddim_alphas_cumprod(cfg)
        upd("ddim_alphas_cumprod", ac, doc["ddim_alphas_cumprod"][c["alphas_cumprod_key"]])
        for stp in c["steps"]:
            prev, x0 = ddim_step(cfg, n, ac, np.asarray(c["model_output"], F32), stp["t"], np.asarray(c["sample"], F32))
            for mine, ref in ((prev, stp["prev_sample"]), (x0, stp["pred_original_sample"])):
                ref = np.asarray(ref, np.float64)
                upd("ddim_step_relative", (mine - ref) / np.maximum(1.0, np.abs(ref)), np.zeros_like(ref))
    return worst


# ----------------------------------------------------------------------------------------------
# Runner
# ----------------------------------------------------------------------------------------------


class LTX:
    def __init__(self, root: Path):
        self.root = root
        self.m = json.loads((root / "manifest.json").read_text())
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.log_severity_level = 3
        comp = self.m["components"]
        mk = lambda k: ort.InferenceSession(str(root / comp[k]["file"]), so, providers=["CPUExecutionProvider"])
        self.te, self.tr, self.enc, self.dec = mk("text_encoder"), mk("transformer"), mk("vae_encoder"), mk("vae_decoder")
        self.tok = Tokenizer.from_file(str(root / comp["tokenizer"]["file"]))
        lat = self.m["latent"]
        self.C, self.sr, self.tr_ratio = lat["channels"], lat["spatial_ratio"], lat["temporal_ratio"]
        self.mean, self.std, self.sf = lat["norm"]["mean"], lat["norm"]["std"], lat["norm"]["scaling_factor"]

    # text ------------------------------------------------------------------------------------
    def encode_text(self, kind, prompt, negative, max_len):
        comp = self.m["components"]
        pad = comp["tokenizer"]["pad_id"]
        ids_n, mask_n = tokenize(self.tok, negative, max_len, pad)
        ids_p, mask_p = tokenize(self.tok, prompt, max_len, pad)
        use_mask = comp["text_encoder"]["mask_input"][kind] == "tokenizer_mask"
        emb = []
        for ids, mask in ((ids_n, mask_n), (ids_p, mask_p)):
            feed_mask = mask if use_mask else np.ones_like(mask)
            emb.append(self.te.run(None, {"input_ids": ids, "attention_mask": feed_mask})[0])
        return (np.concatenate([ids_n, ids_p]), np.concatenate([mask_n, mask_p]), np.concatenate(emb).astype(F32))

    def velocity(self, x, emb, mask, t_tok, coords, g):
        """CFG-batched transformer call: batch [uncond, cond] -> guided velocity [1,S,C]."""
        out = self.tr.run(None, {
            "hidden_states": np.concatenate([x, x]).astype(F32),
            "encoder_hidden_states": emb,
            "encoder_attention_mask": mask,
            "timestep": np.concatenate([t_tok, t_tok]).astype(F32),
            "video_coords": np.concatenate([coords, coords]).astype(F32),
        })[0]
        u, c = out[:1], out[1:]
        return (u + F32(g) * (c - u)).astype(F32), out

    def encode_pixels(self, x, eps):
        moments = self.enc.run(None, {"sample": x.astype(F32)})[0]
        z = posterior_sample(moments, eps, self.C)
        return normalize(z, self.mean, self.std, 1.0), moments  # I2V/Condition normalise with sf=1.0

    def decode(self, packed, f, h, w, noise, decode_t, decode_s):
        z = denormalize(unpack(packed, f, h, w), self.mean, self.std, self.sf)
        feeds = {"latent": None}
        if self.m["components"]["vae_decoder"]["timestep_conditioning"]:
            s = F32(decode_t if decode_s is None else decode_s)
            z = ((F32(1) - s) * z + s * noise).astype(F32)
            feeds["timestep"] = np.array([decode_t], F32)
        feeds["latent"] = z
        x = self.dec.run(None, feeds)[0]  # [1,3,F,H,W] in [-1,1]
        frames = np.clip(x[0].transpose(1, 0, 2, 3) * F32(0.5) + F32(0.5), 0, 1)  # [F,3,H,W]
        return z, frames

    # coords ----------------------------------------------------------------------------------
    def coords_interp(self, f, h, w, fps):
        ff, hh, ww = np.meshgrid(np.arange(f, dtype=F32), np.arange(h, dtype=F32), np.arange(w, dtype=F32), indexing="ij")
        st = F32(self.tr_ratio / fps)
        return np.stack([ff * st, hh * F32(self.sr), ww * F32(self.sr)]).reshape(1, 3, -1).astype(F32)

    def coords_causal(self, f, h, w, frame_index):
        ff, hh, ww = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
        T = self.tr_ratio
        fpix = np.maximum(ff * T + 1 - T, 0) + frame_index
        return np.stack([fpix, hh * self.sr, ww * self.sr]).reshape(1, 3, -1)  # int; scaled by 1/fps later


def run_case(L: LTX, case: dict, fx: Path):
    a = case["args"]
    kind = case["kind"]
    cfg = case["scheduler_config"]
    draws = [load(fx, case["tensors"][d["tensor"]]) for d in case["draws"]]
    di = iter(draws)
    C, T, SR = L.C, L.tr_ratio, L.sr
    F_, H, W = a["num_frames"], a["height"], a["width"]
    f, h, w = (F_ - 1) // T + 1, H // SR, W // SR
    S = f * h * w
    n = a["num_inference_steps"]
    g = a["guidance_scale"]
    mine = {}

    ids, mask, emb = L.encode_text(kind, a["prompt"], a["negative_prompt"], a["max_sequence_length"])
    mine["input_ids"], mine["attention_mask"], mine["prompt_embeds"] = ids, mask, emb

    if kind in ("t2v", "i2v"):
        mu = calculate_shift(S, cfg["base_image_seq_len"], cfg["max_image_seq_len"], cfg["base_shift"], cfg["max_shift"])
        ts, sig = flow_match_set_timesteps(cfg, sigmas=np.linspace(1.0, 1 / n, n), mu=mu)
        coords = L.coords_interp(f, h, w, a["frame_rate"])
        if kind == "t2v":
            x = pack(next(di))
            cond_tok = np.zeros((1, S), F32)
        else:
            img = load_image(fx / a["_image_file"])[:, :, None]  # [1,3,1,H,W]
            init, _ = L.encode_pixels(img, next(di))
            init = np.repeat(init, f, axis=2)
            fmask = np.zeros((1, 1, f, h, w), F32)
            fmask[:, :, 0] = 1
            noise = next(di)
            x = pack(init * fmask + noise * (F32(1) - fmask))
            cond_tok = pack(fmask)[..., 0]
            mine["conditioning_mask"] = cond_tok
        mine["initial_latents"], mine["video_coords"], mine["sigmas"], mine["timesteps"] = x, coords, sig, ts
        for i, t in enumerate(ts):
            t_tok = (t * (F32(1) - cond_tok)).astype(F32)  # t2v: all t; i2v: 0 on frame-0 tokens
            v, raw = L.velocity(x, emb, mask, t_tok, coords, g)
            if i == 0:
                mine["velocity_step0"], mine["transformer_input_step0"] = raw, x
            mine[f"timestep_step{i}"] = np.concatenate([t_tok, t_tok])
            x_new = euler_step(x, v, sig[i], sig[i + 1])
            x = np.where(cond_tok[..., None] > 0, x, x_new) if kind == "i2v" else x_new  # i2v: frame 0 not stepped
            if i == 0:
                mine["latents_step0"] = x
        mine["latents_final"] = x
        final = x
    else:
        ts_in = (linear_quadratic_schedule(n) * F32(1000)).astype(F32)
        ts, sig = flow_match_set_timesteps(cfg, timesteps=ts_in)
        noise = next(di)
        lat = noise.copy()
        fmask = np.zeros((1, f), F32)
        extras, extra_coords, extra_mask = [], [], []
        enc_i = 0
        for c in a["_conditions"]:
            if "image" in c:
                px = load_image(fx / c["image"])[:, :, None]
            else:
                frames = [load_image(fx / p)[:, :, None] for p in c["video"]]
                px = np.concatenate(frames, axis=2)
                keep = min(px.shape[2], F_ - c["frame_index"])
                keep = (keep - 1) // T * T + 1
                px = px[:, :, :keep]
            z, _ = L.encode_pixels(px, next(di))
            enc_i += 1
            s, fi = c["strength"], c["frame_index"]
            nc = z.shape[2]
            if fi == 0:
                lat[:, :, :nc] = lerp(lat[:, :, :nc], z, s)
                fmask[:, :nc] = s
            else:
                npre = L.m["conditioning"]["condition"]["num_prefix_latent_frames"]
                if px.shape[2] > 1 and nc > npre:
                    start = fi // T + npre
                    end = start + nc - npre
                    lat[:, :, start:end] = lerp(lat[:, :, start:end], z[:, :, npre:], s)
                    fmask[:, start:end] = s
                    z = z[:, :, :npre]
                z = lerp(next(di), z, s)
                extras.append(pack(z))
                extra_coords.append(L.coords_causal(z.shape[2], h, w, fi))
                extra_mask.append(np.full((1, z.shape[2] * h * w), s, F32))
        tok_frame = np.repeat(np.arange(f), h * w)
        cmask = fmask[:, tok_frame]
        coords = np.concatenate(extra_coords + [L.coords_causal(f, h, w, 0)], axis=2).astype(F32)
        coords[:, 0] = coords[:, 0] * F32(1.0 / a["frame_rate"])
        x = np.concatenate(extras + [pack(lat)], axis=1)
        cmask = np.concatenate(extra_mask + [cmask], axis=1).astype(F32)
        n_extra = x.shape[1] - S
        init = x.copy()
        mine["initial_latents"], mine["video_coords"], mine["sigmas"], mine["timesteps"] = x, coords, sig, ts
        mine["conditioning_mask"] = cmask
        ncs = a.get("image_cond_noise_scale", 0.15)
        for i, t in enumerate(ts):
            tt = F32(t / F32(1000.0))
            if ncs > 0:
                nz = next(di)
                hard = (cmask > F32(1.0 - 1e-6))[..., None]
                x = np.where(hard, init + F32(ncs) * nz * (tt * tt), x).astype(F32)
            t_tok = np.minimum(np.full_like(cmask, t), (F32(1) - cmask) * F32(1000.0)).astype(F32)
            v, raw = L.velocity(x, emb, mask, t_tok, coords, g)
            if i == 0:
                mine["velocity_step0"], mine["transformer_input_step0"] = raw, x
            mine[f"timestep_step{i}"] = np.concatenate([t_tok, t_tok])
            x_new = euler_step_per_token(x, -v, t_tok, sig)
            upd = ((tt - F32(1e-6)) < (F32(1) - cmask))[..., None]
            x = np.where(upd, x_new, x).astype(F32)
            if i == 0:
                mine["latents_step0"] = x
        mine["latents_final"] = x
        final = x[:, n_extra:]

    dnoise = next(di)
    z, frames = L.decode(final, f, h, w, dnoise, a["decode_timestep"], a.get("decode_noise_scale"))
    mine["decoder_latent"], mine["frames"] = z, frames
    assert next(di, None) is None, "unused recorded draws"

    diffs = {}
    for k, v in mine.items():
        ref = load(fx, case["tensors"][k])
        v = np.asarray(v).reshape(ref.shape) if np.asarray(v).size == ref.size else v
        if np.asarray(v).shape != ref.shape:
            diffs[k] = f"shape mismatch {np.asarray(v).shape} vs {ref.shape}"
            continue
        diffs[k] = float(np.max(np.abs(np.asarray(v, np.float64) - ref.astype(np.float64))))
    return diffs


def load(fx: Path, t: dict):
    dt = "<i8" if t["dtype"] == "int64" else "<f4"
    return np.fromfile(fx / t["file"], dtype=dt).reshape(t["shape"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(HERE), help="folder with manifest.json and the graphs")
    ap.add_argument("--fixtures", default=None, help="default: ROOT/fixtures")
    ap.add_argument("--cases", default=None, help="comma-separated subset")
    ap.add_argument("--no-write", action="store_true", help="do not store the diffs in cases.json")
    args = ap.parse_args(argv)
    root = Path(args.root)
    fx = Path(args.fixtures) if args.fixtures else root / "fixtures"
    import reference_long

    doc = json.loads((fx / "cases.json").read_text())
    long_path = fx / "long_cases.json"
    long_doc = json.loads(long_path.read_text()) if long_path.exists() else {"cases": {}}
    sched = check_schedulers(fx / "schedulers.json")
    sched_doc = json.loads((fx / "schedulers.json").read_text())
    if "ltx_euler_ancestral_rf" in sched_doc:
        reference_long.check_rf(sched_doc, sched)
    for k, v in sched.items():
        tol = 2e-6 if k == "ddim_step_relative" else 1e-6
        print(f"schedulers.json {k:22s} max abs {v:.3e} (tol {tol:g}) {'OK' if v <= tol else 'FAIL'}")
    ok_s = all(v <= (2e-6 if k == "ddim_step_relative" else 1e-6) for k, v in sched.items())
    L = LTX(root)
    res = {}
    ok = ok_s
    runs = [(n, c, run_case) for n, c in doc["cases"].items()]
    runs += [(n, c, reference_long.run_long_case) for n, c in long_doc["cases"].items()]
    long_res = {}
    for name, case, run in runs:
        if args.cases and name not in args.cases.split(","):
            continue
        d = run(L, case, fx)
        (long_res if name in long_doc["cases"] else res)[name] = d
        lat, fr = d["latents_final"], d["frames"]
        good = isinstance(lat, float) and lat <= 1e-3 and isinstance(fr, float) and fr <= 1 / 255
        ok &= good
        print(f"{name:22s} latents_final {lat:.3e}  frames {fr:.3e}  {'OK' if good else 'FAIL'}")
        for k, v in d.items():
            print(f"    {k:18s} {v if isinstance(v, str) else f'{v:.3e}'}")
    if not args.no_write:
        doc.setdefault("numpy_reimplementation", {}).update(res)
        doc["numpy_reimplementation_schedulers"] = sched
        (fx / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
        if long_res:
            long_doc.setdefault("numpy_reimplementation", {}).update(long_res)
            long_path.write_text(json.dumps(long_doc, indent=1) + "\n")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
