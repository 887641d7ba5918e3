"""How often XQuAD's gold answers end inside a word, by the span guard's own rule (xlgen.guards.span.word_ends):
the evidence behind `generate.guard_options.span_word_ends` (on by default). An answer counts as ending mid-word when
every place it occurs in its paragraph ends mid-word.

    python benchmarks/span_word_ends.py                    # XLGEN_DATA or ../shared/data; all XQuAD languages
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from xlgen.guards.span import word_ends  # noqa: E402
from xlgen.io import read_json  # noqa: E402


def count(path: Path) -> tuple[int, list[str]]:
    n, cut = 0, []
    for article in read_json(path)["data"]:
        for para in article["paragraphs"]:
            text = " ".join(para["context"].split())
            ends = word_ends(text)
            for qa in para["qas"]:
                answer = " ".join(qa["answers"][0]["text"].split())
                n += 1
                found, p = [], text.find(answer)
                while p >= 0:
                    found.append(p + len(answer))
                    p = text.find(answer, p + 1)
                if found and not any(ends[e] for e in found):
                    cut.append(answer)
    return n, cut


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("XLGEN_DATA", str(REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    files = sorted(Path(args.data, "xquad").glob("xquad.*.json"))
    if not files:
        sys.exit(f"no XQuAD files under {Path(args.data, 'xquad')}")
    print("| language | answers | end mid-word | share | examples |\n|---|---|---|---|---|")
    for f in files:
        n, cut = count(f)
        examples = "; ".join(repr(a) for a in cut[:2])
        print(f"| {f.name.split('.')[1]} | {n} | {len(cut)} | {100 * len(cut) / n:.2f}% | {examples} |")


if __name__ == "__main__":
    main()
