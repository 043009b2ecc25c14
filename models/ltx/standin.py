#!/usr/bin/env python3
"""Build a full-size LTX-Video stand-in: the real 0.9.5 architecture with seeded random weights.

No weights can be downloaded here, but diffusers' published configs can be built: the folder this writes has
the same files, shapes, dtypes and sizes as a user's `Lightricks/LTX-Video` diffusers folder (0.9.x layout),
so exporting it is the test of the user's path. Only its output is noise.

  model_index.json                         LTXPipeline
  transformer/  config.json + *.safetensors   LTXVideoTransformer3DModel: 28 layers x 2048, 32 heads, caption 4096
  vae/          config.json + *.safetensors   AutoencoderKLLTXVideo 0.9.5 (128 latent channels, 32x spatial, 8x temporal)
  text_encoder/ config.json + *.safetensors   T5EncoderModel, T5-v1.1-XXL config (24 layers x 4096, d_ff 10240)
  tokenizer/    spiece.model + configs         a SentencePiece unigram model trained here on a small text (T5 ids:
                                               pad 0, </s> 1, <unk> 2, 100 extra ids), loaded as T5Tokenizer
  scheduler/    scheduler_config.json          FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False) (0.9.5)

Weights are saved in bf16, as published (--dtype fp32 to save fp32). About 14 GB on disk in bf16 and, since
one component is built at a time, a peak of about 10 GB of memory (the text encoder).

  python standin.py --out /work/ltx-standin             # full size (about 10 minutes on 2 cores)
  python standin.py --out /tmp/ltx-small --scale small  # same structure, narrow: for testing the export path

Packages: see requirements.txt in this folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# diffusers scripts/convert_ltx_to_diffusers.py, version 0.9.5.
TRANSFORMER_095 = dict(
    in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32, attention_head_dim=64,
    cross_attention_dim=2048, num_layers=28, activation_fn="gelu-approximate", qk_norm="rms_norm_across_heads",
    norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096, attention_bias=True, attention_out_bias=True,
)
VAE_095 = dict(
    in_channels=3, out_channels=3, latent_channels=128, block_out_channels=(128, 256, 512, 1024, 2048),
    down_block_types=("LTXVideo095DownBlock3D",) * 4, decoder_block_out_channels=(256, 512, 1024),
    layers_per_block=(4, 6, 6, 2, 2), decoder_layers_per_block=(5, 5, 5, 5),
    spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(False, False, False, False), downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True, patch_size=4,
    patch_size_t=1, resnet_norm_eps=1e-6, scaling_factor=1.0, encoder_causal=True, decoder_causal=False,
    spatial_compression_ratio=32, temporal_compression_ratio=8,
)
# google/t5-v1_1-xxl's config.json (the encoder LTX-Video ships in text_encoder/).
T5_XXL = dict(
    d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_decoder_layers=24, num_heads=64,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
    dropout_rate=0.0, layer_norm_epsilon=1e-6, initializer_factor=1.0, pad_token_id=0, eos_token_id=1,
    decoder_start_token_id=0, is_encoder_decoder=True, tie_word_embeddings=False, vocab_size=32128,
)
# Same structure, narrow widths: every code path of the export, in seconds.
SMALL = {
    "transformer": dict(num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32, num_layers=2,
                        caption_channels=64, in_channels=16, out_channels=16),
    "vae": dict(latent_channels=16, block_out_channels=(8, 8, 16, 16, 16), decoder_block_out_channels=(8, 16, 32),
                layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1)),
    "text_encoder": dict(d_model=64, d_kv=16, d_ff=96, num_layers=2, num_decoder_layers=2, num_heads=4),
}
TOKENIZER_MAX_LENGTH = 128
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def corpus_lines(n: int = 40000, seed: int = 0) -> list[str]:
    """A small synthetic text for SentencePiece: prompt-like English built from export.py's word list, with
    accented Latin, CJK, Cyrillic and emoji so the model has pieces (or byte-less unknowns) for them."""
    import export

    extra = ("café naïve über straße façade jalapeño crème brûlée résumé 東京 夜景 桜 雨 猫 "
             "ночь город река 🎬 🌅 🐈 — “quoted” ‘single’ 2024 1080p 24fps 4k 35mm f/1.8").split()
    words = export._WORDS + extra
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        k = rng.randint(3, 24)
        s = " ".join(rng.choice(words) for _ in range(k))
        if rng.random() < 0.5:
            s = s[0].upper() + s[1:] + rng.choice([".", ",", "!", "?", ""])
        lines.append(s)
    return lines


def build_tokenizer(out: Path, vocab_size: int, seed: int) -> None:
    """Trains the SentencePiece model and writes the tokenizer folder as the hub has it (no tokenizer.json:
    the exporter converts spiece.model, as transformers does for a user's folder)."""
    import sentencepiece as spm

    out.mkdir(parents=True, exist_ok=True)
    text = out / "corpus.txt"
    text.write_text("\n".join(corpus_lines(seed=seed)) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(out / "spiece"), vocab_size=vocab_size, hard_vocab_limit=False,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, character_coverage=1.0,
        minloglevel=2,
    )
    text.unlink()
    (out / "spiece.vocab").unlink(missing_ok=True)
    extra = [f"<extra_id_{i}>" for i in range(100)]
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "T5Tokenizer", "model_max_length": TOKENIZER_MAX_LENGTH, "extra_ids": 100,
        "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "additional_special_tokens": extra,
    }, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps({
        "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "additional_special_tokens": extra,
    }, indent=2) + "\n")


def _save(model, path: Path, dtype) -> None:
    model.to(dtype).save_pretrained(str(path), safe_serialization=True, max_shard_size="5GB")


def build(out: Path, scale: str, dtype, seed: int) -> dict:
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    small = scale == "small"
    cfg = {
        "transformer": {**TRANSFORMER_095, **(SMALL["transformer"] if small else {})},
        "vae": {**VAE_095, **(SMALL["vae"] if small else {})},
        "text_encoder": {**T5_XXL, **(SMALL["text_encoder"] if small else {})},
    }
    times = {}
    # Built directly in the saved dtype (bf16 by default): the 4.7 B-parameter encoder never exists in fp32.
    torch.set_default_dtype(torch.float32 if dtype == torch.float32 else dtype)
    t0 = time.time()
    build_tokenizer(out / "tokenizer", 300 if small else 8000, seed)
    times["tokenizer"] = time.time() - t0
    for name, make in (
        ("transformer", lambda c: LTXVideoTransformer3DModel(**c)),
        ("vae", lambda c: AutoencoderKLLTXVideo(**c)),
        ("text_encoder", lambda c: T5EncoderModel(T5Config(**c))),
    ):
        t0 = time.time()
        print(f"[standin] building {name} ...", flush=True)
        torch.manual_seed(seed)
        model = make(cfg[name]).eval()
        if name == "vae":
            # The published latent statistics are far from 0/1; defaults would hide a missed normalisation.
            g = torch.Generator().manual_seed(seed + 1)
            c = cfg["vae"]["latent_channels"]
            with torch.no_grad():
                model.latents_mean.copy_(0.2 * torch.randn(c, generator=g))
                model.latents_std.copy_(0.5 + torch.rand(c, generator=g))
        params = sum(p.numel() for p in model.parameters())
        _save(model, out / name, dtype)
        del model
        times[name] = time.time() - t0
        print(f"[standin] {name}: {params / 1e9:.3f} B parameters, {times[name]:.0f} s", flush=True)
    torch.set_default_dtype(torch.float32)
    FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False).save_pretrained(str(out / "scheduler"))
    (out / "model_index.json").write_text(json.dumps({
        "_class_name": "LTXPipeline", "_diffusers_version": "0.42.1",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5Tokenizer"],
        "transformer": ["diffusers", "LTXVideoTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLLTXVideo"],
    }, indent=2) + "\n")
    (out / "STANDIN.md").write_text(
        f"LTX-Video 0.9.5 architecture with seeded random weights (seed {seed}, scale {scale}), built by Kinema's "
        "models/ltx/standin.py. It produces noise; it exists to test the export and the runtime at full size.\n"
    )
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="the diffusers folder to write")
    ap.add_argument("--scale", choices=["full", "small"], default="full")
    ap.add_argument("--dtype", choices=list(DTYPES), default="bf16", help="dtype of the saved weights")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} is not empty: choose a new folder (nothing is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    times = build(out, a.scale, DTYPES[a.dtype], a.seed)
    print(json.dumps({"out": str(out), "seconds": {k: round(v, 1) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
