#!/usr/bin/env python3
"""diffusers side of Kinema's generation benchmark (plugin/benches/generation.rs runs it).

Builds the same tiny random LTX model as export.py (same seeds), runs `LTXPipeline` once to warm
up and twice timed (the faster counts), on CPU with torch's default thread count (or --device cuda), and prints
`seconds <value>` and `peak_mib <value>` (on CUDA also `gpu_peak_mib`, PyTorch's allocations on the device).
"""
import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    import torch
    from diffusers import LTXPipeline

    import export  # this folder's export script: the tiny components, same seeds

    pipe = LTXPipeline(**export.tiny_components()).to(args.device)
    kwargs = dict(prompt="a red circle moving left on a dark blue background", negative_prompt="",
                  width=args.width, height=args.height, num_frames=args.frames, frame_rate=25,
                  num_inference_steps=args.steps, guidance_scale=3.0, decode_timestep=0.05,
                  decode_noise_scale=0.025, output_type="np")
    spent = {"text": 0.0, "decode": 0.0}

    def timed(fn, part):
        """The pipeline's own encode_prompt and vae.decode, timed where they run (synchronised on a GPU)."""
        def wrapper(*a, **k):
            sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
            sync()
            t = time.perf_counter()
            out = fn(*a, **k)
            sync()
            spent[part] += time.perf_counter() - t
            return out
        return wrapper

    pipe.encode_prompt = timed(pipe.encode_prompt, "text")
    pipe.vae.decode = timed(pipe.vae.decode, "decode")
    best, parts = float("inf"), {}
    with torch.no_grad():
        pipe(**kwargs, generator=torch.Generator().manual_seed(7))
        for _ in range(2):
            spent.update(text=0.0, decode=0.0)
            started = time.perf_counter()
            pipe(**kwargs, generator=torch.Generator().manual_seed(7))
            if time.perf_counter() - started < best:
                best, parts = time.perf_counter() - started, dict(spent)
    print(f"seconds {best:.6f}")
    print(f"text_seconds {parts['text']:.6f}")
    print(f"decode_seconds {parts['decode']:.6f}")
    # peak resident set of this process (Linux reports KiB), as the Rust bench reads its own VmHWM
    print(f"peak_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    if args.device.startswith("cuda"):
        print(f"gpu_peak_mib {torch.cuda.max_memory_allocated() / 2**20:.1f}")


if __name__ == "__main__":
    main()
