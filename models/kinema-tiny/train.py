#!/usr/bin/env python3
"""Train Kinema-tiny (an LTX-architecture text-to-video model) from scratch on data.py's synthetic world, on CPU.

Stages (each a fixed number of steps with a wall-clock safety limit; each leaves a usable checkpoint in --work):
  1. vae    AutoencoderKLLTXVideo (spatial ratio 8, temporal ratio 2, C=32), reconstruction L1 + MSE weighted
            towards the objects and their edges, the same on the frame-to-frame differences (so a still background
            does not flicker), + small KL, on random 9- and 17-frame windows of rendered clips; then the detector's
            accuracy, the mean error and the background's flicker on round-tripped held-out clips (the ceiling for
            the whole model).
  2. encode render a fresh pool of clips, encode them (posterior mean/std of the full clip, the last frame
            alone, and frames 8..16), note how much of each latent token the objects cover, and set
            vae.latents_mean/std from the pool.
  3. dit    LTXVideoTransformer3DModel + T5EncoderModel trained jointly with rectified flow exactly as LTX's
            FlowMatchEuler scheduler expects: x_t = (1-s) x0 + s n, target v = n - x0, timestep = s*1000 per
            token; object tokens weigh 5x in the loss; s uniform, high-biased or logit-normal. Conditioning by
            token masks, as the three diffusers pipelines use it (clean tokens get timestep 0 and 0.15*s^2
            noise): first latent frame (image-to-video), a prefix (extend forward), appended last-frame tokens
            at frame_index 16 (keyframes), appended frames 8..16 at frame_index 8 (extend backward). RoPE
            coords in both conventions (interpolation_scale and causal_pixel), fps drawn from [20, 30]. Text
            encoder is run like LTXPipeline (padded to 128, mask ones) or LTXConditionPipeline (tokenizer mask).
            10% prompt dropout to "" for CFG. Batch 2, lr 1e-3 cosine: in 12-minute side-by-side runs small
            batches learnt fastest per minute (held-out object-token loss at s=0.5: batch 8 0.334, batch 4
            0.297, batch 2 0.256, though that run was also further into its schedule). 60% of the text- and
            image-to-video batches are the clips' first 9 frames (5 latent frames, batch 3): cheaper per sample,
            so the prompt is learnt from more clips per minute (0.347 -> 0.334 at batch 8). The saved weights are
            an exponential moving average.
  4. save   diffusers folder layout (model_index.json, scheduler/, text_encoder/, tokenizer/, transformer/, vae/)
            in --work/pipeline, loadable by LTXPipeline.from_pretrained and models/ltx/export.py --from-pretrained.

Logs: --work/train_log.json (config, per-stage timings, loss curves, the VAE's round-trip detector accuracy).
Seeded (torch/numpy seed 0, generators per stage); all cores (KINEMA_TRAIN_THREADS to change); bf16 autocast
where the CPU has native bf16. On 2 idle cores the run takes about 57 minutes, the transformer stage reaching its
25000 steps in about 44 of its 46 minutes when nothing else runs (the shipped run, with builds beside it for part
of the time, was at step 24839 when the limit stopped it); on a machine that falls more than 5 % behind, the cosine schedule
follows the clock instead, so the learning rate has still annealed when the stage stops at its limit.

Training triples are drawn colour first (data.sample_scene), so each colour is seen equally often however many of
its triples are held out; the tokenizer reads "dark <colour>" as one word (JOIN_DARK).

  python train.py --work /work/scratch-tiny/run2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch

THREADS = int(os.environ.get("KINEMA_TRAIN_THREADS", os.cpu_count() or 1))
torch.set_num_threads(THREADS)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402

FPS = 25
# Spatial ratio 8 = patch 4 x one (2,2,2) scaling, temporal ratio 2. (Patch 2 with two scalings, temporal ratio 4,
# learned about 3x slower per wall-clock minute in a side-by-side test and still blurred squares into circles.)
T_RATIO, S_RATIO = 2, 8
SHORT_LATENT_FRAMES = 5  # the first 9 frames
C = 32
VAE_CFG = dict(
    in_channels=3, out_channels=3, latent_channels=C,
    block_out_channels=(32, 64, 64, 64), decoder_block_out_channels=(32, 64, 64, 64),
    layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
    spatio_temporal_scaling=(True, False, False, False), decoder_spatio_temporal_scaling=(True, False, False, False),
    decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4, upsample_factor=(1, 1, 1, 1),
    timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
)
TE_DIM = 64
T5_CFG = dict(
    d_model=TE_DIM, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4,
    relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="gated-gelu",
    dropout_rate=0.0, layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    is_encoder_decoder=True, tie_word_embeddings=False,
)
TR_CFG = dict(
    in_channels=C, out_channels=C, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=32,
    cross_attention_dim=128, num_layers=4, caption_channels=TE_DIM,
)
SCHED_CFG = dict(use_dynamic_shifting=False)


def cpu_has_native_bf16() -> bool:
    """bf16 autocast pays only where the CPU multiplies bf16 natively (AVX512-BF16, AMX); elsewhere it is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def autocast(args):
    """Mixed precision for the training forward passes: weights, optimiser state and losses stay fp32."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)


# "dark red" is one colour name, one token: with "red" as a token of its own in the background's name, the model
# gave the object a colour the background's name has (20 of the 25 colour misses of the run before this rule, and 3
# more drew no object; with it, none of 100).
JOIN_DARK = (r"\bdark\s+", "dark")


def build_tokenizer():
    """WordLevel tokenizer over the world's vocabulary, T5 conventions (<pad>=0, </s>=1 appended, <unk>=2); the
    normalizer joins "dark <colour>" into one word (JOIN_DARK)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                       normalizers.Replace(Regex(JOIN_DARK[0]), JOIN_DARK[1])])
    words = []
    for s in data.VOCAB_SENTENCES + ["an a the and on with small gradient background dark"]:
        for w in normalizer.normalize_str(s).split():  # the words the tokenizer will see
            if w not in words:
                words.append(w)
    vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<unk>"] + sorted(words) + [",", "."])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=256, padding_side="right", truncation_side="right")


def to_tensor(clips_u8):  # [B,F,H,W,3] uint8 -> [B,3,F,H,W] in [-1,1]
    x = torch.from_numpy(np.ascontiguousarray(clips_u8)).float().div_(127.5).sub_(1.0)
    return x.permute(0, 4, 1, 2, 3).contiguous()


def render_pool(n, seed):
    clips, caps = [], []
    for i in range(n):
        c, cap, _ = data.make_clip(seed + i)
        clips.append(c)
        caps.append(cap)
    return np.stack(clips), caps


# ------------------------------------------------------------------------------------------------
def train_vae(vae, args, log):
    t0 = time.time()
    clips, _ = render_pool(args.vae_pool, seed=10_000_000)
    log["vae_pool_render_s"] = time.time() - t0
    rng = np.random.default_rng(1)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    curve, step, t0 = [], 0, time.time()
    budget = args.vae_minutes * 60
    vae.train()
    while step < args.vae_steps and time.time() - t0 < budget:
        lr = args.vae_lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.vae_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(len(clips), size=args.vae_batch)
        nf = 9 if rng.random() < 0.8 else 17
        st = rng.integers(0, data.FRAMES - nf + 1, size=args.vae_batch)
        b = np.stack([clips[i, s:s + nf] for i, s in zip(idx, st)])
        if rng.random() < 0.5:
            b = b[:, :, :, ::-1]  # horizontal flip
        x = to_tensor(b)
        obj = (x.max(dim=1, keepdim=True).values > -0.25).float()  # objects are bright, backgrounds dark
        obj = torch.nn.functional.max_pool3d(obj, (1, 3, 3), 1, (0, 1, 1))  # and their edges, where blur shows
        w = 1.0 + 8.0 * obj
        with autocast(args):
            post = vae.encode(x).latent_dist
            z = post.sample()
            y = vae.decode(z).sample.float()
        # L1 keeps edges (and a square's corners) sharp where MSE alone averages them into a blur
        rec = (w * ((y - x).abs() + (y - x) ** 2)).mean()
        # and the change from frame to frame as the clip has it: a still background must not boil, or every
        # generated clip flickers and an extension jumps at its seam (a decoder fine-tuned 800 steps so on the
        # last model's latents: background flicker 1.70 -> 1.45 levels on round trips, 1.38 -> 1.20 on the
        # transformer's latents, the detector's scores unchanged)
        dy, dx = y[:, :, 1:] - y[:, :, :-1], x[:, :, 1:] - x[:, :, :-1]
        wt = torch.maximum(w[:, :, 1:], w[:, :, :-1])
        rec = rec + args.vae_temporal * (wt * ((dy - dx).abs() + (dy - dx) ** 2)).mean()
        m, v, lv = post.mean.float(), post.var.float(), post.logvar.float()
        kl = 0.5 * (m ** 2 + v - 1.0 - lv).mean()
        loss = rec + 1e-5 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        curve.append([step, round(time.time() - t0, 1), float(rec), float(kl)])
        if step % 25 == 0:
            print(f"vae step {step} t={time.time() - t0:.0f}s rec={float(rec):.4f} kl={float(kl):.3f}", flush=True)
        if step % 200 == 0:
            torch.save(vae.state_dict(), Path(args.work) / "vae.pt")
        step += 1
    vae.eval()
    torch.save(vae.state_dict(), Path(args.work) / "vae.pt")
    log["vae"] = dict(steps=step, stopped_by_time_limit=step < args.vae_steps, seconds=time.time() - t0, final_rec=float(np.mean([c[2] for c in curve[-20:]])), curve=curve[::5])
    del clips
    log["vae"]["roundtrip"] = vae_roundtrip(vae)
    print("vae round trip (detector on decoded held-out clips):", log["vae"]["roundtrip"], flush=True)


@torch.no_grad()
def vae_roundtrip(vae, n=48):
    """The detector's accuracy on encoded+decoded held-out clips: the ceiling for what the transformer can reach."""
    import eval_detector as det

    hits = {"colour": 0, "shape": 0, "motion": 0}
    error, flicker = [], []
    for scene in data.heldout_scenes(n, seed=4242):
        clip = data.render(scene)
        y = vae.decode(vae.encode(to_tensor(clip[None])).latent_dist.mode()).sample
        frames = ((y[0].permute(1, 2, 3, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        d, o = det.detect(frames), scene["objects"][0]
        for k in hits:
            hits[k] += d[k] == o[k]
        f, c = frames.astype(np.float32), clip.astype(np.float32)
        error.append(np.abs(f - c).mean())
        still = (clip.max(-1) < 90)[1:] & (clip.max(-1) < 90)[:-1]  # background in both frames
        flicker.append(np.abs(f[1:] - f[:-1]).mean(-1)[still].mean())
    out = {k: v / n for k, v in hits.items()}
    # mean |decoded - clip| and the background's frame-to-frame change (0 in every clip), in 8-bit levels
    out.update(error=float(np.mean(error)), background_flicker=float(np.mean(flicker)))
    return out


def object_weights(clips_u8):
    """Per latent token, how much of it the objects cover (max over the frames it encodes), in [0, 1]."""
    obj = torch.from_numpy(clips_u8.max(axis=-1) >= 120).float()  # [B,F,H,W]; objects >= 200, backgrounds <= 80
    first = obj[:, :1]
    rest = obj[:, 1:].reshape(obj.shape[0], -1, T_RATIO, data.H, data.W).amax(2)
    per_frame = torch.cat([first, rest], 1)  # [B,f,H,W]
    cover = torch.nn.functional.avg_pool2d(per_frame, S_RATIO)  # [B,f,h,w]
    return (cover * 4).clamp(max=1.0).half()


@torch.no_grad()
def encode_pool(vae, args, log):
    t0 = time.time()
    full_m, full_s, last_m, last_s, tail_m, tail_s, caps, objw = [], [], [], [], [], [], [], []
    bs = 16
    for i0 in range(0, args.dit_pool, bs):
        n = min(bs, args.dit_pool - i0)
        clips, cc = render_pool(n, seed=20_000_000 + i0)
        objw.append(object_weights(clips))
        x = to_tensor(clips)
        for xs, lm, ls in ((x, full_m, full_s), (x[:, :, -1:], last_m, last_s), (x[:, :, 8:], tail_m, tail_s)):
            p = vae.encode(xs).latent_dist
            lm.append(p.mean.clone())
            ls.append(p.std.clone())
        caps += cc
        if i0 % 400 == 0:
            print(f"encode {i0}/{args.dit_pool} t={time.time() - t0:.0f}s", flush=True)
    pool = dict(full_m=torch.cat(full_m), full_s=torch.cat(full_s), last_m=torch.cat(last_m), last_s=torch.cat(last_s),
                tail_m=torch.cat(tail_m), tail_s=torch.cat(tail_s), caps=caps,
                objw=torch.cat(objw))
    m = pool["full_m"]
    mean = m.mean(dim=(0, 2, 3, 4))
    std = (m.transpose(0, 1).reshape(C, -1).std(dim=1) ** 2 + pool["full_s"].pow(2).mean(dim=(0, 2, 3, 4))).sqrt()
    vae.latents_mean.copy_(mean)
    vae.latents_std.copy_(std)
    log["encode"] = dict(seconds=time.time() - t0, latents_mean=mean.tolist(), latents_std=std.tolist(),
                         posterior_std_mean=float(pool["full_s"].mean()))
    torch.save(pool, Path(args.work) / "pool.pt")
    torch.save(vae.state_dict(), Path(args.work) / "vae.pt")
    return pool


def pack(z):  # [B,C,f,h,w] -> [B,f*h*w,C] (LTX order f,h,w)
    B, Cc, f, h, w = z.shape
    return z.permute(0, 2, 3, 4, 1).reshape(B, f * h * w, Cc)


def coords(f, h, w, mode, frame_index=0, fps=FPS):
    """video_coords [3, f*h*w] as the pipelines compute them (before the graph divides by the rope base)."""
    ff, hh, ww = torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij")
    ff, hh, ww = ff.reshape(-1).float(), hh.reshape(-1).float() * S_RATIO, ww.reshape(-1).float() * S_RATIO
    if mode == "interp":
        fc = ff * T_RATIO / fps
    else:
        fc = ((ff * T_RATIO + 1 - T_RATIO).clamp(min=0) + frame_index) / fps
    return torch.stack([fc, hh, ww])


def encode_text(te, tok, prompts, mode):
    if mode == "t2v":  # LTXPipeline / LTXImageToVideoPipeline: pad to 128, text encoder sees no mask
        t = tok(prompts, padding="max_length", max_length=128, truncation=True, add_special_tokens=True, return_tensors="pt")
        emb = te(t.input_ids).last_hidden_state
    else:  # LTXConditionPipeline: the mask goes into the text encoder too (L=256 there; same result for real tokens)
        t = tok(prompts, padding="longest", truncation=True, add_special_tokens=True, return_tensors="pt")
        emb = te(t.input_ids, attention_mask=t.attention_mask).last_hidden_state
    return emb, t.attention_mask


def schedule_progress(step: int, steps: int, elapsed: float, budget: float, behind: float = 0.05) -> float:
    """How far through its cosine schedule the transformer stage is: by steps, so that a run is deterministic,
    unless the wall clock is more than `behind` ahead of them (a slow machine that would hit the time limit first):
    then by the clock, so the learning rate has still annealed when the stage stops. An idle 2-core machine runs
    about 5 % faster than the budget's pace, and its warm-up steps stay well within the margin."""
    by_steps, by_clock = step / steps, elapsed / budget
    return min(1.0, by_clock if by_clock - by_steps > behind else by_steps)


def train_dit(tr, te, tok, vae, pool, args, log):
    rng = np.random.default_rng(2)
    gen = torch.Generator().manual_seed(3)
    params = list(tr.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=args.dit_lr, weight_decay=0.01)
    mean = vae.latents_mean.view(1, C, 1, 1, 1)
    std = vae.latents_std.view(1, C, 1, 1, 1)

    def sample_lat(key, idx):
        m, s = pool[key + "_m"][idx], pool[key + "_s"][idx]
        return (m + s * torch.randn(m.shape, generator=gen) - mean) / std

    N = len(pool["caps"])
    _, _, f_full, h, w = pool["full_m"].shape
    modes = ["t2v", "first", "prefix", "key", "tail"]
    probs = [0.4, 0.15, 0.15, 0.15, 0.15]
    curve, step, t0 = [], 0, time.time()
    budget = args.dit_minutes * 60
    tr.train()
    te.train()
    ema = None
    # exponential moving average of the weights: what gets saved (smoother samples from a short run)
    avg = {k: v.detach().clone() for k, v in list(tr.state_dict().items()) + [("te." + k, v) for k, v in te.state_dict().items()]}
    live = dict(list(tr.state_dict(keep_vars=True).items()) + [("te." + k, v) for k, v in te.state_dict(keep_vars=True).items()])

    def averaged():
        return ({k: v for k, v in avg.items() if not k.startswith("te.")}, {k[3:]: v for k, v in avg.items() if k.startswith("te.")})

    while step < args.dit_steps and time.time() - t0 < budget:
        frac = schedule_progress(step, args.dit_steps, time.time() - t0, budget)
        lr = args.dit_lr * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        mode = modes[rng.choice(len(modes), p=probs)]
        # Text-to-video and image-to-video batches are often the clip's first 9 frames (5 latent frames, which the
        # causal encoder gives exactly): 2.3x cheaper per sample, and the prompt's colour, shape and direction are
        # all visible in them, so the text is learnt from more clips per minute.
        short = mode in ("t2v", "first") and rng.random() < args.dit_short
        B = args.dit_batch_short if short else args.dit_batch
        f = SHORT_LATENT_FRAMES if short else f_full
        idx = torch.from_numpy(rng.integers(N, size=B))
        x0 = pack(sample_lat("full", idx)[:, :, :f])  # [B,S,C]
        S = x0.shape[1]
        per_f = h * w
        sig = torch.rand(B, generator=gen) * 0.999 + 0.001
        r = rng.random()
        if r < 0.3:  # extra weight on high noise, where layout and motion are decided
            sig = 1 - (1 - sig) ** 2
        elif r < 0.6:  # logit-normal (SD3): the middle of the schedule, where shapes form
            sig = torch.sigmoid(torch.randn(B, generator=gen)).clamp(0.001, 1.0)
        noise = torch.randn(x0.shape, generator=gen)
        xt = (1 - sig[:, None, None]) * x0 + sig[:, None, None] * noise
        cond = torch.zeros(B, S, dtype=torch.bool)
        crd_mode = "interp" if (mode in ("t2v", "first") and rng.random() < 0.5) else "causal"
        fps = float(rng.uniform(20, 30))  # hosts pass their own frame rate (24, 25, 30...)
        vc = coords(f, h, w, crd_mode, fps=fps).unsqueeze(0).expand(B, -1, -1)
        extra_x, extra_c = [], []
        if mode == "first":
            cond[:, :per_f] = True
        elif mode == "prefix":
            k = int(rng.integers(2, f))
            cond[:, :k * per_f] = True
        elif mode == "key":
            if rng.random() < 0.7:
                cond[:, :per_f] = True
            extra_x.append(pack(sample_lat("last", idx)))
            extra_c.append(coords(1, h, w, "causal", frame_index=data.FRAMES - 1, fps=fps))
        elif mode == "tail":
            # frames 8..16 as a clip condition at frame_index 8: LTXConditionPipeline appends its first two latent
            # frames as extra tokens and writes the rest in place from latent frame 8 // T_RATIO + 2 on
            tl = pack(sample_lat("tail", idx))
            n_tail = tl.shape[1] // per_f
            extra_x.append(tl[:, :2 * per_f])
            extra_c.append(coords(2, h, w, "causal", frame_index=8, fps=fps))
            sf, ef = 8 // T_RATIO + 2, 8 // T_RATIO + n_tail
            xt[:, sf * per_f:ef * per_f] = tl[:, 2 * per_f:]
            x0 = x0.clone()
            x0[:, sf * per_f:ef * per_f] = tl[:, 2 * per_f:]
            cond[:, sf * per_f:ef * per_f] = True
        # hard-conditioning tokens: clean + 0.15 * s^2 noise, timestep 0 (LTXConditionPipeline semantics)
        cn = 0.15 * (sig ** 2)[:, None, None] * torch.randn(x0.shape, generator=gen)
        xt = torch.where(cond[..., None], x0 + cn, xt)
        tstep = torch.where(cond, torch.zeros(()), sig[:, None].expand(B, S) * 1000.0)
        hs, tt, vcc = xt, tstep, vc
        if extra_x:
            ex = torch.cat(extra_x, 1)
            ex = ex + 0.15 * (sig ** 2)[:, None, None] * torch.randn(ex.shape, generator=gen)
            hs = torch.cat([ex, xt], 1)
            tt = torch.cat([torch.zeros(B, ex.shape[1]), tstep], 1)
            vcc = torch.cat([torch.cat(extra_c, 1).unsqueeze(0).expand(B, -1, -1), vc], 2)
        prompts = [pool["caps"][i] if rng.random() >= 0.1 else "" for i in idx.tolist()]
        tmode = "t2v" if mode in ("t2v", "first") and rng.random() < 0.7 else "cond"
        with autocast(args):
            emb, am = encode_text(te, tok, prompts, tmode)
            out = tr(hidden_states=hs, encoder_hidden_states=emb, timestep=tt, encoder_attention_mask=am.float(),
                     video_coords=vcc, return_dict=False)[0]
        out = out[:, hs.shape[1] - S:].float()
        target = noise - x0
        # the objects are what the prompt describes and a few % of the tokens: weigh them up (x5 where covered)
        objw = pack(pool["objw"][idx][:, :f].float().unsqueeze(1))[..., 0]  # [B,S]
        wmask = ((~cond).float() * (1.0 + 4.0 * objw))[..., None]
        loss = ((out - target) ** 2 * wmask).sum() / (wmask.sum() * C)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.998, (1 + step) / (10 + step))
            for k, v in avg.items():
                if v.dtype.is_floating_point:
                    v.mul_(d).add_(live[k].detach(), alpha=1 - d)
        ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
        curve.append([step, round(time.time() - t0, 1), mode, float(loss)])
        if step % 25 == 0:
            print(f"dit step {step} t={time.time() - t0:.0f}s mode={mode} loss={float(loss):.4f} ema={ema:.4f} lr={lr:.2e}", flush=True)
        if step % 300 == 0 and step:
            a_tr, a_te = averaged()
            torch.save({"tr": tr.state_dict(), "te": te.state_dict(), "tr_avg": a_tr, "te_avg": a_te, "step": step}, Path(args.work) / "dit.pt")
        step += 1
    a_tr, a_te = averaged()
    torch.save({"tr": tr.state_dict(), "te": te.state_dict(), "tr_avg": a_tr, "te_avg": a_te, "step": step}, Path(args.work) / "dit.pt")
    tr.load_state_dict(a_tr)
    te.load_state_dict(a_te)
    tr.eval()
    te.eval()
    log["dit"] = dict(steps=step, stopped_by_time_limit=step < args.dit_steps, seconds=time.time() - t0, final_loss_ema=ema, curve=curve[::5])


def save_pipeline(tr, te, tok, vae, out: Path):
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXPipeline

    pipe = LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**SCHED_CFG), vae=vae, text_encoder=te, tokenizer=tok, transformer=tr)
    pipe.save_pretrained(str(out))
    return pipe


def build(seed=0):
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    tok = build_tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(**VAE_CFG)
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    with torch.no_grad():  # start with a low posterior std (logvar is the encoder's last output channel) so the
        # latents carry information from step 0 instead of being drowned in unit noise (posterior collapse)
        vae.encoder.conv_out.conv.bias[-1] = -7.0
        vae.encoder.conv_out.conv.weight[-1] *= 0.1
    torch.manual_seed(seed)
    tr = LTXVideoTransformer3DModel(**TR_CFG)
    torch.manual_seed(seed)
    te = T5EncoderModel(T5Config(vocab_size=len(tok), **T5_CFG))
    return tok, vae, tr, te


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/work/scratch-tiny/run")
    # Step counts make a run reproducible; the minutes are only a safety limit for slower machines (a stage
    # that hits it stops early and says so in the log). The defaults take about 53 minutes on 2 idle cores, where
    # the transformer stage reaches all its 25000 steps. Transformer steps are what the held-out scores
    # follow, so the VAE gets the smaller share.
    ap.add_argument("--vae-steps", type=int, default=4800)
    ap.add_argument("--vae-minutes", type=float, default=12)
    ap.add_argument("--vae-temporal", type=float, default=2.0, help="weight of the frame-difference reconstruction loss")
    ap.add_argument("--dit-steps", type=int, default=25000)
    ap.add_argument("--dit-minutes", type=float, default=46)
    ap.add_argument("--vae-pool", type=int, default=1600)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--resume-vae", action="store_true", help="continue from --work/vae.pt (a second VAE session)")
    ap.add_argument("--vae-batch", type=int, default=6)
    ap.add_argument("--dit-pool", type=int, default=4000)
    ap.add_argument("--dit-batch", type=int, default=2)
    ap.add_argument("--dit-lr", type=float, default=1e-3)
    ap.add_argument("--dit-short", type=float, default=0.6,
                    help="share of text-to-video and image-to-video batches trained on the first 9 frames only")
    ap.add_argument("--dit-batch-short", type=int, default=3)
    ap.add_argument("--resume-dit", action="store_true", help="continue from --work/dit.pt (a second transformer session)")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="bf16 autocast for the training passes (default: on where the CPU has native bf16). On 2 Zen 4 "
                         "cores the transformer alone runs 1.35x faster, a whole training step only 1.05x "
                         "(0.507 s against 0.533 s)")
    ap.add_argument("--stages", default="vae,encode,dit,save")
    ap.add_argument("--pipeline-out", help="save stage: write here instead of --work/pipeline (e.g. a checkpoint of a run in progress)")
    args = ap.parse_args()
    if args.bf16 is None:
        args.bf16 = cpu_has_native_bf16()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    np.random.seed(0)
    tok, vae, tr, te = build()
    logp = work / "train_log.json"
    log = json.loads(logp.read_text()) if logp.exists() else {}
    log["config"] = dict(args=vars(args), vae=VAE_CFG, transformer=TR_CFG, t5=T5_CFG, scheduler=SCHED_CFG, fps=FPS,
                         held_out=[list(t) for t in data.HELD_OUT], torch=torch.__version__, threads=torch.get_num_threads())
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in (("vae", vae), ("transformer", tr), ("text_encoder", te))}
    log["params"] = n_params
    print("params", n_params, flush=True)
    stages = args.stages.split(",")
    t_all = time.time()

    def dump():
        log["total_seconds"] = log.get("total_seconds_prev", 0) + time.time() - t_all
        logp.write_text(json.dumps(log, indent=1))

    if "vae" in stages:
        if args.resume_vae:
            vae.load_state_dict(torch.load(work / "vae.pt"))
            log["vae_first_session"] = log.get("vae")
        train_vae(vae, args, log)
        dump()
    elif (work / "vae.pt").exists():
        vae.load_state_dict(torch.load(work / "vae.pt"))
    vae.eval()
    if "encode" in stages:
        pool = encode_pool(vae, args, log)
        dump()
    elif (work / "pool.pt").exists():
        pool = torch.load(work / "pool.pt")
    if "dit" in stages:
        if args.resume_dit:
            sd = torch.load(work / "dit.pt")
            tr.load_state_dict(sd["tr"])
            te.load_state_dict(sd["te"])
            log["dit_first_session"] = log.get("dit")
        train_dit(tr, te, tok, vae, pool, args, log)
        dump()
    elif (work / "dit.pt").exists():  # the averaged weights (a checkpoint of a run in progress works too)
        sd = torch.load(work / "dit.pt")
        tr.load_state_dict(sd.get("tr_avg", sd["tr"]))
        te.load_state_dict(sd.get("te_avg", sd["te"]))
    if "save" in stages:
        tr.eval(); te.eval(); vae.eval()
        out = Path(args.pipeline_out) if args.pipeline_out else work / "pipeline"
        save_pipeline(tr, te, tok, vae, out)
        if not args.pipeline_out:
            dump()
        print("saved", out)


if __name__ == "__main__":
    main()
