#!/usr/bin/env python3
"""Writes random strings separated by U+001E, for a differential test of sieve's tokenizer
against the reference (sieve-tokenizer-bench --records / reference_bench.js --records).
Usage: random_strings.py OUT [COUNT] [SEED]"""
import random
import sys

# Pieces that stress pre-tokenizer regexes and normalisation: letters of several scripts,
# digits, combining marks (NFC), odd whitespace, contractions, emoji and ZWJ sequences.
POOL = (
    list("abcXYZ dé\u00e9e\u0301\u00c5A\u030a\u212b'sS'LLd") + ["'s", "'T", "'re", "'VE"] +
    list("0123456789\u0663\u06f5\u2160\u00bd") +
    list(" \t\n\r\u00a0\u2003\u3000\u200b\u2028\u0085") +
    list("!?.,;:-_/\\()[]{}<>\"#$%&*+=@^`|~") +
    list("你好世界日本語カタカナひらがな한국어русскийעבריתالعربيةहिन्दी") +
    ["\U0001F600", "\U0001F9D1\u200d\U0001F680", "\U0001F1EB\U0001F1F7", "\u2581", "\u0120",
     "\ufffd", "\U0001D4B3", "\u0130", "\u00df", "\ufb01"]
)


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    strings = []
    for _ in range(count):
        n = rng.choice([1, 2, 3, 5, 8, 13, 40, 120])
        strings.append("".join(rng.choice(POOL) for _ in range(n)))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\x1e".join(strings))


if __name__ == "__main__":
    main()
