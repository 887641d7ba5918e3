"""How often XQuAD's gold answers end or begin inside a word, by the span guard's own rules (xlgen.guards.span:
word_ends, word_starts): the evidence behind `generate.guard_options.span_whole_words` (on by default). An answer
counts as cut when every place it occurs in its paragraph ends (begins) inside a word; "begin" uses the plain word
boundary, before the guard's allowance for Arabic/Hebrew joined prefixes, so the table shows what that allowance is for.

    python benchmarks/span_word_ends.py                    # XLGEN_DATA or ../shared/data; all XQuAD languages
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from xlgen.guards.span import word_ends  # noqa: E402  (word_starts = word_ends + the Arabic/Hebrew allowance)
from xlgen.io import read_json  # noqa: E402


def count(path: Path) -> tuple[int, list[str], list[str]]:
    n, cut, cut_start = 0, [], []
    for article in read_json(path)["data"]:
        for para in article["paragraphs"]:
            text = " ".join(para["context"].split())
            ends = word_ends(text)
            for qa in para["qas"]:
                answer = " ".join(qa["answers"][0]["text"].split())
                n += 1
                found, p = [], text.find(answer)
                while p >= 0:
                    found.append(p)
                    p = text.find(answer, p + 1)
                if found and not any(ends[p + len(answer)] for p in found):
                    cut.append(answer)
                if found and not any(ends[p] for p in found):
                    cut_start.append(answer)
    return n, cut, cut_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("XLGEN_DATA", str(REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    files = sorted(Path(args.data, "xquad").glob("xquad.*.json"))
    if not files:
        sys.exit(f"no XQuAD files under {Path(args.data, 'xquad')}")
    print("| language | answers | end mid-word | begin mid-word | examples (end; begin) |\n|---|---|---|---|---|")
    for f in files:
        n, cut, cut_start = count(f)
        examples = "; ".join([repr(a) for a in cut[:1]] + [repr(a) for a in cut_start[:1]])
        print(f"| {f.name.split('.')[1]} | {n} | {len(cut)} ({100 * len(cut) / n:.2f}%) | {len(cut_start)} ({100 * len(cut_start) / n:.2f}%) | {examples} |")


if __name__ == "__main__":
    main()
