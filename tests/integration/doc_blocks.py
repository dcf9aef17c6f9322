#!/usr/bin/env python3
"""The shell blocks of a Markdown guide and what the guide says to do
with each, so that a test can run them (tests/integration/docs.sh).

A block is a fence opened with ```sh. The last non-blank line before it
must be one marker comment:

    <!-- test -->                  run it; it must exit 0
    <!-- test: exit 0,1 WHY -->    run it; any of these statuses is fine
    <!-- test: skip WHY -->        do not run it; WHY is printed
    <!-- test: pair primary -->    run it on the replicated pair's
    <!-- test: pair standby -->    primary (or standby), in
                                   tests/integration/docs-pair.sh

A ```sh block without a marker is an error: every command in the guide
is either run or says why it cannot be. A block of another kind after
<!-- config: NAME --> is a config snippet a test takes by that name.

    doc_blocks.py --lint FILE        exit 1 (one line each) on unmarked
                                     or malformed blocks
    doc_blocks.py --extract FILE DIR write DIR/NN.sh per block and
                                     DIR/blocks.tsv: NN LINE MODE STATUSES WHY
                                     (MODE: run, skip, pair:primary,
                                     pair:standby)
    doc_blocks.py --config FILE NAME print the snippet NAME
"""
import re
import sys

MARK = re.compile(r"^<!--\s*test(?::\s*(.*?))?\s*-->$")


def blocks(path):
    """(line of the fence, mode, statuses, why, text) per ```sh block;
    mode is run, skip, or an error message."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            # Skip other fenced blocks whole: a ```sh inside one is text.
            if lines[i].startswith("```"):
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    i += 1
            i += 1
            continue
        start = i + 1  # 1-based line of the fence
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        body = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            out.append((start, "error: block never closed", "", "", ""))
            break
        i += 1
        m = MARK.match(lines[j].strip()) if j >= 0 else None
        text = "\n".join(body) + "\n"
        if not m:
            out.append((start, "error: no <!-- test ... --> marker before the block", "", "", text))
            continue
        arg = (m.group(1) or "").strip()
        if not arg:
            out.append((start, "run", "0", "", text))
        elif arg.startswith("skip"):
            why = arg[4:].strip()
            out.append((start, "skip" if why else "error: skip without a reason", "", why, text))
        elif arg.startswith("pair"):
            role = arg[4:].strip()
            ok = role in ("primary", "standby")
            out.append((start, f"pair:{role}" if ok else "error: want 'pair primary' or 'pair standby'", "0", "", text))
        elif arg.startswith("exit"):
            mm = re.match(r"exit\s+([0-9]+(?:,[0-9]+)*)\s*(.*)$", arg)
            if mm:
                out.append((start, "run", mm.group(1), mm.group(2), text))
            else:
                out.append((start, "error: want 'exit N[,M] WHY'", "", "", text))
        else:
            out.append((start, f"error: unknown marker '{arg}'", "", "", text))
    return out


CONFIG = re.compile(r"^<!--\s*config:\s*(\S+)\s*-->$")


def config(path, name):
    """The body of the fenced block after <!-- config: NAME -->, or None."""
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        m = CONFIG.match(line.strip())
        if not m or m.group(1) != name:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == len(lines) or not lines[j].startswith("```"):
            return None
        body = []
        j += 1
        while j < len(lines) and not lines[j].startswith("```"):
            body.append(lines[j])
            j += 1
        return "\n".join(body) + "\n"
    return None


def main(argv):
    if len(argv) >= 3 and argv[1] == "--lint":
        bad = 0
        for line, mode, _, _, _ in blocks(argv[2]):
            if mode.startswith("error"):
                print(f"{argv[2]}:{line}: {mode}")
                bad = 1
        return bad
    if len(argv) == 4 and argv[1] == "--extract":
        with open(f"{argv[3]}/blocks.tsv", "w") as tsv:
            for n, (line, mode, st, why, text) in enumerate(blocks(argv[2])):
                with open(f"{argv[3]}/{n:02d}.sh", "w") as f:
                    f.write(text)
                tsv.write(f"{n:02d}\t{line}\t{mode}\t{st or '-'}\t{why or '-'}\n")
        return 0
    if len(argv) == 4 and argv[1] == "--config":
        text = config(argv[2], argv[3])
        if text is None:
            print(f"{argv[2]}: no block after <!-- config: {argv[3]} -->", file=sys.stderr)
            return 1
        sys.stdout.write(text)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
