"""Language identification and scoring throughput over whole evaluation sets.

    python benchmarks/bench_scoring.py --reps 5

XQuAD (1190 questions, the gold answers of another language as predictions, so LID and F1 see real text) for SQuAD
F1/EM and fastText language ID, and 1000 XSum documents (lead sentence as the "prediction") for multilingual ROUGE,
in English and, through the parallel FLORES sentences, in Chinese and Russian.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_dir, machine, summary, timer, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from xlgen.metrics import detect_languages, rouge_scores, squad_scores
    from xlgen.tasks.qa import read_squad_file

    d = data_dir()
    de = read_squad_file(d / "xquad" / "xquad.de.json", "de")
    en = read_squad_file(d / "xquad" / "xquad.en.json", "en")
    preds = [e.references[0] for e in en]  # English answers scored against German references: realistic mismatches
    refs = [e.references for e in de]
    xsum = [json.loads(line) for line in open(d / "xsum_test_1000" / "xsum_test.jsonl")]
    docs = [r["document"].split("\n")[0] for r in xsum]
    sums = [r["summary"] for r in xsum]
    with open(d / "flores200_via_sib200" / "flores200_sib_parallel_13lang.tsv", encoding="utf-8") as fh:
        flores = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[:1000]
    cases = {
        "langid_xquad_1190": (len(preds), lambda: detect_languages(preds)),
        "squad_f1_xquad_1190": (len(preds), lambda: squad_scores(preds, refs, "de")),
        "rouge_en_xsum_1000": (len(docs), lambda: rouge_scores(docs, sums, "en")),
        "rouge_zh_flores_1000": (len(flores), lambda: rouge_scores([r["zh"] for r in flores], [r["zh"][::-1] for r in flores], "zh")),
        "rouge_ru_flores_1000": (len(flores), lambda: rouge_scores([r["ru"] for r in flores], [" ".join(r["ru"].split()[::-1]) for r in flores], "ru")),
    }
    times = {k: [] for k in cases}
    for rep in range(args.reps + 1):
        for k, (_, fn) in cases.items():
            with timer() as t:
                fn()
            if rep:
                times[k].append(t["seconds"])
    out = {"benchmark": "scoring", "machine": machine(), "items_per_s": {k: summary([cases[k][0] / s for s in v]) for k, v in times.items()}, "seconds": {k: summary(v) for k, v in times.items()}}
    path = write_result("scoring", out)
    for k, v in out["items_per_s"].items():
        print(f"{k}: {v['median']:.0f} items/s")
    print(path)


if __name__ == "__main__":
    main()
