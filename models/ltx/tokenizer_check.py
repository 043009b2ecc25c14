"""Tokenizer parity: the ids Kinema computes from the exported tokenizer.json equal transformers' T5 tokenizer
(`T5TokenizerFast` semantics: `padding="max_length"`, `truncation=True`, `</s>` appended) on 1000 prompts.

Kinema's path (plugin/src/diffusion/model.rs `tokenize`) loads tokenizer.json with padding and truncation off,
encodes with special tokens, keeps the first max_length-1 ids and `</s>` when too long, and pads right with
pad_id. `ours()` below is that algorithm over the `tokenizers` package (the Rust crate's Python binding, same
code); the Rust test `t5_tokenizer_matches_transformers` runs the Rust path on the fixture this writes.

SentencePiece itself (what transformers' old slow tokenizer ran) is compared too, for information: the
converted fast tokenizer is known to differ from it on some whitespace and Unicode edge cases.

  python tokenizer_check.py --tokenizer DIR [--fixture OUT_DIR]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

MAX_LENGTH = 128
N_PROMPTS = 1000

_UNICODE = [
    "café", "naïve", "Ümlaut", "straße", "ﬁne", "ＦＵＬＬ ｗｉｄｔｈ", "①②③", "東京の夜景", "桜が散る", "猫",
    "ночь в городе", "مرحبا", "שלום", "नमस्ते", "🎬🌅🐈", "👩‍👩‍👧", "e\u0301", "zero\u200bwidth", "«quotes»",
    "“smart” ‘quotes’", "em—dash", "1080p 24fps", "f/1.8 35mm", "ℌ𝔢𝔩𝔩𝔬", "Ⅻ", "x²", "½ cup", "\u00a0nbsp",
]
_SPECIAL = ["<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_99>", "</s></s>"]


def prompts(n: int = N_PROMPTS, seed: int = 0) -> list[str]:
    """Deterministic prompts: plain, long (truncated), empty and blank, Unicode, odd whitespace, specials."""
    import export

    rng = random.Random(seed)
    words = export._WORDS
    out = ["", " ", "   ", "\t\n", "a", ".", "A", "a cat."]
    while len(out) < n:
        kind = rng.random()
        if kind < 0.35:
            s = " ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))
        elif kind < 0.5:
            s = " ".join(rng.choice(words) for _ in range(rng.randint(100, 300)))  # past 128 tokens
        elif kind < 0.75:
            s = " ".join(rng.choice(words + _UNICODE) for _ in range(rng.randint(1, 30)))
        elif kind < 0.85:
            sep = rng.choice(["  ", "\t", "\n", " \n ", "   "])
            s = rng.choice(["", " ", "\n"]) + sep.join(rng.choice(words) for _ in range(rng.randint(2, 20))) + rng.choice(["", " ", "  "])
        elif kind < 0.93:
            parts = [rng.choice(words + _SPECIAL) for _ in range(rng.randint(2, 15))]
            s = " ".join(parts)
        else:
            s = "".join(rng.choice(words + _UNICODE + [",", ".", "!", "?", "-", "'"]) for _ in range(rng.randint(2, 25)))
        if rng.random() < 0.3:
            s = s.capitalize()
        out.append(s)
    return out[:n]


def ours(tok, text: str, max_length: int, pad_id: int) -> list[int]:
    ids = tok.encode(text, add_special_tokens=True).ids
    if len(ids) > max_length:
        ids = ids[: max_length - 1] + [ids[-1]]
    return ids + [pad_id] * (max_length - len(ids))


def check(tokenizer_json: Path, hf_tok, tok_dir: Path | None = None, fixture: Path | None = None) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.no_truncation()
    pad = hf_tok.pad_token_id
    ps = prompts()
    enc = hf_tok(ps, padding="max_length", max_length=MAX_LENGTH, truncation=True)
    fast, real = enc["input_ids"], [sum(m) for m in enc["attention_mask"]]
    mism = [i for i, p in enumerate(ps) if ours(tok, p, MAX_LENGTH, pad) != fast[i]]
    res = {"prompts": len(ps), "max_length": MAX_LENGTH, "mismatches_fast": len(mism),
           "examples_fast": [ps[i] for i in mism[:5]], "truncated": sum(n == MAX_LENGTH for n in real)}
    spm_file = tok_dir / "spiece.model" if tok_dir else None
    if spm_file and spm_file.exists():
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(spm_file))
        slow = []
        for p in ps:
            ids = sp.encode(p)[: MAX_LENGTH - 1] + [hf_tok.eos_token_id]
            slow.append(ids + [pad] * (MAX_LENGTH - len(ids)))
        diff = [i for i, p in enumerate(ps) if slow[i] != fast[i]]
        res["differs_from_sentencepiece"] = len(diff)
        res["examples_sentencepiece"] = [ps[i] for i in diff[:5]]
    if fixture:
        fixture.mkdir(parents=True, exist_ok=True)
        (fixture / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
        cases = [{"prompt": p, "ids": f[:n]} for p, f, n in zip(ps, fast, real)]
        (fixture / "cases.json").write_text(json.dumps(
            {"max_length": MAX_LENGTH, "pad_id": pad, "source": "transformers T5Tokenizer(Fast), padding=max_length, "
             "truncation=True; ids listed without the right padding", "cases": cases}, ensure_ascii=False) + "\n",
            encoding="utf-8")
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="a tokenizer folder (spiece.model + configs, or tokenizer.json)")
    ap.add_argument("--fixture", default=None, help="write tokenizer.json and cases.json here (the Rust test's fixture)")
    a = ap.parse_args(argv)
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(a.tokenizer)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        js = Path(d) / "tokenizer.json"
        hf.backend_tokenizer.save(str(js))
        res = check(js, hf, Path(a.tokenizer), Path(a.fixture) if a.fixture else None)
    print(json.dumps(res, indent=2, ensure_ascii=False))
    raise SystemExit(1 if res["mismatches_fast"] else 0)


if __name__ == "__main__":
    main()
