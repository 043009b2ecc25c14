#!/usr/bin/env python3
"""Export Wan 2.2 TI2V-5B's form (tiny random model) to ONNX in Kinema's video-diffusion manifest layout.

What differs from Wan 2.1 (models/wan/export.py, whose helpers this file imports and extends):
  * VAE: `AutoencoderKLWan(is_residual=True, patch_size=2, z_dim=48, in/out_channels=12)`: pixels are patchified
    (2x2 -> 12 channels) before the encoder and unpatchified after the decoder (both INSIDE the chunk graphs: RGB in,
    RGB out); residual down blocks (AvgDown3D shortcut) and up blocks (DupUp3D shortcut, which drops its first
    factor_t - 1 frames in the first decoder chunk). Spatial ratio 16, temporal 4, 48 latent channels.
  * Transformer: 48 in/out channels and `expand_timesteps`: `timestep` is [2, S], one value per PATCH token
    (S = F * H/2 * W/2, order f, h/2, w/2).
  * Scheduler: UniPC with flow_shift 5.0 (Wan 2.2 TI2V's scheduler_config.json).

Writes into --out (default: ../wan-ti2v):
  tokenizer.json, text_encoder.onnx     as models/wan
  transformer.onnx        hidden_states [2,48,F,H,W], timestep [2,S] f32, encoder_hidden_states [2,L,32] -> velocity
  vae_encoder_first.onnx  sample [1,3,1,16h,16w] -> moments [1,96,1,h,w] + cache_out_0..N-1
  vae_encoder.onnx        sample [1,3,4,16h,16w] + cache_in_0..N-1 -> moments [1,96,1,h,w] + cache_out_0..N-1
  vae_decoder_first.onnx  latent [1,48,1,h,w] -> sample [1,3,1,16h,16w] + cache_out_0..M-1
  vae_decoder.onnx        latent [1,48,1,h,w] + cache_in_0..M-1 -> sample [1,3,4,16h,16w] + cache_out_0..M-1
  manifest.json, export_report.json

Usage: HF_HUB_OFFLINE=1 python export_ti2v.py && python make_ti2v_fixtures.py   (see TI2V.md)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import export  # noqa: E402  (models/wan/export.py: chunk traversal, export helpers, tiny UMT5 / tokenizer)

SEED = 0
OUT = HERE.parent / "wan-ti2v"


def _latent_stats(seed: int = 22):
    """48 seeded, non-trivial latents_mean (-1..1) / latents_std (0.5..2) values, rounded to 4 decimals."""
    rs = np.random.RandomState(seed)
    mean = [round(float(v), 4) for v in rs.uniform(-1.0, 1.0, 48)]
    std = [round(float(v), 4) for v in rs.uniform(0.5, 2.0, 48)]
    return mean, std


_MEAN, _STD = _latent_stats()
# diffusers tests/pipelines/wan/test_wan_22.py (TI2V 5B form) style
TINY_VAE22 = dict(
    base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
    latents_mean=_MEAN, latents_std=_STD, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
    scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True],
)
TINY_TRANSFORMER22 = dict(export.TINY_TRANSFORMER, in_channels=48, out_channels=48)
# Wan-AI/Wan2.2-TI2V-5B-Diffusers scheduler: Wan 2.1's UniPC config with flow_shift 5.0
TI2V_SCHEDULER = dict(export.WAN_SCHEDULER, flow_shift=5.0)


def tiny_components(seed: int = SEED):
    """Seeds as models/wan: torch.manual_seed(seed) before each of transformer, VAE, text encoder (so the text
    encoder is models/wan's, weight for weight)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = export.ltx_export.build_tokenizer(max_length=512)
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(**TINY_TRANSFORMER22)
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(**TINY_VAE22)
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), **export.TINY_UMT5))
    scheduler = UniPCMultistepScheduler(**TI2V_SCHEDULER)
    for m in (transformer, vae, text_encoder):
        m.eval()
    return dict(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)


# ----------------------------------------------------------------------------------------------
# Wan 2.2 VAE chunk traversal (extends export._Caches)
# ----------------------------------------------------------------------------------------------


class _Caches22(export._Caches):
    """export._Caches plus the residual (Wan 2.2) blocks. The AvgDown3D / DupUp3D shortcuts are stateless within
    a chunk (no cache): AvgDown3D zero-pads the chunk in front to a multiple of factor_t (first encoder chunk:
    1 frame -> [0, x]); DupUp3D drops its first factor_t - 1 output frames in the first decoder chunk only
    (diffusers' `first_chunk=True`, i.e. when there is no cache input)."""

    def encoder(self, e, x):
        from diffusers.models.autoencoders.autoencoder_kl_wan import WanResidualDownBlock

        x = self.conv(e.conv_in, x)
        for blk in e.down_blocks:
            if not isinstance(blk, WanResidualDownBlock):
                raise NotImplementedError(f"encoder layer {type(blk).__name__}")
            x_copy = x
            for r in blk.resnets:
                x = self.resblock(r, x)
            if blk.downsampler is not None:
                x = self.resample(blk.downsampler, x)
            x = x + blk.avg_shortcut(x_copy)
        x = self.mid(e.mid_block, x)
        x = e.nonlinearity(e.norm_out(x))
        return self.conv(e.conv_out, x)

    def decoder(self, d, x):
        from diffusers.models.autoencoders.autoencoder_kl_wan import WanResidualUpBlock

        first_chunk = self.cin is None
        x = self.conv(d.conv_in, x)
        x = self.mid(d.mid_block, x)
        for blk in d.up_blocks:
            if not isinstance(blk, WanResidualUpBlock):
                raise NotImplementedError(f"decoder block {type(blk).__name__}")
            x_copy = x
            for r in blk.resnets:
                x = self.resblock(r, x)
            if blk.upsampler is not None:
                x = self.resample(blk.upsampler, x)
            if blk.avg_shortcut is not None:
                x = x + blk.avg_shortcut(x_copy, first_chunk=first_chunk)
        x = d.nonlinearity(d.norm_out(x))
        return self.conv(d.conv_out, x)


def _check_vae22(vae):
    export.MODULE_NAMES.update({id(m): n for n, m in vae.named_modules()})
    if not vae.config.is_residual:
        raise NotImplementedError("export_ti2v.py is for the Wan 2.2 (is_residual) VAE; Wan 2.1: export.py")


def _patchify(vae, x):
    from diffusers.models.autoencoders.autoencoder_kl_wan import patchify

    p = vae.config.patch_size
    return x if p is None else patchify(x, patch_size=p)


def _unpatchify(vae, x):
    from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

    p = vae.config.patch_size
    return x if p is None else unpatchify(x, patch_size=p)


class _Wan22Chunk:
    """Mixed into export.py's chunk wrappers: the Wan 2.2 traversal, pixels patchified inside the graphs."""

    caches = _Caches22
    check = staticmethod(_check_vae22)

    def pixels_in(self, x):
        return _patchify(self.vae, x)

    def pixels_out(self, x):
        return _unpatchify(self.vae, x)


class VaeEncoderFirst22(_Wan22Chunk, export.VaeEncoderFirst):
    pass


class VaeEncoderNext22(_Wan22Chunk, export.VaeEncoderNext):
    pass


class VaeDecoderFirst22(_Wan22Chunk, export.VaeDecoderFirst):
    pass


class VaeDecoderNext22(_Wan22Chunk, export.VaeDecoderNext):
    pass


VAE_CHUNKS22 = (VaeDecoderFirst22, VaeDecoderNext22, VaeEncoderFirst22, VaeEncoderNext22)


def export_vae22(vae, out: Path, external: bool, report: dict):
    export.export_vae(vae, out, external, report, chunks=VAE_CHUNKS22, hw=(2, 3))


# ----------------------------------------------------------------------------------------------
# Transformer with per-token timesteps
# ----------------------------------------------------------------------------------------------


# export.TransformerWrapper passes `timestep` through as it is: [B, S] float, one per patch token, takes diffusers'
# expand_timesteps path (timestep.ndim == 2).
TransformerTI2VWrapper = export.TransformerWrapper


def patch_timesteps(mask_fhw: np.ndarray, t: float, ph: int = 2, pw: int = 2) -> np.ndarray:
    """diffusers: (mask[0][0][:, ::2, ::2] * t).flatten(): mask [f,h,w] -> [S] in (f, h/2, w/2) order."""
    return (mask_fhw[:, ::ph, ::pw].astype(np.float32) * np.float32(t)).reshape(-1)


def export_transformer22(tr, out: Path, external: bool, report: dict):
    def timestep(f, hh, ww):  # [2, S], the I2V form: first latent frame at 0
        ts = torch.full((2, f * hh * ww), 999.0)
        ts[:, : hh * ww] = 0.0
        return ts

    export.export_transformer(tr, out, external, report, wrapper=TransformerTI2VWrapper(tr), timestep=timestep,
                              timestep_dims={1: torch.export.Dim.AUTO})
    report["export"]["transformer"]["timestep_dim"] = _rename_dim(out / "transformer.onnx", "timestep", 1, "S")


def _rename_dim(path: Path, inp: str, axis: int, new: str) -> str:
    """torch.export names Dim.AUTO's timestep axis s<N>; call it `new` (S = F*(H/2)*(W/2), not enforced by the
    graph: the runtime must pass exactly one value per patch token)."""
    import onnx

    m = onnx.load(str(path))
    old = [i for i in m.graph.input if i.name == inp][0].type.tensor_type.shape.dim[axis].dim_param
    assert old, "timestep axis is not symbolic"
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param == old:
                d.dim_param = new
    onnx.save(m, str(path))
    return f"{old} -> {new}"


# ----------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------


def verify22(out: Path, comps, report: dict, full: bool = True, with_vae: bool = True):
    """full=False (real checkpoints): fewer and smaller shapes, no float64 VAE copy. with_vae=False: text encoder
    and transformer only."""
    te, tr, vae, tok = comps["text_encoder"], comps["transformer"], comps["vae"], comps["tokenizer"]
    g = torch.Generator().manual_seed(5)
    rep = report.setdefault("ort_vs_torch_max_abs", {})
    export.verify_text_encoder(out, te, len(tok), g, rep)

    sess = export._ort(out / "transformer.onnx")
    cfg = tr.config
    _, ph, pw = cfg.patch_size
    # grids (f, h/2, w/2, L); timesteps: t2v form (all t), i2v form (first frame 0), and a free per-token ramp
    grids = ((3, 2, 3, 16, "i2v"), (2, 3, 2, 9, "t2v"), (1, 4, 4, 32, "ramp"), (5, 3, 4, 11, "i2v"))
    for (f, hh, ww, L, kind) in (grids if full else grids[:2]):
        S = f * hh * ww
        if kind == "t2v":
            ts = torch.full((2, S), 750.0)
        elif kind == "i2v":
            mask = np.ones((f, hh * ph, ww * pw), np.float32)
            mask[0] = 0
            ts = torch.from_numpy(np.stack([patch_timesteps(mask, 750.0)] * 2))
        else:
            ts = torch.linspace(0, 999, 2 * S).reshape(2, S)
        inp = dict(hidden_states=torch.randn(2, cfg.in_channels, f, hh * ph, ww * pw, generator=g), timestep=ts,
                   encoder_hidden_states=torch.randn(2, L, cfg.text_dim, generator=g))
        ref = TransformerTI2VWrapper(tr)(**inp)
        got = sess.run(None, {k: v.numpy() for k, v in inp.items()})[0]
        rep[f"transformer_F{f}_H{hh * ph}_W{ww * pw}_L{L}_{kind}"] = export._maxabs(ref, got)
    if with_vae:
        export.verify_vae(out, vae, g, report, full=full, chunks=VAE_CHUNKS22, torch_all=True, fp64=full)


# ----------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------


def build_manifest22(comps, name: str, license_note: str, defaults: dict, guidance: float = 5.0,
                     dtype: str = "fp32") -> dict:
    m = export.build_manifest(comps, name, license_note, defaults, dtype, guidance)
    import diffusers

    m["source"] = ("diffusers %s WanPipeline / WanImageToVideoPipeline with expand_timesteps=True (Wan 2.2 TI2V "
                   "5B form); see ../wan/TI2V.md" % diffusers.__version__)
    tr = m["components"]["transformer"]
    tr["timestep_per_token"] = True
    tr["timestep_grid"] = "patch"
    tr["timestep_shape"] = "[batch, F*(H/patch)*(W/patch)] in (f, h/patch, w/patch) order"
    vae = comps["vae"]
    m["components"]["vae_encoder"]["pixel_patch_inside"] = int(vae.config.patch_size or 1)
    m["components"]["vae_decoder"]["pixel_patch_inside"] = int(vae.config.patch_size or 1)
    m["conditioning"] = {"i2v": {"method": "first_frame_mask"}}
    return m


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def load_pretrained(src: Path, dtype=torch.float32):
    """A local diffusers Wan 2.2 TI2V folder (Wan-AI/Wan2.2-TI2V-5B-Diffusers layout: model_index.json with
    expand_timesteps true, text_encoder/, tokenizer/, transformer/, vae/ (is_residual), scheduler/). Text encoder
    and transformer in `dtype`, the VAE fp32; the loading is export.py's (`_load_one_expert`)."""
    src = Path(src)
    idx_path = src / "model_index.json"
    idx = json.loads(idx_path.read_text()) if idx_path.exists() else {}
    if not idx.get("expand_timesteps"):
        raise NotImplementedError(f"{src}: model_index.json has no expand_timesteps: true (not a TI2V folder; "
                                  "Wan 2.1 / 2.2 A14B T2V: export.py)")
    if idx.get("boundary_ratio") is not None or (src / "transformer_2").is_dir() and idx.get("transformer_2", [None])[0]:
        raise NotImplementedError("two experts with expand_timesteps are not supported")
    comps = export._load_one_expert(src, dtype)
    if not comps["vae"].config.is_residual:
        raise NotImplementedError("the VAE is not the Wan 2.2 (is_residual) one")
    if comps["transformer"].config.image_dim is not None:
        raise NotImplementedError("transformer with image_dim (Wan 2.1 I2V form): export_i2v.py")
    return comps


def save_tiny(comps, dst: Path):
    """WanPipeline(..., expand_timesteps=True).save_pretrained: a tiny TI2V-5B-style folder (model_index.json
    has expand_timesteps true), for the --from-pretrained round trip."""
    from diffusers import WanPipeline

    pipe = WanPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                       scheduler=comps["scheduler"], transformer=comps["transformer"], expand_timesteps=True)
    pipe.save_pretrained(str(dst))


def export_all22(comps, out: Path, *, external: bool, name: str, license_note: str, defaults: dict,
                 do_verify: bool, full_verify: bool = True, only=None, report=None, dtype: str = "fp32",
                 src: Path | None = None):
    """dtype as export.py's --dtype (export.export_at_dtype): text encoder and transformer at fp32/fp16/int8/int4
    (int4: text encoder int8), the VAE fp32. `only` (debug) is for fp32."""
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    only = only or {"vae", "transformer", "text_encoder"}
    report = report if report is not None else {}
    report["dtype"] = dtype
    report.setdefault("export", {})
    tok = comps["tokenizer"]
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    if "vae" in only:
        export_vae22(comps["vae"], out, external, report)
    assert dtype == "fp32" or only == {"vae", "transformer", "text_encoder"}, "--only is for fp32"

    def export_lowp(c):
        if "text_encoder" in only:
            export.export_text_encoder(c["text_encoder"], len(tok), out, external, report)
        if "transformer" in only:
            export_transformer22(c["transformer"], out, external, report)

    export.export_at_dtype(
        comps, out, dtype, report, export_lowp, lambda o, c, r: verify22(o, c, r, full=full_verify),
        export.verify_lowp_from(lambda o, c, r: verify22(o, c, r, full=full_verify, with_vae=False))
        if do_verify else None,
        do_verify=do_verify, src=src, save=save_tiny, load=load_pretrained, graphs=["transformer", "text_encoder"])
    export.write_outputs(out, build_manifest22(comps, name, license_note, defaults, dtype=dtype), report)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="default: ../wan-ti2v (tiny); required with --from-pretrained")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--only", default=None, help="comma list of vae,transformer,text_encoder (debug)")
    ap.add_argument("--from-pretrained", default=None,
                    help="local diffusers Wan 2.2 TI2V folder (Wan-AI/Wan2.2-TI2V-5B-Diffusers layout)")
    ap.add_argument("--dtype", choices=["fp32", "fp16", "int8", "int4"], default="fp32",
                    help="text encoder and transformer precision, as export.py (the VAE stays fp32)")
    ap.add_argument("--save-tiny", default=None,
                    help="only save the tiny model as a WanPipeline(expand_timesteps=True) folder")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    if args.save_tiny:
        save_tiny(tiny_components(args.seed), Path(args.save_tiny))
        print("saved", args.save_tiny)
        return
    only = set(args.only.split(",")) if args.only else None
    if args.from_pretrained:
        if not args.out:
            ap.error("--from-pretrained needs --out")
        src = Path(args.from_pretrained).expanduser().resolve()
        comps = load_pretrained(src)
        name = f"wan2.2-ti2v ({src.name}, {args.dtype})"
        license_note = "Apache-2.0 (Wan-AI Wan 2.2 TI2V 5B; see the model card of the source checkpoint)"
        # Wan 2.2 TI2V-5B's recommended settings (720p class: 1280x704, 121 frames at 24 fps, 50 steps, CFG 5)
        defaults = {"fps": 24, "steps": 50, "width": 1280, "height": 704, "frames": 121, "guidance": 5.0}
        external = comps["transformer"].num_parameters() > 50_000_000
        full = False
    else:
        src = None
        comps = tiny_components(args.seed)
        name = "wan2.2-ti2v-tiny-random (parity test model, seeded random weights, produces noise)"
        license_note = "Apache-2.0 (configs from huggingface/diffusers tests; weights are random, seed %d)" % args.seed
        defaults = {"fps": 24, "steps": 4, "width": 64, "height": 64, "frames": 9, "guidance": 5.0}
        external = False
        full = True
    out = Path(args.out) if args.out else OUT
    rp = out / "export_report.json"
    report = json.loads(rp.read_text()) if (only and rp.exists()) else {}
    export_all22(comps, out, external=external, name=name, license_note=license_note, defaults=defaults,
                 do_verify=not args.skip_verify, full_verify=full, only=only, report=report, dtype=args.dtype,
                 src=src)


if __name__ == "__main__":
    main()
