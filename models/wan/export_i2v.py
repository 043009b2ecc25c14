#!/usr/bin/env python3
"""Export Wan 2.1 image-to-video (I2V) and first-last-frame-to-video (FLF2V) to ONNX, Kinema's video-diffusion
layout, as tiny seeded random models for parity tests (diffusers 0.42.x `WanImageToVideoPipeline`).

Reuses models/wan/export.py (imported, not copied): tokenizer, UMT5 text encoder, causal chunked VAE graphs and
their export/verify helpers, the manifest builder. What is new here:

  image_encoder.onnx  pixel_values f32 [K,3,S,S] (CLIP-normalised) -> image_embeds f32 [K,N,D]
                      (= CLIPVisionModelWithProjection hidden_states[-2], as WanImageToVideoPipeline.encode_image)
  transformer.onnx    hidden_states f32 [2,36,F,H,W] (16 noisy latents | 4 mask | 16 condition latents),
                      timestep f32 [2], encoder_hidden_states f32 [2,L,32],
                      encoder_hidden_states_image f32 [2,K*N,D] (the K images' embeds concatenated along tokens)
                      -> velocity f32 [2,16,F,H,W]

Variants (output folders):
  i2v     -> models/wan-i2v     first frame only; image_dim 4, no pos_embed; UniPC flow_shift 3.0
  flf2v   -> models/wan-flf2v   first + last frame; image_dim 4, pos_embed_seq_len 2N; UniPC flow_shift 16.0

Usage:
  HF_HUB_OFFLINE=1 python export_i2v.py                 # both
  HF_HUB_OFFLINE=1 python export_i2v.py --variant i2v

See I2V.md for the runtime contract (condition video, mask, draws).
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
import export  # noqa: E402  (models/wan/export.py)

SEED = export.SEED
MODELS = HERE.parent
OUT_DIRS = {"i2v": MODELS / "wan-i2v", "flf2v": MODELS / "wan-flf2v"}

# diffusers tests/pipelines/wan/test_wan_image_to_video.py (image_size/crop raised to 32 so a 32x32 image is used
# as is: no resize anywhere)
CLIP_VISION = dict(hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                   intermediate_size=16, patch_size=1)
CLIP_SIZE = 32
CLIP_TOKENS = (CLIP_SIZE // CLIP_VISION["patch_size"]) ** 2 + 1  # patches + class token = 1025
I2V_TRANSFORMER = dict(export.TINY_TRANSFORMER, in_channels=36, image_dim=4)
FLOW_SHIFT = {"i2v": 3.0, "flf2v": 16.0}  # Wan2.1-I2V-14B-*: 3.0 (480P; 720P uses 5.0); Wan2.1-FLF2V-14B-720P: 16.0
NUM_IMAGES = {"i2v": 1, "flf2v": 2}


def tiny_i2v_components(variant: str, seed: int = SEED):
    """The tiny T2V tokenizer / text encoder / VAE (export.tiny_components: identical weights to models/wan), plus
    an I2V transformer (in 36, image_dim 4) and a tiny CLIP vision tower + processor.

    FLF2V: pos_embed_seq_len = 2N. diffusers initialises pos_embed to zeros; here it is overwritten with seeded
    N(0, 1) values so the parity tests see the token order of the two images."""
    from diffusers import UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    assert variant in NUM_IMAGES
    comps = export.tiny_components(seed)
    comps.pop("transformer_2", None)  # export.py's two-expert (Wan 2.2) tiny expert: not used here
    cfg = dict(I2V_TRANSFORMER)
    if variant == "flf2v":
        cfg["pos_embed_seq_len"] = 2 * CLIP_TOKENS
    torch.manual_seed(seed)
    tr = WanTransformer3DModel(**cfg)
    if variant == "flf2v":
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            pe = tr.condition_embedder.image_embedder.pos_embed
            pe.copy_(torch.randn(pe.shape, generator=g))
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_VISION))
    image_processor = CLIPImageProcessor(crop_size=CLIP_SIZE, size=CLIP_SIZE)
    for m in (tr, image_encoder):
        m.eval()
    comps["transformer"] = tr
    comps["image_encoder"] = image_encoder
    comps["image_processor"] = image_processor
    comps["scheduler"] = UniPCMultistepScheduler(**dict(export.WAN_SCHEDULER, flow_shift=FLOW_SHIFT[variant]))
    comps["variant"] = variant
    return comps


def load_i2v_components(src: Path, dtype=torch.float32):
    """A local diffusers Wan 2.1 I2V / FLF2V folder (tokenizer/, text_encoder/, transformer/, vae/, scheduler/,
    image_encoder/, image_processor/). FLF2V is recognised by the transformer's pos_embed_seq_len."""
    from transformers import CLIPImageProcessor, CLIPVisionModel

    src = Path(src)
    comps = export.load_components(src, dtype)
    if comps.get("transformer_2") is not None:
        raise NotImplementedError("two transformers (Wan 2.2 A14B I2V) are not supported by export_i2v.py")
    comps.pop("transformer_2", None)
    cfg = comps["transformer"].config
    if cfg.image_dim is None or cfg.in_channels != 2 * cfg.out_channels + 4:
        raise NotImplementedError("not a Wan 2.1 I2V/FLF2V transformer (needs image_dim and in_channels = 2*out + 4)")
    comps["variant"] = "flf2v" if cfg.pos_embed_seq_len is not None else "i2v"
    # WanImageToVideoPipeline uses CLIPVisionModel (hidden_states[-2]); a ...WithProjection checkpoint loads too
    comps["image_encoder"] = CLIPVisionModel.from_pretrained(str(src / "image_encoder"), torch_dtype=torch.float32).eval()
    comps["image_processor"] = CLIPImageProcessor.from_pretrained(str(src / "image_processor"))
    return comps


def save_i2v_components(comps, dst: Path):
    """save_pretrained of the tiny components (for the --from-pretrained round trip)."""
    dst = Path(dst)
    export.save_components({k: comps[k] for k in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")}, dst)
    comps["image_encoder"].save_pretrained(str(dst / "image_encoder"))
    comps["image_processor"].save_pretrained(str(dst / "image_processor"))
    idx = json.loads((dst / "model_index.json").read_text())
    idx.update({"_class_name": "WanImageToVideoPipeline",
                "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
                "image_processor": ["transformers", "CLIPImageProcessor"]})
    (dst / "model_index.json").write_text(json.dumps(idx, indent=1))


# ----------------------------------------------------------------------------------------------
# Wrappers
# ----------------------------------------------------------------------------------------------


class ImageEncoderWrapper(nn.Module):
    """WanImageToVideoPipeline.encode_image after the processor: hidden_states[-2] of the CLIP vision tower."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, pixel_values):
        out = self.enc(pixel_values=pixel_values, output_hidden_states=True)
        return out.hidden_states[-2].float()


class I2VTransformerWrapper(nn.Module):
    """encoder_hidden_states_image [B, K*N, D]: the K images' CLIP tokens concatenated (the same for both rows).

    Without pos_embed (I2V) it goes in as is. With pos_embed (FLF2V) diffusers gets [K*B, N, D] and views it as
    [B, 2N, D] inside WanImageEmbedding (pipeline batch 1: rows [first, last] -> tokens first|last), so the wrapper
    reshapes [B, 2N, D] -> [2B, N, D] first."""

    def __init__(self, tr, num_images: int):
        super().__init__()
        self.tr = tr
        self.k = num_images
        self.pos = tr.condition_embedder.image_embedder.pos_embed is not None

    def forward(self, hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image):
        dt = self.tr.patch_embedding.weight.dtype
        img = encoder_hidden_states_image
        if self.pos:
            b, t, d = img.shape
            img = img.reshape(b * self.k, t // self.k, d)
        out = self.tr(
            hidden_states=hidden_states.to(dt),
            timestep=timestep,
            encoder_hidden_states=encoder_hidden_states.to(dt),
            encoder_hidden_states_image=img.to(dt),
            return_dict=False,
        )[0]
        return out.float()


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------


def _image_tokens(comps):
    enc = comps["image_encoder"]
    c = enc.config
    return (c.image_size // c.patch_size) ** 2 + 1, int(c.hidden_size), int(c.image_size)


def export_image_encoder(comps, out: Path, external: bool, report: dict):
    Dim = torch.export.Dim
    _, _, S = _image_tokens(comps)
    x = torch.randn(2, 3, S, S, generator=torch.Generator().manual_seed(11))
    report["export"]["image_encoder"] = export._export(
        ImageEncoderWrapper(comps["image_encoder"]), (x,), out / "image_encoder.onnx", ["pixel_values"],
        ["image_embeds"], {"pixel_values": {0: Dim("K", min=1, max=8)}}, external, fuse_it=False)


def export_i2v_transformer(comps, out: Path, external: bool, report: dict):
    tr = comps["transformer"]
    K = NUM_IMAGES[comps["variant"]]
    N, D, _ = _image_tokens(comps)
    # the image token count is fixed by the image encoder (and, for FLF2V, by pos_embed): static
    export.export_transformer(
        tr, out, external, report, wrapper=I2VTransformerWrapper(tr, K),
        extra=lambda g: {"encoder_hidden_states_image": (torch.randn(2, K * N, D, generator=g), None)})


def verify_i2v(out: Path, comps, report: dict, with_vae: bool = True):
    """ORT vs PyTorch: image encoder (K 1, 2), transformer at two grids (+ a third), text encoder, chunked VAE
    (with_vae=False: not the VAE)."""
    tok, te, tr, vae = comps["tokenizer"], comps["text_encoder"], comps["transformer"], comps["vae"]
    K = NUM_IMAGES[comps["variant"]]
    N, D, S = _image_tokens(comps)
    g = torch.Generator().manual_seed(5)
    rep = report.setdefault("ort_vs_torch_max_abs", {})

    sess = export._ort(out / "image_encoder.onnx")
    for k in (1, 2):
        x = torch.randn(k, 3, S, S, generator=g)
        ref = ImageEncoderWrapper(comps["image_encoder"])(x)
        rep[f"image_encoder_K{k}"] = export._maxabs(ref, sess.run(None, {"pixel_values": x.numpy()})[0])

    export.verify_text_encoder(out, te, len(tok), g, rep)

    sess = export._ort(out / "transformer.onnx")
    cfg = tr.config
    _, ph, pw = cfg.patch_size
    for (f, hh, ww, L) in ((3, 2, 3, 16), (2, 3, 2, 9), (3, 2, 2, 32)):
        inp = dict(
            hidden_states=torch.randn(2, cfg.in_channels, f, hh * ph, ww * pw, generator=g),
            timestep=torch.tensor([750.0, 750.0]) if f != 2 else torch.tensor([999.0, 120.0]),
            encoder_hidden_states=torch.randn(2, L, cfg.text_dim, generator=g),
            encoder_hidden_states_image=torch.randn(1, K * N, D, generator=g).repeat(2, 1, 1),
        )
        ref = I2VTransformerWrapper(tr, K)(**inp)
        got = sess.run(None, {k: v.numpy() for k, v in inp.items()})[0]
        rep[f"transformer_F{f}_H{hh * ph}_W{ww * pw}_L{L}"] = export._maxabs(ref, got)
        if f == 3 and L == 16:
            # the diffusers call as the pipeline makes it (batch 1, image_embeds [K, N, D]), row 1
            img = inp["encoder_hidden_states_image"][:1].reshape(K, N, D)
            r1 = tr(hidden_states=inp["hidden_states"][1:], timestep=inp["timestep"][1:],
                    encoder_hidden_states=inp["encoder_hidden_states"][1:],
                    encoder_hidden_states_image=img, return_dict=False)[0]
            rep["transformer_ort_vs_pipeline_call_batch1"] = export._maxabs(r1, got[1:])
    if not with_vae:
        return report
    dec = export.ort_chunk_fns(out / "vae_decoder_first.onnx", out / "vae_decoder.onnx", "latent")
    enc = export.ort_chunk_fns(out / "vae_encoder_first.onnx", out / "vae_encoder.onnx", "sample")
    vrep = report.setdefault("chunked_vae_vs_diffusers_max_abs", {})
    C = int(vae.config.z_dim)
    for f in (1, 3):
        z = torch.randn(1, C, f, 4, 4, generator=g)
        vrep[f"decode_ort_f{f}_4x4"] = export._maxabs(vae.decode(z).sample, export.chunked_decode(*dec, z.numpy()))
    for nf in (1, 9):
        x = torch.rand(1, 3, nf, 32, 32, generator=g) * 2 - 1
        x[:, :, 1:-1] = 0  # the shape of a condition video: images at the ends, zeros between
        dist = vae.encode(x).latent_dist
        vrep[f"encode_mode_ort_F{nf}_32x32"] = export._maxabs(dist.mode(), export.chunked_encode(*enc, x.numpy())[:, :C])
    return report


# ----------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------


TINY_DEFAULTS = {"fps": 16, "steps": 4, "width": 32, "height": 32, "frames": 9, "guidance": 5.0}


def build_i2v_manifest(comps, name: str | None = None, license_note: str | None = None,
                       defaults: dict | None = None, dtype: str = "fp32") -> dict:
    variant = comps["variant"]
    K = NUM_IMAGES[variant]
    N, D, S = _image_tokens(comps)
    proc = comps["image_processor"]
    if name is None:
        name = {"i2v": "wan-i2v-tiny-random", "flf2v": "wan-flf2v-tiny-random"}[variant] + \
            " (parity test model, seeded random weights, produces noise)"
        license_note = "Apache-2.0 (configs from huggingface/diffusers tests; weights are random, seed %d)" % SEED
        defaults = TINY_DEFAULTS
    crop = proc.crop_size
    assert proc.do_center_crop and crop["height"] == crop["width"] == S, (crop, S)
    m = export.build_manifest(comps, name, license_note, defaults, dtype)
    m["source"] = "diffusers %s WanImageToVideoPipeline; see ../wan/I2V.md" % __import__("diffusers").__version__
    comps_m = m["components"]
    comps_m["image_encoder"] = {
        "file": "image_encoder.onnx", "input": "pixel_values", "output": "image_embeds",
        "size": S, "mean": [float(v) for v in proc.image_mean], "std": [float(v) for v in proc.image_std],
        "resample": "bicubic", "resize_shortest_edge": int(proc.size["shortest_edge"]), "tokens": N, "hidden_size": D, "images": K,
        "note": ("CLIPImageProcessor: resize the shortest edge to resize_shortest_edge (PIL bicubic), center crop size x size, x/255, "
                 "(x - mean)/std, NCHW RGB. Output = vision tower hidden_states[-2] (penultimate layer, no final "
                 "layernorm, no projection), [K, N, D]. "
                 + ("K = 1 (the first frame)." if K == 1 else
                    "K = 2: run on [first, last] (one call with K=2 or two calls with K=1 give the same rows), "
                    "then concatenate first|last along tokens for the transformer.")),
    }
    comps_m["transformer"]["inputs"]["encoder_hidden_states_image"] = "encoder_hidden_states_image"
    comps_m["transformer"]["image_tokens"] = K * N
    comps_m["transformer"]["note"] = (
        "hidden_states channels: 0..15 noisy latents, 16..19 mask, 20..35 condition latents (see conditioning). "
        "encoder_hidden_states_image: [2, K*N, D], the image_encoder output of the K images concatenated along "
        "tokens, identical in both rows.")
    m["conditioning"] = {"i2v": {"method": "channel_concat", "mask_channels": 4, "last_frame": K == 2,
                                 "first_frame_required": True, "last_frame_required": K == 2,
                                 "condition_sample_mode": "mode",
                                 "doc": "../wan/I2V.md"}}
    m["guidance"]["cfg"]["note"] = "uncond row gets the negative prompt and the same image embeds and condition"
    return export.set_precisions(m, dtype)  # the image encoder's too (always fp32)


def export_variant(variant: str | None, out: Path, seed: int = SEED, do_verify: bool = True, src: Path | None = None,
                   dtype: str = "fp32"):
    """variant None with src: from the folder (I2V or FLF2V; graphs over 50M parameters use external data).
    dtype as export.py's --dtype (export.export_at_dtype): text encoder and transformer at fp32/fp16/int8/int4
    (int4: text encoder int8); VAE and image encoder fp32."""
    torch.set_grad_enabled(False)
    out.mkdir(parents=True, exist_ok=True)
    if src is None:
        comps = tiny_i2v_components(variant, seed)
        ext_tr = ext_ie = False
        man = lambda c: build_i2v_manifest(c, dtype=dtype)  # noqa: E731
    else:
        comps = load_i2v_components(src)
        variant = comps["variant"]
        ext_tr = comps["transformer"].num_parameters() > 50_000_000
        ext_ie = comps["image_encoder"].num_parameters() > 50_000_000
        man = lambda c: build_i2v_manifest(  # noqa: E731
            c, f"wan {variant} ({src.name}, {dtype})",
            "Apache-2.0 (Wan-AI Wan 2.1; see the model card of the source checkpoint)",
            {"fps": 16, "steps": 50, "width": 832, "height": 480, "frames": 81, "guidance": 5.0}, dtype)
    report = {"dtype": dtype, "variant": variant, "export": {}}
    if src is not None:
        report["source"] = str(src)
    comps["tokenizer"].backend_tokenizer.save(str(out / "tokenizer.json"))
    export.export_vae(comps["vae"], out, ext_tr, report)
    export_image_encoder(comps, out, ext_ie, report)

    def export_lowp(c):
        export.export_text_encoder(c["text_encoder"], len(c["tokenizer"]), out, ext_tr, report)
        export_i2v_transformer(c, out, ext_tr, report)

    lowp_check = export.verify_lowp_from(lambda o, c, r: verify_i2v(o, c, r, with_vae=False))
    export.export_at_dtype(comps, out, dtype, report, export_lowp, verify_i2v, lowp_check if do_verify else None,
                           do_verify=do_verify, src=src, save=save_i2v_components, load=load_i2v_components,
                           graphs=["transformer", "text_encoder"])
    export.write_outputs(out, man(comps), report)
    return report


def check_added_kv(variant: str, seed: int = SEED) -> dict:
    """The real Wan 2.1 I2V/FLF2V transformers set added_kv_proj_dim (decoupled image cross-attention: add_k_proj,
    add_v_proj, norm_added_k), which diffusers' tiny test config (and the folders here) do not. That path splits
    the context at a hardcoded text length of 512 (WanAttnProcessor: image_context_length = len - 512), so the
    text must be padded to exactly 512 rows. Exports such a transformer (added_kv_proj_dim = inner dim, as the
    real configs) to a temporary folder and checks ORT vs PyTorch at L = 512, two grids."""
    import tempfile

    from diffusers import WanTransformer3DModel

    cfg = dict(I2V_TRANSFORMER)
    cfg["added_kv_proj_dim"] = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    if variant == "flf2v":
        cfg["pos_embed_seq_len"] = 2 * CLIP_TOKENS
    torch.manual_seed(seed)
    tr = WanTransformer3DModel(**cfg).eval()
    comps = tiny_i2v_components(variant, seed)
    comps["transformer"] = tr
    K = NUM_IMAGES[variant]
    N, D, _ = _image_tokens(comps)
    rep = {"config": {k: v for k, v in cfg.items() if k in ("added_kv_proj_dim", "pos_embed_seq_len")}}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        r = {"export": {}}
        export_i2v_transformer(comps, d, False, r)
        rep["fused"] = r["export"]["transformer"].get("fused")
        sess = export._ort(d / "transformer.onnx")
        g = torch.Generator().manual_seed(7)
        for (f, hh, ww) in ((3, 2, 3), (2, 3, 2)):
            inp = dict(
                hidden_states=torch.randn(2, 36, f, 2 * hh, 2 * ww, generator=g),
                timestep=torch.tensor([750.0, 750.0]),
                encoder_hidden_states=torch.randn(2, 512, 32, generator=g),
                encoder_hidden_states_image=torch.randn(1, K * N, D, generator=g).repeat(2, 1, 1),
            )
            ref = I2VTransformerWrapper(tr, K)(**inp)
            got = sess.run(None, {k: v.numpy() for k, v in inp.items()})[0]
            rep[f"transformer_F{f}_H{2 * hh}_W{2 * ww}_L512"] = export._maxabs(ref, got)
    return rep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=["i2v", "flf2v", "both"], default="both")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--check-added-kv", action="store_true",
                    help="only run check_added_kv (real-checkpoint attention path) and add it to export_report.json")
    ap.add_argument("--from-pretrained", default=None,
                    help="local diffusers Wan 2.1 I2V / FLF2V folder (needs --out)")
    ap.add_argument("--dtype", choices=["fp32", "fp16", "int8", "int4"], default="fp32",
                    help="text encoder and transformer precision, as export.py (VAE and image encoder stay fp32)")
    ap.add_argument("--out", default=None, help="output folder (default: models/wan-i2v or models/wan-flf2v)")
    ap.add_argument("--save-tiny", default=None,
                    help="only save the tiny --variant components (save_pretrained) into this folder")
    ap.add_argument("--manifest-only", action="store_true", help="only rewrite the tiny folders' manifest.json")
    args = ap.parse_args(argv)
    if args.save_tiny:
        assert args.variant != "both", "--save-tiny needs --variant i2v or flf2v"
        torch.set_grad_enabled(False)
        save_i2v_components(tiny_i2v_components(args.variant, args.seed), Path(args.save_tiny))
        print("saved", args.save_tiny)
        return
    if args.from_pretrained:
        assert args.out, "--from-pretrained needs --out"
        export_variant(None, Path(args.out).expanduser(), args.seed, not args.skip_verify,
                       Path(args.from_pretrained).expanduser().resolve(), args.dtype)
        return
    if args.manifest_only:
        for v in (["i2v", "flf2v"] if args.variant == "both" else [args.variant]):
            m = build_i2v_manifest(tiny_i2v_components(v, args.seed))
            (OUT_DIRS[v] / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
            print("wrote", OUT_DIRS[v] / "manifest.json")
        return
    if args.check_added_kv:
        torch.set_grad_enabled(False)
        for v in (["i2v", "flf2v"] if args.variant == "both" else [args.variant]):
            p = OUT_DIRS[v] / "export_report.json"
            r = json.loads(p.read_text())
            r["added_kv_check"] = check_added_kv(v, args.seed)
            p.write_text(json.dumps(r, indent=1) + "\n")
            print(v, json.dumps(r["added_kv_check"]))
        return
    if args.out and args.variant == "both":
        ap.error("--out needs --variant i2v or flf2v (or --from-pretrained)")
    for v in (["i2v", "flf2v"] if args.variant == "both" else [args.variant]):
        export_variant(v, Path(args.out).expanduser() if args.out else OUT_DIRS[v], args.seed, not args.skip_verify,
                       dtype=args.dtype)


if __name__ == "__main__":
    main()
