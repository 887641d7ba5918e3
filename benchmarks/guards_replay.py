"""Diagnostic for the LID reranker: records every candidate (text, mean log-probability, lid.176 target probability) of
span+rerank with K candidates for each question, then replays the reranker's choice offline for fewer candidates and
other weights. The rows of K candidates begin with the K-1, K-2, ... best first tokens, and each row decodes greedily
on its own, so the first k rows are what K = k would have produced: one generation pass answers every (k, w).

    python benchmarks/guards.py ...                                   # trains runs/guards/lr1e-05 if missing
    python benchmarks/guards_replay.py runs/guards/lr1e-05 --lang de --n 48 --out /tmp/de.json

Questions one at a time (so each record belongs to its question); not timed, and not used to choose any setting
(docs/guards-candidates.md says what it was used for).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from guards import guard_config, sample_questions  # noqa: E402


def record(run_dir: str, lang: str, n: int, k: int, seed: int = 0) -> list[dict]:
    from xlgen.backbones import load_backbone
    from xlgen.cli import _model_config_for
    from xlgen.config import TaskConfig
    from xlgen.evaluate import generate
    from xlgen.guards import rerank
    from xlgen.metrics.langid import target_language_probability
    from xlgen.tasks import get_task

    seen: list[dict] = []
    original = rerank.RerankGuard.choose

    def choose(self, texts, mean_logp):
        seen.append({"texts": texts, "logp": mean_logp, "p": target_language_probability(texts, self.ctx.target_lang)})
        return original(self, texts, mean_logp)

    rerank.RerankGuard.choose = choose
    cfg = _model_config_for(run_dir)
    cfg.task.xquad_filter = True
    task, backbone = get_task(cfg.task), load_backbone(cfg.model, "cpu")
    gen = guard_config(cfg.generate, "span+rerank", {"rerank_candidates": k})
    rows = []
    for ex in sample_questions(get_task(TaskConfig(name="qa", xquad_filter=True)), lang, n, seed):
        seen.clear()
        generate(backbone, backbone.model, [ex], task, lang, gen, progress=False)
        rows.append({"id": ex.id, "gold": ex.references, **seen[0]})
    return rows


def replay(rows: list[dict], lang: str, ks, weights) -> list[dict]:
    from xlgen.config import TaskConfig
    from xlgen.guards.rerank import best_candidate
    from xlgen.tasks import get_task

    task = get_task(TaskConfig(name="qa", xquad_filter=True))

    def pick(r, k, w):
        return best_candidate(r["logp"][:k], r["p"][:k], w)

    out = []
    for k in ks:
        for w in ((0.0,) if k == 1 else weights):
            preds = [r["texts"][pick(r, k, w)] for r in rows]
            row, scores = task.score_examples(preds, [r["gold"] for r in rows], lang)
            out.append({"k": k, "w": w, "f1": float(np.mean([s[row["profile"]]["f1"] for s in scores])),
                        "lcr": 100.0 * float(np.mean([s["lang_correct"] > 0 for s in scores]))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--lang", default="de")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--k", type=int, default=5, help="candidates recorded (the replay covers 1..k)")
    ap.add_argument("--weights", default="1,2,4,8")
    ap.add_argument("--out", default=None, help="also save the recorded candidates (JSON)")
    args = ap.parse_args()
    rows = record(args.run_dir, args.lang, args.n, args.k)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    ks = sorted({1, 3, args.k} | ({args.k - 1} if args.k > 3 else set()))
    for r in replay(rows, args.lang, ks, [float(w) for w in args.weights.split(",")]):
        print(f"K={r['k']} w={r['w']:g}: F1 {r['f1']:.1f} LCR {r['lcr']:.0f}%")


if __name__ == "__main__":
    main()
