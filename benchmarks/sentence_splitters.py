"""Compare sentence splitters on real parallel text in every script xlgen's studies use.

    python benchmarks/sentence_splitters.py [--group 5] [--out benchmarks/results/sentence_splitters.json]

Gold boundaries come from parallel corpora whose items are single sentences (UD PUD) or one to three sentences
(FLORES-200): consecutive items are joined into paragraphs (without a space for Chinese and Japanese, with one
elsewhere, as the scripts are written) and each splitter is asked to find the joins again.

* recall: share of the joins a splitter recovers (a missed join leaves two sentences in one translation unit);
* extra: splits inside an item, per item (some are right: FLORES items can hold two sentences; most are wrong for PUD);
* lossless: share of paragraphs whose segments concatenate back to the input exactly (so spans can be mapped back).

Splitters that are not installed are skipped; xlgen depends only on the one it uses (see DEVELOPERS.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

NO_SPACE = {"zh", "ja"}


def load_items(data: Path) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    with open(data / "flores200_via_sib200" / "flores200_sib_parallel_13lang.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    langs = [c for c in rows[0] if len(c) == 2]
    out["flores"] = {lang: [r[lang].strip() for r in rows] for lang in langs}
    with open(data / "ud_pud_parallel" / "pud_parallel_11lang.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    langs = [c for c in rows[0] if c != "sent_id"]
    out["pud"] = {lang: [r[lang].strip() for r in rows] for lang in langs}
    return out


def splitters() -> dict:
    found = {}
    try:
        import sentencex

        found["sentencex"] = lambda text, lang: list(sentencex.segment(lang, text))
    except ImportError:
        pass
    try:
        import pysbd

        def _pysbd(text, lang):
            try:
                seg = pysbd.Segmenter(language=lang, clean=False)
            except ValueError:
                seg = pysbd.Segmenter(language="en", clean=False)
            return seg.segment(text)

        found["pysbd"] = _pysbd
    except ImportError:
        pass
    try:
        import blingfire

        found["blingfire"] = lambda text, lang: blingfire.text_to_sentences(text).split("\n")
    except ImportError:
        pass
    try:
        from sentence_splitter import split_text_into_sentences

        def _moses(text, lang):
            try:
                return split_text_into_sentences(text, language=lang)
            except Exception:
                return split_text_into_sentences(text, language="en")

        found["sentence-splitter"] = _moses
    except ImportError:
        pass
    try:
        from xlgen.translate.splitter import split_sentences

        found["xlgen"] = lambda text, lang: split_sentences(text, lang)
    except ImportError:
        pass
    return found


def boundaries(segments: list[str], text: str) -> set[int]:
    """End offsets (after stripping whitespace) of segments located in `text`, in order."""
    out, pos = set(), 0
    for seg in segments:
        s = seg.strip()
        if not s:
            continue
        i = text.find(s, pos)
        if i < 0:
            continue
        pos = i + len(s)
        out.add(pos)
    return out


def evaluate(split, items: list[str], lang: str, group: int) -> dict:
    joiner = "" if lang in NO_SPACE else " "
    found = total = extra = lossless = paragraphs = n_items = 0
    for start in range(0, len(items) - group + 1, group):
        chunk = items[start : start + group]
        text = joiner.join(chunk)
        gold, pos = set(), 0
        for it in chunk[:-1]:
            pos += len(it)
            gold.add(pos)
            pos += len(joiner)
        segs = split(text, lang)
        pred = boundaries(segs, text) - {len(text)}
        found += len(gold & pred)
        total += len(gold)
        extra += len(pred - gold)
        n_items += len(chunk)
        paragraphs += 1
        lossless += "".join(segs) == text
    return {"recall": found / total, "extra_per_item": extra / n_items, "lossless": lossless / paragraphs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    ap.add_argument("--group", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from xlgen.config import data_dir

    data = Path(args.data) if args.data else data_dir()
    corpora = load_items(data)
    results: dict = {}
    for name, split in splitters().items():
        t0 = time.perf_counter()
        for corpus, by_lang in corpora.items():
            for lang, items in by_lang.items():
                results.setdefault(name, {}).setdefault(corpus, {})[lang] = evaluate(split, items, lang, args.group)
        results[name]["seconds"] = round(time.perf_counter() - t0, 2)
    langs = sorted({lang for by in corpora.values() for lang in by})
    for corpus in corpora:
        print(f"\n{corpus}: boundary recall % / extra splits per 100 items")
        print("splitter".ljust(18) + "".join(lang.rjust(9) for lang in sorted(corpora[corpus])))
        for name, res in results.items():
            cells = [f"{100 * res[corpus][lang]['recall']:.0f}/{100 * res[corpus][lang]['extra_per_item']:.0f}" for lang in sorted(corpora[corpus])]
            print(name.ljust(18) + "".join(c.rjust(9) for c in cells))
    print("\nlossless (segments concatenate to the input), min over languages:")
    for name, res in results.items():
        print(f"  {name}: {min(v['lossless'] for c in corpora for v in res[c].values()):.2f}  ({res['seconds']} s)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"group": args.group, "languages": langs, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
