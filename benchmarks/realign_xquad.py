"""Answer realignment measured on real translations: XQuAD English -> other languages through the parallel-corpus
translator (XQuAD's own human translations), compared with XQuAD's own answer spans in those languages.

    python benchmarks/realign_xquad.py [--langs de,zh,ar,...] [--out benchmarks/results/realign_xquad.json]

The English paragraphs are split into sentences and each sentence is looked up (paragraph pairs aligned 1:1 where
both sides have as many sentences with plausible lengths), else the whole paragraph is; questions and answers are
looked up as they are. So every translation is a human one and the measurement isolates what xlgen adds: splitting,
lookup, putting paragraphs back together, and placing the answer. A lookup answers for a text, not for a question:
an English answer translated differently in two questions gets the first translation in both ("conflicts").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    from xlgen.config import data_dir
    from xlgen.io import read_json
    from xlgen.translate import make_translator
    from xlgen.translate.dataset import translate_dataset
    from xlgen.translate.qa_align import reference_agreement

    ap = argparse.ArgumentParser()
    ap.add_argument("--langs", default="de,es,ru,zh,ar,hi,th,vi,el,ro,tr")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    xquad = data_dir() / "xquad"
    tr = make_translator("parallel:xquad")
    import tempfile

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in args.langs.split(","):
            report = translate_dataset(xquad / "xquad.en.json", src="en", tgts=[lang], translator=tr, out=tmp, progress=False)
            s = report["languages"][lang]
            agree = reference_agreement(read_json(s["output"]), read_json(xquad / f"xquad.{lang}.json"))
            corpus = report["corpus"][f"en-{lang}"]
            rows[lang] = {"questions": s["records"], "kept": s["kept"], "alignment": s["alignment"], "dropped": s["dropped"],
                          "paragraphs_sentence_aligned": corpus["paragraphs_sentence_aligned"], "paragraphs": corpus["paragraphs"],
                          "lookup_conflicts": corpus["conflicts"], **agree}
    print(f"{'lang':<5}{'kept %':>8}{'exact':>7}{'src':>5}{'fuzzy':>7}{'same text %':>13}{'same span %':>13}{'sent-aligned paras':>20}{'conflicts':>11}")
    for lang, r in rows.items():
        a = r["alignment"]
        print(f"{lang:<5}{100 * r['kept'] / r['questions']:>8.1f}{a.get('exact', 0):>7}{a.get('exact-source', 0):>5}{a.get('fuzzy', 0):>7}"
              f"{100 * r['same_text'] / r['aligned']:>13.1f}{100 * r['same_span'] / r['aligned']:>13.1f}"
              f"{r['paragraphs_sentence_aligned']:>14}/{r['paragraphs']:<5}{r['lookup_conflicts']:>11}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
