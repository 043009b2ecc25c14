#!/usr/bin/env python3
"""Export Wan 2.1 text-to-video (diffusers 0.42.x) to ONNX in Kinema's video-diffusion manifest layout.

Produces, in --out (default: this folder):
  tokenizer.json          T5-convention tokenizer for the `tokenizers` crate (pad=0, </s>=1)
  text_encoder.onnx       input_ids [1,L] int64, attention_mask [1,L] int64 -> last_hidden_state [1,L,D]
  transformer.onnx        hidden_states [2,16,F,H,W], timestep [2] (float), encoder_hidden_states [2,L,D]
                          -> velocity [2,16,F,H,W]   (batch rows: 0 = uncond, 1 = cond)
  vae_encoder_first.onnx  sample [1,3,1,H,W] -> moments [1,32,1,h,w] + cache_out_0..N-1
  vae_encoder.onnx        sample [1,3,4,H,W] + cache_in_0..N-1 -> moments [1,32,1,h,w] + cache_out_0..N-1
  vae_decoder_first.onnx  latent [1,16,1,h,w] -> sample [1,3,1,H,W] + cache_out_0..M-1
  vae_decoder.onnx        latent [1,16,1,h,w] + cache_in_0..M-1 -> sample [1,3,4,H,W] + cache_out_0..M-1
  manifest.json           what the runtime needs besides the graphs
  export_report.json      ONNX Runtime vs PyTorch / diffusers max-abs diffs

Two sources of weights, one code path:
  (default)              tiny random Wan components (diffusers' tests/pipelines/wan/test_wan.py configs), seed 0
  --from-pretrained DIR  a local diffusers Wan 2.1 folder (text_encoder/, tokenizer/, transformer/, vae/,
                         scheduler/); graphs then use external data (<name>.onnx.data)

Usage:
  HF_HUB_OFFLINE=1 python export.py
  HF_HUB_OFFLINE=1 python export.py --from-pretrained ~/Wan2.1-T2V-1.3B-Diffusers --out ~/kinema-models/wan-1.3b --dtype fp16

The VAE is exported as causal chunks with explicit caches (see README.md, "Chunked VAE"): every cache is exactly
2 frames, so no frame count is ever baked into a graph.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
LTX = HERE.parent / "ltx"
SEED = 0


def _load_ltx_export():
    """models/ltx/export.py under another name (this file is export.py too); it puts models/ltx on sys.path,
    which makes its fuse.py and precision.py importable."""
    if "ltx_export" in sys.modules:
        return sys.modules["ltx_export"]
    spec = importlib.util.spec_from_file_location("ltx_export", LTX / "export.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ltx_export"] = mod
    spec.loader.exec_module(mod)
    return mod


ltx_export = _load_ltx_export()
import fuse  # noqa: E402  (models/ltx/fuse.py)
import precision  # noqa: E402  (models/ltx/precision.py)

# ----------------------------------------------------------------------------------------------
# Components
# ----------------------------------------------------------------------------------------------

# diffusers tests/pipelines/wan/test_wan.py get_dummy_components
TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=12,
    in_channels=16,
    out_channels=16,
    text_dim=32,
    freq_dim=256,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    rope_max_seq_len=32,
)
TINY_VAE = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
# UMT5 (Wan uses google/umt5-xxl), sized like models/ltx's tiny T5
TINY_UMT5 = dict(
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=2,
    num_decoder_layers=2,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    feed_forward_proj="gated-gelu",
    dropout_rate=0.0,
    layer_norm_epsilon=1e-6,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
    is_encoder_decoder=True,
    tie_word_embeddings=False,
)
# Wan-AI/Wan2.1-T2V-*-Diffusers scheduler/scheduler_config.json
WAN_SCHEDULER = dict(
    prediction_type="flow_prediction",
    use_flow_sigmas=True,
    flow_shift=3.0,
    solver_order=2,
    solver_type="bh2",
    lower_order_final=True,
    final_sigmas_type="zero",
    num_train_timesteps=1000,
)


def _tiny_one_expert(seed: int = SEED):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = ltx_export.build_tokenizer(max_length=512)
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(**TINY_TRANSFORMER)
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(**TINY_VAE)
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), **TINY_UMT5))
    scheduler = UniPCMultistepScheduler(**WAN_SCHEDULER)
    for m in (transformer, vae, text_encoder):
        m.eval()
    return dict(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)


def _load_one_expert(src: Path, dtype=torch.float32):
    """A local diffusers Wan 2.1 folder. The VAE always loads in fp32 (diffusers' Wan examples keep it fp32)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import AutoTokenizer, UMT5EncoderModel

    src = Path(src)
    tokenizer = AutoTokenizer.from_pretrained(str(src / "tokenizer"))
    text_encoder = UMT5EncoderModel.from_pretrained(str(src / "text_encoder"), torch_dtype=dtype)
    transformer = WanTransformer3DModel.from_pretrained(str(src / "transformer"), torch_dtype=dtype)
    vae = AutoencoderKLWan.from_pretrained(str(src / "vae"), torch_dtype=torch.float32)
    scheduler = UniPCMultistepScheduler.from_pretrained(str(src / "scheduler"))
    for m in (transformer, vae, text_encoder):
        m.eval()
    return dict(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)


# ----------------------------------------------------------------------------------------------
# Wrappers
# ----------------------------------------------------------------------------------------------


class TextEncoderWrapper(nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids, attention_mask):
        return self.te(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()


class TransformerWrapper(nn.Module):
    """No text mask: Wan attends to all L text rows; rows past the prompt are zero vectors (the runtime pads)."""

    def __init__(self, tr):
        super().__init__()
        self.tr = tr

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        dt = self.tr.patch_embedding.weight.dtype
        out = self.tr(
            hidden_states=hidden_states.to(dt),
            timestep=timestep,
            encoder_hidden_states=encoder_hidden_states.to(dt),
            return_dict=False,
        )[0]
        return out.float()


class _Caches:
    """Explicit-cache replay of diffusers' feat_cache loop (autoencoder_kl_wan.py), one chunk.

    cache_in None = the first chunk. Every cache is 2 frames. Cache k is diffusers' feat_idx k (the order the
    causal convs are visited), the upsample3d "Rep" slot included."""

    def __init__(self, cache_in=None):
        self.cin = cache_in
        self.out: list[torch.Tensor] = []
        self.labels: list[str] = []  # the module each cache belongs to (for the report/README)

    def _label(self, m, what=""):
        self.labels.append(MODULE_NAMES.get(id(m), "?") + what)

    def _next_in(self):
        return self.cin[len(self.out)]

    def conv(self, conv, x):
        """A WanCausalConv3d with temporal padding 2 (kernel 3): the 2-frame cache replaces the zero padding."""
        if self.cin is None:
            assert x.shape[2] == 1
            self._label(conv)
            y = conv(x)  # zero causal padding
            self.out.append(torch.cat([torch.zeros_like(x), x], 2))
            return y
        self._label(conv)
        xx = torch.cat([self._next_in(), x], 2)
        pad = list(conv._padding)
        pad[4] = 0
        y = nn.Conv3d.forward(conv, F.pad(xx, pad))
        self.out.append(xx[:, :, -2:])
        return y

    def resblock(self, m, x):
        h = m.conv_shortcut(x)
        x = m.nonlinearity(m.norm1(x))
        x = self.conv(m.conv1, x)
        x = m.nonlinearity(m.norm2(x))
        x = m.dropout(x)
        x = self.conv(m.conv2, x)
        return x + h

    def mid(self, m, x):
        x = self.resblock(m.resnets[0], x)
        for attn, res in zip(m.attentions, m.resnets[1:]):
            if attn is not None:
                x = attn(x)
            x = self.resblock(res, x)
        return x

    def resample(self, m, x):
        b, c, t, h, w = x.shape
        if m.mode == "upsample3d":
            self._label(m.time_conv, " (upsample3d; zeros from the first chunk)")
            if self.cin is None:
                # diffusers stores "Rep" and skips the time conv; the next chunk's conv then pads with zeros
                self.out.append(x.new_zeros(b, c, 2, h, w))
            else:
                xx = torch.cat([self._next_in(), x], 2)
                self.out.append(xx[:, :, -2:])
                pad = list(m.time_conv._padding)
                pad[4] = 0
                x = nn.Conv3d.forward(m.time_conv, F.pad(xx, pad))
                x = x.reshape(b, 2, c, t, h, w)
                x = torch.stack((x[:, 0], x[:, 1]), 3)
                x = x.reshape(b, c, t * 2, h, w)
        t = x.shape[2]
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        x = m.resample(x)
        x = x.reshape(b, t, x.shape[1], x.shape[2], x.shape[3]).permute(0, 2, 1, 3, 4)
        if m.mode == "downsample3d":
            self._label(m.time_conv, " (downsample3d; only frame -1 is read)")
            if self.cin is None:
                # diffusers stores the (1-frame) chunk and skips the time conv
                self.out.append(torch.cat([torch.zeros_like(x), x], 2))
            else:
                # diffusers feeds its cached last frame; only frame -1 of the cache is read
                xx = torch.cat([self._next_in()[:, :, -1:], x], 2)
                self.out.append(xx[:, :, -2:])
                x = m.time_conv(xx)  # kernel 3, stride 2, no temporal padding
        return x

    def encoder(self, e, x):
        from diffusers.models.autoencoders.autoencoder_kl_wan import WanAttentionBlock, WanResample, WanResidualBlock

        x = self.conv(e.conv_in, x)
        for layer in e.down_blocks:
            if isinstance(layer, WanResidualBlock):
                x = self.resblock(layer, x)
            elif isinstance(layer, WanAttentionBlock):
                x = layer(x)
            elif isinstance(layer, WanResample):
                x = self.resample(layer, x)
            else:
                raise NotImplementedError(f"encoder layer {type(layer).__name__} (Wan 2.2 VAE?)")
        x = self.mid(e.mid_block, x)
        x = e.nonlinearity(e.norm_out(x))
        return self.conv(e.conv_out, x)

    def decoder(self, d, x):
        from diffusers.models.autoencoders.autoencoder_kl_wan import WanUpBlock

        x = self.conv(d.conv_in, x)
        x = self.mid(d.mid_block, x)
        for up in d.up_blocks:
            if not isinstance(up, WanUpBlock):
                raise NotImplementedError(f"decoder block {type(up).__name__} (Wan 2.2 VAE?)")
            for r in up.resnets:
                x = self.resblock(r, x)
            if up.upsamplers is not None:
                x = self.resample(up.upsamplers[0], x)
        x = d.nonlinearity(d.norm_out(x))
        return self.conv(d.conv_out, x)


MODULE_NAMES: dict[int, str] = {}


def _check_vae(vae):
    MODULE_NAMES.update({id(m): n for n, m in vae.named_modules()})
    if vae.config.is_residual or vae.config.patch_size is not None:
        raise NotImplementedError("Wan 2.2 VAE (is_residual / patch_size) is not supported; Wan 2.1 only")


class _VaeChunk(nn.Module):
    """One causal VAE chunk graph with explicit caches. `caches` (the traversal), `check`, `pixels_in` and
    `pixels_out` are Wan 2.1's here; export_ti2v.py swaps in the Wan 2.2 ones (residual blocks, pixel patchify)."""

    caches = _Caches
    check = staticmethod(_check_vae)

    def __init__(self, vae):
        super().__init__()
        self.check(vae)
        self.vae = vae

    def pixels_in(self, x):
        return x

    def pixels_out(self, x):
        return x


class _VaeEncoderChunk(_VaeChunk):
    def run(self, sample, c):
        return (self.vae.quant_conv(c.encoder(self.vae.encoder, self.pixels_in(sample))), *c.out)


class _VaeDecoderChunk(_VaeChunk):
    def run(self, latent, c):
        return (self.pixels_out(c.decoder(self.vae.decoder, self.vae.post_quant_conv(latent))), *c.out)


class VaeEncoderFirst(_VaeEncoderChunk):
    def forward(self, sample):
        return self.run(sample, self.caches(None))


class VaeEncoderNext(_VaeEncoderChunk):
    def forward(self, sample, *cache_in):
        return self.run(sample, self.caches(list(cache_in)))


class VaeDecoderFirst(_VaeDecoderChunk):
    def forward(self, latent):
        return self.run(latent, self.caches(None))


class VaeDecoderNext(_VaeDecoderChunk):
    def forward(self, latent, *cache_in):
        return self.run(latent, self.caches(list(cache_in)))


VAE_CHUNKS = (VaeDecoderFirst, VaeDecoderNext, VaeEncoderFirst, VaeEncoderNext)


# ----------------------------------------------------------------------------------------------
# Two experts (Wan 2.2 A14B). Kept below the wrappers: the graphs' stack-trace metadata holds this file's line
# numbers, so code added above them would change every graph's bytes.
# ----------------------------------------------------------------------------------------------

TWO_EXPERTS_DOC = """
Two experts (Wan 2.2 A14B T2V: transformer/ + transformer_2/ + model_index.json boundary_ratio):
  transformer_2.onnx      the low-noise expert, the same interface as transformer.onnx. WanPipeline runs `transformer`
                          while t >= boundary_ratio * num_train_timesteps (guidance_scale), transformer_2 after
                          (guidance_scale_2). --from-pretrained on such a folder writes it and
                          manifest components.transformer.low_noise = {"file": "transformer_2.onnx", "boundary_ratio"}
                          (--guidance / --guidance-2 set guidance.cfg.default / low_noise_default; A14B T2V: 4 / 3).
                          The tiny model always writes transformer_2.onnx (seed 1, for the two-expert parity case) and
                          its manifest.json does not reference it.
  HF_HUB_OFFLINE=1 python export.py --from-pretrained ~/Wan2.2-T2V-A14B-Diffusers --out ~/kinema-models/wan2.2-a14b \\
      --dtype int8 --guidance 4 --guidance-2 3
  HF_HUB_OFFLINE=1 python export.py --save-tiny /tmp/wan_tiny_a14b --boundary-ratio 0.875   (a tiny two-expert folder)
"""


def tiny_components(seed: int = SEED):
    """The tiny pipeline. `transformer_2` (same config, seed + 1) is the low-noise expert of the two-expert
    (Wan 2.2 A14B) parity case; there is no `boundary_ratio` key, so the tiny manifest does not reference it."""
    from diffusers import WanTransformer3DModel

    comps = _tiny_one_expert(seed)  # transformer, VAE, text encoder: seed each (unchanged)
    torch.manual_seed(seed + 1)
    comps["transformer_2"] = WanTransformer3DModel(**TINY_TRANSFORMER).eval()
    return comps


def two_expert_config(src: Path) -> float | None:
    """model_index.json's boundary_ratio when the folder is a two-expert (Wan 2.2 A14B) pipeline, else None.
    diffusers' WanPipeline only runs transformer_2 when boundary_ratio is set."""
    idx_path = Path(src) / "model_index.json"
    idx = json.loads(idx_path.read_text()) if idx_path.exists() else {}
    if idx.get("expand_timesteps"):
        raise NotImplementedError("expand_timesteps (Wan 2.2 TI2V 5B) is not supported")
    ratio = idx.get("boundary_ratio")
    has_2 = (Path(src) / "transformer_2").is_dir()
    if ratio is None:
        if has_2:
            print("  note: transformer_2/ without model_index.json boundary_ratio: WanPipeline ignores it; so does this")
        return None
    if not has_2 or not (Path(src) / "transformer").is_dir():
        raise NotImplementedError("boundary_ratio needs both transformer/ and transformer_2/ (one-expert Wan 2.2 "
                                  "folders are not supported)")
    ratio = float(ratio)
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"boundary_ratio {ratio} must be between 0 and 1")
    return ratio


def load_components(src: Path, dtype=torch.float32):
    """A local diffusers Wan 2.1 folder, or a Wan 2.2 A14B T2V one (transformer_2/ + boundary_ratio: adds the
    `transformer_2` and `boundary_ratio` keys). The VAE always loads in fp32 (diffusers' Wan examples keep it fp32)."""
    from diffusers import WanTransformer3DModel

    src = Path(src)
    boundary_ratio = two_expert_config(src)
    comps = _load_one_expert(src, dtype)
    if boundary_ratio is not None:
        comps["transformer_2"] = WanTransformer3DModel.from_pretrained(str(src / "transformer_2"), torch_dtype=dtype)
        comps["transformer_2"].eval()
        comps["boundary_ratio"] = boundary_ratio
    return comps


# ----------------------------------------------------------------------------------------------
# Chunk drivers (torch or ORT), used by verification and by make_fixtures' re-run
# ----------------------------------------------------------------------------------------------


def chunked_decode(first, nxt, z):
    """z: [1,C,f,h,w] denormalised latents (numpy or torch). first/nxt: callables (latent[, caches]) -> (sample, caches).
    Returns the concatenated, clamped [-1,1] sample [1,3,1+4(f-1),H,W]."""
    lib = torch if isinstance(z, torch.Tensor) else np
    cat = torch.cat if lib is torch else np.concatenate
    s, caches = first(z[:, :, :1])
    outs = [s]
    for i in range(1, z.shape[2]):
        s, caches = nxt(z[:, :, i : i + 1], caches)
        outs.append(s)
    out = cat(outs, 2)
    return out.clamp(-1, 1) if lib is torch else np.clip(out, -1, 1)


def chunked_encode(first, nxt, x):
    """x: [1,3,1+4k,H,W] pixels. Returns moments [1,2C,1+k,h,w]."""
    cat = torch.cat if isinstance(x, torch.Tensor) else np.concatenate
    m, caches = first(x[:, :, :1])
    outs = [m]
    for i in range((x.shape[2] - 1) // 4):
        m, caches = nxt(x[:, :, 1 + 4 * i : 5 + 4 * i], caches)
        outs.append(m)
    return cat(outs, 2)


def torch_chunk_fns(module_first, module_next):
    def first(x):
        o = module_first(x)
        return o[0], list(o[1:])

    def nxt(x, caches):
        o = module_next(x, *caches)
        return o[0], list(o[1:])

    return first, nxt


def ort_chunk_fns(path_first: Path, path_next: Path, input_name: str):
    s1, s2 = _ort(path_first), _ort(path_next)
    n_cache = len(s2.get_inputs()) - 1

    def first(x):
        o = s1.run(None, {input_name: np.ascontiguousarray(x, dtype=np.float32)})
        return o[0], o[1:]

    def nxt(x, caches):
        feeds = {input_name: np.ascontiguousarray(x, dtype=np.float32)}
        feeds.update({f"cache_in_{k}": caches[k] for k in range(n_cache)})
        o = s2.run(None, feeds)
        return o[0], o[1:]

    return first, nxt


# ----------------------------------------------------------------------------------------------
# Export helpers
# ----------------------------------------------------------------------------------------------


def _io_signature(path: Path):
    """Names, element types and shapes (dims or dim names) of a graph's inputs and outputs."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)

    def sig(vs):
        return [(v.name, v.type.tensor_type.elem_type,
                 [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]

    return sig(m.graph.input), sig(m.graph.output)


def _ort(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 4
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _maxabs(a, b) -> float:
    a = a.detach().float().numpy() if isinstance(a, torch.Tensor) else a
    b = b.detach().float().numpy() if isinstance(b, torch.Tensor) else b
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def _export(module, args, path: Path, input_names, output_names, dynamic_shapes, external: bool, fuse_it=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    t0 = time.time()
    prog = torch.onnx.export(
        module, args, dynamo=True, input_names=input_names, output_names=output_names,
        dynamic_shapes=dynamic_shapes, optimize=True, external_data=external, opset_version=20,
    )
    prog.save(str(path), external_data=external)
    info = {"export_s": round(time.time() - t0, 1)}
    if fuse_it and os.environ.get("KINEMA_EXPORT_NO_FUSE") != "1":
        feeds = None if external else {n: a.detach().numpy() for n, a in zip(input_names, args)}
        # fp16 graphs: fused vs unfused differ by fp16 rounding (eps 9.8e-4), not 1e-4 of the scale
        half = any(p.dtype == torch.float16 for p in module.parameters())
        try:
            info["fused"] = fuse.fuse_file(path, feeds, tolerance=1e-3 if half else 1e-4)
        except SystemExit as e:  # fuse.py found the fused graph off and kept the original (unfused) one
            print(f"  {e}", flush=True)
            info["fused"] = {"kept_unfused": str(e)}
    print(f"  {path.name}: {json.dumps(info)}", flush=True)
    return info


def _vae_dims(cache_shapes, ref_h, ref_w, hd, wd):
    """Dynamic shape of each cache: spatial dims as integer multiples (or fractions, never here) of hd/wd."""
    specs = []
    for s in cache_shapes:
        mh, mw = s[3] // ref_h, s[4] // ref_w
        assert mh * ref_h == s[3] and mw * ref_w == s[4], (s, ref_h, ref_w)
        specs.append({3: hd if mh == 1 else mh * hd, 4: wd if mw == 1 else mw * wd})
    return specs


def _export_vae_chunks(first, nxt, which: str, x_first, x_next, io: tuple[str, str], x_spec: dict, hw, dims,
                       out: Path, external: bool, report: dict):
    """vae_`which`_first.onnx and vae_`which`.onnx; report["vae_`which`_caches"] lists every cache (its module,
    shape at latent h x w = `hw`, spatial multiple of the latent)."""
    c0 = first.caches(None)
    caches = list(first.run(x_first, c0)[1:])
    n = len(caches)
    h, w = hw
    cspec = _vae_dims([c.shape for c in caches], h, w, *dims)
    report[f"vae_{which}_caches"] = {"count": n, f"at_latent_{h}x{w}": [
        {"index": k, "module": c0.labels[k], "shape": list(c.shape),
         "hw_multiple_of_latent": [c.shape[3] // h, c.shape[4] // w]} for k, c in enumerate(caches)]}
    names_in = [f"cache_in_{k}" for k in range(n)]
    names_out = [f"cache_out_{k}" for k in range(n)]
    report["export"][f"vae_{which}_first"] = _export(
        first, (x_first,), out / f"vae_{which}_first.onnx", [io[0]], [io[1]] + names_out, (x_spec,), external,
        fuse_it=False)
    report["export"][f"vae_{which}"] = _export(
        nxt, (x_next, *caches), out / f"vae_{which}.onnx", [io[0]] + names_in, [io[1]] + names_out,
        (x_spec, tuple(cspec)), external, fuse_it=False)


def export_vae(vae, out: Path, external: bool, report: dict, chunks=VAE_CHUNKS, hw=(4, 6)):
    """The four chunk graphs (`chunks`: decoder first/next, encoder first/next wrapper classes), traced at latent
    h x w = `hw`."""
    Dim = torch.export.Dim
    C = int(vae.config.z_dim)
    s_ratio = int(vae.config.scale_factor_spatial)
    g = torch.Generator().manual_seed(3)
    h, w = hw
    hd, wd = Dim("h", min=1, max=512), Dim("w", min=1, max=512)
    z1 = torch.randn(1, C, 1, h, w, generator=g)
    _export_vae_chunks(chunks[0](vae), chunks[1](vae), "decoder", z1, z1, ("latent", "sample"), {3: hd, 4: wd}, hw,
                       (hd, wd), out, external, report)
    Hd, Wd = Dim("hk", min=1, max=512), Dim("wk", min=1, max=512)
    x1 = torch.rand(1, 3, 1, h * s_ratio, w * s_ratio, generator=g) * 2 - 1
    x4 = torch.rand(1, 3, 4, h * s_ratio, w * s_ratio, generator=g) * 2 - 1
    _export_vae_chunks(chunks[2](vae), chunks[3](vae), "encoder", x1, x4, ("sample", "moments"),
                       {3: s_ratio * Hd, 4: s_ratio * Wd}, hw, (Hd, Wd), out, external, report)


def export_text_encoder(te, tok_len, out: Path, external: bool, report: dict):
    Dim = torch.export.Dim
    L = 16
    ids = torch.randint(3, tok_len, (1, L), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(1, L, dtype=torch.int64)
    mask[:, 11:] = 0
    Ld = Dim("L", min=2, max=4096)
    report["export"]["text_encoder"] = _export(
        TextEncoderWrapper(te), (ids, mask), out / "text_encoder.onnx", ["input_ids", "attention_mask"],
        ["last_hidden_state"], {"input_ids": {1: Ld}, "attention_mask": {1: Ld}}, external)


def export_transformer(tr, out: Path, external: bool, report: dict, name: str = "transformer", wrapper=None,
                       timestep=None, timestep_dims=None, extra=None):
    """`name`.onnx; the low-noise expert goes through here too (name "transformer_2"), so both graphs have the
    same inputs, outputs and dynamic axes. export_i2v.py / export_ti2v.py pass their own `wrapper` (default
    TransformerWrapper(tr)), `timestep(f, hh, ww)` example (default [999, 999], static shape; else
    `timestep_dims`) and `extra(g)` -> {input name: (example, dynamic dims)} after encoder_hidden_states."""
    Dim = torch.export.Dim
    cfg = tr.config
    pt, ph, pw = cfg.patch_size
    assert pt == 1
    rmax = int(cfg.rope_max_seq_len)
    g = torch.Generator().manual_seed(2)
    f, hh, ww, L = 3, 2, 3, 16
    hs = torch.randn(2, cfg.in_channels, f, hh * ph, ww * pw, generator=g)
    ts = torch.tensor([999.0, 999.0]) if timestep is None else timestep(f, hh, ww)
    ehs = torch.randn(2, L, int(cfg.text_dim), generator=g)
    more = extra(g) if extra is not None else {}
    fd = Dim("f", min=1, max=rmax)
    hd, wd = Dim("hh", min=1, max=rmax), Dim("ww", min=1, max=rmax)
    Ld = Dim("L", min=2, max=4096)
    report["export"][name] = _export(
        wrapper if wrapper is not None else TransformerWrapper(tr), (hs, ts, ehs, *(v for v, _ in more.values())),
        out / f"{name}.onnx", ["hidden_states", "timestep", "encoder_hidden_states", *more], ["velocity"],
        {"hidden_states": {2: fd, 3: ph * hd, 4: pw * wd}, "timestep": timestep_dims,
         "encoder_hidden_states": {1: Ld}} | {k: d for k, (_, d) in more.items()},
        external)


# ----------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------


def verify(out: Path, comps, report: dict, full_vae: bool = True):
    tok, te, tr, vae = comps["tokenizer"], comps["text_encoder"], comps["transformer"], comps["vae"]
    g = torch.Generator().manual_seed(5)
    rep = report.setdefault("ort_vs_torch_max_abs", {})

    verify_text_encoder(out, te, len(tok), g, rep)

    # the low-noise expert (if any) is checked on the same inputs (so `g` draws as it did with one transformer)
    experts = [("transformer", tr)] + ([("transformer_2", comps["transformer_2"])] if "transformer_2" in comps else [])
    sessions = {n: _ort(out / f"{n}.onnx") for n, _ in experts}
    if len(experts) == 2:
        report["transformer_2_same_interface"] = _io_signature(out / "transformer.onnx") == _io_signature(
            out / "transformer_2.onnx")
        assert report["transformer_2_same_interface"], "transformer_2.onnx's interface differs from transformer.onnx"
    cfg = tr.config
    _, ph, pw = cfg.patch_size
    for (f, hh, ww, L) in ((3, 2, 3, 16), (2, 3, 2, 9), (1, 4, 4, 32)):
        inp = dict(
            hidden_states=torch.randn(2, cfg.in_channels, f, hh * ph, ww * pw, generator=g),
            timestep=torch.tensor([750.0, 750.0]) if f != 2 else torch.tensor([999.0, 120.0]),
            encoder_hidden_states=torch.randn(2, L, cfg.text_dim, generator=g),
        )
        refs = []
        for n, model in experts:
            ref = TransformerWrapper(model)(**inp)
            got = sessions[n].run(None, {k: v.numpy() for k, v in inp.items()})[0]
            rep[f"{n}_F{f}_H{hh * ph}_W{ww * pw}_L{L}"] = _maxabs(ref, got)
            refs.append(ref)
        if len(refs) == 2:  # not a copy: the experts must differ
            report.setdefault("transformer_2_vs_transformer_torch_max_abs", {})[
                f"F{f}_H{hh * ph}_W{ww * pw}_L{L}"] = _maxabs(refs[0], refs[1])

    verify_vae(out, vae, g, report, full=full_vae)
    return report


def verify_text_encoder(out: Path, te, vocab: int, g, rep: dict):
    """text_encoder.onnx vs PyTorch at L 16 and 7 (last 3 tokens masked), random ids below min(vocab, 30000)."""
    sess = _ort(out / "text_encoder.onnx")
    for L in (16, 7):
        ids = torch.randint(3, min(vocab, 30000), (1, L), generator=g)
        mask = torch.ones(1, L, dtype=torch.int64)
        mask[:, L - 3:] = 0
        ref = TextEncoderWrapper(te)(ids, mask)
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        rep[f"text_encoder_L{L}"] = _maxabs(ref, got)


def verify_vae(out: Path, vae, g, report: dict, full: bool = True, chunks=VAE_CHUNKS, torch_all: bool = False,
               fp64: bool = False):
    """Chunked ORT decode/encode (and the same chunk code in PyTorch, `chunks` as in export_vae) vs diffusers'
    vae.decode / vae.encode. full: latent 4x6 and 3x5, decode f 1,2,3,5, encode 1,5,9,13 frames; else latent
    2x3, f 1,3 and 1,5 frames. The PyTorch chunks run at f 1,3 / 1,5 frames (torch_all: every size). fp64: also a
    float64 copy of the VAE as reference (report["fp64_reference_max_abs"])."""
    import copy

    C = int(vae.config.z_dim)
    s_ratio = int(vae.config.scale_factor_spatial)
    dec = ort_chunk_fns(out / "vae_decoder_first.onnx", out / "vae_decoder.onnx", "latent")
    tdec = torch_chunk_fns(chunks[0](vae), chunks[1](vae))
    vrep = report.setdefault("chunked_vae_vs_diffusers_max_abs", {})
    sizes = ((4, 6), (3, 5)) if full else ((2, 3),)
    vae64 = copy.deepcopy(vae).double() if fp64 else None
    for (h, w) in sizes:
        for f in ((1, 2, 3, 5) if full else (1, 3)):
            z = torch.randn(1, C, f, h, w, generator=g)
            ref = vae.decode(z).sample
            got = chunked_decode(*dec, z.numpy())
            vrep[f"decode_ort_f{f}_{h}x{w}"] = _maxabs(ref, got)
            if torch_all or f in (1, 3):
                vrep[f"decode_torchchunks_f{f}_{h}x{w}"] = _maxabs(ref, chunked_decode(*tdec, z))
            if vae64 is not None:
                # float64 reference: how far fp32 itself is (a tiny random decoder amplifies rounding)
                ref64 = vae64.decode(z.double()).sample
                fp = report.setdefault("fp64_reference_max_abs", {})
                fp[f"decode_ort_vs_fp64_f{f}_{h}x{w}"] = _maxabs(ref64, got)
                fp[f"decode_torch_fp32_vs_fp64_f{f}_{h}x{w}"] = _maxabs(ref64, ref)
    enc = ort_chunk_fns(out / "vae_encoder_first.onnx", out / "vae_encoder.onnx", "sample")
    tenc = torch_chunk_fns(chunks[2](vae), chunks[3](vae))
    for (h, w) in sizes:
        for nf in ((1, 5, 9, 13) if full else (1, 5)):
            x = torch.rand(1, 3, nf, h * s_ratio, w * s_ratio, generator=g) * 2 - 1
            dist = vae.encode(x).latent_dist
            got = chunked_encode(*enc, x.numpy())
            tag = f"F{nf}_{h * s_ratio}x{w * s_ratio}"
            vrep[f"encode_mode_ort_{tag}"] = _maxabs(dist.mode(), got[:, :C])
            vrep[f"encode_moments_ort_{tag}"] = _maxabs(dist.parameters, got)
            if torch_all or nf in (1, 5):
                vrep[f"encode_torchchunks_{tag}"] = _maxabs(dist.parameters, chunked_encode(*tenc, x))


# ----------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------


def build_manifest(comps, name: str, license_note: str, defaults: dict, dtype: str = "fp32",
                   guidance: float = 5.0, guidance_2: float | None = None) -> dict:
    """components.transformer.low_noise only when comps has `boundary_ratio` (a two-expert --from-pretrained
    folder); the tiny model's transformer_2 is left out (its parity case adds it, see README.md)."""
    tr, vae, te, sch = comps["transformer"], comps["vae"], comps["text_encoder"], comps["scheduler"]
    pt, ph, pw = tr.config.patch_size
    assert ph == pw
    s_ratio = int(vae.config.scale_factor_spatial)
    t_ratio = int(vae.config.scale_factor_temporal)
    D = int(te.config.d_model)
    sched = {"kind": "unipc"}
    sched.update({k: v for k, v in dict(sch.config).items() if not k.startswith("_")})
    m = {
        "manifest_version": 1,
        "kind": "video_diffusion",
        "bundle": False,
        "family": "wan",
        "name": name,
        "license": license_note,
        "source": "diffusers %s WanPipeline; see README.md" % __import__("diffusers").__version__,
        "components": {
            "tokenizer": {"file": "tokenizer.json", "pad_id": 0, "clean": "whitespace",
                          "max_length": {"t2v": 512, "i2v": 512, "condition": 512}},
            "text_encoder": {
                "file": "text_encoder.onnx",
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask"},
                "output": "last_hidden_state", "hidden_size": D,
                "mask_input": {"t2v": "tokenizer_mask", "i2v": "tokenizer_mask", "condition": "tokenizer_mask"},
                "zero_padding": True,
            },
            "transformer": {
                "file": "transformer.onnx", "batch": 2, "batch_order": ["uncond", "cond"], "layout": "video5d",
                "inputs": {"hidden_states": "hidden_states", "encoder_hidden_states": "encoder_hidden_states",
                           "timestep": "timestep"},
                "output": "velocity", "prediction": "flow_velocity", "timestep_per_token": False,
                "timestep_scale": 1000.0, "in_channels": int(tr.config.in_channels),
                "out_channels": int(tr.config.out_channels), "patch_size": int(ph), "patch_size_t": int(pt),
            },
            "vae_encoder": {
                "file": "vae_encoder.onnx", "input": "sample", "output": "moments", "logvar_clamp": [-30.0, 20.0],
                "sample_mode": "mode",
                "causal_chunks": {"first_file": "vae_encoder_first.onnx", "first_frames": 1, "frames": t_ratio,
                                  "cache_inputs": "cache_in_", "cache_outputs": "cache_out_"},
            },
            "vae_decoder": {
                "file": "vae_decoder.onnx", "inputs": {"latent": "latent"}, "output": "sample",
                "timestep_conditioning": False,
                "causal_chunks": {"first_file": "vae_decoder_first.onnx", "first_frames": 1, "frames": 1,
                                  "cache_inputs": "cache_in_", "cache_outputs": "cache_out_"},
            },
        },
        "latent": {
            "channels": int(vae.config.z_dim), "spatial_ratio": s_ratio, "temporal_ratio": t_ratio,
            "frame_rule": {"mult": t_ratio, "plus": 1}, "hw_multiple": s_ratio * ph, "patch": [pt, ph, pw],
            "norm": {"kind": "mean_std", "mean": [float(v) for v in vae.config.latents_mean],
                     "std": [float(v) for v in vae.config.latents_std], "scaling_factor": 1.0},
        },
        "rope": {"kind": "internal"},
        # WanPipeline calls scheduler.set_timesteps(n): no sigmas of its own (LTX passes linspace sigmas).
        "timesteps": "scheduler",
        "scheduler": sched,
        "guidance": {"cfg": {"default": guidance, "formula": "v_u + g * (v_c - v_u)"}},
        "conditioning": {},
        "decode": {"timestep": 0.0, "noise_scale": 0.0},
        "defaults": defaults,
        "fixtures": "fixtures/cases.json",
    }
    if comps.get("boundary_ratio") is not None:
        # Wan 2.2 A14B: `transformer` runs while t >= boundary_ratio * num_train_timesteps, this one after
        m["components"]["transformer"]["low_noise"] = {"file": "transformer_2.onnx",
                                                       "boundary_ratio": float(comps["boundary_ratio"])}
        if guidance_2 is not None:
            m["guidance"]["cfg"]["low_noise_default"] = float(guidance_2)
    set_precisions(m, dtype)
    return m


def component_dtype(dtype: str, component: str) -> str:
    """The precision a component is exported at for --dtype `dtype`: the text encoder and the transformer(s) at
    `dtype` (int4 keeps the (UMT5-XXL) text encoder int8, as models/ltx), everything else (VAE graphs, a CLIP
    image encoder) fp32."""
    if component.startswith("transformer"):
        return dtype
    if component == "text_encoder":
        return "int8" if dtype == "int4" else dtype
    return "fp32"


def set_precisions(m: dict, dtype: str) -> dict:
    """Non-fp32 exports: a `precision` object (precision.precision_of) on every graph component of manifest m."""
    if dtype != "fp32":
        for k, c in m["components"].items():
            if k != "tokenizer":
                c["precision"] = precision.precision_of(component_dtype(dtype, k), k)
    return m


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def export_all(comps, out: Path, *, external: bool, dtype: str, name: str, license_note: str, defaults: dict,
               do_verify: bool, src: Path | None = None, guidance: float = 5.0, guidance_2: float | None = None):
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    report = {"dtype": dtype, "export": {}}
    tok = comps["tokenizer"]
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))

    export_vae(comps["vae"], out, external, report)

    def export_lowp(c):  # text encoder and transformer(s) of c (fp32 or fp16 components)
        export_text_encoder(c["text_encoder"], len(tok), out, external, report)
        export_transformer(c["transformer"], out, external, report)
        if "transformer_2" in c:
            export_transformer(c["transformer_2"], out, external, report, name="transformer_2")

    def load_half(s, dt):
        half = load_components(s, dt)
        if "transformer_2" in comps and "transformer_2" not in half:  # the tiny model's (not in its folder)
            from diffusers import WanTransformer3DModel

            tmpd = Path(tempfile.mkdtemp(prefix="wan-tiny-t2-"))
            comps["transformer_2"].save_pretrained(str(tmpd))
            half["transformer_2"] = WanTransformer3DModel.from_pretrained(str(tmpd), torch_dtype=dt).eval()
        return half

    export_at_dtype(comps, out, dtype, report, export_lowp,
                    lambda o, c, r: verify(o, c, r, full_vae=dtype != "fp16"), verify_lowp if do_verify else None,
                    do_verify=do_verify, src=src, save=save_components, load=load_half,
                    graphs=[g for g in ("transformer", "transformer_2", "text_encoder") if g in comps])
    write_outputs(out, build_manifest(comps, name, license_note, defaults, dtype, guidance, guidance_2), report)
    return report


def write_outputs(out: Path, manifest: dict, report: dict):
    """manifest.json and export_report.json; prints the ORT-vs-torch and chunked-VAE diffs."""
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out / "export_report.json").write_text(json.dumps(report, indent=1) + "\n")
    for sec in ("ort_vs_torch_max_abs", "quantized_vs_torch_max_abs", "chunked_vae_vs_diffusers_max_abs"):
        for k, v in report.get(sec, {}).items():
            print(f"  {k}: {v:.3e}")
    print("wrote", out)


def half_components(comps, src: Path | None, save, load):
    """fp16 text encoder and transformer as PyTorch loads them (`load(folder, torch.float16)`: transformers keeps
    UMT5's `wo` fp32 through _keep_in_fp32_modules); without `src` (the tiny model) `save(comps, tmp)` first."""
    if src is None:
        src = Path(tempfile.mkdtemp(prefix="wan-tiny-"))
        save(comps, src)
    return load(src, torch.float16)


def quantize_graphs(out: Path, graphs, dtype: str, report: dict):
    """Weight-only int8/int4 (precision.quantize_nbits, MatMulNBits) of the fp32 graphs `graphs` in `out`, in place;
    component_dtype picks the bits (int4 keeps the text encoder int8)."""
    for g in graphs:
        bits = int(component_dtype(dtype, g)[3:])
        tmp = out / f"{g}.fp32.onnx"
        os.replace(out / f"{g}.onnx", tmp)
        if (out / f"{g}.onnx.data").exists():
            os.replace(out / f"{g}.onnx.data", out / f"{g}.fp32.onnx.data")
            _fix_location(tmp, f"{g}.onnx.data", f"{g}.fp32.onnx.data")
        report["export"][g]["quantized"] = precision.quantize_nbits(tmp, out / f"{g}.onnx", bits)
        for p in out.glob(f"{g}.fp32.onnx*"):
            p.unlink()


def export_at_dtype(comps, out: Path, dtype: str, report: dict, export_lowp, verify_fn, verify_lowp_fn, *,
                    do_verify: bool, src: Path | None, save, load, graphs):
    """The --dtype part of every Wan exporter (export.py, export_i2v.py, export_ti2v.py): `export_lowp(c)` writes
    the text encoder and transformer graphs of components c. fp32/int8/int4: from the fp32 components, checked
    with `verify_fn(out, comps, report)`; int8/int4 then quantize `graphs` and run `verify_lowp_fn(out, comps,
    report)` (when given). fp16: from `half_components(comps, src, save, load)`, checked against the fp32
    PyTorch model (precision loss included). The VAE (and an image encoder) are the caller's, always fp32."""
    if dtype == "fp16":
        export_lowp(half_components(comps, src, save, load))
    else:
        export_lowp(comps)
    if do_verify:
        verify_fn(out, comps, report)
        if dtype == "fp16":
            report["note"] = "fp16 graphs compared with the fp32 torch model (precision loss included)"
    if dtype in ("int8", "int4"):
        quantize_graphs(out, graphs, dtype, report)
        if verify_lowp_fn is not None:
            verify_lowp_fn(out, comps, report)


def verify_lowp_from(verify_fn, prefixes=("transformer", "text_encoder")):
    """A verify_lowp_fn for export_at_dtype: run `verify_fn(out, comps, r)` on the quantized graphs and keep
    its `prefixes` entries as report["quantized_vs_torch_max_abs"]."""

    def run(out: Path, comps, report: dict):
        r: dict = {}
        verify_fn(out, comps, r)
        report["quantized_vs_torch_max_abs"] = {k: v for k, v in r["ort_vs_torch_max_abs"].items()
                                                if k.startswith(prefixes)}

    return run


def _fix_location(path: Path, old: str, new: str):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    for t in precision.external_tensors(m):
        for e in t.external_data:
            if e.key == "location" and e.value == old:
                e.value = new
    onnx.save(m, str(path))


def verify_lowp(out: Path, comps, report: dict):
    rep = report.setdefault("quantized_vs_torch_max_abs", {})
    tr = comps["transformer"]
    g = torch.Generator().manual_seed(9)
    _, ph, pw = tr.config.patch_size
    inp = dict(hidden_states=torch.randn(2, tr.config.in_channels, 2, 2 * ph, 2 * pw, generator=g),
               timestep=torch.tensor([500.0, 500.0]),
               encoder_hidden_states=torch.randn(2, 8, tr.config.text_dim, generator=g))
    for n in ("transformer", "transformer_2"):
        if n in comps:
            ref = TransformerWrapper(comps[n])(**inp)
            got = _ort(out / f"{n}.onnx").run(None, {k: v.numpy() for k, v in inp.items()})[0]
            rep[n] = _maxabs(ref, got)


def save_components(comps, dst: Path, boundary_ratio: float | None = None):
    """save_pretrained of the tiny components into a diffusers folder. Without boundary_ratio: the five Wan 2.1
    components and a model_index.json (no transformer_2). With it: WanPipeline(transformer, transformer_2,
    boundary_ratio).save_pretrained, a tiny Wan 2.2 A14B-style two-expert folder."""
    dst = Path(dst)
    if boundary_ratio is not None:
        from diffusers import WanPipeline

        pipe = WanPipeline(tokenizer=comps["tokenizer"], text_encoder=comps["text_encoder"], vae=comps["vae"],
                           scheduler=comps["scheduler"], transformer=comps["transformer"],
                           transformer_2=comps["transformer_2"], boundary_ratio=float(boundary_ratio))
        pipe.save_pretrained(str(dst))
        return
    for k in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        comps[k].save_pretrained(str(dst / k))
    (dst / "model_index.json").write_text(json.dumps({
        "_class_name": "WanPipeline", "_diffusers_version": __import__("diffusers").__version__,
        "scheduler": ["diffusers", "UniPCMultistepScheduler"], "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"], "transformer": ["diffusers", "WanTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"]}, indent=1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__ + TWO_EXPERTS_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--from-pretrained", default=None,
                    help="local diffusers Wan 2.1 folder, or Wan 2.2 A14B T2V (two experts)")
    ap.add_argument("--dtype", choices=["fp32", "fp16", "int8", "int4"], default="fp32")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--no-fuse", action="store_true", help="keep attention/RMSNorm unfused (see models/ltx/fuse.py)")
    ap.add_argument("--save-tiny", default=None, help="only save the tiny components (save_pretrained) into this folder")
    ap.add_argument("--boundary-ratio", type=float, default=None,
                    help="with --save-tiny: save a two-expert WanPipeline (transformer_2 + this boundary_ratio)")
    ap.add_argument("--guidance", type=float, default=None,
                    help="manifest guidance default (default 5.0; Wan 2.2 A14B T2V uses 4.0)")
    ap.add_argument("--guidance-2", type=float, default=None,
                    help="two-expert folders: the low-noise expert's guidance at the default (guidance_scale_2; "
                         "Wan 2.2 A14B T2V uses 3.0) -> manifest guidance.cfg.low_noise_default")
    args = ap.parse_args(argv)
    if args.no_fuse:
        os.environ["KINEMA_EXPORT_NO_FUSE"] = "1"
    torch.set_grad_enabled(False)
    out = Path(args.out)

    if args.save_tiny:
        save_components(tiny_components(args.seed), Path(args.save_tiny), args.boundary_ratio)
        print("saved", args.save_tiny)
        return

    if args.from_pretrained and (Path(args.from_pretrained).expanduser() / "image_encoder").is_dir():
        # Wan 2.1 I2V / FLF2V folders (a CLIP image encoder beside the transformer): export_i2v.py.
        import export_i2v
        export_i2v.main(["--from-pretrained", args.from_pretrained, "--out", args.out, "--dtype", args.dtype]
                        + ["--skip-verify"] * args.skip_verify)
        return

    vae_config = Path(args.from_pretrained or "").expanduser() / "vae" / "config.json"
    if args.from_pretrained and vae_config.is_file() and json.loads(vae_config.read_text()).get("is_residual"):
        # Wan 2.2 TI2V-5B (its 4x16x16 residual VAE): export_ti2v.py.
        import export_ti2v
        export_ti2v.main(["--from-pretrained", args.from_pretrained, "--out", args.out, "--dtype", args.dtype]
                         + ["--skip-verify"] * args.skip_verify)
        return

    if args.from_pretrained:
        src = Path(args.from_pretrained).expanduser().resolve()
        comps = load_components(src)
        name = f"wan ({src.name}, {args.dtype})"
        two = comps.get("boundary_ratio") is not None
        license_note = "Apache-2.0 (Wan-AI Wan %s; see the model card of the source checkpoint)" % (
            "2.2 A14B" if two else "2.1")
        if two:
            print(f"  two experts: transformer_2 (low noise) below t = {comps['boundary_ratio']} * "
                  f"{comps['scheduler'].config.num_train_timesteps}")
        defaults = {"fps": 16, "steps": 50, "width": 832, "height": 480, "frames": 81,
                    "guidance": 5.0 if args.guidance is None else args.guidance}
        external = comps["transformer"].num_parameters() > 50_000_000
    else:
        src = None
        comps = tiny_components(args.seed)
        name = "wan-tiny-random (parity test model, seeded random weights, produces noise)"
        license_note = "Apache-2.0 (configs from huggingface/diffusers tests; weights are random, seed %d)" % args.seed
        defaults = {"fps": 16, "steps": 4, "width": 32, "height": 32, "frames": 9,
                    "guidance": 5.0 if args.guidance is None else args.guidance}
        external = False
    export_all(comps, out, external=external, dtype=args.dtype, name=name, license_note=license_note,
               defaults=defaults, do_verify=not args.skip_verify, src=src,
               guidance=5.0 if args.guidance is None else args.guidance, guidance_2=args.guidance_2)


if __name__ == "__main__":
    main()
