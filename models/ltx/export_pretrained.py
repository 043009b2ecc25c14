"""export.py --from-pretrained: a diffusers LTX-Video folder (0.9.x layout) into a Kinema model folder, at full
size, one component at a time so the memory needed is the largest component's, never the whole pipeline's.

For each graph (text_encoder, transformer, vae_encoder, vae_decoder):
  1. load the component from the folder in fp32 and record PyTorch's outputs on two input shapes (the reference);
  2. export the fp32 graph with external data into the work folder (kept: the other precisions start from it);
  3. derive the requested precision into the model folder (fp32: hard links; fp16: ORT's float16 converter with
     fp32 inputs/outputs and sensitive ops kept fp32, or for T5 PyTorch's own fp16 with `wo` kept fp32;
     int8/int4: weight-only MatMulNBits, streamed);
  4. run the model folder's graph in ONNX Runtime (CPU) on the same inputs and report the parity figures.
The tokenizer is converted from the folder's SentencePiece model and checked on 1000 prompts.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

import fuse
import parity
import precision

GRAPHS = ("text_encoder", "transformer", "vae_encoder", "vae_decoder")
GiB = 1 << 30


class Progress:
    def __init__(self):
        self.t0 = time.time()

    def __call__(self, msg: str) -> None:
        print(f"[{time.time() - self.t0:7.0f} s | {_rss_gib():5.1f} GiB] {msg}", flush=True)


def _rss_gib() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / GiB
    except ImportError:
        return float("nan")


def _peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)


def _available_gib() -> float:
    import psutil

    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    return (vm.available + sw.free) / GiB


def safetensors_params(folder: Path) -> int:
    """Parameter count from the safetensors headers (nothing loaded)."""
    n = 0
    for f in sorted(folder.glob("*.safetensors")):
        with open(f, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
        for k, v in header.items():
            if k != "__metadata__":
                n += int(np.prod(v["shape"]))
    return n


def preflight(src: Path, out: Path, work: Path, dtype: str, te_dtype: str, say) -> dict:
    """Refuses to start when the folder is incomplete or memory or disk will not suffice, naming what is
    missing; returns the parameter counts."""
    if src.is_file():
        sys.exit(
            f"{src} is a single file: this exporter takes a diffusers folder. Convert a single-file LTX-Video checkpoint "
            "(ComfyUI's ltx-video-2b-v0.9.x.safetensors) with diffusers' scripts/convert_ltx_to_diffusers.py "
            "(--save_pipeline) first, or download the diffusers folder of the same version."
        )
    missing = [d for d in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler") if not (src / d).is_dir()]
    if missing:
        sys.exit(f"{src} is not a diffusers LTX-Video folder: missing {', '.join(missing)}/")
    params = {d: safetensors_params(src / d) for d in ("transformer", "vae", "text_encoder")}
    if not all(params.values()):
        sys.exit(f"{src}: no .safetensors weights in {[k for k, v in params.items() if not v]}")
    graphs_of = {"text_encoder": ["text_encoder"], "transformer": ["transformer"], "vae": ["vae_encoder", "vae_decoder"]}
    done = {p: all((work / "fp32" / f"{g}.done").exists() for g in graphs_of[p]) for p in params}
    biggest = max(params.values())
    # Measured peaks per parameter of the largest component (T5-XXL, 4.76 B): fp32 load + export 3.9 B,
    # ONNX Runtime's fp32 check 3.8, PyTorch's fp16 load 4.3 (bf16 through fp32), the int8 quantizer 2.5.
    per_param = 2.6 if dtype in ("int8", "int4") and all(done.values()) else 4.3 if dtype == "fp16" else 4.0
    need_mem = biggest * per_param / GiB
    avail = _available_gib()
    say("parameters: " + ", ".join(f"{k} {v / 1e9:.2f} B" for k, v in params.items()))
    if need_mem > avail:
        sys.exit(
            f"not enough memory: the largest component ({biggest / 1e9:.1f} B parameters) needs about {need_mem:.0f} GiB "
            f"to export at {dtype}, and {avail:.0f} GiB is available (memory + swap). Close other programs, add swap, "
            "or export on a larger machine and copy the model folder."
        )
    fp32_bytes = sum(params.values()) * 4
    todo = sum(4 * n for part, n in params.items() if not done[part])
    # fp32 model folders hard-link the work folder's graphs, and int8/int4 ones its VAE; blocks of 32 weights
    # carry a 4-byte scale and a zero point.
    quantized = params["transformer"] + params["text_encoder"]
    out_bytes = {"fp32": 0, "fp16": fp32_bytes / 2, "int8": quantized * 1.16, "int4": quantized * 0.66}[dtype]
    need_disk = todo + out_bytes
    free = precision.free_bytes(work if work.exists() else work.parent)
    if need_disk > free:
        sys.exit(
            f"not enough disk: about {need_disk / GiB:.0f} GiB is needed (fp32 graphs in {work} and the {dtype} model "
            f"in {out}), {free / GiB:.0f} GiB is free"
        )
    return params


# ----------------------------------------------------------------------------------------------
# Components and inputs
# ----------------------------------------------------------------------------------------------


def load(src: Path, part: str, dtype=torch.float32):
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
    from transformers import T5EncoderModel

    if part == "text_encoder":
        m = T5EncoderModel.from_pretrained(src / "text_encoder", torch_dtype=dtype)
    elif part == "transformer":
        m = LTXVideoTransformer3DModel.from_pretrained(src / "transformer", torch_dtype=dtype)
    else:
        m = AutoencoderKLLTXVideo.from_pretrained(src / "vae", torch_dtype=dtype)
        m.use_framewise_encoding = m.use_framewise_decoding = False
        m.use_tiling = False
    return m.eval()


def sample_inputs(graph: str, cfg: SimpleNamespace, ids: np.ndarray) -> list[dict]:
    """Two input sets per graph at sizes a full-size model meets (the second checks the dynamic axes)."""
    g = torch.Generator().manual_seed(7)
    if graph == "text_encoder":
        rnd = torch.randint(3, cfg.vocab, (1, 32), generator=g)
        m2 = torch.ones(1, 32, dtype=torch.int64)
        m2[:, 20:] = 0
        return [
            {"input_ids": torch.from_numpy(ids[None]), "attention_mask": torch.ones(1, ids.size, dtype=torch.int64)},
            {"input_ids": rnd, "attention_mask": m2},
        ]
    if graph == "transformer":
        sets = []
        for (f, h, w, L) in ((2, 12, 16, 128), (1, 8, 8, 32)):
            S = f * h * w
            d = dict(
                hidden_states=torch.randn(2, S, cfg.in_channels, generator=g),
                encoder_hidden_states=torch.randn(2, L, cfg.caption_channels, generator=g),
                encoder_attention_mask=torch.ones(2, L, dtype=torch.int64),
                timestep=torch.rand(2, S, generator=g) * 1000.0,
                video_coords=torch.rand(2, 3, S, generator=g) * 64.0,
            )
            d["encoder_attention_mask"][0, L // 2:] = 0
            sets.append(d)
        return sets
    s, t = cfg.s_ratio, cfg.t_ratio
    if graph == "vae_encoder":
        return [{"sample": torch.rand(1, 3, t * k + 1, s * h, s * w, generator=g) * 2 - 1} for (k, h, w) in ((1, 4, 6), (0, 2, 2))]
    return [
        {"latent": torch.randn(1, cfg.channels, f, h, w, generator=g), "timestep": torch.tensor([0.05])}
        for (f, h, w) in ((2, 4, 6), (1, 2, 2))
    ]


def wrapper(graph: str, model):
    import export

    if graph == "text_encoder":
        return export.TextEncoderWrapper(model)
    if graph == "transformer":
        return export.TransformerWrapper(model)
    if graph == "vae_encoder":
        return export.VaeEncoderWrapper(model)
    return export.VaeDecoderWrapper(model) if model.config.timestep_conditioning else export.VaeDecoderNoTimestepWrapper(model)


def export_args(graph: str, cfg: SimpleNamespace):
    """Example inputs and dynamic shapes for the exporter (same as the tiny export in export.py)."""
    Dim = torch.export.Dim
    if graph == "text_encoder":
        ids = torch.randint(3, cfg.vocab, (1, 16))
        Ld = Dim("L", min=2, max=4096)
        return ((ids, torch.ones(1, 16, dtype=torch.int64)), ["input_ids", "attention_mask"], ["last_hidden_state"],
                {"input_ids": {1: Ld}, "attention_mask": {1: Ld}})
    if graph == "transformer":
        S, L = 48, 16
        Sd, Ld = Dim("S", min=2, max=1 << 20), Dim("L", min=2, max=4096)
        args = (torch.randn(2, S, cfg.in_channels), torch.randn(2, L, cfg.caption_channels),
                torch.ones(2, L, dtype=torch.int64), torch.rand(2, S) * 1000, torch.rand(2, 3, S) * 64)
        return (args, ["hidden_states", "encoder_hidden_states", "encoder_attention_mask", "timestep", "video_coords"],
                ["velocity"], {"hidden_states": {1: Sd}, "encoder_hidden_states": {1: Ld}, "encoder_attention_mask": {1: Ld},
                               "timestep": {1: Sd}, "video_coords": {2: Sd}})
    s, t = cfg.s_ratio, cfg.t_ratio
    if graph == "vae_encoder":
        fk, hk, wk = Dim("fk", min=0, max=64), Dim("hk", min=1, max=256), Dim("wk", min=1, max=256)
        return ((torch.rand(1, 3, 2 * t + 1, 4 * s, 4 * s) * 2 - 1,), ["sample"], ["moments"],
                {"sample": {2: t * fk + 1, 3: s * hk, 4: s * wk}})
    fl, hl, wl = Dim("f", min=1, max=64), Dim("h", min=1, max=256), Dim("w", min=1, max=256)
    z = torch.randn(1, cfg.channels, 3, 4, 4)
    if cfg.timestep_conditioning:
        return ((z, torch.tensor([0.05])), ["latent", "timestep"], ["sample"], {"latent": {2: fl, 3: hl, 4: wl}, "timestep": None})
    return ((z,), ["latent"], ["sample"], {"latent": {2: fl, 3: hl, 4: wl}})


def _feeds(inputs: dict) -> dict:
    return {k: v.numpy() for k, v in inputs.items()}


# ----------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------


def fp32_stage(src: Path, work: Path, part: str, graphs: list[str], cfg: SimpleNamespace, ids, say) -> None:
    """Loads `part`, records references for its graphs and exports them in fp32 (skipped when already done)."""
    import export

    todo = [g for g in graphs if not (work / "fp32" / f"{g}.done").exists()]
    if not todo:
        return
    t0 = time.time()
    say(f"loading {part} (fp32)")
    model = load(src, part)
    for graph in todo:
        mod = wrapper(graph, model)
        takes = set(inspect.signature(mod.forward).parameters)
        refs = {}
        for i, inp in enumerate(sample_inputs(graph, cfg, ids)):
            inp = {k: v for k, v in inp.items() if k in takes}
            t1 = time.time()
            with torch.no_grad():
                refs[f"out{i}"] = mod(**inp).float().numpy()
            refs.update({f"in{i}_{k}": v.numpy() for k, v in inp.items()})
            say(f"  {graph}: PyTorch reference {i} {list(refs[f'out{i}'].shape)} in {time.time() - t1:.1f} s")
        np.savez(work / "refs" / f"{graph}.npz", **refs)
        args, ins, outs, dyn = export_args(graph, cfg)
        t1 = time.time()
        say(f"  {graph}: exporting fp32 graph")
        export._export(mod, args, work / "fp32" / f"{graph}.onnx", ins, outs, dyn, True)
        (work / "fp32" / f"{graph}.done").write_text(json.dumps({"export_s": round(time.time() - t1, 1)}))
        say(f"  {graph}: exported in {time.time() - t1:.0f} s")
        del mod
    del model
    gc.collect()
    say(f"{part} done in {time.time() - t0:.0f} s")


def _child(conn, fn, args) -> None:
    torch.set_grad_enabled(False)
    conn.send(fn(*args))
    conn.send(_peak_rss_gib())


def in_child(fn, *args):
    """Runs a stage in a fresh process and returns its result: PyTorch and the exporter keep a model's memory
    after it is deleted (18 GiB resident after T5-XXL's export), and the next component must not stand on top
    of it. Records the child's peak resident memory in PEAKS."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=_child, args=(theirs, fn, args))
    p.start()
    theirs.close()  # so a child that dies is an EOF here, not a wait forever
    try:
        result, peak = ours.recv(), ours.recv()
    except EOFError:
        result, peak = None, float("nan")
    p.join()
    if p.exitcode != 0:
        sys.exit(f"{fn.__name__} {[a for a in args if isinstance(a, str)]} failed (exit {p.exitcode}); see above")
    PEAKS[f"{fn.__name__} {' '.join(a for a in args if isinstance(a, str))}"] = round(peak, 2)
    return result


PEAKS: dict = {}


def _link(src: Path, dst: Path) -> None:
    for a, b in ((src, dst), (Path(str(src) + ".data"), Path(str(dst) + ".data"))):
        if a.exists():
            b.unlink(missing_ok=True)
            try:
                os.link(a, b)
            except OSError:
                shutil.copy2(a, b)


def derive(src: Path, work: Path, out: Path, graph: str, dtype: str, cfg: SimpleNamespace, say) -> dict:
    """Writes `out/<graph>.onnx` at `dtype` from the fp32 graph; returns what the report says of it."""
    f32 = work / "fp32" / f"{graph}.onnx"
    dst = out / f"{graph}.onnx"
    t0 = time.time()
    info = {}
    if dtype == "fp32" or (dtype in ("int8", "int4") and graph.startswith("vae")):
        _link(f32, dst)
    elif dtype == "fp16":
        # PyTorch's own fp16: diffusers and transformers keep fp32 what their models need in fp32 (T5's `wo`,
        # its _keep_in_fp32_modules; LTX's RoPE and timestep sinusoids, computed in float32). A graph-level
        # conversion loses that: ORT's float16 converter casts between every pair of kept-fp32 ops, and RoPE
        # frequencies (up to 1e4 x position) overflow fp16 on the way. Also, T5-XXL's fp32 graph (19 GB)
        # cannot be held twice here.
        import export

        part = "vae" if graph.startswith("vae") else graph
        model = load(src, part, torch.float16)
        args, ins, outs, dyn = export_args(graph, cfg)
        dyn = {"args": tuple(dyn.get(n) for n in ins)}  # _Float32Io takes *args
        export._export(_Float32Io(wrapper(graph, model)), args, dst, ins, outs, dyn, True)
        del model
        gc.collect()
        info["fp16_from"] = "pytorch fp16 (the libraries' fp32-kept modules stay fp32); float32 inputs and outputs"
        # fp16 graphs are for GPUs: CUDA's fused fp16 attention (flash, cuDNN) is 2.6x faster than the
        # exported MatMul/Softmax on an H200 at 15,360 tokens, and that one overflowed there (1.3 of the
        # output's scale off) and needs 112 GiB at 30,720 (models/ltx/README.md, "Speed on a GPU").
        info["fused"] = fuse.fuse_file(dst, None, half=True)
    else:
        info.update(precision.quantize_nbits(f32, dst, 8 if dtype == "int8" else 4, progress=say))
    info["convert_s"] = round(time.time() - t0, 1)
    info["bytes"] = precision.graph_bytes(dst)
    say(f"  {graph}: {dtype} graph {info['bytes'] / GiB:.2f} GiB in {info['convert_s']:.0f} s")
    return info


class _Float32Io(torch.nn.Module):
    """An fp16 module behind float32 inputs and outputs: the runtime feeds and reads float32."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args):
        args = [a.half() if a.is_floating_point() else a for a in args]
        return self.inner(*args).float()


def check(work: Path, out: Path, graph: str, dtype: str, say) -> dict:
    """ONNX Runtime (CPU) on the model folder's graph against the PyTorch fp32 references."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    # Pre-packed weight copies would double a 19 GB fp32 encoder's memory; parity does not need the speed.
    so.add_session_config_entry("session.disable_prepacking", "1")
    t0 = time.time()
    sess = ort.InferenceSession(str(out / f"{graph}.onnx"), so, providers=["CPUExecutionProvider"])
    created = time.time() - t0
    refs = np.load(work / "refs" / f"{graph}.npz")
    res = {"session_s": round(created, 1), "cases": []}
    for i in range(2):
        feeds = {k.split("_", 1)[1]: refs[k] for k in refs.files if k.startswith(f"in{i}_")}
        names = {x.name for x in sess.get_inputs()}
        t1 = time.time()
        got = sess.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        case = parity.compare(refs[f"out{i}"], got)
        case["shape"] = list(got.shape)
        case["run_s"] = round(time.time() - t1, 2)
        res["cases"].append(case)
    res["pass"] = all(parity.passes(c, dtype if not (dtype.startswith("int") and graph.startswith("vae")) else "fp32")
                      for c in res["cases"])
    del sess
    gc.collect()
    worst = min(c["cosine"] for c in res["cases"])
    say(f"  {graph}: parity {'PASS' if res['pass'] else 'FAIL'} (worst cosine {worst:.6f}, "
        f"max rel {max(c['max_abs_rel'] for c in res['cases']):.2e}), session {created:.0f} s")
    return res


def run(src: Path, out: Path, work: Path, dtype: str, te_dtype: str, verify: bool) -> None:
    import ltx_manifest
    import tokenizer_check
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel
    from transformers import AutoTokenizer, T5Config

    say = Progress()
    for d in (out, work / "fp32", work / "refs"):
        d.mkdir(parents=True, exist_ok=True)
    params = preflight(src, out, work, dtype, te_dtype, say)
    if any(json.loads((src / "vae" / "config.json").read_text()).get("decoder_inject_noise") or []):
        say("WARNING: vae.decoder_inject_noise is on (LTX 0.9.1): the decoder draws torch.randn inside the graph, "
            "so its output is not reproducible against diffusers")
    report = {"source": str(src), "dtype": dtype, "text_encoder_dtype": te_dtype,
              "parameters": params, "graphs": {}, "tokenizer": None}

    tok = AutoTokenizer.from_pretrained(src / "tokenizer")
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    report["tokenizer"] = tokenizer_check.check(out / "tokenizer.json", tok, src / "tokenizer")
    say(f"tokenizer.json written; parity on {report['tokenizer']['prompts']} prompts: "
        f"{report['tokenizer']['mismatches_fast']} mismatches")

    tc = LTXVideoTransformer3DModel.load_config(src / "transformer")
    vc = AutoencoderKLLTXVideo.load_config(src / "vae")
    te = T5Config.from_pretrained(src / "text_encoder")
    cfg = SimpleNamespace(
        vocab=te.vocab_size, in_channels=tc["in_channels"], caption_channels=tc["caption_channels"],
        s_ratio=int(vc.get("spatial_compression_ratio") or 32), t_ratio=int(vc.get("temporal_compression_ratio") or 8),
        channels=vc["latent_channels"], timestep_conditioning=vc["timestep_conditioning"],
    )
    ids = tok("A red fox runs across a snowy field at sunrise, cinematic, shallow depth of field.",
              padding="max_length", max_length=128, truncation=True, return_tensors="np")["input_ids"][0]

    for part, graphs in (("text_encoder", ["text_encoder"]), ("transformer", ["transformer"]),
                         ("vae", ["vae_encoder", "vae_decoder"])):
        in_child(fp32_stage, src, work, part, graphs, cfg, ids, say)
    # The VAE's latent statistics are weights: read them once for the manifest.
    from safetensors import safe_open

    stats = {}
    for f in sorted((src / "vae").glob("*.safetensors")):
        with safe_open(str(f), "pt") as fh:
            for k in ("latents_mean", "latents_std"):
                if k in fh.keys():
                    stats[k] = fh.get_tensor(k).float()
    (work / "fp32" / "done.json").write_text("{}")

    for graph in GRAPHS:
        d = te_dtype if graph == "text_encoder" else dtype
        say(f"{graph}: {d}")
        entry = {"dtype": d, **in_child(derive, src, work, out, graph, d, cfg, say)}
        if verify:
            entry["parity"] = in_child(check, work, out, graph, d, say)
        report["graphs"][graph] = entry
        (out / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")

    comps = {
        "vae": SimpleNamespace(config=SimpleNamespace(**vc), spatial_compression_ratio=cfg.s_ratio,
                               temporal_compression_ratio=cfg.t_ratio, latents_mean=stats["latents_mean"],
                               latents_std=stats["latents_std"]),
        "transformer": SimpleNamespace(config=SimpleNamespace(**tc)),
        "scheduler": FlowMatchEulerDiscreteScheduler.from_pretrained(src / "scheduler"),
        "text_encoder": SimpleNamespace(config=te),
        "tokenizer": tok,
    }
    name = f"LTX-Video ({src.name})"
    license_note = "LTX-Video weights: Lightricks LTX-Video licence (see the model card); T5-v1.1-XXL: Apache-2.0"
    if (src / "STANDIN.md").exists():
        name = f"LTX-Video 0.9.5 stand-in ({src.name}: random weights, produces noise)"
        license_note = "Apache-2.0 (random weights built by models/ltx/standin.py)"
    defaults = {"fps": 25, "steps": 40, "width": 768, "height": 512, "frames": 121, "guidance": 3.0}
    manifest = ltx_manifest.build_manifest(comps, name, license_note, defaults)
    manifest.pop("fixtures", None)
    # A full-size VAE decodes 121 frames at 768x512 only in tiles: diffusers' enable_tiling() defaults, with
    # runs of frames (use_framewise_decoding) too.
    manifest["decode"]["tiling"] = {"tile_height": 512, "tile_width": 512, "tile_frames": 16, "stride_height": 448,
                                    "stride_width": 448, "stride_frames": 8, "temporal": True}
    for graph in GRAPHS:
        d = te_dtype if graph == "text_encoder" else dtype
        manifest["components"][graph]["precision"] = precision.precision_of(d, graph)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    report["peak_rss_gib"] = {"main": round(_peak_rss_gib(), 2), **PEAKS}
    report["seconds"] = round(time.time() - say.t0)
    (out / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")
    failed = [g for g, e in report["graphs"].items() if verify and not e["parity"]["pass"]]
    say(f"wrote {out} (peak {max(v for v in report['peak_rss_gib'].values() if v == v)} GiB resident)" + (f"; PARITY FAILED: {failed}" if failed else ""))
    if failed:
        sys.exit(1)
