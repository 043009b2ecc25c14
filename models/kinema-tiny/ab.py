#!/usr/bin/env python3
"""Side-by-side transformer experiments for Kinema-tiny, without training a VAE first.

The shipped VAE is read back from this folder's ONNX graphs (their initializers keep diffusers' parameter names), a
latent pool is encoded once, and each experiment trains the transformer + text encoder with train.py's own loop for a
fixed wall-clock time. The score is the flow-matching loss on 64 held-out clips (data.HELD_OUT triples, fixed noise,
t2v layout) at s = 0.3, 0.5, 0.7, 0.9: over all tokens, and over the object tokens alone (`obj*`, weighted by how
much of each token the object covers) -- the part that says colour, shape and motion. Lower is better.

Run two experiments at once, one thread each, so they share the machine alike:

  python ab.py pool --work /tmp/ab                       # ~2 minutes, once
  python ab.py run --work /tmp/ab --name b8 --dit-batch 8 &
  python ab.py run --work /tmp/ab --name b2 --dit-batch 2 --dit-batch-short 3 &
  python ab.py score --work /tmp/ab --name b8           # rescore a finished run

How train.py's transformer settings were chosen (12 minutes each, 1 thread, pairs run side by side; obj loss at s=0.5):
batch 8 0.347, + short clips 0.334, + lr 2e-3 0.316; batch 4 + short 0.297, + lr 2e-3 0.277; batch 2 + short 0.256.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402
import train  # noqa: E402


def load_shipped_vae(vae):
    """The VAE weights inside vae_encoder.onnx / vae_decoder.onnx, into a diffusers AutoencoderKLLTXVideo."""
    import onnx
    from onnx import numpy_helper

    sd = {}
    for f in ("vae_encoder.onnx", "vae_decoder.onnx"):
        for init in onnx.load(str(HERE / f)).graph.initializer:
            if init.name.startswith("vae."):
                sd[init.name[4:]] = torch.from_numpy(numpy_helper.to_array(init).copy())
    missing, unexpected = vae.load_state_dict(sd, strict=False)
    if unexpected or set(missing) - {"latents_mean", "latents_std"}:
        sys.exit(f"the shipped graphs do not match train.VAE_CFG: missing {missing}, unexpected {unexpected}")


def heldout_set(vae, n=64, seed=4243):
    scenes = data.heldout_scenes(n, seed=seed)
    clips = np.stack([data.render(s) for s in scenes])
    with torch.no_grad():
        x = train.to_tensor(clips)
        m = torch.cat([vae.encode(x[i:i + 16]).latent_dist.mean for i in range(0, n, 16)])
    mean, std = vae.latents_mean.view(1, -1, 1, 1, 1), vae.latents_std.view(1, -1, 1, 1, 1)
    objw = train.pack(train.object_weights(clips).float().unsqueeze(1))[..., 0]
    return dict(z=(m - mean) / std, caps=[data.caption(s) for s in scenes], objw=objw)


@torch.no_grad()
def score(tr, te, tok, held, sigmas=(0.3, 0.5, 0.7, 0.9)):
    tr.eval(); te.eval()
    g = torch.Generator().manual_seed(7)
    x0 = train.pack(held["z"])
    B, S, _ = x0.shape
    _, _, f, h, w = held["z"].shape
    vc = train.coords(f, h, w, "causal").unsqueeze(0).expand(B, -1, -1)
    emb, am = train.encode_text(te, tok, held["caps"], "t2v")
    out = {}
    for s in sigmas:
        n = torch.randn(x0.shape, generator=g)
        v = tr(hidden_states=(1 - s) * x0 + s * n, encoder_hidden_states=emb, timestep=torch.full((B, S), s * 1000.0),
               encoder_attention_mask=am.float(), video_coords=vc, return_dict=False)[0]
        e = ((v - (n - x0)) ** 2).mean(-1)
        out[f"{s}"] = float(e.mean())
        out[f"obj{s}"] = float((e * held["objw"]).sum() / held["objw"].sum())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["pool", "run", "score"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--name", help="run/score: the experiment's folder under --work")
    ap.add_argument("--minutes", type=float, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dit-steps", type=int, default=25000, help="the cosine schedule's length (it also follows the clock)")
    ap.add_argument("--dit-batch", type=int, default=2)
    ap.add_argument("--dit-lr", type=float, default=1e-3)
    ap.add_argument("--dit-short", type=float, default=0.6)
    ap.add_argument("--dit-batch-short", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    np.random.seed(0)
    tok, vae, tr, te = train.build()
    load_shipped_vae(vae)
    vae.eval()
    if a.what == "pool":
        train.encode_pool(vae, argparse.Namespace(dit_pool=4000, work=str(work)), {})  # sets the latent mean/std
        torch.save(heldout_set(vae), work / "heldout.pt")
        return
    if not (work / "pool.pt").exists():
        sys.exit(f"no latent pool in {work}: run `python ab.py pool --work {work}` first")
    vae.load_state_dict(torch.load(work / "vae.pt"))
    held = torch.load(work / "heldout.pt")
    run = work / a.name
    run.mkdir(exist_ok=True)
    if a.what == "score":
        if not (run / "dit.pt").exists():
            sys.exit(f"{run} has no dit.pt: run `python ab.py run --work {work} --name {a.name}` first")
        sd = torch.load(run / "dit.pt")
        tr.load_state_dict(sd["tr_avg"])
        te.load_state_dict(sd["te_avg"])
        print(json.dumps(score(tr, te, tok, held)))
        return
    args = argparse.Namespace(dit_batch=a.dit_batch, dit_lr=a.dit_lr, dit_short=a.dit_short, dit_batch_short=a.dit_batch_short,
                              dit_steps=a.dit_steps, dit_minutes=a.minutes, bf16=train.cpu_has_native_bf16(), work=str(run))
    log = {}
    train.train_dit(tr, te, tok, vae, torch.load(work / "pool.pt"), args, log)
    res = dict(name=a.name, steps=log["dit"]["steps"], score=score(tr, te, tok, held), args=vars(a))
    print(json.dumps(res))
    (run / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
