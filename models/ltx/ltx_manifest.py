"""The manifest.json of an exported LTX-Video folder: everything the runtime needs that is not in the graphs
(latent geometry and normalisation, RoPE, scheduler, guidance, conditioning, decode, defaults)."""

from __future__ import annotations

import numpy as np


def build_manifest(comps, name: str, license_note: str, defaults: dict) -> dict:
    vae, tr, sch = comps["vae"], comps["transformer"], comps["scheduler"]
    vc, tc, sc = vae.config, tr.config, sch.config
    s_ratio = int(vae.spatial_compression_ratio)
    t_ratio = int(vae.temporal_compression_ratio)
    te_dim = int(comps["text_encoder"].config.d_model)
    manifest = {
        "manifest_version": 1,
        "kind": "video_diffusion",
        "family": "ltx",
        "name": name,
        "license": license_note,
        "source": "diffusers 0.42.1 LTXPipeline / LTXImageToVideoPipeline / LTXConditionPipeline; see README.md",
        "components": {
            "tokenizer": {
                "file": "tokenizer.json",
                "padding": "max_length",
                "padding_side": "right",
                "pad_id": int(comps["tokenizer"].pad_token_id),
                "truncation": "right, keep the appended </s> (truncate content to max_length-1)",
                "add_special_tokens": True,
                "max_length": {"t2v": 128, "i2v": 128, "condition": 256},
            },
            "text_encoder": {
                "file": "text_encoder.onnx",
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask"},
                "output": "last_hidden_state",
                "hidden_size": te_dim,
                "input_dtype": "int64",
                "mask_input": {"t2v": "ones", "i2v": "ones", "condition": "tokenizer_mask"},
                "batch": 1,
                "dynamic": ["L"],
            },
            "transformer": {
                "file": "transformer.onnx",
                "batch": 2,
                "batch_order": ["uncond", "cond"],
                "layout": "tokens",
                "inputs": {
                    "hidden_states": "hidden_states",
                    "encoder_hidden_states": "encoder_hidden_states",
                    "encoder_attention_mask": "encoder_attention_mask",
                    "timestep": "timestep",
                    "video_coords": "video_coords",
                },
                "input_dtypes": {
                    "hidden_states": "float32",
                    "encoder_hidden_states": "float32",
                    "encoder_attention_mask": "int64",
                    "timestep": "float32",
                    "video_coords": "float32",
                },
                "output": "velocity",
                "prediction": "flow_velocity",
                "timestep_per_token": True,
                "timestep_scale": float(sc.num_train_timesteps),
                "in_channels": int(tc.in_channels),
                "out_channels": int(tc.out_channels),
                "caption_channels": int(tc.caption_channels),
                "patch_size": int(tc.patch_size),
                "patch_size_t": int(tc.patch_size_t),
                "dtype": "float32",
                "dynamic": ["S", "L"],
            },
            "vae_encoder": {
                "file": "vae_encoder.onnx",
                "input": "sample",
                "output": "moments",
                "moments_layout": "mean_then_logvar",
                "posterior": "diag_gaussian",
                "logvar_clamp": [-30.0, 20.0],
                "sample_mode": "sample",
                "pixel_range": [-1.0, 1.0],
                "batch": 1,
                "dynamic": ["F", "H", "W"],
            },
            "vae_decoder": {
                "file": "vae_decoder.onnx",
                "inputs": {"latent": "latent", "timestep": "timestep"} if vc.timestep_conditioning else {"latent": "latent"},
                "output": "sample",
                "timestep_conditioning": bool(vc.timestep_conditioning),
                "pixel_range": [-1.0, 1.0],
                "batch": 1,
                "dynamic": ["f", "h", "w"],
            },
        },
        "latent": {
            "channels": int(vc.latent_channels),
            "spatial_ratio": s_ratio,
            "temporal_ratio": t_ratio,
            "frame_rule": {"mult": t_ratio, "plus": 1},
            "hw_multiple": s_ratio,
            "latent_frames": "(F - 1) / temporal_ratio + 1",
            "decoded_frames": "(f - 1) * temporal_ratio + 1",
            "patch": [int(tc.patch_size_t), int(tc.patch_size), int(tc.patch_size)],
            "pack": "ltx_fhw_c",
            "norm": {
                "kind": "mean_std",
                "mean": [float(x) for x in vae.latents_mean.detach().cpu().numpy().astype(np.float32)],
                "std": [float(x) for x in vae.latents_std.detach().cpu().numpy().astype(np.float32)],
                "scaling_factor": float(vc.scaling_factor),
                "normalize": "(z - mean) * sf / std  (I2V/Condition call it with sf=1.0 regardless of config)",
                "denormalize": "z * std / sf + mean",
            },
        },
        "rope": {
            "kind": "ltx_coords",
            "base": [20.0, 2048.0, 2048.0],
            "theta": 10000.0,
            "coords_input": "video_coords [2,3,S]: (f, h, w) per token, divided by base inside the graph",
            "modes": {
                "t2v": "interpolation_scale",
                "i2v": "interpolation_scale",
                "condition": "causal_pixel",
            },
            "interpolation_scale": {
                "f": "f_lat * (temporal_ratio / fps) * patch_t",
                "h": "h_lat * spatial_ratio * patch",
                "w": "w_lat * spatial_ratio * patch",
            },
            "causal_pixel": {
                "f": "(max(f_lat * temporal_ratio + 1 - temporal_ratio, 0) + frame_index) * (1 / fps)",
                "h": "h_lat * spatial_ratio",
                "w": "w_lat * spatial_ratio",
            },
        },
        "scheduler": {
            "kind": "flow_match_euler",
            "num_train_timesteps": int(sc.num_train_timesteps),
            "shift": float(sc.shift),
            "use_dynamic_shifting": bool(sc.use_dynamic_shifting),
            "base_shift": float(sc.base_shift),
            "max_shift": float(sc.max_shift),
            "base_image_seq_len": int(sc.base_image_seq_len),
            "max_image_seq_len": int(sc.max_image_seq_len),
            "shift_terminal": None if sc.shift_terminal is None else float(sc.shift_terminal),
            "time_shift_type": str(sc.time_shift_type),
            "invert_sigmas": bool(sc.invert_sigmas),
            "stochastic_sampling": bool(sc.stochastic_sampling),
            "use_karras_sigmas": bool(sc.use_karras_sigmas),
            "use_exponential_sigmas": bool(sc.use_exponential_sigmas),
            "use_beta_sigmas": bool(sc.use_beta_sigmas),
            "sigmas": {"t2v": "linspace", "i2v": "linspace", "condition": "linear_quadratic"},
            "linear_quadratic": {"threshold_noise": 0.025, "linear_steps": "steps // 2"},
        },
        "guidance": {
            "cfg": {"default": 3.0, "batched": True, "uncond_first": True, "rescale": 0.0, "formula": "v_u + g * (v_c - v_u)"}
        },
        "fixtures": "fixtures/cases.json",
        "conditioning": {
            "i2v": {"method": "first_frame_mask", "sample_mode": "sample"},
            "condition": {
                "method": "token_mask",
                "first_frame": "replace_lerp",
                "other_frames": "append_tokens",
                "num_prefix_latent_frames": 2,
                "image_cond_noise_scale": 0.15,
                "sample_mode": "sample",
            },
        },
        "decode": {
            "timestep": 0.05,
            "noise_scale": 0.025,
            "note": "documented recommendation (and what the fixtures use); diffusers' call defaults are 0.0 and None (= timestep)",
        },
        "defaults": defaults,
    }
    if not vc.timestep_conditioning:
        manifest["decode"] = {"timestep": None, "noise_scale": None}
    return manifest
