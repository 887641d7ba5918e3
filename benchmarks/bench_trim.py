"""Vocabulary trimming of the embedded Gemma-3-270M: size, training and generation speed before and after, and the
check that greedy outputs on covered text are identical.

    python benchmarks/bench_trim.py --reps 3

The model is trimmed to the tokens of the English QA training data and of XQuAD in the evaluation languages (what
`xlgen trim-vocab embedded --corpora ... --out DIR` does), then both models train one epoch on the same examples and
generate for the same XQuAD questions, alternating.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import examples, xlgen_epoch  # noqa: E402
from common import data_dir, device_name, machine, summary, timer, write_result  # noqa: E402

LANGS = ["en", "de", "es", "ru", "zh", "ar", "hi", "th", "vi"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--examples", type=int, default=24)
    ap.add_argument("--questions", type=int, default=24)
    args = ap.parse_args()
    import torch

    from xlgen.backbones import load_backbone
    from xlgen.config import DatasetSpec, GenerateConfig, ModelConfig, TaskConfig
    from xlgen.embedded import ensure_prepared
    from xlgen.evaluate import generate
    from xlgen.tasks import get_task
    from xlgen.trim_vocab import trim_vocab

    d = data_dir()
    corpora = [str(d / "squad_v1.1_dev_reconstructed" / "squad_v1.1_dev_minus_xquad.json")] + [str(d / "xquad" / f"xquad.{lang}.json") for lang in LANGS]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        from xlgen.languages import language_name

        # The prompt template is text the model reads too: its words must survive trimming.
        prompts = [f"\nAnswer in {language_name(lang)}:" for lang in LANGS]
        with timer() as t:
            report = trim_vocab(str(ensure_prepared()), corpora, str(Path(tmp) / "trimmed"), keep_tokens=prompts)
        models = {"full vocabulary": "embedded", "trimmed": str(Path(tmp) / "trimmed")}
        task, train_exs = examples(args.examples)
        qa = get_task(TaskConfig(name="qa"))
        test = qa.load(DatasetSpec(path=str(d / "xquad" / "xquad.{lang}.json"), max_examples=args.questions), "de")
        gen = GenerateConfig(max_new_tokens=16)
        backbones = {k: load_backbone(ModelConfig(name=v, max_input_length=384), device) for k, v in models.items()}
        states = {k: {n: p.detach().clone() for n, p in b.model.state_dict().items()} for k, b in backbones.items()}
        train_t = {k: [] for k in models}
        gen_t = {k: [] for k in models}
        outputs = {}
        for rep in range(args.reps + 1):
            for k, b in backbones.items():
                b.model.load_state_dict(states[k])
                gc.collect()
                with timer() as tt:
                    xlgen_epoch(b, b.model, b.encode(train_exs, task), 1500, device, "fp32")
                b.model.load_state_dict(states[k])
                with timer() as tg:
                    outputs[k] = [g.raw for g in generate(b, b.model, test, qa, "de", gen, device=device, progress=False)]
                if rep:
                    train_t[k].append(tt["seconds"])
                    gen_t[k].append(tg["seconds"])
                print(f"rep {rep} {k}: train {tt['seconds']:.1f}s generate {tg['seconds']:.1f}s", flush=True)
    same = sum(a == b for a, b in zip(outputs["full vocabulary"], outputs["trimmed"]))
    identical = same == len(test)
    tr = summary([a / b for a, b in zip(train_t["full vocabulary"], train_t["trimmed"])])["median"]
    gr = summary([a / b for a, b in zip(gen_t["full vocabulary"], gen_t["trimmed"])])["median"]
    md = "\n".join([
        f"{device_name()}; trimmed to the tokens of the English QA training set and XQuAD in {', '.join(LANGS)} (trim took {t['seconds']:.0f}s).", "",
        "| | full vocabulary | trimmed | ratio |", "|---|---|---|---|",
        f"| vocabulary | {report['vocab_size_before']:,} | {report['vocab_size_after']:,} | {report['vocab_size_before'] / report['vocab_size_after']:.1f}× smaller |",
        f"| parameters | {report['parameters_before'] / 1e6:.1f}M | {report['parameters_after'] / 1e6:.1f}M | {report['parameters_before'] / report['parameters_after']:.2f}× smaller |",
        f"| weights file | {report['file_bytes_before'] / 2**20:.0f} MiB | {report['file_bytes_after'] / 2**20:.0f} MiB | |",
        f"| training epoch ({args.examples} examples), s | {summary(train_t['full vocabulary'])['median']:.1f} | {summary(train_t['trimmed'])['median']:.1f} | **{tr:.2f}×** faster |",
        f"| XQuAD-de generation ({args.questions} questions), s | {summary(gen_t['full vocabulary'])['median']:.1f} | {summary(gen_t['trimmed'])['median']:.1f} | **{gr:.2f}×** faster |",
        "", f"Greedy outputs identical to the untrimmed model's: **{same} of {len(test)}**. (The untrained base model",
        "continues a prompt with free text; where it picks a token no corpus uses, the trimmed model cannot. Extractive",
        "answers of a finetuned model are spans of the paragraph, covered by construction; the tests check identity there.)",
    ])
    write_result("trim_embedded", {"benchmark": "trim", "device": device_name(), "machine": machine(), "report": report, "train_seconds": {k: summary(v) for k, v in train_t.items()},
                                   "generate_seconds": {k: summary(v) for k, v in gen_t.items()}, "identical": identical, "markdown": md,
                                   "summary": {"vocab_after": report["vocab_size_after"], "train_speedup": tr, "generate_speedup": gr, "identical": identical, "identical_outputs": same, "outputs": len(test), "device": device_name()}})
    print(md)


if __name__ == "__main__":
    main()
