"""Hugging Face transformers' own generate() on the GPU, as the floor sieve-gpu-bench is shown
next to: a random-weight model built from the same config.json (bf16, on the device), greedy,
fixed output length, decode tokens/s at each batch size.

  python3 tools/gpu/hf_generate.py --config DIR/config.json --batches 1,8 --context 128
"""
import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=32)
    a = ap.parse_args()
    with open(a.config) as f:
        cfg_dict = json.load(f)
    config = transformers.AutoConfig.for_model(**cfg_dict)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.eval()
    vocab = config.vocab_size
    for b in [int(x) for x in a.batches.split(",")]:
        ids = torch.randint(0, vocab, (b, a.context), device="cuda")
        kwargs = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
        with torch.no_grad():
            model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kwargs)  # warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.generate(ids, max_new_tokens=1, min_new_tokens=1, **kwargs)
            torch.cuda.synchronize()
            prefill = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.generate(ids, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, **kwargs)
            torch.cuda.synchronize()
            total = time.perf_counter() - t0
        decode_s = max(total - prefill, 1e-9) / (a.new_tokens - 1)
        print(f"hf decode b{b} ctx {a.context}: {b / decode_s:.1f} tokens/s "
              f"({decode_s * 1e3:.2f} ms/step; transformers {transformers.__version__})", flush=True)


if __name__ == "__main__":
    main()
