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


class VaeEncoderFirst22(nn.Module):
    def __init__(self, vae):
        super().__init__()
        _check_vae22(vae)
        self.vae = vae

    def forward(self, sample):
        c = _Caches22(None)
        out = self.vae.quant_conv(c.encoder(self.vae.encoder, _patchify(self.vae, sample)))
        return (out, *c.out)


class VaeEncoderNext22(nn.Module):
    def __init__(self, vae):
        super().__init__()
        _check_vae22(vae)
        self.vae = vae

    def forward(self, sample, *cache_in):
        c = _Caches22(list(cache_in))
        out = self.vae.quant_conv(c.encoder(self.vae.encoder, _patchify(self.vae, sample)))
        return (out, *c.out)


class VaeDecoderFirst22(nn.Module):
    def __init__(self, vae):
        super().__init__()
        _check_vae22(vae)
        self.vae = vae

    def forward(self, latent):
        c = _Caches22(None)
        out = c.decoder(self.vae.decoder, self.vae.post_quant_conv(latent))
        return (_unpatchify(self.vae, out), *c.out)


class VaeDecoderNext22(nn.Module):
    def __init__(self, vae):
        super().__init__()
        _check_vae22(vae)
        self.vae = vae

    def forward(self, latent, *cache_in):
        c = _Caches22(list(cache_in))
        out = c.decoder(self.vae.decoder, self.vae.post_quant_conv(latent))
        return (_unpatchify(self.vae, out), *c.out)


def _cache_labels(vae, which: str, x):
    c = _Caches22(None)
    if which == "decoder":
        c.decoder(vae.decoder, vae.post_quant_conv(x))
    else:
        c.encoder(vae.encoder, _patchify(vae, x))
    return c.labels


def export_vae22(vae, out: Path, external: bool, report: dict):
    Dim = torch.export.Dim
    C = int(vae.config.z_dim)
    s_ratio = int(vae.config.scale_factor_spatial)
    g = torch.Generator().manual_seed(3)

    h, w = 2, 3
    hd, wd = Dim("h", min=1, max=512), Dim("w", min=1, max=512)
    z1 = torch.randn(1, C, 1, h, w, generator=g)
    first, nxt = VaeDecoderFirst22(vae), VaeDecoderNext22(vae)
    caches = list(first(z1)[1:])
    n = len(caches)
    cspec = export._vae_dims([c.shape for c in caches], h, w, hd, wd)
    labels = _cache_labels(vae, "decoder", z1)
    report["vae_decoder_caches"] = {"count": n, f"at_latent_{h}x{w}": [
        {"index": k, "module": labels[k], "shape": list(c.shape), "hw_multiple_of_latent": [c.shape[3] // h,
                                                                                         c.shape[4] // w]}
        for k, c in enumerate(caches)]}
    names_in = [f"cache_in_{k}" for k in range(n)]
    names_out = [f"cache_out_{k}" for k in range(n)]
    report["export"]["vae_decoder_first"] = export._export(
        first, (z1,), out / "vae_decoder_first.onnx", ["latent"], ["sample"] + names_out, ({3: hd, 4: wd},),
        external, fuse_it=False)
    report["export"]["vae_decoder"] = export._export(
        nxt, (z1, *caches), out / "vae_decoder.onnx", ["latent"] + names_in, ["sample"] + names_out,
        ({3: hd, 4: wd}, tuple(cspec)), external, fuse_it=False)

    hk, wk = 2, 3
    Hd, Wd = Dim("hk", min=1, max=512), Dim("wk", min=1, max=512)
    x1 = torch.rand(1, 3, 1, hk * s_ratio, wk * s_ratio, generator=g) * 2 - 1
    x4 = torch.rand(1, 3, 4, hk * s_ratio, wk * s_ratio, generator=g) * 2 - 1
    efirst, enext = VaeEncoderFirst22(vae), VaeEncoderNext22(vae)
    caches = list(efirst(x1)[1:])
    n = len(caches)
    cspec = export._vae_dims([c.shape for c in caches], hk, wk, Hd, Wd)
    labels = _cache_labels(vae, "encoder", x1)
    report["vae_encoder_caches"] = {"count": n, f"at_latent_{hk}x{wk}": [
        {"index": k, "module": labels[k], "shape": list(c.shape), "hw_multiple_of_latent": [c.shape[3] // hk,
                                                                                          c.shape[4] // wk]}
        for k, c in enumerate(caches)]}
    names_in = [f"cache_in_{k}" for k in range(n)]
    names_out = [f"cache_out_{k}" for k in range(n)]
    x_spec = {3: s_ratio * Hd, 4: s_ratio * Wd}
    report["export"]["vae_encoder_first"] = export._export(
        efirst, (x1,), out / "vae_encoder_first.onnx", ["sample"], ["moments"] + names_out, (x_spec,),
        external, fuse_it=False)
    report["export"]["vae_encoder"] = export._export(
        enext, (x4, *caches), out / "vae_encoder.onnx", ["sample"] + names_in, ["moments"] + names_out,
        (x_spec, tuple(cspec)), external, fuse_it=False)


# ----------------------------------------------------------------------------------------------
# Transformer with per-token timesteps
# ----------------------------------------------------------------------------------------------


class TransformerTI2VWrapper(nn.Module):
    """timestep [B, S] float: one per patch token (diffusers' expand_timesteps path, timestep.ndim == 2)."""

    def __init__(self, tr):
        super().__init__()
        self.tr = tr

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        dt = self.tr.patch_embedding.weight.dtype
        out = self.tr(hidden_states=hidden_states.to(dt), timestep=timestep,
                      encoder_hidden_states=encoder_hidden_states.to(dt), return_dict=False)[0]
        return out.float()


def patch_timesteps(mask_fhw: np.ndarray, t: float, ph: int = 2, pw: int = 2) -> np.ndarray:
    """diffusers: (mask[0][0][:, ::2, ::2] * t).flatten(): mask [f,h,w] -> [S] in (f, h/2, w/2) order."""
    return (mask_fhw[:, ::ph, ::pw].astype(np.float32) * np.float32(t)).reshape(-1)


def export_transformer22(tr, out: Path, external: bool, report: dict):
    Dim = torch.export.Dim
    cfg = tr.config
    pt, ph, pw = cfg.patch_size
    assert pt == 1
    rmax = int(cfg.rope_max_seq_len)
    g = torch.Generator().manual_seed(2)
    f, hh, ww, L = 3, 2, 3, 16
    S = f * hh * ww
    ts = torch.full((2, S), 999.0)
    ts[:, : hh * ww] = 0.0  # I2V form: first latent frame at 0
    args = (torch.randn(2, cfg.in_channels, f, hh * ph, ww * pw, generator=g), ts,
            torch.randn(2, L, int(cfg.text_dim), generator=g))
    fd = Dim("f", min=1, max=rmax)
    hd, wd = Dim("hh", min=1, max=rmax), Dim("ww", min=1, max=rmax)
    Ld = Dim("L", min=2, max=4096)
    report["export"]["transformer"] = export._export(
        TransformerTI2VWrapper(tr), args, out / "transformer.onnx",
        ["hidden_states", "timestep", "encoder_hidden_states"], ["velocity"],
        {"hidden_states": {2: fd, 3: ph * hd, 4: pw * wd}, "timestep": {1: Dim.AUTO},
         "encoder_hidden_states": {1: Ld}}, external)
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


def torch_chunk_fns22(vae, which):
    if which == "decoder":
        return export.torch_chunk_fns(VaeDecoderFirst22(vae), VaeDecoderNext22(vae))
    return export.torch_chunk_fns(VaeEncoderFirst22(vae), VaeEncoderNext22(vae))


def verify22(out: Path, comps, report: dict, full: bool = True):
    """full=False (real checkpoints): fewer and smaller shapes, no float64 VAE copy."""
    te, tr, vae, tok = comps["text_encoder"], comps["transformer"], comps["vae"], comps["tokenizer"]
    g = torch.Generator().manual_seed(5)
    rep = report.setdefault("ort_vs_torch_max_abs", {})
    sess = export._ort(out / "text_encoder.onnx")
    for L in (16, 7):
        ids = torch.randint(3, len(tok), (1, L), generator=g)
        mask = torch.ones(1, L, dtype=torch.int64)
        mask[:, L - 3:] = 0
        ref = export.TextEncoderWrapper(te)(ids, mask)
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        rep[f"text_encoder_L{L}"] = export._maxabs(ref, got)

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

    C = int(vae.config.z_dim)
    s_ratio = int(vae.config.scale_factor_spatial)
    dec = export.ort_chunk_fns(out / "vae_decoder_first.onnx", out / "vae_decoder.onnx", "latent")
    tdec = torch_chunk_fns22(vae, "decoder")
    vrep = report.setdefault("chunked_vae_vs_diffusers_max_abs", {})
    sizes = ((4, 6), (3, 5)) if full else ((2, 3),)
    import copy

    vae64 = copy.deepcopy(vae).double() if full else None
    fp64 = report.setdefault("fp64_reference_max_abs", {})
    for (h, w) in sizes:
        for f in ((1, 2, 3, 5) if full else (1, 3)):
            z = torch.randn(1, C, f, h, w, generator=g)
            ref = vae.decode(z).sample
            vrep[f"decode_ort_f{f}_{h}x{w}"] = export._maxabs(ref, export.chunked_decode(*dec, z.numpy()))
            vrep[f"decode_torchchunks_f{f}_{h}x{w}"] = export._maxabs(ref, export.chunked_decode(*tdec, z))
            if vae64 is None:
                continue
            # float64 reference: how far fp32 itself is (the tiny random decoder amplifies rounding)
            ref64 = vae64.decode(z.double()).sample
            fp64[f"decode_ort_vs_fp64_f{f}_{h}x{w}"] = export._maxabs(ref64, export.chunked_decode(*dec, z.numpy()))
            fp64[f"decode_torch_fp32_vs_fp64_f{f}_{h}x{w}"] = export._maxabs(ref64, ref)
    enc = export.ort_chunk_fns(out / "vae_encoder_first.onnx", out / "vae_encoder.onnx", "sample")
    tenc = torch_chunk_fns22(vae, "encoder")
    for (h, w) in sizes:
        for nf in ((1, 5, 9, 13) if full else (1, 5)):
            x = torch.rand(1, 3, nf, h * s_ratio, w * s_ratio, generator=g) * 2 - 1
            dist = vae.encode(x).latent_dist
            got = export.chunked_encode(*enc, x.numpy())
            tag = f"F{nf}_{h * s_ratio}x{w * s_ratio}"
            vrep[f"encode_mode_ort_{tag}"] = export._maxabs(dist.mode(), got[:, :C])
            vrep[f"encode_moments_ort_{tag}"] = export._maxabs(dist.parameters, got)
            vrep[f"encode_torchchunks_{tag}"] = export._maxabs(dist.parameters, export.chunked_encode(*tenc, x))


# ----------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------


def build_manifest22(comps, name: str, license_note: str, defaults: dict, guidance: float = 5.0) -> dict:
    m = export.build_manifest(comps, name, license_note, defaults, "fp32", guidance)
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


def load_pretrained(src: Path):
    """A local diffusers Wan 2.2 TI2V folder (Wan-AI/Wan2.2-TI2V-5B-Diffusers layout: model_index.json with
    expand_timesteps true, text_encoder/, tokenizer/, transformer/, vae/ (is_residual), scheduler/). fp32; the
    loading is export.py's (`_load_one_expert`)."""
    src = Path(src)
    idx_path = src / "model_index.json"
    idx = json.loads(idx_path.read_text()) if idx_path.exists() else {}
    if not idx.get("expand_timesteps"):
        raise NotImplementedError(f"{src}: model_index.json has no expand_timesteps: true (not a TI2V folder; "
                                  "Wan 2.1 / 2.2 A14B T2V: export.py)")
    if idx.get("boundary_ratio") is not None or (src / "transformer_2").is_dir() and idx.get("transformer_2", [None])[0]:
        raise NotImplementedError("two experts with expand_timesteps are not supported")
    comps = export._load_one_expert(src, torch.float32)
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
                 do_verify: bool, full_verify: bool = True, only=None, report=None):
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    only = only or {"vae", "transformer", "text_encoder"}
    report = report if report is not None else {}
    report.setdefault("dtype", "fp32")
    report.setdefault("export", {})
    tok = comps["tokenizer"]
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    if "vae" in only:
        export_vae22(comps["vae"], out, external, report)
    if "text_encoder" in only:
        export.export_text_encoder(comps["text_encoder"], len(tok), out, external, report)
    if "transformer" in only:
        export_transformer22(comps["transformer"], out, external, report)
    if do_verify:
        verify22(out, comps, report, full=full_verify)
    manifest = build_manifest22(comps, name, license_note, defaults)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out / "export_report.json").write_text(json.dumps(report, indent=1) + "\n")
    for sec in ("ort_vs_torch_max_abs", "chunked_vae_vs_diffusers_max_abs"):
        for k, v in report.get(sec, {}).items():
            print(f"  {k}: {v:.3e}")
    print("wrote", out)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="default: ../wan-ti2v (tiny); required with --from-pretrained")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--only", default=None, help="comma list of vae,transformer,text_encoder (debug)")
    ap.add_argument("--from-pretrained", default=None,
                    help="local diffusers Wan 2.2 TI2V folder (Wan-AI/Wan2.2-TI2V-5B-Diffusers layout), fp32")
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
        name = f"wan2.2-ti2v ({src.name}, fp32)"
        license_note = "Apache-2.0 (Wan-AI Wan 2.2 TI2V 5B; see the model card of the source checkpoint)"
        # Wan 2.2 TI2V-5B's recommended settings (720p class: 1280x704, 121 frames at 24 fps, 50 steps, CFG 5)
        defaults = {"fps": 24, "steps": 50, "width": 1280, "height": 704, "frames": 121, "guidance": 5.0}
        external = comps["transformer"].num_parameters() > 50_000_000
        full = False
    else:
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
                 do_verify=not args.skip_verify, full_verify=full, only=only, report=report)


if __name__ == "__main__":
    main()
