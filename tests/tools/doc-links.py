#!/usr/bin/env python3
"""Checks the relative links of README.md and docs/*.md (and the other
Markdown files beside the code): each names a file that exists, and a
`#fragment` names a heading of that file, as GitHub makes anchors."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def anchors(path):
    names = set()
    fence = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^#+ (.*)", line)
        names.update(re.findall(r'<a id="([^"]+)"', line))
        if m:
            text = re.sub(r"[`*_]", "", m.group(1)).strip().lower()
            text = re.sub(r"[^\w\- ]", "", text)
            names.add(text.replace(" ", "-"))
    return names


def main():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "schema").glob("*.md"))]
    bad = []
    for md in files:
        fence = False
        for n, line in enumerate(md.read_text().splitlines(), 1):
            if line.startswith("```"):
                fence = not fence
            if fence:
                continue
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue
                path, _, fragment = target.partition("#")
                file = (md.parent / path).resolve() if path else md
                if not file.exists():
                    bad.append(f"{md.relative_to(ROOT)}:{n}: {target}: no such file")
                elif fragment and file.suffix == ".md" and fragment not in anchors(file):
                    bad.append(f"{md.relative_to(ROOT)}:{n}: {target}: no such heading")
    if bad:
        sys.exit("\n".join(bad))
    print(f"doc links: {len(files)} files, every relative link resolves")


main()
