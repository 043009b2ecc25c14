#!/usr/bin/env python3
"""Make the confidence-matte graphs: the shipped fp32 graphs with RIFE's own intermediates as extra outputs.

RIFE computes, before its final blend, the flows from the in-between to both frames, the occlusion
mask that weighs the two warped frames, and the two warped frames themselves; the exported graphs
only return the blend (`frame`). This script adds those tensors as outputs, without touching a single
node or weight (no torch, no re-export: the graph is edited with `onnx` alone), and saves the result
beside the original, still pointing at the same external weights file `rife_fp32.onnx.data`:

    rife_s1_fp32.onnx   -> rife_s1_fp32_matte.onnx
    rife_s05_fp32.onnx  -> rife_s05_fp32_matte.onnx

Outputs added (float32, H and W the padded input size):
    flow     [1, 4, H, W]  pixels: channels 0-1 the flow from the in-between to frame0, 2-3 to frame1
                           (the final flow, the one the last warp samples with)
    mask     [1, 1, H, W]  sigmoid of the network's mask: the weight of warped0 in the blend
    warped0  [1, 3, H, W]  frame0 warped to the in-between
    warped1  [1, 3, H, W]  frame1 warped to the in-between

The tensors are found by the graph's structure, not by name: the mask is the one Sigmoid; the warped
frames are the two products it feeds; the flow is the last Add before the final frame0 warp that adds
block4's flow update. `--check` runs both graphs with onnxruntime and checks `frame` is unchanged.

Usage: python models/rife/add_matte_outputs.py [--check]      (needs onnx; --check also onnxruntime, numpy)
"""

import argparse
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parent
GRAPHS = {"rife_s1_fp32.onnx": "rife_s1_fp32_matte.onnx", "rife_s05_fp32.onnx": "rife_s05_fp32_matte.onnx"}


def find_tensors(graph):
    prod = {o: n for n in graph.node for o in n.output}
    sig = [n for n in graph.node if n.op_type == "Sigmoid"]
    if len(sig) != 1:
        sys.exit(f"expected one Sigmoid, found {len(sig)}")
    mask = sig[0].output[0]
    # frame = warped0 * m + warped1 * (1 - m)
    final = prod["frame"]
    muls = [prod[i] for i in final.input]
    warped0 = next(i for i in muls[0].input if i != mask)
    one_minus = next(n for n in graph.node if n.op_type == "Sub" and mask in n.input).output[0]
    warped1 = next(i for i in muls[1].input if i != one_minus)
    # The flow: walk back from the last frame0 warp's grid to the Add that takes block4's update.
    grid = [n for n in graph.node if n.op_type == "GridSample" and n.input[0] == "frame0"][-1].input[1]
    seen, queue = set(), [grid]
    while queue:
        t = queue.pop(0)
        if t in seen or t not in prod:
            continue
        seen.add(t)
        n = prod[t]
        if n.op_type == "Add" and any(
            i in prod and ("block4" in prod[i].name or any("block4" in x for x in prod[i].input)) for i in n.input
        ):
            return {"flow": n.output[0], "mask": mask, "warped0": warped0, "warped1": warped1}
        queue.extend(n.input)
    sys.exit("the final flow was not found")


def make(src: Path, dst: Path):
    model = onnx.load(str(src), load_external_data=False)
    g = model.graph
    found = find_tensors(g)
    channels = {"flow": 4, "mask": 1, "warped0": 3, "warped1": 3}
    for name, tensor in found.items():
        # An Identity gives each a stable name; the tensor itself is already computed for the blend.
        g.node.append(helper.make_node("Identity", [tensor], [name], name=f"/matte/{name}"))
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels[name], "height", "width"]))
    onnx.save(model, str(dst))  # weights stay in rife_fp32.onnx.data (external references kept)
    print(f"{dst.name}: {found}")


def check():
    import numpy as np
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x0 = rng.random((1, 3, 256, 256), dtype=np.float32)
    x1 = np.roll(x0, 3, axis=3)
    t = np.full((1, 1, 1, 1), 0.5, np.float32)
    for src, dst in GRAPHS.items():
        pad = 64 if "s1" in src else 128
        a, b = x0[:, :, :pad, : 2 * pad], x1[:, :, :pad, : 2 * pad]
        feed = {"frame0": a, "frame1": b, "timestep": t}
        ref = ort.InferenceSession(str(HERE / src)).run(["frame"], feed)[0]
        outs = ort.InferenceSession(str(HERE / dst)).run(None, feed)
        assert np.array_equal(ref, outs[0]), "frame changed"
        flow = outs[1]
        print(f"{dst}: frame unchanged; mean flow to frame1 x {flow[0, 2].mean():+.2f} px (shift +3 → about +1.5)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    for src, dst in GRAPHS.items():
        make(HERE / src, HERE / dst)
    if args.check:
        check()
