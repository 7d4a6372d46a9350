#!/usr/bin/env python3
"""The house rules the build cannot see, checked on every tracked C++/CUDA file:

  1. layering: an #include "..." may only reach down the arrows drawn below (tests excepted);
  2. no circle between rooms in the include graph the code actually has;
  3. no source file over 800 lines, no folder with more than 25 source files (tests apart);
  4. a model family's model_type string appears, outside tests, only in its own family file
     (models/families/<model_type>.cpp) and the registry (models/registry.cpp).

Run from anywhere: python3 tools/check_house.py. Exit status 1 lists every violation.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Rooms, most specific first, and the rooms each may include. Arrows point one way:
# tools → server → engine → kernels, and models plug into engine below its scheduling core.
ENGINE_ROOMS = ["engine/base", "engine/checkpoint", "engine/backends", "engine/distributed",
                "engine/experts", "engine/text"]
ALLOWED = {
    "kernels": {"kernels"},
    "engine/base": {"engine/base"},
    "engine/checkpoint": {"engine/base", "engine/checkpoint", "kernels"},
    "engine/backends": {"engine/base", "engine/checkpoint", "engine/backends", "kernels"},
    "engine/distributed": {"engine/base", "engine/distributed", "kernels"},
    "engine/experts": {"engine/base", "engine/checkpoint", "engine/backends",
                       "engine/distributed", "engine/experts", "kernels"},
    "engine/text": {"engine/base", "engine/text"},
    "engine": set(ENGINE_ROOMS) | {"engine", "kernels"},
    "models": {"engine/base", "engine/checkpoint", "engine/backends", "engine/distributed",
               "engine/experts", "models"},
    "proto": {"proto"},
    "server": set(ENGINE_ROOMS) | {"engine", "proto", "server"},
    "tools": set(ENGINE_ROOMS) | {"engine", "kernels", "models", "proto", "server", "tools"},
}
SOURCE = re.compile(r"\.(h|cpp|cu|cuh)$")
MAX_LINES = 800
MAX_FILES_PER_FOLDER = 25


def room_of(path):
    for room in sorted(ALLOWED, key=len, reverse=True):
        if path == room or path.startswith(room + "/"):
            return room
    return None


def is_test(path):
    return path.startswith("tests/") or "/tests/" in path


def tracked_sources():
    out = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).split()
    return [p for p in out if SOURCE.search(p)]


def check_layers(files, problems):
    edges = defaultdict(set)
    include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    for path in files:
        if is_test(path):
            continue
        src = room_of(path)
        if src is None:
            continue
        text = open(os.path.join(ROOT, path), encoding="utf-8", errors="replace").read()
        for target in include.findall(text):
            dst = room_of(target)
            if dst is None or dst == src:
                continue
            edges[src].add(dst)
            if dst not in ALLOWED[src]:
                problems.append(f"{path}: includes {target} ({src} must not reach {dst})")
    # A circle among rooms: depth-first search over the rooms' include edges.
    state = {}

    def visit(room, stack):
        state[room] = "open"
        for nxt in sorted(edges[room]):
            if state.get(nxt) == "open":
                circle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [room, nxt]
                problems.append("rooms include each other in a circle: " + " → ".join(circle))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[room] = "done"

    for room in sorted(edges):
        if room not in state:
            visit(room, [room])


def check_sizes(files, problems):
    per_folder = defaultdict(int)
    for path in files:
        lines = sum(1 for _ in open(os.path.join(ROOT, path), encoding="utf-8", errors="replace"))
        if lines > MAX_LINES:
            problems.append(f"{path}: {lines} lines (at most {MAX_LINES}: split it by job)")
        if not is_test(path):
            per_folder[os.path.dirname(path)] += 1
    for folder, n in sorted(per_folder.items()):
        if n > MAX_FILES_PER_FOLDER:
            problems.append(f"{folder}/: {n} source files (at most {MAX_FILES_PER_FOLDER})")


def check_family_names(files, problems):
    family_dir = "models/families"
    families = sorted(os.path.splitext(f)[0]
                      for f in os.listdir(os.path.join(ROOT, family_dir)) if f.endswith(".cpp"))
    for name in families:
        quoted = re.compile(r'"' + re.escape(name) + r'"')
        for path in files:
            if is_test(path) or path in (f"{family_dir}/{name}.cpp", "models/registry.cpp"):
                continue
            text = open(os.path.join(ROOT, path), encoding="utf-8", errors="replace").read()
            if quoted.search(text):
                problems.append(f'{path}: names the model_type "{name}" (only '
                                f"{family_dir}/{name}.cpp and models/registry.cpp may)")


def main():
    files = tracked_sources()
    problems = []
    check_layers(files, problems)
    check_sizes(files, problems)
    check_family_names(files, problems)
    if problems:
        print("check_house: " + str(len(problems)) + " problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print(f"check_house: {len(files)} files: layers one way, no circle, sizes and family "
          f"names in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
