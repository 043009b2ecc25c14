#!/usr/bin/env python3
"""Records diffusers' tiled VAE decode on the tiny LTX model (the weights of vae_decoder.onnx here) for the
Rust parity test `tiled_decode_matches_diffusers` (plugin/tests/ltx.rs).

`AutoencoderKLLTXVideo.enable_tiling()` decodes overlapping spatial tiles and blends them; with
`use_framewise_decoding` it also decodes overlapping runs of latent frames and blends those. The tile sizes here
are scaled to the tiny model (spatial ratio 8, temporal ratio 4) so that a 3x5x6 latent crosses two tile rows,
two tile columns and three frame tiles, including the short ones at the edges.

  python make_tiling_fixture.py   # writes fixtures/vae_tiling/ (CPU, seconds)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export  # noqa: E402

OUT = HERE / "fixtures" / "vae_tiling"
# Pixels, as diffusers' enable_tiling takes them: tiles of 4x4 latents every 3, runs of 2 latent frames every 1.
TILING = dict(tile_sample_min_height=32, tile_sample_min_width=32, tile_sample_min_num_frames=8,
              tile_sample_stride_height=24, tile_sample_stride_width=24, tile_sample_stride_num_frames=4)


def main() -> None:
    torch.set_grad_enabled(False)
    vae = export.tiny_components(export.SEED)["vae"]
    g = torch.Generator().manual_seed(11)
    z = torch.randn(1, vae.config.latent_channels, 3, 5, 6, generator=g)
    temb = torch.tensor([0.05])
    whole = vae.decode(z, temb, return_dict=False)[0]
    vae.enable_tiling(**TILING)
    vae.use_framewise_decoding = True
    tiled = vae.decode(z, temb, return_dict=False)[0]
    OUT.mkdir(parents=True, exist_ok=True)
    z.numpy().astype("<f4").tofile(OUT / "latent.bin")
    tiled.numpy().astype("<f4").tofile(OUT / "sample.bin")
    diff = float((tiled - whole).abs().max())
    (OUT / "case.json").write_text(json.dumps({
        "latent": {"file": "latent.bin", "shape": list(z.shape)},
        "sample": {"file": "sample.bin", "shape": list(tiled.shape)},
        "timestep": 0.05,
        "tiling": {"tile_height": 32, "tile_width": 32, "tile_frames": 8,
                   "stride_height": 24, "stride_width": 24, "stride_frames": 4, "temporal": True},
        "diffusers": "AutoencoderKLLTXVideo.enable_tiling(...) + use_framewise_decoding=True, decode(z, temb)",
        "tiled_vs_whole_max_abs": diff,
    }, indent=2) + "\n")
    print(f"wrote {OUT}: sample {list(tiled.shape)}, tiled vs whole decode max abs {diff:.3e}")


if __name__ == "__main__":
    main()
