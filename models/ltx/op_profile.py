#!/usr/bin/env python3
"""Where a generation's time goes, per operator family, in ONNX Runtime and in PyTorch side by side.

ONNX Runtime: the session's own profiler (`enable_profiling`); every node's kernel time is put in a
family by the module path the dynamo exporter stored in the node's `namespace` metadata, else by its
op type. PyTorch: forward hooks time each module family and a wrapper times the attention and RoPE
functions; the time of nested regions is taken out, so every millisecond is counted once. "other"
is the rest of one forward: element-wise ops, layout, framework overhead.

  python models/ltx/op_profile.py --model models/ltx --sizes 64x64x17,128x128x33,256x256x33
  python models/ltx/op_profile.py --model MODEL_DIR --from-pretrained DIFFUSERS_DIR --graphs transformer

Prints one table per graph and size (ms per forward, share of the total) and writes --json.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

FAMILIES = ["attention", "linear", "norm", "rope", "conv", "other"]
LINEAR_OPS = {"MatMul", "Gemm", "FusedMatMul", "FusedGemm", "MatMulNBits", "MatMulInteger", "QuickGelu"}
NORM_OPS = {"LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization",
            "SkipSimplifiedLayerNormalization", "GroupNormalization", "RMSNormalization"}
CONV_OPS = {"Conv", "ConvTranspose", "FusedConv", "NchwcConv"}
ATTENTION_OPS = {"MultiHeadAttention", "Attention", "GroupQueryAttention"}


def family_of(op: str, namespace: str) -> str:
    """One family for a graph node, from the module path the exporter recorded.

    A namespace reads "path: pkg.Class/path.child: pkg.Child/fn: aten.op": the innermost module's
    class is the second-to-last segment, the function that made the node the last."""
    segments = namespace.split("/") if namespace else []
    fn = segments[-1] if segments else ""
    cls = segments[-2].split(":")[-1].strip() if len(segments) > 1 else ""
    if op in ATTENTION_OPS or "scaled_dot_product_attention" in fn:
        return "attention"
    if "RotaryPosEmbed" in namespace or "apply_rotary" in fn:
        return "rope"
    if op in CONV_OPS or "Conv" in cls:
        return "conv"
    if op in NORM_OPS or "Norm" in cls:
        return "norm"
    # T5 computes attention inline: the score and value products sit in T5Attention itself.
    if cls.endswith("T5Attention") and op in {"Softmax", "MatMul", "Add"}:
        return "attention"
    if op in LINEAR_OPS or cls.endswith("Linear"):
        return "linear"
    # LTX's apply_rotary_emb is inlined into LTXAttention (no module of its own): its ops sit in the
    # attention module's own namespace, between norm_k and the attention kernel.
    if cls.endswith("LTXAttention") and op in {"Neg", "Mul", "Add", "Slice", "Squeeze", "Unsqueeze", "Concat"}:
        return "rope"
    return "other"


def _namespaces(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    out = {}
    for node in model.graph.node:
        md = {p.key: p.value for p in node.metadata_props}
        out[node.name] = (node.op_type, md.get("namespace", ""))
    return out


def _feeds(path: Path, dims: dict) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    feeds = {}
    rng = np.random.default_rng(0)
    for i in model.graph.input:
        t = i.type.tensor_type
        shape = [d.dim_value if d.dim_value else dims[d.dim_param] for d in t.shape.dim]
        if t.elem_type == 7:  # int64: ids or masks
            feeds[i.name] = (rng.integers(1, 30, size=shape) if "ids" in i.name else np.ones(shape)).astype(np.int64)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32) * (0.5 if "timestep" not in i.name else 0.1)
    return feeds


def ort_profile(path: Path, dims: dict, threads: int, runs: int) -> dict:
    import onnxruntime as ort

    names = _namespaces(path)
    feeds = _feeds(path, dims)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    # as the runtime opens sessions (plugin/src/runtime/sessions.rs): no spinning worker threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)  # warm-up, not counted
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        sess.run(None, feeds)
        walls.append(time.perf_counter() - started)
    trace = json.loads(Path(sess.end_profiling()).read_text())
    # the warm-up run is profiled too (it pages the weights in): count only nodes of the timed runs
    starts = sorted(ev["ts"] for ev in trace if ev.get("cat") == "Session" and ev.get("name") == "model_run")
    timed_from = starts[-runs] if len(starts) >= runs else 0
    per_run = {f: 0.0 for f in FAMILIES}
    for ev in trace:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time") or ev["ts"] < timed_from:
            continue
        node = ev["name"][: -len("_kernel_time")]
        op, ns = names.get(node, (ev.get("args", {}).get("op_name", ""), ""))
        op = ev.get("args", {}).get("op_name", op)
        per_run[family_of(op, ns)] += ev["dur"] / 1e3
    n = runs
    out = {f: v / n for f, v in per_run.items()}
    wall = float(np.mean(walls)) * 1e3
    out["other"] += max(wall - sum(out.values()), 0.0)
    out["total"] = wall
    return out


class _Timer:
    """Exclusive time per family over nested regions (a region's children are taken out of it)."""

    def __init__(self):
        self.totals = {f: 0.0 for f in FAMILIES}
        self.stack = []

    def enter(self):
        self.stack.append([time.perf_counter(), 0.0])

    def leave(self, family):
        start, children = self.stack.pop()
        spent = time.perf_counter() - start
        self.totals[family] += spent - children
        if self.stack:
            self.stack[-1][1] += spent


def _torch_family(module) -> str | None:
    import torch

    name = type(module).__name__
    if isinstance(module, torch.nn.Linear):
        return "linear"
    if isinstance(module, (torch.nn.Conv3d, torch.nn.Conv2d)):
        return "conv"
    if "Norm" in name and not list(module.children()):
        return "norm"
    if "RotaryPosEmbed" in name:
        return "rope"
    return None


def torch_profile(module, args, threads: int, runs: int) -> dict:
    import torch
    import torch.nn.functional as F
    from diffusers.models.transformers import transformer_ltx
    from transformers.models.t5 import modeling_t5

    torch.set_num_threads(threads)
    timer = _Timer()
    hooks = []
    for m in module.modules():
        fam = _torch_family(m)
        if fam is None:
            continue
        hooks.append(m.register_forward_pre_hook(lambda *_: timer.enter()))
        hooks.append(m.register_forward_hook(lambda *_, fam=fam: timer.leave(fam)))

    def timed(fn, fam):
        def wrapper(*a, **k):
            timer.enter()
            try:
                return fn(*a, **k)
            finally:
                timer.leave(fam)

        return wrapper

    sdpa, rope, t5_forward = F.scaled_dot_product_attention, transformer_ltx.apply_rotary_emb, None
    F.scaled_dot_product_attention = timed(sdpa, "attention")
    transformer_ltx.apply_rotary_emb = timed(rope, "rope")
    # T5 computes attention inline (matmul, bias, softmax, matmul): its attention module, minus its
    # Linear children (timed as linear), is the attention.
    t5_forward = modeling_t5.T5Attention.forward
    modeling_t5.T5Attention.forward = timed(t5_forward, "attention")
    try:
        with torch.no_grad():
            module(*args)
            timer.totals = {f: 0.0 for f in FAMILIES}
            walls = []
            for _ in range(runs):
                started = time.perf_counter()
                module(*args)
                walls.append(time.perf_counter() - started)
    finally:
        F.scaled_dot_product_attention = sdpa
        transformer_ltx.apply_rotary_emb = rope
        modeling_t5.T5Attention.forward = t5_forward
        for h in hooks:
            h.remove()
    out = {f: v / runs * 1e3 for f, v in timer.totals.items()}
    wall = float(np.mean(walls)) * 1e3
    out["other"] += max(wall - sum(out.values()), 0.0)
    out["total"] = wall
    return out


def _dims(w: int, h: int, f: int, spatial: int = 8, temporal: int = 4) -> dict:
    lf, lh, lw = (f - 1) // temporal + 1, h // spatial, w // spatial
    return {"S": lf * lh * lw, "L": 128, "f": lf, "h": lh, "w": lw}


def _torch_modules(args):
    import torch

    import export

    if args.from_pretrained:
        from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
        from transformers import T5EncoderModel

        root = Path(args.from_pretrained)
        load = dict(torch_dtype=torch.float32)
        comps = {}
        if "transformer" in args.graphs:
            comps["transformer"] = LTXVideoTransformer3DModel.from_pretrained(root / "transformer", **load)
        if "vae_decoder" in args.graphs:
            comps["vae"] = AutoencoderKLLTXVideo.from_pretrained(root / "vae", **load)
        if "text_encoder" in args.graphs:
            comps["text_encoder"] = T5EncoderModel.from_pretrained(root / "text_encoder", **load)
    else:
        comps = export.tiny_components()
    for m in comps.values():
        if hasattr(m, "eval"):
            m.eval()
    wrap = {}
    if "transformer" in comps:
        wrap["transformer"] = export.TransformerWrapper(comps["transformer"])
    if "vae" in comps:
        comps["vae"].use_framewise_decoding = False
        comps["vae"].use_tiling = False
        wrap["vae_decoder"] = export.VaeDecoderWrapper(comps["vae"])
    if "text_encoder" in comps:
        wrap["text_encoder"] = export.TextEncoderWrapper(comps["text_encoder"])
    return wrap


def table(title: str, ort_ms: dict | None, torch_ms: dict | None) -> str:
    nan = {f: float("nan") for f in FAMILIES + ["total"]}
    ort_ms = ort_ms or nan
    lines = [f"{title}", f"  {'family':<10} {'ORT ms':>10} {'share':>6} {'torch ms':>10} {'share':>6} {'ORT/torch':>9}"]
    for f in FAMILIES + ["total"]:
        o = ort_ms[f]
        t = torch_ms[f] if torch_ms else float("nan")
        so = o / ort_ms["total"] * 100
        st = t / torch_ms["total"] * 100 if torch_ms else float("nan")
        ratio = o / t if torch_ms and t > 0.05 else float("nan")
        lines.append(f"  {f:<10} {o:>10.1f} {so:>5.0f}% {t:>10.1f} {st:>5.0f}% {ratio:>9.2f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(HERE), help="model folder with the ONNX graphs and manifest.json")
    ap.add_argument("--from-pretrained", help="diffusers folder for the PyTorch side (default: the tiny model)")
    ap.add_argument("--sizes", default="64x64x17,128x128x33,256x256x33", help="WxHxF, comma separated")
    ap.add_argument("--graphs", default="transformer,vae_decoder,text_encoder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-ort", action="store_true",
                    help="PyTorch only (at full size the two sides do not fit in 24 GB together: run them apart)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?") \
        if os.path.exists("/proc/cpuinfo") else "?"
    print(f"cpu: {cpu}, {args.threads} threads each side", flush=True)
    args.graphs = args.graphs.split(",")
    model = Path(args.model)
    manifest = json.loads((model / "manifest.json").read_text())
    modules = None if args.no_torch else _torch_modules(args)
    results = []
    for size in args.sizes.split(","):
        w, h, f = (int(x) for x in size.split("x"))
        dims = _dims(w, h, f, manifest["latent"]["spatial_ratio"], manifest["latent"]["temporal_ratio"])
        for graph in args.graphs:
            if graph == "text_encoder" and results and any(r["graph"] == graph for r in results):
                continue  # the prompt's length does not change with the shot
            path = model / manifest["components"][graph]["file"]
            o = None if args.no_ort else ort_profile(path, dims, args.threads, args.runs)
            t = None
            if modules is not None and graph in modules:
                import torch

                feeds = _feeds(path, dims)
                order = {"transformer": ["hidden_states", "encoder_hidden_states", "encoder_attention_mask",
                                         "timestep", "video_coords"],
                         "vae_decoder": ["latent", "timestep"],
                         "text_encoder": ["input_ids", "attention_mask"]}[graph]
                names = manifest["components"][graph].get("inputs") or {}
                tensors = [torch.from_numpy(feeds[names.get(k, k)]) for k in order if names.get(k, k) in feeds]
                t = torch_profile(modules[graph], tensors, args.threads, args.runs)
            title = f"{graph} {size} ({dims['S']} tokens)" if graph == "transformer" else f"{graph} {size}"
            print(table(title, o, t), flush=True)
            results.append({"graph": graph, "size": size, "tokens": dims["S"], "ort_ms": o, "torch_ms": t})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
