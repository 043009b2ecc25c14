#!/usr/bin/env python3
"""Long shots (LTXI2VLongMultiPromptPipeline) and LTXEulerAncestralRFScheduler with ONLY numpy + the ONNX graphs.

The executable form of README.md "Long shots": no torch, no diffusers. reference.py runs it on every case in
fixtures/long_cases.json and on schedulers.json["ltx_euler_ancestral_rf"], and stores the max-abs diffs.
Each function names the diffusers 0.42.1 lines it mirrors (PL = pipelines/ltx/pipeline_ltx_i2v_long_multi_prompt.py,
RF = schedulers/scheduling_ltx_euler_ancestral_rf.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reference import (
    F32,
    LTX,
    denormalize,
    euler_step,
    flow_match_set_timesteps,
    load,
    load_image,
    normalize,
    pack,
    torch_linspace_f32,
    unpack,
)

# FlowMatchEulerDiscreteScheduler defaults: the RF scheduler's num_inference_steps path builds one from its config
FM_DEFAULTS = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, time_shift_type="exponential",
                   shift_terminal=None)


# ----------------------------------------------------------------------------------------------
# LTXEulerAncestralRFScheduler
# ----------------------------------------------------------------------------------------------


def rf_set_timesteps(cfg, n=None, sigmas=None, timesteps=None, mu=None):
    """RF:213-290. Returns (timesteps, sigmas) f32. Explicit sigmas (or `timesteps`, taken as sigmas) are used as
    given (the caller includes the terminal 0); otherwise FlowMatch's n-only schedule (README §1, "Neither")."""
    if sigmas is None and timesteps is None:
        fm = dict(FM_DEFAULTS)
        fm.update({k: v for k, v in cfg.items() if k in FM_DEFAULTS})
        return flow_match_set_timesteps(fm, n=n, mu=mu)
    s = np.asarray(sigmas if sigmas is not None else timesteps, dtype=np.float64).astype(F32)
    return (s * F32(cfg.get("num_train_timesteps", 1000))).astype(F32), s


def rf_step(x, v, sigmas, i, eta, s_noise, noise=None):
    """RF:357-411, all f32. `noise` [shape of x] is needed iff sigmas[i+1] != 0 and eta > 0 and s_noise > 0."""
    if i >= len(sigmas) - 1:
        return x
    s, s1 = F32(sigmas[i]), F32(sigmas[i + 1])
    denoised = (x - s * v).astype(F32)
    if abs(s1) < 1e-8:
        return denoised
    r = F32(1.0) + (s1 / s - F32(1.0)) * F32(eta)
    sd = s1 * r
    a1 = F32(1.0) - s1
    ad = F32(1.0) - sd
    q = sd / s
    x = (q * x + (F32(1.0) - q) * denoised).astype(F32)
    if eta > 0 and s_noise > 0:
        c = F32(np.sqrt(max(s1 * s1 - sd * sd * (a1 * a1) / (ad * ad + F32(1e-12)), F32(0.0))))
        x = ((a1 / (ad + F32(1e-12))) * x + noise * c * F32(s_noise)).astype(F32)
    return x


def rf_needs_noise(sigmas, i, eta, s_noise):
    return i < len(sigmas) - 1 and abs(float(sigmas[i + 1])) >= 1e-8 and eta > 0 and s_noise > 0


def check_rf(doc: dict, worst: dict):
    def upd(k, a, b):
        d = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        worst[k] = max(worst.get(k, 0.0), d)

    rf = doc["ltx_euler_ancestral_rf"]
    for c in rf["set_timesteps"]:
        a = c["set_timesteps"]
        ts, sig = rf_set_timesteps(c["config"], n=a.get("num_inference_steps"), sigmas=a.get("sigmas"),
                                   timesteps=a.get("timesteps"), mu=a.get("mu"))
        upd("rf_set_timesteps", ts, c["timesteps"])
        upd("rf_set_timesteps", sig, c["sigmas"])
    for c in rf["step"]:
        sig = np.asarray(c["sigmas"], F32)
        x = np.asarray(c["sample"], F32)
        eta, sn = c["config"]["eta"], c["config"]["s_noise"]
        for i, mo in enumerate(c["model_outputs"]):
            nz = c["noises"][i]
            assert (nz is not None) == rf_needs_noise(sig, i, eta, sn), (c["name"], i)
            x = rf_step(x, np.asarray(mo, F32), sig, i, eta, sn, None if nz is None else np.asarray(nz, F32))
            upd("rf_step", x, c["samples_after_each_step"][i])
    return worst


# ----------------------------------------------------------------------------------------------
# Window plan, coordinates, AdaIN, cross-fade
# ----------------------------------------------------------------------------------------------


def split_windows(n_lat, tile, overlap):
    """PL:183-209: [start, end) latent windows with stride max(tile - overlap, 1); the last one ends at n_lat."""
    stride = max(tile - overlap, 1)
    out, start = [], 0
    while start < n_lat:
        end = min(start + tile, n_lat)
        out.append((start, end))
        if end == n_lat:
            break
        start += stride
    return out


def prompt_segments(prompt: str):
    """PL:321-361 (bar-split mode): window k takes segment min(k, len-1)."""
    return [p.strip() for p in prompt.split("|")]


def latent_coords(nf, h, w, T, R, latent_idx):
    """PL:75-115 get_latent_coords, int64 [1,3,nf*h*w] in pixel units (time not yet divided by fps)."""
    ff, hh, ww = np.meshgrid(np.arange(nf), np.arange(h), np.arange(w), indexing="ij")
    c = np.stack([ff * T, hh * R, ww * R]).reshape(1, 3, -1).astype(np.int64)
    frame_idx = latent_idx * T if latent_idx <= 0 else 1 + (latent_idx - 1) * T
    if frame_idx == 0:
        c[:, 0] = np.maximum(c[:, 0] + 1 - T, 0)
    c[:, 0] += frame_idx
    return c


def window_coords(n_frames, h, w, T, R, fps, n_overlap, n_negative):
    """PL:279-318 build_video_coords_for_window: causal coords of all n_frames token frames, then the LAST
    (n_overlap + n_negative) frames' coords replaced by [overlap frames at the window head | one frame at -T]."""
    c = latent_coords(n_frames, h, w, T, R, 0)
    rep = []
    if n_overlap > 0:
        rep.append(latent_coords(n_overlap, h, w, T, R, 0))
    if n_negative > 0:
        rep.append(latent_coords(n_negative, h, w, T, R, -1))
    if rep:
        r = np.concatenate(rep, axis=2)
        c[:, :, -r.shape[2]:] = r
    c = c.astype(F32)
    c[:, 0] = c[:, 0] * F32(1.0 / fps)
    return c


def adain(curr, ref, factor):
    """PL:145-180: per-channel mean / unbiased std over (T,H,W), blended towards the reference's by `factor`."""
    if ref is None or factor is None or factor <= 0:
        return curr
    eps = F32(1e-6)
    ax = (2, 3, 4)
    mu_c = curr.mean(axis=ax, keepdims=True, dtype=np.float64).astype(F32)
    sd_c = curr.std(axis=ax, ddof=1, keepdims=True, dtype=np.float64).astype(F32)
    mu_r = ref.mean(axis=ax, keepdims=True, dtype=np.float64).astype(F32)
    sd_r = ref.std(axis=ax, ddof=1, keepdims=True, dtype=np.float64).astype(F32)
    f, g = F32(factor), F32(1.0 - factor)
    mu_b = g * mu_c + f * mu_r
    sd_b = np.maximum(g * sd_c + f * sd_r, eps)
    return (((curr - mu_c) / (sd_c + eps)) * sd_b + mu_b).astype(F32)


def overlap_fuse(prev, new, overlap):
    """PL:212-231 linear_overlap_fuse: overlap <= 1 concatenates; else alpha = linspace(1,0,overlap+2)[1:-1]."""
    if overlap <= 1:
        return np.concatenate([prev, new], axis=2)
    alpha = torch_linspace_f32(1.0, 0.0, overlap + 2)[1:-1].reshape(1, 1, -1, 1, 1)
    blended = alpha * prev[:, :, -overlap:] + (F32(1) - alpha) * new[:, :, :overlap]
    return np.concatenate([prev[:, :, :-overlap], blended.astype(F32), new[:, :, overlap:]], axis=2)


# ----------------------------------------------------------------------------------------------
# Tiled decode
# ----------------------------------------------------------------------------------------------


def decode_tiled(L: LTX, lat, noise, decode_t, decode_s, h_tiles, v_tiles, overlap, mine, last_frame_fix=True):
    """PL:739-933 vae_decode_tiled: denormalise, repeat the last latent frame, mix decode noise, decode spatial
    tiles, feather-blend them, clamp to [-1,1], drop the last T frames. Returns frames [F,3,H,W] in [0,1]."""
    T, R = L.tr_ratio, L.sr
    z = denormalize(lat, L.mean, L.std, L.sf)
    if last_frame_fix:
        z = np.concatenate([z, z[:, :, -1:]], axis=2)
    _, _, fl, hl, wl = z.shape
    t_in = None
    if L.m["components"]["vae_decoder"]["timestep_conditioning"]:
        t_in = np.array([decode_t or 0.0], F32)
        if decode_s is not None:
            s = F32(decode_s)
            z = ((F32(1) - s) * z + s * noise).astype(F32)
    ov = max(int(overlap), 0)
    base_h = (hl + (v_tiles - 1) * ov) // v_tiles
    base_w = (wl + (h_tiles - 1) * ov) // h_tiles
    fo = 1 + (fl - 1) * T
    out = np.zeros((1, 3, fo, hl * R, wl * R), F32)
    wsum = np.zeros((1, 1, fo, hl * R, wl * R), F32)
    j = 0
    for v in range(v_tiles):
        for hh in range(h_tiles):
            hs, vs = hh * (base_w - ov), v * (base_h - ov)
            he = min(hs + base_w, wl) if hh < h_tiles - 1 else wl
            ve = min(vs + base_h, hl) if v < v_tiles - 1 else hl
            tile = np.ascontiguousarray(z[:, :, :, vs:ve, hs:he])
            mine[f"decode_tile{j}_latent"] = tile
            j += 1
            feeds = {"latent": tile} if t_in is None else {"latent": tile, "timestep": t_in}
            y = L.dec.run(None, feeds)[0].astype(F32)
            wt = np.ones((1, 1, y.shape[2], (ve - vs) * R, (he - hs) * R), F32)
            o = ov * R
            if o > 0:
                if hh > 0:
                    wt[..., :o] *= torch_linspace_f32(0, 1, o)
                if hh < h_tiles - 1:
                    wt[..., -o:] *= torch_linspace_f32(1, 0, o)
                if v > 0:
                    wt[..., :o, :] *= torch_linspace_f32(0, 1, o)[:, None]
                if v < v_tiles - 1:
                    wt[..., -o:, :] *= torch_linspace_f32(1, 0, o)[:, None]
            out[:, :, :, vs * R:ve * R, hs * R:he * R] += y * wt
            wsum[:, :, :, vs * R:ve * R, hs * R:he * R] += wt
    if t_in is not None:
        mine["decoder_timestep"] = t_in
    x = np.clip(out / (wsum + F32(1e-8)), F32(-1), F32(1))
    if last_frame_fix:
        x = x[:, :, :-T]
    return np.clip(x[0].transpose(1, 0, 2, 3) * F32(0.5) + F32(0.5), 0, 1)


# ----------------------------------------------------------------------------------------------
# The pipeline (PL:937-1410, __call__)
# ----------------------------------------------------------------------------------------------


def run_long_case(L: LTX, case: dict, fx: Path):
    a, cfg = case["args"], case["scheduler_config"]
    rf = case["scheduler"] == "LTXEulerAncestralRFScheduler"
    di = iter([load(fx, case["tensors"][d["tensor"]]) for d in case["draws"]])
    C, T, R = L.C, L.tr_ratio, L.sr
    f, h, w = (a["num_frames"] - 1) // T + 1, a["height"] // R, a["width"] // R
    g = a["guidance_scale"]
    mine = {}

    # first-frame condition: VAE mean (mode, no draw), normalised with the config's scaling factor
    cond = None
    cs = a.get("cond_strength", 0.5)
    if a.get("_image_file") and cs > 0:
        px = load_image(fx / a["_image_file"])[:, :, None]
        moments = L.enc.run(None, {"sample": px})[0]
        cond = normalize(moments[:, :C], L.mean, L.std, L.sf)
        mine["vae_encode_input0"], mine["vae_moments0"] = px, moments
    glob = np.zeros((1, C, f, h, w), F32)  # prepare_latents: zeros, frame 0 = cond (never updated afterwards)
    neg_strength = a.get("negative_index_strength", 1.0)
    neg = cond  # negative_index_latents default to the condition latents
    if cond is not None:
        glob[:, :, :1] = cond

    if a.get("sigmas") is not None:
        ts, sig = rf_set_timesteps(cfg, sigmas=a["sigmas"]) if rf else flow_match_set_timesteps(cfg, sigmas=a["sigmas"])
    elif rf:
        ts, sig = rf_set_timesteps(cfg, n=a["num_inference_steps"])
    else:
        ts, sig = flow_match_set_timesteps(cfg, n=a["num_inference_steps"])
    mine["sigmas"], mine["timesteps"] = sig, ts
    thr = a.get("skip_steps_sigma_threshold", 1.0)
    eta, s_noise = cfg.get("eta", 1.0), cfg.get("s_noise", 1.0)

    tile = max(1, a["temporal_tile_size"] // T)
    ov = max(0, a["temporal_overlap"] // T)
    ov_s = a.get("temporal_overlap_cond_strength", 0.5)
    segs = prompt_segments(a["prompt"])
    out = first = None
    for k, (ws, we) in enumerate(split_windows(f, tile, ov)):
        p = f"w{k}_"
        ids, mask, emb = L.encode_text("t2v", segs[min(k, len(segs) - 1)], a["negative_prompt"], a["max_sequence_length"])
        mine[p + "input_ids"], mine[p + "attention_mask"], mine[p + "prompt_embeds"] = ids, mask, emb
        wl = glob[:, :, ws:we]
        m5 = np.ones((1, 1, we - ws, h, w), F32)
        appended = 0
        if k > 0 and ov > 0 and ov_s is not None and ov_s > 0:  # previous tail, appended AFTER the window frames
            n = min(ov, wl.shape[2], out.shape[2])
            tail = out[:, :, -n:]
            mine[p + "prev_tail"] = tail
            wl = np.concatenate([wl, tail], axis=2)
            m5 = np.concatenate([m5, np.full((1, 1, n, h, w), F32(1.0 - ov_s))], axis=2)
            appended += n
        n_neg = 1 if (neg is not None and neg_strength > 0) else 0
        if n_neg:
            wl = np.concatenate([wl, neg[:, :, -1:]], axis=2)
            m5 = np.concatenate([m5, np.full((1, 1, 1, h, w), F32(1.0 - neg_strength))], axis=2)
            appended += 1
        if k == 0 and cond is not None:
            m5[:, :, 0] = F32(1.0 - cs)
        nf = wl.shape[2]
        eps = next(di)  # [1,C,nf,h,w] from the window's generator (seed + ws)
        x = pack((eps * m5 + (F32(1) - m5) * wl).astype(F32))
        wlp = pack(wl)
        m = pack(m5)  # [1,S,1]
        coords = window_coords(nf, h, w, T, R, a["frame_rate"], ov if (k > 0 and ov > 0) else 0, n_neg)
        mine[p + "conditioning_latents"], mine[p + "conditioning_mask"] = wlp, m[..., 0]
        mine[p + "video_coords"] = coords
        call = 0
        for i, t in enumerate(ts[:-1]):  # the pipeline never runs the schedule's last timestep
            if thr is not None and thr > 0 and float(sig[i]) > thr:
                continue
            t_tok = (F32(t) * m[..., 0]).astype(F32)
            v, raw = L.velocity(x, emb, mask, t_tok, coords, g)  # the model sees x BEFORE the pre-blend
            mine[f"{p}timestep_step{call}"] = np.concatenate([t_tok, t_tok])
            xb = (x * m + wlp * (F32(1) - m)).astype(F32)
            if call == 0:
                mine[p + "transformer_input_step0"], mine[p + "velocity_step0"], mine[p + "step_input0"] = x, raw, xb
            if rf:
                nz = next(di) if rf_needs_noise(sig, i, eta, s_noise) else None
                x = rf_step(xb, v, sig, i, eta, s_noise, nz)
            else:
                x = euler_step(xb, v, sig[i], sig[i + 1])
            x = (x * m + wlp * (F32(1) - m)).astype(F32)
            if call == 0:
                mine[p + "latents_step0"] = x
            call += 1
        mine[p + "latents_final"] = x
        wout = unpack(x, nf, h, w)
        if appended:
            wout = wout[:, :, :-appended]
        if out is None:
            out = first = wout
            continue
        wout = wout[:, :, 1:]  # the window's first frame is dropped
        if a["adain_factor"] > 0:
            mine[p + "adain_in"] = wout
            wout = adain(wout, first, a["adain_factor"])
            mine[p + "adain_out"] = wout
        n = wout.shape[2]
        mine[p + "fuse_prev"], mine[p + "fuse_new"] = out[:, :, -n:], wout
        fused = overlap_fuse(out[:, :, -n:], wout, max(ov - 1, 1))
        mine[p + "fused"] = fused
        out = np.concatenate([out[:, :, :-n], fused], axis=2)

    mine["latents_final"] = out
    noise = next(di) if a.get("decode_noise_scale") is not None else None
    mine["frames"] = decode_tiled(L, out, noise, a["decode_timestep"], a.get("decode_noise_scale"),
                                  a["decode_horizontal_tiles"], a["decode_vertical_tiles"], a["decode_overlap"], mine)
    assert next(di, None) is None, "unused recorded draws"

    diffs = {}
    for k, v in mine.items():
        if k not in case["tensors"]:
            diffs[k] = "not recorded"
            continue
        ref = load(fx, case["tensors"][k])
        v = np.asarray(v)
        if v.size == ref.size:
            v = v.reshape(ref.shape)
        if v.shape != ref.shape:
            diffs[k] = f"shape mismatch {v.shape} vs {ref.shape}"
            continue
        diffs[k] = float(np.max(np.abs(v.astype(np.float64) - ref.astype(np.float64))))
    for k in case["tensors"]:
        if k not in mine and not k.startswith("draw_"):
            diffs[k] = "not computed"
    return diffs
