#!/usr/bin/env python3
"""Fused kernels for exported diffusion graphs: ONNX Runtime's memory-efficient attention and RMSNorm.

The dynamo exporter writes `scaled_dot_product_attention` as MatMul, Softmax, MatMul: ONNX Runtime
then materialises every head's S x S score matrix (2.7 GB per layer for 9,216 tokens at batch 2),
where PyTorch runs a flash kernel. This pass replaces each unmasked attention with ONNX Runtime's
`com.microsoft.MultiHeadAttention`, whose CPU kernel is a flash attention (MLAS, tiled to the L2
cache) when it has no mask and no bias, and whose CUDA kernel is flash / memory-efficient.
Masked attention (LTX's cross-attention over the padded text, S x 128) becomes MultiHeadAttention too,
its additive mask passed as `attention_bias` (added to the scaled scores, as exported, so it stays exact);
ONNX Runtime then uses its unfused kernel, which materialises S x 128 per head: small.

RMSNorm exported from `torch.rsqrt` is Pow, ReduceMean, Add, Sqrt, Reciprocal, Mul, which ONNX
Runtime's fusion does not match (it expects Div); it becomes one `SimplifiedLayerNormalization`.

Then rewrite.py's exact rewrites of patterns ONNX Runtime's CPU kernels run slowly: RoPE's transposed
angle table and the cross-attention's expanded text mask (see there).

Only float32 attention is fused by default (the CPU kernel is float32 only); `--half` also fuses
float16 attention, for graphs that run on CUDA only (its MultiHeadAttention kernel takes float16; the CPU
then refuses the graph). Unfused fp16 attention materialises S x S per head: 121 GB at 30,720 tokens. Graph files are rewritten in place; weights in external data
are untouched (the new graph points at the same file). Each rewrite is checked against the original
with ONNX Runtime before it replaces the file.

  python models/ltx/fuse.py MODEL_DIR [--check-dims S=320,L=16,f=3,h=4,w=4] [--no-check]

export.py runs it on every graph it writes.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS_DOMAIN = "com.microsoft"
SDPA = "scaled_dot_product_attention"


class Graph:
    """Producers, consumers, constants and static shapes of one graph, for pattern matching."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        g = model.graph
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.inits = {t.name: t for t in g.initializer}
        self.shapes = {}
        for v in list(g.value_info) + list(g.input) + list(g.output):
            t = v.type.tensor_type
            self.shapes[v.name] = ([d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim], t.elem_type)
        self.taken = {n.name for n in g.node} | set(self.producer) | set(self.inits) | {i.name for i in g.input}

    def const(self, name: str):
        """The value of a constant input (initializer or Constant node), else None."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name], base_dir="") if not _external(self.inits[name]) else None
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
        return None

    def fresh(self, stem: str) -> str:
        n = 1
        while f"kinema_{stem}_{n}" in self.taken:
            n += 1
        self.taken.add(f"kinema_{stem}_{n}")
        return f"kinema_{stem}_{n}"

    def add_init(self, stem: str, array: np.ndarray) -> str:
        name = self.fresh(stem)
        self.model.graph.initializer.append(numpy_helper.from_array(array, name))
        return name


def _external(t: TensorProto) -> bool:
    return t.data_location == TensorProto.EXTERNAL


def _namespace(node) -> str:
    return next((p.value for p in node.metadata_props if p.key == "namespace"), "")


def _replace(model, remove: list, add: list):
    """Swap nodes, keeping the graph topologically sorted: the new nodes go where the last removed one was
    (everything they read was made before it, everything that reads their outputs comes after it)."""
    nodes = list(model.graph.node)
    ids = {n.name for n in remove}  # dynamo names every node, uniquely
    last = max(i for i, n in enumerate(nodes) if n.name in ids)
    kept = [n for n in nodes if n.name not in ids]
    before = sum(1 for n in nodes[:last] if n.name not in ids)
    del model.graph.node[:]
    model.graph.node.extend(kept[:before] + add + kept[before:])


def fuse_attention(model: onnx.ModelProto, half: bool = False) -> int:
    """Each float32 (with `half`, also float16) SDPA group (B, H, S, D in and out; no mask or one additive
    mask) becomes MultiHeadAttention."""
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16} if half else {TensorProto.FLOAT}
    fused = 0
    while _fuse_one_attention(model, floats):
        fused += 1
    if fused and not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return fused


def _fuse_one_attention(model: onnx.ModelProto, floats: set) -> bool:
    g = Graph(model)
    groups = {}
    for n in model.graph.node:
        ns = _namespace(n)
        last = ns.split("/")[-1] if ns else ""
        if SDPA in last.split(":")[0]:
            groups.setdefault(ns.rsplit("/", 1)[0] + "/" + last.split(":")[0], []).append(n)
    for nodes in groups.values():
        names = {o for n in nodes for o in n.output}
        ops = [n.op_type for n in nodes]
        if ops.count("Softmax") != 1 or ops.count("MatMul") != 2 or ops.count("Add") > 1 or "Where" in ops:
            continue  # causal, boolean-masked or unrecognised: leave it
        final = next(n for n in nodes if n.op_type == "MatMul" and g.producer.get(n.input[0]) in nodes
                     and g.producer[n.input[0]].op_type == "Softmax")
        scores = next(n for n in nodes if n.op_type == "MatMul" and n is not final)
        # An additive mask (LTX's cross-attention over the padded text) is one Add after the scores.
        bias = None
        if "Add" in ops:
            add = next(n for n in nodes if n.op_type == "Add")
            others = [i for i in add.input if i != scores.output[0]]
            if scores.output[0] not in add.input or len(others) != 1 or others[0] in names:
                continue
            bias = others[0]
            bshape, btype = g.shapes.get(bias, (None, None))
            if btype not in floats or not bshape or len(bshape) != 4:
                continue
        inner = names - {final.output[0]}
        if any(c not in nodes for o in inner for c in g.consumers.get(o, [])):
            continue  # an intermediate is used outside the attention: not ours to remove
        value = final.input[1]
        q_mul = g.producer.get(scores.input[0])
        k_mul = g.producer.get(scores.input[1])
        if q_mul is None or k_mul is None or q_mul.op_type != "Mul" or k_mul.op_type != "Mul":
            continue
        query = next(i for i in q_mul.input if g.const(i) is None)
        root_scale = next((g.const(i) for i in q_mul.input if g.const(i) is not None), None)
        # the key enters through the group's own transpose; find the group input that is not q or v
        inputs = {i for n in nodes for i in n.input if i not in names and g.const(i) is None and i}
        keys = inputs - {query, value, bias}
        if len(keys) != 1 or root_scale is None:
            continue
        key = keys.pop()
        (qshape, qtype), (kshape, _), (vshape, _) = (g.shapes.get(x, (None, None)) for x in (query, key, value))
        if qtype not in floats or not qshape or len(qshape) != 4 or None in (qshape[1], qshape[3]):
            continue
        heads, qk_dim = qshape[1], qshape[3]
        if not vshape or vshape[3] is None or not kshape or kshape[3] != qk_dim:
            continue
        scale = float(np.asarray(root_scale, dtype=np.float64).reshape(-1)[0]) ** 2
        to_bsh = g.add_init("shape_bsh", np.array([0, 0, -1], dtype=np.int64))
        new = []
        flat = []
        for x in (query, key, value):
            t = g.fresh("bshd")
            f = g.fresh("bse")
            new += [helper.make_node("Transpose", [x], [t], perm=[0, 2, 1, 3]),
                    helper.make_node("Reshape", [t, to_bsh], [f])]
            flat.append(f)
        if bias is not None:
            # MultiHeadAttention's attention_bias is (B or 1, N or 1, S, T): broadcast the mask's query axis.
            # It is added to the scaled scores, as the exported Add did, so any additive mask stays exact.
            shape_q, shape_b, bhs, t, target, full = (g.fresh(x) for x in ("shape_q", "shape_bias", "bhs", "t",
                                                                              "bias_shape", "bias"))
            zero, three, four = (g.add_init(n, np.array([v], dtype=np.int64)) for n, v in
                                 (("zero", 0), ("three", 3), ("four", 4)))
            new += [helper.make_node("Shape", [query], [shape_q]), helper.make_node("Shape", [bias], [shape_b]),
                    helper.make_node("Slice", [shape_q, zero, three], [bhs]),
                    helper.make_node("Slice", [shape_b, three, four], [t]),
                    helper.make_node("Concat", [bhs, t], [target], axis=0),
                    helper.make_node("Expand", [bias, target], [full])]
            flat += ["", "", full]
        out = g.fresh("mha")
        new.append(helper.make_node("MultiHeadAttention", flat, [out], domain=MS_DOMAIN,
                                    num_heads=heads, scale=scale, name=g.fresh("MultiHeadAttention")))
        to_bshd = g.add_init("shape_bshd", np.array([0, 0, heads, -1], dtype=np.int64))
        back = g.fresh("bshd_out")
        new += [helper.make_node("Reshape", [out, to_bshd], [back]),
                helper.make_node("Transpose", [back], [final.output[0]], perm=[0, 2, 1, 3])]
        _replace(model, nodes, new)
        return True
    return False


def fuse_rms_norm(model: onnx.ModelProto) -> int:
    """x * 1/sqrt(mean(x^2, last axis) + eps) becomes SimplifiedLayerNormalization(x, ones, eps)."""
    fused = 0
    while True:
        g = Graph(model)
        match = None
        for rm in model.graph.node:
            if rm.op_type != "ReduceMean":
                continue
            pw = g.producer.get(rm.input[0])
            if pw is None or pw.op_type != "Pow" or g.const(pw.input[1]) is None or float(g.const(pw.input[1])) != 2.0:
                continue
            x = pw.input[0]
            xshape, xtype = g.shapes.get(x, (None, None))
            if not xshape or xshape[-1] is None or xtype != TensorProto.FLOAT:
                continue
            axes = g.const(rm.input[1]) if len(rm.input) > 1 else None
            keep = next((a.i for a in rm.attribute if a.name == "keepdims"), 1)
            if axes is None or [int(a) % len(xshape) for a in np.atleast_1d(axes)] != [len(xshape) - 1] or keep != 1:
                continue
            chain = [pw, rm]
            ok = True
            for op in ("Add", "Sqrt", "Reciprocal"):
                nxt = g.consumers.get(chain[-1].output[0], [])
                if len(nxt) != 1 or nxt[0].op_type != op:
                    ok = False
                    break
                chain.append(nxt[0])
            if not ok:
                continue
            eps = next((g.const(i) for i in chain[2].input if g.const(i) is not None), None)
            muls = g.consumers.get(chain[-1].output[0], [])
            if eps is None or len(muls) != 1 or muls[0].op_type != "Mul" or set(muls[0].input) != {x, chain[-1].output[0]}:
                continue
            if any(len(g.consumers.get(n.output[0], [])) != 1 for n in chain):
                continue
            match = (chain + [muls[0]], x, float(np.asarray(eps).reshape(-1)[0]), xshape[-1])
            break
        if match is None:
            return fused
        nodes, x, eps, width = match
        ones = g.add_init("rms_scale", np.ones(width, dtype=np.float32))
        node = helper.make_node("SimplifiedLayerNormalization", [x, ones], [nodes[-1].output[0]], axis=-1,
                                epsilon=eps, stash_type=1, name=g.fresh("SimplifiedLayerNormalization"))
        _replace(model, nodes, [node])
        fused += 1


def _session(path: Path, threads: int = 2, level=None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    if level is not None:
        so.graph_optimization_level = level
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _feeds(sess, dims: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else dims[d] for d in i.shape]
        if i.type == "tensor(int64)":
            if "mask" in i.name:
                m = np.ones(shape, dtype=np.int64)
                m[..., shape[-1] // 2:] = 0
                feeds[i.name] = m
            else:
                feeds[i.name] = rng.integers(1, 30, size=shape).astype(np.int64)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def fuse_file(path: Path, feeds=None, tolerance: float = 1e-4, half: bool = False) -> dict:
    """Rewrite one graph in place. With feeds (a dict, or a function of the original session that makes
    one), both graphs run on them first and the rewrite is kept only if it matches the original to
    `tolerance` of the output's scale. `half` fuses float16 attention too (CUDA only: no CPU check then)."""
    import rewrite  # it builds on this module's Graph

    model = onnx.load(str(path), load_external_data=False)
    report = {"attention": fuse_attention(model, half), "rms_norm": fuse_rms_norm(model),
              "hoisted_transposes": rewrite.hoist_transpose(model), "key_padding_masks": rewrite.key_padding_mask(model),
              "rope_tables": rewrite.rope_tables(model)}
    if not any(report.values()):
        return report
    tmp = path.with_name(path.stem + ".fusing.onnx")
    onnx.save(model, str(tmp))
    try:
        if feeds is not None:
            before = _session(path)
            feeds = feeds(before) if callable(feeds) else feeds
            a = before.run(None, feeds)[0]
            b = _session(tmp).run(None, feeds)[0]
            scale = float(np.max(np.abs(a))) or 1.0
            err = float(np.max(np.abs(a.astype(np.float64) - b))) / scale
            report["max_abs_over_scale"] = err
            if not np.isfinite(err) or err > tolerance:
                raise SystemExit(f"{path.name}: the fused graph differs from the original by {err:.2e} of its "
                                 f"scale (bar {tolerance:.0e}); the original is kept")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model folder (manifest.json) or one .onnx file")
    ap.add_argument("--check-dims", default="S=320,L=16,f=3,h=4,w=4",
                    help="symbolic sizes for the check run (NAME=VALUE,...)")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the check run (it holds the original and the fused graph at once: twice the memory)")
    ap.add_argument("--components", default="transformer,text_encoder,vae_decoder,vae_encoder")
    ap.add_argument("--half", action="store_true",
                    help="also fuse float16 attention (the graph then runs on CUDA only; implies --no-check)")
    args = ap.parse_args(argv)
    dims = {k: int(v) for k, v in (kv.split("=") for kv in args.check_dims.split(","))}
    root = Path(args.model)
    if root.suffix == ".onnx":
        files = [root]
    else:
        manifest = json.loads((root / "manifest.json").read_text())
        comps = manifest["components"]
        files = [root / comps[c]["file"] for c in args.components.split(",") if c in comps]
    for f in files:
        check = None if args.no_check or args.half else (lambda sess: _feeds(sess, dims))
        r = fuse_file(f, check, half=args.half)
        print(f"{f.name}: {json.dumps(r)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
