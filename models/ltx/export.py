#!/usr/bin/env python3
"""Export LTX-Video (diffusers 0.42.x) to ONNX in Kinema's video-diffusion manifest layout.

Produces, in --out (default: this folder):
  tokenizer.json      T5-convention tokenizer for the `tokenizers` crate (pad=0, </s>=1, <unk>=2,
                      "$A </s>" post-processor; no padding/truncation configured: the runtime pads)
  text_encoder.onnx   input_ids [1,L] int64, attention_mask [1,L] int64 -> last_hidden_state [1,L,D]
  transformer.onnx    hidden_states [2,S,C], encoder_hidden_states [2,L,D], encoder_attention_mask [2,L] int64,
                      timestep [2,S] float (sigma*1000 per token), video_coords [2,3,S] float -> velocity [2,S,C]
  vae_encoder.onnx    sample [1,3,F,H,W] in [-1,1] -> moments [1,2C,f,h,w] = [mean(C) | logvar(C)]
  vae_decoder.onnx    latent [1,C,f,h,w] (denormalised) + timestep [1] -> sample [1,3,F,H,W] in [-1,1]
  manifest.json       everything else the runtime needs (latent norm buffers, rope, scheduler, defaults)
  export_report.json  ONNX Runtime vs PyTorch max-abs diffs per component (also merged into fixtures)

Two sources of weights:
  (default)              tiny random LTX components built from configs (diffusers' own test configs,
                         see tiny_components()), seeded, for parity fixtures. Runs on CPU in ~1 minute.
  --from-pretrained DIR  a local diffusers LTX-Video folder (model_index.json, text_encoder/, tokenizer/,
                         transformer/, vae/, scheduler/) at full size: export_pretrained.py, one component at
                         a time, graphs with external data (<name>.onnx.data), --dtype fp32|fp16|int8|int4,
                         parity figures and sizes in export_report.json. Never run in CI.

Usage:
  HF_HUB_OFFLINE=1 python export.py                     # tiny model into models/ltx/
  HF_HUB_OFFLINE=1 python export.py --from-pretrained ~/LTX-Video-0.9.5 --out ~/kinema-models/ltx-0.9.5-fp16 --dtype fp16

The dynamo exporter is required (torch.onnx.export(..., dynamo=True)): the legacy one fails on aten::rms_norm.
Batch is fixed (2 for the transformer: CFG batched [uncond, cond]; 1 elsewhere); S and L are dynamic,
and so are F/H/W of the VAE graphs (F = T*k+1, H, W multiples of the spatial ratio).
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SEED = 0

# ----------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------

# A few hundred words; the tiny tokenizer is WordLevel over these (T5's real one is a SentencePiece
# Unigram, but the runtime only sees tokenizer.json through the `tokenizers` crate either way).
_WORDS = """
a an the of and or in on at to from with without into over under above below near far between behind
is are was were be being been has have had do does did will would can could should may might must
cat dog monkey horse bird fish cow sheep lion tiger bear fox wolf rabbit mouse elephant giraffe zebra
man woman child boy girl person people crowd dancer runner driver pilot chef artist musician robot
car bus truck train plane boat ship bicycle motorcycle rocket balloon kite umbrella camera lamp
tree forest flower grass leaf mountain hill river lake sea ocean beach desert island valley cave sky
cloud rain snow storm wind sun moon star light shadow fire smoke water ice stone sand road street city
town village house room kitchen garden park bridge tower castle window door wall floor roof table chair
red orange yellow green blue purple pink brown black white gray grey golden silver dark bright colorful
big small tiny huge tall short long wide narrow old young new ancient modern beautiful ugly happy sad
calm angry quiet loud slow fast smooth rough soft hard warm cold wet dry clean dirty empty full
walk walks walking run runs running jump jumps jumping dance dances dancing fly flies flying swim swims
swimming sit sits sitting stand stands standing look looks looking turn turns turning move moves moving
play plays playing eat eats eating drink sleep sleeping smile smiles smiling laugh cry sing singing
camera pans zooms tracks tilts rotates follows shot close up wide aerial view scene frame video image
morning noon evening night sunset sunrise winter summer spring autumn day time slowly quickly gently
cinematic realistic detailed blurry sharp focus lighting glow reflection motion style painting photo
low quality worst deformed distorted watermark text logo noise artifacts static jittery overexposed
one two three four five many several some all every each other another first last next
he she it they we you i his her its their our your this that these those there here
""".split()


def build_tokenizer(max_length: int = 128):
    """Word-level tokenizer with T5's conventions, wrapped as a transformers fast tokenizer.

    T5 conventions kept: <pad>=0 (also the decoder start id), </s>=1 appended to every sequence,
    <unk>=2, right padding with pad id 0, attention_mask 1 on real tokens incl. </s>.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    words = []
    for w in _WORDS + [",", ".", "!", "?", "'", "-", ":", ";"]:
        if w not in words:
            words.append(w)
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=max_length,
        padding_side="right",
        truncation_side="right",
    )
    return fast


# ----------------------------------------------------------------------------------------------
# Components
# ----------------------------------------------------------------------------------------------

# Tiny configs. Transformer and VAE follow diffusers' tests/pipelines/ltx/test_ltx_condition.py
# get_dummy_components, with three deliberate changes:
#   * VAE patch_size 2 (tests: 1), so spatial ratio 8 != temporal ratio 4 != the real 32/8: a runtime
#     that hard-codes 32, 8 or swaps the two ratios fails the fixtures;
#   * timestep_conditioning=True (tests: False) so the decoder timestep input and the decode-noise
#     mixing of LTX 0.9.1+ are exercised; decoder_inject_noise stays all False (randn inside the graph
#     cannot be reproduced);
#   * latents_mean/latents_std buffers set to seeded non-trivial values (defaults 0/1 would hide bugs).
TINY_TRANSFORMER = dict(
    in_channels=8,
    out_channels=8,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=4,
    attention_head_dim=8,
    cross_attention_dim=32,
    num_layers=1,
    caption_channels=32,
)
TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=8,
    block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, False, False),
    decoder_spatio_temporal_scaling=(True, True, False, False),
    decoder_inject_noise=(False, False, False, False, False),
    upsample_residual=(False, False, False, False),
    upsample_factor=(1, 1, 1, 1),
    timestep_conditioning=True,
    patch_size=2,
    patch_size_t=1,
    encoder_causal=True,
    decoder_causal=False,
)
TINY_T5 = dict(
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=2,
    num_decoder_layers=2,
    num_heads=4,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    feed_forward_proj="gated-gelu",  # T5 v1.1 (LTX uses T5-v1.1-XXL)
    dropout_rate=0.0,
    layer_norm_epsilon=1e-6,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
    is_encoder_decoder=True,
    tie_word_embeddings=False,
)
# LTX 0.9.5+ scheduler (convert_ltx_to_diffusers.py: FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False));
# the only one that works with all three pipelines (LTXConditionPipeline passes timesteps without mu).
TINY_SCHEDULER = dict(use_dynamic_shifting=False)
# LTX 0.9.0/0.9.1 scheduler, used by the extra T2V fixture "t2v_dynamic_shift".
SCHEDULER_091 = dict(
    use_dynamic_shifting=True,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
    shift_terminal=0.1,
)


def tiny_components(seed: int = SEED):
    """All five pipeline components with seeded random weights (no hub access)."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(**TINY_TRANSFORMER)
    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(**TINY_VAE)
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    g = torch.Generator().manual_seed(seed + 1)
    c = TINY_VAE["latent_channels"]
    with torch.no_grad():
        vae.latents_mean.copy_(0.2 * torch.randn(c, generator=g))
        vae.latents_std.copy_(0.5 + torch.rand(c, generator=g))
    torch.manual_seed(seed)
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), **TINY_T5))
    scheduler = FlowMatchEulerDiscreteScheduler(**TINY_SCHEDULER)
    comps = dict(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
    for m in (transformer, vae, text_encoder):
        m.eval()
    return comps


# ----------------------------------------------------------------------------------------------
# Export wrappers (fixed batch, everything else computed outside the graph)
# ----------------------------------------------------------------------------------------------


class TextEncoderWrapper(torch.nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids, attention_mask):
        return self.te(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class TransformerWrapper(torch.nn.Module):
    """RoPE positions come in as video_coords (pixel-space f/h/w, f already divided by fps); the graph
    divides by the rope base (20, 2048, 2048). The text mask is 0/1 int64; the model turns it into the
    additive bias (1-m)*-10000."""

    def __init__(self, tr):
        super().__init__()
        self.tr = tr

    def forward(self, hidden_states, encoder_hidden_states, encoder_attention_mask, timestep, video_coords):
        return self.tr(
            hidden_states=hidden_states,
            encoder_hidden_states=encoder_hidden_states,
            timestep=timestep,
            encoder_attention_mask=encoder_attention_mask,
            video_coords=video_coords,
            return_dict=False,
        )[0]


class VaeEncoderWrapper(torch.nn.Module):
    """Returns DiagonalGaussianDistribution.parameters: channels [0,C) = mean, [C,2C) = logvar (one value
    repeated C times by the encoder). The runtime clamps logvar to [-30,20] and samples mean+exp(logvar/2)*eps."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode(sample).latent_dist.parameters


class VaeDecoderWrapper(torch.nn.Module):
    """The decoder multiplies timestep by its learned timestep_scale_multiplier inside the graph."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent, timestep):
        return self.vae.decode(latent, timestep, return_dict=False)[0]


class VaeDecoderNoTimestepWrapper(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent):
        return self.vae.decode(latent, None, return_dict=False)[0]


def _export(module, args, path: Path, input_names, output_names, dynamic_shapes, external: bool):
    from torch.export import Dim  # noqa: F401  (Dim objects are built by the caller)

    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    prog = torch.onnx.export(
        module,
        args,
        dynamo=True,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=dynamic_shapes,
        optimize=True,
        external_data=external,
    )
    prog.save(str(path), external_data=external)
    # ONNX Runtime's fused attention and RMSNorm (fuse.py). Small graphs are checked on the export's own
    # inputs; a full-size graph is checked against PyTorch by the export's parity stage instead.
    if os.environ.get("KINEMA_EXPORT_NO_FUSE") != "1":
        feeds = None if external else {n: a.detach().numpy() for n, a in zip(input_names, args)}
        print(f"  {path.name}: fused", json.dumps(fuse.fuse_file(path, feeds)), flush=True)
    return path


def _ort(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _maxabs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


from ltx_manifest import build_manifest  # noqa: E402  (re-exported: make_fixtures and kinema-tiny use it)
import fuse  # noqa: E402  (ONNX Runtime fusions applied to every exported graph)


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE), help="output folder (default: this folder)")
    ap.add_argument("--from-pretrained", default=None, help="local diffusers LTX folder instead of the tiny model")
    ap.add_argument("--dtype", choices=["fp32", "fp16", "int8", "int4"], default="fp32",
                    help="--from-pretrained: precision of the graphs (int8/int4: weight-only, transformer and text encoder)")
    ap.add_argument("--text-encoder-dtype", choices=["fp32", "fp16", "int8", "int4"], default=None,
                    help="--from-pretrained: the text encoder's precision when it differs (e.g. int8 beside fp16; "
                         "default: --dtype, except int8 with --dtype int4)")
    ap.add_argument("--work", default=None,
                    help="--from-pretrained: folder for the fp32 graphs and references, kept and reused by the next "
                         "precision (default: OUT/../.kinema-export-work-<name>)")
    ap.add_argument("--no-fuse", action="store_true",
                    help="keep attention and RMSNorm as exported (MatMul/Softmax): for TensorRT-only use, which fuses "
                         "attention itself and does not take ONNX Runtime's contrib ops (see fuse.py)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the tiny random weights")
    ap.add_argument("--skip-verify", action="store_true", help="do not compare ONNX Runtime with PyTorch")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    if args.no_fuse:
        os.environ["KINEMA_EXPORT_NO_FUSE"] = "1"  # read by _export, also in the export's child processes

    if args.from_pretrained:
        import export_pretrained

        src = Path(args.from_pretrained).expanduser().resolve()
        work = Path(args.work) if args.work else out.resolve().parent / f".kinema-export-work-{src.name}"
        # int4 T5-XXL misses the parity bar (cosine 0.93 on the stand-in, 0.99 needed): --dtype int4 keeps the
        # text encoder int8 unless asked otherwise.
        te_dtype = args.text_encoder_dtype or ("int8" if args.dtype == "int4" else args.dtype)
        export_pretrained.run(src, out.resolve(), work, args.dtype, te_dtype, not args.skip_verify)
        return

    comps = tiny_components(args.seed)
    name = "ltx-tiny-random (parity test model, seeded random weights, produces noise)"
    license_note = "Apache-2.0 (configs from huggingface/diffusers tests; weights are random, seed %d)" % args.seed
    defaults = {"fps": 25, "steps": 4, "width": 32, "height": 32, "frames": 9, "guidance": 3.0}
    external = False

    tok, te, tr, vae = comps["tokenizer"], comps["text_encoder"], comps["transformer"], comps["vae"]
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))

    s_ratio, t_ratio = int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)
    C = int(vae.config.latent_channels)
    D = int(te.config.d_model)
    Dim = torch.export.Dim
    report = {}

    # --- text encoder ---
    L = 16
    ids = torch.randint(3, len(tok), (1, L), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(1, L, dtype=torch.int64)
    mask[:, 11:] = 0
    Ld = Dim("L", min=2, max=4096)
    _export(
        TextEncoderWrapper(te), (ids, mask), out / "text_encoder.onnx", ["input_ids", "attention_mask"],
        ["last_hidden_state"], {"input_ids": {1: Ld}, "attention_mask": {1: Ld}}, external,
    )

    # --- transformer ---
    f, h, w = 3, 4, 4
    S = f * h * w
    g = torch.Generator().manual_seed(2)
    tin = (
        torch.randn(2, S, tr.config.in_channels, generator=g),
        torch.randn(2, L, tr.config.caption_channels, generator=g),
        mask.repeat(2, 1),
        torch.rand(2, S, generator=g) * 1000.0,
        torch.rand(2, 3, S, generator=g) * 64.0,
    )
    Sd = Dim("S", min=2, max=1 << 20)
    Ld2 = Dim("L", min=2, max=4096)
    _export(
        TransformerWrapper(tr), tin, out / "transformer.onnx",
        ["hidden_states", "encoder_hidden_states", "encoder_attention_mask", "timestep", "video_coords"],
        ["velocity"],
        {
            "hidden_states": {1: Sd},
            "encoder_hidden_states": {1: Ld2},
            "encoder_attention_mask": {1: Ld2},
            "timestep": {1: Sd},
            "video_coords": {2: Sd},
        },
        external,
    )

    # --- VAE encoder ---
    F, H, W = 2 * t_ratio + 1, 4 * s_ratio, 4 * s_ratio
    x = torch.rand(1, 3, F, H, W, generator=g) * 2 - 1
    fk, hk, wk = Dim("fk", min=0, max=64), Dim("hk", min=1, max=256), Dim("wk", min=1, max=256)
    _export(
        VaeEncoderWrapper(vae), (x,), out / "vae_encoder.onnx", ["sample"], ["moments"],
        {"sample": {2: t_ratio * fk + 1, 3: s_ratio * hk, 4: s_ratio * wk}}, external,
    )

    # --- VAE decoder ---
    z = torch.randn(1, C, f, h, w, generator=g)
    zt = torch.tensor([0.05])
    fl, hl, wl = Dim("f", min=1, max=64), Dim("h", min=1, max=256), Dim("w", min=1, max=256)
    if vae.config.timestep_conditioning:
        _export(
            VaeDecoderWrapper(vae), (z, zt), out / "vae_decoder.onnx", ["latent", "timestep"], ["sample"],
            {"latent": {2: fl, 3: hl, 4: wl}, "timestep": None}, external,
        )
    else:
        _export(
            VaeDecoderNoTimestepWrapper(vae), (z,), out / "vae_decoder.onnx", ["latent"], ["sample"],
            {"latent": {2: fl, 3: hl, 4: wl}}, external,
        )

    # --- verification: ORT vs PyTorch, at the export shapes and at a second shape (dynamic axes) ---
    if not args.skip_verify:
        report = verify(out, comps, g)
        for k, v in report.items():
            print(f"  {k}: max|ort - torch| = {v:.3e}")

    manifest = build_manifest(comps, name, license_note, defaults)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "export_report.json").write_text(json.dumps({"ort_vs_torch_max_abs": report}, indent=2) + "\n")
    print("wrote", out)


def verify(out: Path, comps, g) -> dict:
    tok, te, tr, vae = comps["tokenizer"], comps["text_encoder"], comps["transformer"], comps["vae"]
    s_ratio, t_ratio = int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)
    C = int(vae.config.latent_channels)
    rep = {}

    sess = _ort(out / "text_encoder.onnx")
    for L in (16, 7):
        ids = torch.randint(3, len(tok), (1, L), generator=g)
        mask = torch.ones(1, L, dtype=torch.int64)
        mask[:, L - 3 :] = 0
        ref = TextEncoderWrapper(te)(ids, mask).numpy()
        got = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        rep[f"text_encoder_L{L}"] = _maxabs(ref, got)

    sess = _ort(out / "transformer.onnx")
    for (f, h, w, L) in ((3, 4, 4, 16), (2, 3, 5, 9)):
        S = f * h * w
        inp = dict(
            hidden_states=torch.randn(2, S, tr.config.in_channels, generator=g),
            encoder_hidden_states=torch.randn(2, L, tr.config.caption_channels, generator=g),
            encoder_attention_mask=torch.ones(2, L, dtype=torch.int64),
            timestep=torch.rand(2, S, generator=g) * 1000.0,
            video_coords=torch.rand(2, 3, S, generator=g) * 64.0,
        )
        inp["encoder_attention_mask"][0, L // 2 :] = 0
        ref = TransformerWrapper(tr)(**inp).numpy()
        got = sess.run(None, {k: v.numpy() for k, v in inp.items()})[0]
        rep[f"transformer_S{S}_L{L}"] = _maxabs(ref, got)

    sess = _ort(out / "vae_encoder.onnx")
    for (fk, hk, wk) in ((2, 4, 4), (1, 3, 5), (0, 4, 4)):
        x = torch.rand(1, 3, t_ratio * fk + 1, s_ratio * hk, s_ratio * wk, generator=g) * 2 - 1
        ref = VaeEncoderWrapper(vae)(x).numpy()
        got = sess.run(None, {"sample": x.numpy()})[0]
        rep[f"vae_encoder_{tuple(x.shape[2:])}"] = _maxabs(ref, got)

    sess = _ort(out / "vae_decoder.onnx")
    for (f, h, w) in ((3, 4, 4), (2, 3, 5), (1, 4, 4)):
        z = torch.randn(1, C, f, h, w, generator=g)
        if vae.config.timestep_conditioning:
            t = torch.tensor([0.05])
            ref = VaeDecoderWrapper(vae)(z, t).numpy()
            got = sess.run(None, {"latent": z.numpy(), "timestep": t.numpy()})[0]
        else:
            ref = VaeDecoderNoTimestepWrapper(vae)(z).numpy()
            got = sess.run(None, {"latent": z.numpy()})[0]
        rep[f"vae_decoder_{(f, h, w)}"] = _maxabs(ref, got)
    return rep


if __name__ == "__main__":
    main()
