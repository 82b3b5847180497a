#!/usr/bin/env python3
"""What `docker build -f docker/Dockerfile .` would send as its build context, without an engine.

    dockerctx.py ROOT list          print the context's files, one a line
    dockerctx.py ROOT mirror DEST   make DEST hold exactly those files (copied only when changed,
                                    so that an incremental swift build stays incremental)

Reads ROOT/.dockerignore with Docker's rules for the patterns it uses: one pattern a line, '#'
comments, matched against the path from the context root one path element at a time (so '*'
never crosses '/'), and a match on a directory excludes everything under it. '**' and '!'
exceptions are refused rather than guessed at.
"""
import fnmatch
import os
import shutil
import sys


def patterns(root):
    result = []
    with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!") or "**" in line:
                sys.exit(f"dockerctx: pattern {line!r} is not supported by this check; extend it")
            line = os.path.normpath(line.lstrip("/"))
            result.append(line.split("/"))
    return result


def excluded(parts, pats):
    """True when the path, or one of the directories it is in, matches a pattern."""
    for pat in pats:
        n = len(pat)
        if len(parts) >= n and all(fnmatch.fnmatchcase(parts[i], pat[i]) for i in range(n)):
            return True
    return False


def context_files(root):
    pats = patterns(root)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        base = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = sorted(d for d in dirnames if not excluded(base + [d], pats))
        for name in sorted(filenames):
            if not excluded(base + [name], pats):
                files.append("/".join(base + [name]))
    return files


def mirror(root, dest):
    files = context_files(root)
    wanted = set(files)
    for path in files:
        src, dst = os.path.join(root, path), os.path.join(dest, path)
        s = os.lstat(src)
        try:
            d = os.lstat(dst)
            if d.st_size == s.st_size and int(d.st_mtime) == int(s.st_mtime):
                continue
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    # Drop what is no longer in the context; keep what a build there writes itself (a path
    # .dockerignore excludes, such as Package.resolved or .swiftpm).
    pats = patterns(root)
    for dirpath, dirnames, filenames in os.walk(dest):
        rel = os.path.relpath(dirpath, dest)
        base = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = [d for d in dirnames if not excluded(base + [d], pats)]
        for name in filenames:
            parts = base + [name]
            if "/".join(parts) not in wanted and not excluded(parts, pats):
                os.remove(os.path.join(dirpath, name))
    return files


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("list", "mirror"):
        sys.exit(__doc__)
    root = sys.argv[1]
    if sys.argv[2] == "list":
        print("\n".join(context_files(root)))
    else:
        if len(sys.argv) != 4:
            sys.exit(__doc__)
        files = mirror(root, sys.argv[3])
        print(f"dockerctx: {len(files)} files in the build context")


if __name__ == "__main__":
    main()
