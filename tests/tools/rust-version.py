#!/usr/bin/env python3
"""Holds the workspace's `rust-version` to the truth: every crate of the
workspace states it, and no locked dependency needs a newer Rust (each
dependency's own `rust-version`, as `cargo metadata` reports it). Cargo
then refuses an older toolchain with that version in its message, instead
of failing deep in a dependency's build. A vendored dependency (under
vendor/) is a member so that its tests run, but keeps its own
rust-version, and counts as a dependency here."""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True, capture_output=True, text=True,
    ).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    members = {
        m for m in meta["workspace_members"]
        if "/vendor/" not in packages[m]["manifest_path"]
    }
    stated = {packages[m]["rust_version"] for m in members}
    if len(stated) != 1 or None in stated:
        sys.exit(f"every workspace crate inherits one rust-version; got {sorted(map(str, stated))}")
    stated = stated.pop()
    needed = max(
        (version(packages[n["id"]]["rust_version"]), packages[n["id"]]["name"])
        for n in meta["resolve"]["nodes"]
        if packages[n["id"]].get("rust_version") and n["id"] not in members
    )
    need = ".".join(map(str, needed[0]))
    if version(stated) < needed[0]:
        sys.exit(f"rust-version says {stated}, but the locked dependencies need {need} ({needed[1]})")
    print(f"rust-version {stated}; the locked dependencies need {need} ({needed[1]})")


if __name__ == "__main__":
    main()
