#!/usr/bin/env python3
"""Every `vigil` command line the docs show still parses, and names files that exist.

Reads the ```sh / ```bash blocks of README.md, docs/*.md and examples/**/README.md,
takes each line that runs vigil (`vigil …`, `cargo run … -p vigil-cli -- …`,
`cargo run … -p my-strategy -- …`), and runs it with the release binary and
VIGIL_PARSE_ONLY=1, which makes the CLI stop right after parsing: a renamed
subcommand or flag fails here. Arguments that are input files (`.toml`, `.csv`)
must exist, relative to the repository root (outputs — after --json, --report,
--png, --csv, --out — files an earlier line of the same doc wrote there, the file
`vigil signals secret` writes, and
files under /tmp are not checked).

    scripts/docs-check.py [path/to/vigil]     # exit 1 naming each broken line
"""
import os
import pathlib
import re
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUTPUT_FLAGS = {"--json", "--report", "--png", "--csv", "--out"}
PREFIXES = [
    re.compile(r"^cargo run .*?-p vigil-cli -- "),
    re.compile(r"^cargo run .*?-p my-strategy -- "),
    re.compile(r"^(?:/usr/bin/time -v )?vigil "),
]


def blocks(text):
    """The lines of the shell blocks, continuations joined."""
    inside = False
    joined = ""
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.strip() in ("```sh", "```bash", "```console", "```shell")
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):
            joined += line.rstrip()[:-1] + " "
            continue
        yield joined + line
        joined = ""


def vigil_args(line):
    """The arguments after `vigil`, or None when the line does not run vigil."""
    line = re.sub(r"\s+#.*$", "", line.strip())
    line = line.lstrip("$ ").strip()
    # Leading environment assignments (KEY=… OTHER=…).
    while re.match(r"^[A-Z_][A-Z0-9_]*=\S*\s+", line):
        line = re.sub(r"^[A-Z_][A-Z0-9_]*=\S*\s+", "", line, count=1)
    for prefix in PREFIXES:
        m = prefix.match(line)
        if m:
            rest = line[m.end():]
            return [a for a in shlex.split(rest.split(";")[0].split("&&")[0])]
    return None


def placeholder(arg):
    return "…" in arg or arg.startswith("<") or "<" in arg


def check(binary, source, lineno, args, produced):
    """`produced`: outputs of earlier lines of the same doc (a directory after
    --out holds what a later line reads); this line's outputs are added to it."""
    problems = []
    if any(placeholder(a) for a in args):
        # A synopsis like `vigil backtest <config.toml>`: only the subcommand is checked.
        args = [a for a in args[:1] if not placeholder(a)] + ["--help"]
    env = dict(os.environ, VIGIL_PARSE_ONLY="1")
    run = subprocess.run([binary, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        first = (run.stderr.strip().splitlines() or ["(no message)"])[0]
        problems.append(f"does not parse: {first}")
    previous = ""
    if args[:2] == ["signals", "secret"]:
        # The secrets file is what the command writes.
        produced.extend(args[2:3])
    for a in args:
        if previous in OUTPUT_FLAGS:
            produced.append(a.rstrip("/") + "/")
            produced.append(a)
        elif a.endswith((".toml", ".csv")):
            path = pathlib.Path(os.path.expanduser(a))
            made_earlier = any(a == p or (p.endswith("/") and a.startswith(p)) for p in produced)
            if not str(path).startswith("/tmp") and not made_earlier and not (ROOT / path).exists():
                problems.append(f"names a file that does not exist: {a}")
        previous = a
    return [f"{source}:{lineno}: `vigil {' '.join(args)}` {p}" for p in problems]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/vigil")
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "examples").glob("**/README.md"))
    failures, checked = [], 0
    for f in files:
        text = f.read_text()
        lines = text.splitlines()
        produced = []
        for block_line in blocks(text):
            args = vigil_args(block_line)
            if args is None:
                continue
            first = block_line.split("\\")[0].strip()
            lineno = next((i + 1 for i, l in enumerate(lines) if l.strip().startswith(first[:40])), 0)
            checked += 1
            failures += check(binary, f.relative_to(ROOT), lineno, args, produced)
    for f in failures:
        print(f)
    if failures:
        print(f"FAIL: {len(failures)} of {checked} documented command lines are broken", file=sys.stderr)
        return 1
    print(f"docs-check: {checked} documented vigil command lines parse and name existing files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
