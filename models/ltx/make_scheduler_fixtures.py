#!/usr/bin/env python3
"""Record scheduler fixtures (fixtures/schedulers.json) straight from diffusers' schedulers.

Everything needed to recompute is inline: the scheduler config (full, as diffusers reports it), the
set_timesteps arguments, the resulting timesteps/sigmas (or DDIM timesteps), and step() inputs/outputs
on small fixed tensors. Values are float32 printed as JSON numbers; compare with tolerance 1e-6.

FlowMatchEulerDiscreteScheduler cases
  default_n*            set_timesteps(n) only (linspace of the training sigmas), shift 1 and 3
  ltx_static_*          LTXPipeline style: sigmas = linspace(1, 1/n, n), static shift 1 / 3 (mu ignored)
  ltx_dynamic_*         sigmas = linspace(1, 1/n, n) with mu (exponential, linear), with/without shift_terminal 0.1
  ltx_condition_lq*     LTXConditionPipeline style: timesteps = linear_quadratic_schedule(n) * 1000, no sigmas
  steps                 a whole Euler loop (fixed model outputs), and per_token_timesteps steps
DDIMScheduler cases
  default config (leading spacing), "trailing", "linspace"; epsilon and v_prediction; eta = 0
LTXEulerAncestralRFScheduler cases (key "ltx_euler_ancestral_rf"; used by LTXI2VLongMultiPromptPipeline)
  set_timesteps     explicit sigmas (list, f64 tensor), `timesteps` as an alias of sigmas, and num_inference_steps
                    (delegated to FlowMatchEulerDiscreteScheduler built from the RF config)
  steps             loops over timesteps[:-1] as the pipeline runs them, eta 1 / 0.5 / 0, s_noise 1 / 0.7, with
                    every ancestral noise draw recorded (null where the step draws none)
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


def L(t):
    return np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float64).tolist()


def cfg_of(s):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(s.config).items() if not k.startswith("_")}


def flow_cases():
    from diffusers import FlowMatchEulerDiscreteScheduler as FM
    from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift
    from diffusers.pipelines.ltx.pipeline_ltx_condition import linear_quadratic_schedule

    out = []

    def add(name, cfg, n, sigmas=None, timesteps=None, mu=None, note=""):
        s = FM(**cfg)
        kw = {}
        if sigmas is not None:
            kw["sigmas"] = sigmas
        if timesteps is not None:
            kw["timesteps"] = timesteps
        if mu is not None:
            kw["mu"] = mu
        s.set_timesteps(n if (sigmas is None and timesteps is None) else None, **kw)
        out.append({
            "name": name,
            "note": note,
            "config": cfg_of(s),
            "set_timesteps": {
                "num_inference_steps": n,
                "sigmas": None if sigmas is None else [float(x) for x in sigmas],
                "timesteps": None if timesteps is None else L(timesteps),
                "mu": mu,
            },
            "timesteps": L(s.timesteps),
            "sigmas": L(s.sigmas),
        })

    for n in (4, 10):
        add(f"default_n{n}_shift1", {}, n, note="set_timesteps(n)")
        add(f"default_n{n}_shift3", {"shift": 3.0}, n, note="set_timesteps(n), static shift 3")
    for n in (4, 30):
        lin = np.linspace(1.0, 1 / n, n)
        add(f"ltx_static_n{n}_shift1", {}, n, sigmas=lin, mu=0.7, note="LTXPipeline: sigmas=linspace(1,1/n,n); mu ignored")
        add(f"ltx_static_n{n}_shift3", {"shift": 3.0}, n, sigmas=lin, note="static shift 3")
        for seq in (48, 6720):
            mu = calculate_shift(seq, 1024, 4096, 0.95, 2.05)
            add(f"ltx_dynamic_n{n}_seq{seq}_exp", {"use_dynamic_shifting": True, "base_shift": 0.95, "max_shift": 2.05,
                "base_image_seq_len": 1024, "max_image_seq_len": 4096}, n, sigmas=lin, mu=mu,
                note=f"mu = calculate_shift({seq}, 1024, 4096, 0.95, 2.05)")
            add(f"ltx_dynamic_n{n}_seq{seq}_exp_terminal", {"use_dynamic_shifting": True, "base_shift": 0.95, "max_shift": 2.05,
                "base_image_seq_len": 1024, "max_image_seq_len": 4096, "shift_terminal": 0.1}, n, sigmas=lin, mu=mu,
                note="LTX 0.9.0/0.9.1 scheduler")
        add(f"ltx_dynamic_n{n}_linear", {"use_dynamic_shifting": True, "time_shift_type": "linear"}, n, sigmas=lin, mu=1.3,
            note="time_shift_type linear, mu 1.3")
        add(f"static_shift3_terminal_n{n}", {"shift": 3.0, "shift_terminal": 0.1}, n, sigmas=lin, note="static shift + shift_terminal")
    for n in (2, 4, 5, 30):
        lq = linear_quadratic_schedule(n) * 1000
        add(f"ltx_condition_lq_n{n}", {}, n, timesteps=lq,
            note="LTXConditionPipeline: timesteps = linear_quadratic_schedule(n, 0.025) * 1000 (f32); sigmas = timesteps/1000")
    return out


def flow_steps():
    from diffusers import FlowMatchEulerDiscreteScheduler as FM
    from diffusers.pipelines.ltx.pipeline_ltx_condition import linear_quadratic_schedule

    g = torch.Generator().manual_seed(123)
    x0 = torch.randn(1, 6, 3, generator=g)
    outs = [torch.randn(1, 6, 3, generator=g) for _ in range(4)]
    res = []

    # whole loop, global sigma
    s = FM(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    s.set_timesteps(sigmas=np.linspace(1.0, 0.25, 4), mu=1.1)
    x = x0.clone()
    xs = []
    for i, t in enumerate(s.timesteps):
        x = s.step(outs[i], t, x, return_dict=False)[0]
        xs.append(L(x))
    res.append({
        "name": "euler_loop_dynamic_terminal",
        "config": cfg_of(s),
        "set_timesteps": {"sigmas": [1.0, 0.75, 0.5, 0.25], "mu": 1.1},
        "timesteps": L(s.timesteps), "sigmas": L(s.sigmas),
        "sample": L(x0), "model_outputs": [L(o) for o in outs],
        "samples_after_each_step": xs,
        "formula": "x_{i+1} = x_i + (sigmas[i+1] - sigmas[i]) * model_output_i",
    })

    # per-token steps (LTXConditionPipeline): model_output = -velocity, timesteps per token
    s = FM()
    lq = linear_quadratic_schedule(4) * 1000
    s.set_timesteps(None, timesteps=lq)
    for i, t in enumerate(s.timesteps):
        mask = torch.tensor([[1.0, 0.8, 0.0, 0.0, 0.5, 0.9999995]])
        per_tok = torch.min(t.expand(1).unsqueeze(-1).float(), (1 - mask) * 1000.0)
        s._step_index = None
        y = s.step(-outs[i], t, x0, per_token_timesteps=per_tok, return_dict=False)[0]
        res.append({
            "name": f"per_token_step{i}",
            "config": cfg_of(s),
            "timesteps": L(s.timesteps), "sigmas": L(s.sigmas),
            "t": float(t), "conditioning_mask": L(mask), "per_token_timesteps": L(per_tok),
            "sample": L(x0), "model_output": L(-outs[i]), "prev_sample": L(y),
            "formula": "sig_tok = ptt/1000; next = max(sigmas[k] where sigmas[k] < sig_tok - 1e-6, else 0); "
            "prev = x + (sig_tok - next) * model_output",
        })
    return res


ALPHAS = {}


def ac_key(cfg):
    return f"{cfg['beta_schedule']}_{cfg['beta_start']}_{cfg['beta_end']}_{cfg['num_train_timesteps']}"


def ddim_cases():
    from diffusers import DDIMScheduler

    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 4, generator=g)
    eps = torch.randn(2, 3, 4, generator=g)
    res = []
    for spacing in ("leading", "trailing", "linspace"):
        for pred in ("epsilon", "v_prediction"):
            for extra in ({}, {"steps_offset": 1, "clip_sample": False, "set_alpha_to_one": False, "beta_schedule": "scaled_linear",
                              "beta_start": 0.00085, "beta_end": 0.012}):
                cfg = {"timestep_spacing": spacing, "prediction_type": pred, **extra}
                s = DDIMScheduler(**cfg)
                s.set_timesteps(10)
                ALPHAS[ac_key(cfg_of(s))] = L(s.alphas_cumprod)
                steps = []
                for t in s.timesteps[:3].tolist() + [int(s.timesteps[-1])]:
                    o = s.step(eps, t, x, eta=0.0, return_dict=True)
                    steps.append({"t": int(t), "prev_sample": L(o.prev_sample), "pred_original_sample": L(o.pred_original_sample)})
                res.append({
                    "name": f"ddim_{spacing}_{pred}" + ("_sd" if extra else "_default"),
                    "config": cfg_of(s),
                    "num_inference_steps": 10,
                    "timesteps": [int(v) for v in s.timesteps],
                    "alphas_cumprod_key": ac_key(cfg_of(s)),
                    "final_alpha_cumprod": float(s.final_alpha_cumprod),
                    "sample": L(x), "model_output": L(eps),
                    "eta": 0.0,
                    "steps": steps,
                })
    return res


def rf_cases():
    import diffusers.schedulers.scheduling_ltx_euler_ancestral_rf as rf_mod
    from diffusers import FlowMatchEulerDiscreteScheduler as FM
    from diffusers import LTXEulerAncestralRFScheduler as RF

    sys.path.insert(0, str(HERE))
    import export

    comfy = [1.0, 0.9937, 0.9875, 0.9812, 0.975, 0.9094, 0.725, 0.4219, 0.0]
    sets = []

    def add_set(name, s, note, **kw):
        s.set_timesteps(**kw)
        arg = {k: (L(v) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
        sets.append({"name": name, "note": note, "config": cfg_of(s), "set_timesteps": arg,
                     "timesteps": L(s.timesteps), "sigmas": L(s.sigmas), "num_inference_steps": s.num_inference_steps})

    add_set("sigmas_list", RF(), "explicit sigmas incl. the terminal 0: timesteps = f32(sigmas) * 1000", sigmas=comfy)
    add_set("sigmas_tensor_f64", RF(), "an f64 tensor is cast to f32 first",
            sigmas=torch.tensor([1.0, 0.7, 1 / 3, 0.1, 0.0], dtype=torch.float64))
    add_set("timesteps_alias", RF(), "`timesteps` without `sigmas` is taken AS sigmas (not divided by 1000)",
            timesteps=[1.0, 0.5, 0.0])
    for n in (4, 8):
        add_set(f"n{n}_from_flowmatch_tiny", RF.from_config(FM(**export.TINY_SCHEDULER).config),
                "num_inference_steps only: FlowMatchEulerDiscreteScheduler.from_config(rf.config).set_timesteps(n)",
                num_inference_steps=n)
    add_set("n4_from_flowmatch_shift3", RF.from_config(FM(shift=3.0).config), "delegated, static shift 3", num_inference_steps=4)
    add_set("n4_default", RF(), "delegated, default config", num_inference_steps=4)
    add_set("n4_from_flowmatch_091_mu", RF.from_config(FM(**export.SCHEDULER_091).config),
            "delegated, dynamic shift + shift_terminal, mu passed through", num_inference_steps=4, mu=1.1)

    noises = []
    orig = rf_mod.randn_tensor

    def logged(*a, **k):
        out = orig(*a, **k)
        noises.append(out.clone())
        return out

    g = torch.Generator().manual_seed(321)
    x0 = torch.randn(1, 6, 3, generator=g)
    outs = [torch.randn(1, 6, 3, generator=g) for _ in range(8)]
    steps = []
    rf_mod.randn_tensor = logged
    try:
        for name, kw, set_kw in (
            ("eta1", {}, {"sigmas": [1.0, 0.9, 0.6, 0.25, 0.0]}),
            ("eta0.5", {"eta": 0.5}, {"sigmas": [1.0, 0.9, 0.6, 0.25, 0.0]}),
            ("eta1_snoise0.7", {"s_noise": 0.7}, {"sigmas": [1.0, 0.9, 0.6, 0.25, 0.0]}),
            ("eta0", {"eta": 0.0}, {"sigmas": [1.0, 0.9, 0.6, 0.25, 0.0]}),
            ("eta1_comfy", {}, {"sigmas": comfy}),
            ("eta1_n4_delegated", {}, {"num_inference_steps": 4}),
        ):
            s = RF(**kw)
            s.set_timesteps(**set_kw)
            gen = torch.Generator().manual_seed(99)
            x = x0.clone()
            xs, ns = [], []
            for i, t in enumerate(s.timesteps[:-1]):  # as LTXI2VLongMultiPromptPipeline loops
                before = len(noises)
                x = s.step(outs[i], t, x, generator=gen, return_dict=False)[0]
                xs.append(L(x))
                ns.append(L(noises[-1]) if len(noises) > before else None)
            steps.append({"name": name, "config": cfg_of(s), "set_timesteps": set_kw,
                          "timesteps": L(s.timesteps), "sigmas": L(s.sigmas), "sample": L(x0),
                          "model_outputs": [L(o) for o in outs[: len(xs)]], "noises": ns, "samples_after_each_step": xs})
    finally:
        rf_mod.randn_tensor = orig
    return {
        "set_timesteps": sets,
        "step": steps,
        "formula": "denoised = x - s*v; if |s1| < 1e-8: x = denoised; else r = 1 + (s1/s - 1)*eta; sd = s1*r; "
        "a1 = 1 - s1; ad = 1 - sd; q = sd/s; x = q*x + (1 - q)*denoised; if eta > 0 and s_noise > 0: "
        "c = sqrt(max(s1^2 - sd^2*a1^2/(ad^2 + 1e-12), 0)); x = (a1/(ad + 1e-12))*x + noise*c*s_noise",
    }


def main():
    torch.set_grad_enabled(False)
    doc = {
        "about": "Recorded from diffusers %s FlowMatchEulerDiscreteScheduler / DDIMScheduler / LTXEulerAncestralRFScheduler. Tensors are nested lists "
        "(float32 values). Tolerance 1e-6 absolute, except DDIM step outputs: 2e-6 relative "
        "(|a-b| <= 2e-6*max(1,|b|): f32 cancellation, pred_original_sample reaches ~100 at t~999)." % __import__("diffusers").__version__,
        "flow_match_euler": {"set_timesteps": flow_cases(), "step": flow_steps()},
        "ddim": ddim_cases(),
        "ddim_alphas_cumprod": ALPHAS,
        "ltx_euler_ancestral_rf": rf_cases(),
    }
    p = HERE / "fixtures" / "schedulers.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print("wrote", p, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
