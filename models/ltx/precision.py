"""Weight-only int8/int4 of an exported fp32 graph (`MatMulNBits`, fp32 activations, for CPU users and the
text encoder), and the manifest's precision fields. (fp16 graphs are exported from PyTorch in fp16: see
export_pretrained.derive.)

The quantizer reads the fp32 graph and writes a new one; the source is never modified. It streams: it memory-maps the fp32 weights one MatMul at a time, so a 19 GB graph (T5-XXL)
quantizes in the memory of its quantized weights, not of its fp32 ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Smaller weights stay fp32: they are a rounding error of the graph's size and often numerically sensitive
# (timestep and caption projections, norms).
MIN_QUANT_ELEMENTS = 1 << 16
# MatMulNBits' accuracy_level per bit width. 4 quantizes the activations to int8 per block and multiplies in
# int8 (VNNI/AVX-512 on x86): the full-size stand-in's int8 transformer takes 14.7 s a forward at 384 tokens
# with it, 19.3 s with level 0 (dequantize to fp32), fp32 graph 17.2 s. int4 stays at 0: on one 768x2048x8192
# product level 4 took 123 ms against 111. GPUs ignore it.
ACCURACY_LEVEL = {8: 4, 4: 0}


def graph_bytes(path: Path) -> int:
    """The graph file and its external data files."""
    path = Path(path)
    total = path.stat().st_size
    m = onnx.load(str(path), load_external_data=False)
    files = set()
    for t in external_tensors(m):
        files.add(dict((e.key, e.value) for e in t.external_data)["location"])
    return total + sum((path.parent / f).stat().st_size for f in files)


def external_tensors(m: onnx.ModelProto):
    for t in m.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            yield t


def _save(m: onnx.ModelProto, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = dst.name + ".data"
    (dst.parent / data).unlink(missing_ok=True)
    onnx.save_model(m, str(dst), save_as_external_data=True, all_tensors_to_one_file=True, location=data,
                    size_threshold=1024)


def _load_data(t: TensorProto, base: Path) -> None:
    """Reads an external tensor's bytes into the proto (onnx's own loader refuses hard-linked data files, and
    the work folder's fp32 data is hard-linked into fp32 model folders)."""
    info = dict((e.key, e.value) for e in t.external_data)
    with open(base / info["location"], "rb") as f:
        f.seek(int(info.get("offset", 0)))
        t.raw_data = f.read(int(info["length"])) if "length" in info else f.read()
    t.data_location = TensorProto.DEFAULT
    del t.external_data[:]


def _memmap(t: TensorProto, base: Path) -> np.ndarray:
    info = dict((e.key, e.value) for e in t.external_data)
    dtype = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16}[t.data_type]
    offset = int(info.get("offset", 0))
    return np.memmap(base / info["location"], dtype=dtype, mode="r", offset=offset, shape=tuple(t.dims))


def quantize_nbits(src: Path, dst: Path, bits: int, block_size: int = 32, progress=print,
                   accuracy_level: int | None = None) -> dict:
    """Weight-only quantization of every MatMul whose B is a 2-D fp32 initializer of at least
    MIN_QUANT_ELEMENTS: `MatMulNBits` (com.microsoft) with asymmetric blocks of `block_size` along K, fp32
    activations. Convolutions and small weights stay fp32. Returns counts for the report."""
    from onnxruntime.capi._pybind_state import quantize_matmul_4bits, quantize_matmul_8bits

    if bits not in (4, 8):
        raise ValueError(f"bits {bits}: only 4 and 8")
    level = ACCURACY_LEVEL[bits] if accuracy_level is None else accuracy_level
    kernel = quantize_matmul_8bits if bits == 8 else quantize_matmul_4bits
    src, dst = Path(src), Path(dst)
    m = onnx.load(str(src), load_external_data=False)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    uses = {}
    for n in g.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    new_nodes, new_inits, dropped = [], [], set()
    quantized = skipped = 0
    matmuls = [n for n in g.node if n.op_type == "MatMul"]
    done = 0
    for n in g.node:
        b = inits.get(n.input[1]) if n.op_type == "MatMul" and len(n.input) == 2 else None
        ok = (
            b is not None and len(b.dims) == 2 and b.data_type == TensorProto.FLOAT
            and b.dims[0] * b.dims[1] >= MIN_QUANT_ELEMENTS
        )
        if not ok:
            skipped += n.op_type == "MatMul"
            new_nodes.append(n)
            continue
        if b.data_location == TensorProto.EXTERNAL:
            w = np.ascontiguousarray(_memmap(b, src.parent), dtype=np.float32)
        else:
            w = numpy_helper.to_array(b).astype(np.float32)
        k, nn = w.shape
        kpack = 8 // bits
        k_blocks = (k + block_size - 1) // block_size
        if k_blocks * block_size != k:
            w = np.pad(w, ((0, k_blocks * block_size - k), (0, 0)))
        packed = np.zeros((nn, k_blocks, (block_size + kpack - 1) // kpack), dtype=np.uint8)
        zero = np.zeros((nn, (k_blocks + kpack - 1) // kpack), dtype=np.uint8)
        scales = np.zeros((nn, k_blocks), dtype=np.float32)
        kernel(packed, w, scales, zero, block_size, nn, k, False)
        del w
        stem = f"{b.name}_q{bits}" if uses.get(b.name, 0) == 1 else f"{b.name}_{n.name}_q{bits}"
        new_inits += [
            numpy_helper.from_array(packed, stem), numpy_helper.from_array(scales, stem + "_scales"),
            numpy_helper.from_array(zero, stem + "_zero_points"),
        ]
        new_nodes.append(helper.make_node(
            "MatMulNBits", [n.input[0], stem, stem + "_scales", stem + "_zero_points"], list(n.output),
            name=(n.name or stem) + f"_Q{bits}", domain="com.microsoft", K=k, N=nn, bits=bits, block_size=block_size,
            accuracy_level=level,
        ))
        uses[b.name] -= 1
        if uses[b.name] == 0:
            dropped.add(b.name)
        quantized += 1
        done += 1
        if done % 50 == 0:
            progress(f"    quantized {done} of about {len(matmuls)} MatMuls")
    del g.node[:]
    g.node.extend(new_nodes)
    kept = [t for t in g.initializer if t.name not in dropped]
    for t in kept:
        if t.data_location == TensorProto.EXTERNAL:
            _load_data(t, src.parent)
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    _save(m, dst)
    return {"matmuls_quantized": quantized, "matmuls_kept_fp32": skipped, "bits": bits, "block_size": block_size,
            "accuracy_level": level}


def precision_of(dtype: str, component: str) -> dict:
    """The manifest's precision fields of a component exported at `dtype`: what its weights are stored as,
    what it computes in, and its inputs/outputs (always float32/int64: the runtime feeds f32)."""
    quantizable = component in ("transformer", "text_encoder")
    if dtype in ("int8", "int4") and not quantizable:
        return {"weights": "fp32", "compute": "fp32", "io": "float32"}
    if dtype in ("int8", "int4"):
        compute = "int8" if ACCURACY_LEVEL[int(dtype[3:])] == 4 else "fp32"
        return {"weights": dtype, "compute": compute, "io": "float32", "format": "MatMulNBits", "block_size": 32}
    if dtype == "fp16":
        return {"weights": "fp16", "compute": "fp16", "io": "float32"}
    return {"weights": "fp32", "compute": "fp32", "io": "float32"}


def free_bytes(path: Path) -> int:
    st = os.statvfs(str(path))
    return st.f_bavail * st.f_frsize
