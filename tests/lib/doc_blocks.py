#!/usr/bin/env python3
"""Lists every fenced block with a language in README.md and the book's pages, one a line:
FILE<TAB>HEADING<TAB>LANG<TAB>N<TAB>LINE, N counting that language's blocks after HEADING
(as readme_block.py takes them). tests/docs.sh holds each against its table, so that a
block added to a page runs in CI or says which test runs it.
"""
import glob


def main():
    for path in ["README.md"] + sorted(glob.glob("docs/src/*.md")):
        heading, seen, inside = None, {}, False
        for number, line in enumerate(open(path, encoding="utf-8"), start=1):
            stripped = line.strip()
            if inside:
                inside = stripped != "```"
                continue
            if stripped.startswith("#") and not stripped.startswith("#!"):
                heading, seen = line.rstrip("\n"), {}
            elif stripped.startswith("```"):
                inside, lang = True, stripped[3:]
                if lang:
                    seen[lang] = seen.get(lang, 0) + 1
                    print(f"{path}\t{heading}\t{lang}\t{seen[lang]}\t{number}")


main()
