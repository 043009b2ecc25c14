#!/usr/bin/env python3
"""One transformer forward on a CUDA GPU: PyTorch against ONNX Runtime's CUDA provider, side by side.

The full-width LTX-Video 0.9.5 transformer (2048 wide, 32 heads, caption 4096; standin.py's config) with
seeded random weights and fewer layers (--layers: time per forward grows with them, the ratio hardly does),
at real shot token counts, batch 2 (batched guidance), 128 text tokens. The graphs come from this folder's
own export path (export._export, so fused by fuse.py): fp32, and fp16 as export_pretrained.py --dtype fp16
writes it (PyTorch fp16, float32 inputs and outputs), with its attention fused too (fuse.py --half) and not.
ONNX Runtime is fed and read on the host, as Kinema's runtime does; PyTorch keeps its tensors on the GPU.

Each row: the best of --runs forwards after one warm-up, and the output against PyTorch fp32 (max abs over
the output's scale). A variant that fails (out of memory, say) prints why and the rest go on.

  python gpu_forward.py --layers 4 --tokens 6144,15360,30720 --work /tmp/gpu_forward [--json out.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import export  # noqa: E402  (this folder's export path)
import export_pretrained as xp  # noqa: E402
import fuse  # noqa: E402
from standin import TRANSFORMER_095  # noqa: E402


def build(layers: int):
    from diffusers import LTXVideoTransformer3DModel

    torch.manual_seed(0)
    return LTXVideoTransformer3DModel(**{**TRANSFORMER_095, "num_layers": layers}).eval()


def inputs(tokens: int, text: int = 128, channels: int = 128, caption: int = 4096) -> dict:
    """Batch 2: the prompt (full mask) and a short negative prompt (8 tokens), per-token timesteps."""
    g = torch.Generator().manual_seed(7)
    mask = torch.ones(2, text, dtype=torch.int64)
    mask[1, 8:] = 0
    return dict(hidden_states=torch.randn(2, tokens, channels, generator=g),
                encoder_hidden_states=torch.randn(2, text, caption, generator=g) * 0.1,
                encoder_attention_mask=mask, timestep=torch.full((2, tokens), 700.0),
                video_coords=torch.rand(2, 3, tokens, generator=g) * 64.0)


def best_of(fn, runs: int) -> tuple[float, object]:
    out = fn()  # warm-up: kernels, arenas, cuDNN/cuBLAS plans
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def err(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - ref))) / (float(np.max(np.abs(ref))) or 1.0)


FAMILIES = (("attention", ("flash", "fmha", "attention", "attn", "softmax")),
            ("linear", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "matmul", "wgmma", "sm90_")),
            ("norm", ("norm",)), ("conv", ("conv", "implicit")), ("copy", ("memcpy", "memset")))


def family(kernel: str) -> str:
    k = kernel.lower()
    return next((f for f, keys in FAMILIES if any(x in k for x in keys)), "other")


def kernel_profile(fn, runs: int = 2) -> tuple[dict, list]:
    """GPU time per family and the top kernels, per forward, from CUPTI through PyTorch's profiler: it
    records every kernel in the process, ONNX Runtime's included."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            fn()
        torch.cuda.synchronize()
    per = {}
    kernels = []
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", 0.0) or 0.0
        if us > 0:
            per[family(e.key)] = per.get(family(e.key), 0.0) + us / 1e3 / runs
            kernels.append((us / 1e3 / runs, e.count // runs, e.key[:90]))
    return per, sorted(kernels, reverse=True)[:6]


def tiny_forward(tokens: int, runs: int) -> None:
    """The shipped tiny graph (models/ltx/transformer.onnx, fused fp32) against its PyTorch model, one
    forward: what the generation bench's transformer time is made of."""
    tr = export.tiny_components()["transformer"].eval().cuda()
    cfg = tr.config
    feeds = inputs(tokens, 128, cfg.in_channels, cfg.caption_channels)
    x = {k: v.cuda() for k, v in feeds.items()}
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    mod = xp.wrapper("transformer", tr)

    def go():
        with torch.no_grad():
            out = mod(**x)
        torch.cuda.synchronize()
        return out
    sess = ort_session(HERE / "transformer.onnx")
    for name, fn in (("torch fp32", go), ("ort fp32", lambda: sess.run(None, np_feeds)[0])):
        seconds, _ = best_of(fn, runs)
        per, top = kernel_profile(fn)
        print(json.dumps(dict(tiny_tokens=tokens, variant=name, ms=seconds * 1e3,
                              gpu_ms={k: round(v, 3) for k, v in per.items()}, kernels=len(top))), flush=True)


def tiny_vae(frames: int, size: int, runs: int) -> None:
    """The shipped tiny VAE decoder (vae_decoder.onnx) against its PyTorch model at the bench's largest size,
    under each cuDNN algorithm search ONNX Runtime offers: what the bench's decode time is made of."""
    vae = export.tiny_components()["vae"].eval().cuda()
    s, t = int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, vae.config.latent_channels, (frames - 1) // t + 1, size // s, size // s, generator=g)
    ts = torch.tensor([0.05])
    with_t = bool(vae.config.timestep_conditioning)
    mod = export.VaeDecoderWrapper(vae) if with_t else export.VaeDecoderNoTimestepWrapper(vae)
    zc, tc = z.cuda(), ts.cuda()

    def go():
        with torch.no_grad():
            out = mod(zc, tc) if with_t else mod(zc)
        torch.cuda.synchronize()
        return out
    variants = [("torch fp32", go)]
    for algo in ("HEURISTIC", "EXHAUSTIVE", "DEFAULT"):
        sess = ort_session(HERE / "vae_decoder.onnx", algo)
        names = {i.name for i in sess.get_inputs()}
        feeds = {k: v for k, v in (("latent", z.numpy()), ("timestep", ts.numpy())) if k in names}
        variants.append((f"ort {algo.lower()}", lambda sess=sess, feeds=feeds: sess.run(None, feeds)[0]))
    for name, fn in variants:
        seconds, _ = best_of(fn, runs)
        per, _ = kernel_profile(fn)
        print(json.dumps(dict(tiny_vae=f"{size}x{size}x{frames}", variant=name, ms=round(seconds * 1e3, 2),
                              gpu_ms={k: round(v, 2) for k, v in per.items()})), flush=True)


def export_graphs(layers: int, work: Path) -> dict:
    cfg = SimpleNamespace(in_channels=128, caption_channels=4096)
    args, ins, outs, dyn = xp.export_args("transformer", cfg)
    graphs = {}
    t = time.time()
    model = build(layers)
    graphs["fp32"] = export._export(xp.wrapper("transformer", model), args, work / "fp32" / "transformer.onnx",
                                    ins, outs, dyn, True)
    print(f"exported fp32 in {time.time() - t:.0f} s", flush=True)
    t = time.time()
    half = build(layers).half()
    dyn16 = {"args": tuple(dyn.get(n) for n in ins)}
    graphs["fp16"] = export._export(xp._Float32Io(xp.wrapper("transformer", half)), args,
                                    work / "fp16" / "transformer.onnx", ins, outs, dyn16, True)
    print(f"exported fp16 in {time.time() - t:.0f} s", flush=True)
    fused = work / "fp16_fused"
    fused.mkdir(exist_ok=True)
    for f in (work / "fp16").iterdir():
        shutil.copy2(f, fused / f.name)
    print("fp16 fused:", json.dumps(fuse.fuse_file(fused / "transformer.onnx", None, half=True)), flush=True)
    graphs["fp16 fused"] = fused / "transformer.onnx"
    return graphs


def ort_session(path: Path, algo: str = "HEURISTIC"):
    """Kinema's CUDA session settings (plugin/src/runtime: sessions.rs, providers.rs); `algo` is the cuDNN
    convolution algorithm search (the runtime's: HEURISTIC)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_mem_pattern = False
    so.log_severity_level = 3
    cuda = {"device_id": 0, "cudnn_conv_algo_search": algo, "arena_extend_strategy": "kSameAsRequested"}
    sess = ort.InferenceSession(str(path), so, providers=[("CUDAExecutionProvider", cuda)])
    if sess.get_providers()[0] != "CUDAExecutionProvider":
        raise RuntimeError(f"CUDA provider not used: {sess.get_providers()}")
    return sess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--tokens", default="6144,15360,30720")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/gpu_forward")
    ap.add_argument("--json")
    ap.add_argument("--profile-tokens", type=int, default=0,
                    help="also profile GPU kernels per family at this token count")
    ap.add_argument("--tiny-vae", default="", help="also time the shipped tiny VAE decoder at SIZExFRAMES (256x33)")
    ap.add_argument("--no-export", action="store_true", help="only the tiny checks")
    ap.add_argument("--tiny-tokens", type=int, default=0,
                    help="also time and profile the shipped tiny transformer at this token count")
    args = ap.parse_args()
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA, cuDNN from the nvidia-* wheels beside PyTorch
    torch.backends.cuda.matmul.allow_tf32 = False
    if args.tiny_tokens:
        tiny_forward(args.tiny_tokens, args.runs)
    if args.tiny_vae:
        size, frames = (int(x) for x in args.tiny_vae.split("x"))
        tiny_vae(frames, size, args.runs)
    if args.no_export:
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, onnxruntime {ort.__version__}, "
          f"{args.layers} layers of 28", flush=True)
    graphs = export_graphs(args.layers, work)
    fp32 = build(args.layers)
    models = {torch.float32: fp32.cuda(), torch.bfloat16: copy.deepcopy(fp32).to(torch.bfloat16),
              torch.float16: copy.deepcopy(fp32).to(torch.float16)}
    sessions = {}
    rows = []
    for tokens in (int(t) for t in args.tokens.split(",")):
        feeds = inputs(tokens)
        on_gpu = {k: v.cuda() for k, v in feeds.items()}
        np_feeds = {k: v.numpy() for k, v in feeds.items()}
        ref = None

        def torch_run(dtype, tf32=False):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            mod = xp.wrapper("transformer", models[dtype])
            x = {k: (v.to(dtype) if v.is_floating_point() and k != "video_coords" else v) for k, v in on_gpu.items()}

            def go():
                with torch.no_grad():
                    out = mod(**x)
                torch.cuda.synchronize()
                return out
            return go

        def ort_run(name):
            if name == "fp16" and 2 * 32 * tokens * tokens * 2 > 40 * 2**30:
                raise MemoryError(f"unfused fp16 attention holds a {2 * 32 * tokens * tokens * 2 / 2**30:.0f} GiB "
                                  "score matrix per layer; not run")
            if name not in sessions:
                t = time.time()
                sessions[name] = ort_session(graphs[name])
                print(f"ort {name}: session in {time.time() - t:.1f} s", flush=True)
            s = sessions[name]
            return lambda: s.run(None, np_feeds)[0]

        variants = [("torch fp32", lambda: torch_run(torch.float32)),
                    ("torch tf32", lambda: torch_run(torch.float32, True)),
                    ("torch bf16", lambda: torch_run(torch.bfloat16)),
                    ("torch fp16", lambda: torch_run(torch.float16))]
        variants += [(f"ort {name}", (lambda n=name: ort_run(n))) for name in graphs]
        for name, make in variants:
            try:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                seconds, out = best_of(make(), args.runs)
                out = out.float().cpu().numpy() if torch.is_tensor(out) else out
                if ref is None:
                    ref = out.astype(np.float64)
                row = dict(tokens=tokens, variant=name, ms=seconds * 1e3, err=err(out, ref))
                if name.startswith("torch"):
                    row["torch_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            except Exception as e:  # noqa: BLE001  (report it and go on with the next variant)
                row = dict(tokens=tokens, variant=name, failed=f"{type(e).__name__}: {str(e)[:200]}")
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.profile_tokens:
        feeds = inputs(args.profile_tokens)
        on_gpu = {k: v.cuda() for k, v in feeds.items()}
        np_feeds = {k: v.numpy() for k, v in feeds.items()}
        for name in ("torch bf16", "ort fp16 fused", "torch tf32", "ort fp32"):
            if name.startswith("torch"):
                dtype = torch.bfloat16 if "bf16" in name else torch.float32
                torch.backends.cuda.matmul.allow_tf32 = "tf32" in name
                mod = xp.wrapper("transformer", models[dtype])
                x = {k: (v.to(dtype) if v.is_floating_point() and k != "video_coords" else v)
                     for k, v in on_gpu.items()}

                def fn(mod=mod, x=x):
                    with torch.no_grad():
                        mod(**x)
            else:
                sess = sessions.get(name[4:]) or ort_session(graphs[name[4:]])

                def fn(sess=sess):
                    sess.run(None, np_feeds)
            try:
                per, top = kernel_profile(fn)
            except Exception as e:  # noqa: BLE001
                print(f"profile {name}: failed: {e}", flush=True)
                continue
            fams = " ".join(f"{k} {v:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
            print(f"profile {args.profile_tokens} tokens, {name}: GPU ms per forward {sum(per.values()):.1f}: {fams}")
            for ms, n, k in top:
                print(f"    {ms:8.2f} ms  x{n:<4} {k}")
            rows.append(dict(tokens=args.profile_tokens, variant=f"profile {name}", gpu_ms=per))
    print(f"\n{'tokens':>7} {'variant':>16} {'ms':>10} {'vs torch bf16':>14} {'err vs fp32':>12}")
    for r in (r for r in rows if not r["variant"].startswith("profile")):
        base = next((x["ms"] for x in rows if x["tokens"] == r["tokens"] and x["variant"] == "torch bf16"
                     and "ms" in x), None)
        if "ms" not in r:
            print(f"{r['tokens']:>7} {r['variant']:>16} {'failed':>10}  {r['failed'][:80]}")
            continue
        ratio = f"{r['ms'] / base:.2f}" if base else "-"
        print(f"{r['tokens']:>7} {r['variant']:>16} {r['ms']:>10.1f} {ratio:>14} {r['err']:>12.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
