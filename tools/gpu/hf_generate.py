"""Hugging Face transformers' own generate() on the GPU, as the floor sieve-gpu-bench is shown
next to: a random-weight model built from the same config.json (bf16, on the device), greedy,
fixed output length, decode tokens/s at each batch size.

  python3 tools/gpu/hf_generate.py --config DIR/config.json --batches 1,8 --context 128

Exit status: 0 measured; 77 torch sees no CUDA device (tools/gpu/run.sh turns that into a
failure on a machine that has one); 3 torch or transformers cannot be imported.
"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=32)
    a = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"hf_generate.py: cannot import torch and transformers: {e}", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print(f"hf_generate.py: not run, no GPU here: torch {torch.__version__} sees no CUDA device",
              file=sys.stderr)
        return 77
    print(f"hf_generate.py: torch {torch.__version__}, transformers {transformers.__version__} on "
          f"{torch.cuda.get_device_name()}", flush=True)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
