#!/usr/bin/env python3
"""Prints a fenced block of README.md (or of a page of the book), as written, for a test
to run.

Usage: readme_block.py [--in FILE] HEADING LANG [N] [OLD NEW ...]
The N-th (from 1) block of language LANG after the heading line HEADING, its list
indentation removed; each pair OLD NEW replaces a placeholder (the first occurrence left,
in order, so that two '…' can be given two values). Fails when a block or placeholder is
missing: the README changed, and the test must follow it.
"""
import sys


def main():
    args = sys.argv[1:]
    path = "README.md"
    if args[:1] == ["--in"]:
        path, args = args[1], args[2:]
    heading, lang = args[0], args[1]
    rest = args[2:]
    n = 1
    if rest and rest[0].isdigit():
        n, rest = int(rest[0]), rest[1:]
    lines = open(path, encoding="utf-8").read().split("\n")
    try:
        start = lines.index(heading)
    except ValueError:
        sys.exit(f"{path} has no line {heading!r}")
    found, block, inside, indent = 0, [], False, ""
    for line in lines[start + 1:]:
        stripped = line.lstrip()
        if not inside and stripped == "```" + lang:
            found += 1
            if found == n:
                inside, indent = True, line[: len(line) - len(stripped)]
            continue
        if inside:
            if stripped == "```":
                break
            block.append(line[len(indent):] if line.startswith(indent) else line)
    if not block:
        sys.exit(f"{path} has no {lang} block {n} after {heading!r}")
    text = "\n".join(block) + "\n"
    if len(rest) % 2:
        sys.exit("placeholders come in pairs: OLD NEW")
    for old, new in zip(rest[::2], rest[1::2]):
        if old not in text:
            sys.exit(f"{path}'s {lang} block {n} after {heading!r} has no {old!r}")
        text = text.replace(old, new, 1)
    sys.stdout.write(text)


main()
