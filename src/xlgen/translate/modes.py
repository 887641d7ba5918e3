"""Evaluation modes of a trained run that go through translation (the paper's data-translation baselines):

* `translate-test`: each target-language input is translated into the source language, the model answers in the
  source language, and its output is translated back into the target language (section 2 of the paper);
* `translated-outputs`: the model answers the target-language input as usual and its output is translated from the
  source language into the target language (appendix D, Table 3: the best-English-LR model with outputs translated;
  a translation model copies text that is already in the target language).

Both are scored exactly like a direct evaluation (task metric on the target-language references, language-correct
rate, length). For extractive QA, `project_answers` puts a translated answer back onto a span of the original
paragraph where `qa_align` can; it is off by default, as in the paper. A unit the translator cannot translate (a
parallel-corpus miss, an empty model output) is passed on untranslated and counted in `translation_failures`.
"""

from __future__ import annotations

import dataclasses

from xlgen.errors import XlgenError
from xlgen.evaluate import Generation, generate, prediction_rows, score
from xlgen.translate.base import Translator
from xlgen.translate.cache import TranslationCache
from xlgen.translate.dataset import LanguageSummary, UnitTranslator

MODES = ("direct", "translate-test", "translated-outputs")


def _translate_all(translator: Translator, cache: TranslationCache, texts: list[str], src: str, tgt: str, progress: bool) -> tuple[list[str], int]:
    """Translations of `texts` (sentence by sentence, cached); a text that cannot be translated stays as it is."""
    ut = UnitTranslator(translator, cache, src, tgt, progress=progress)
    for t in texts:
        ut.plan(t)
    ut.run(LanguageSummary(tgt))
    out, failures = [], 0
    for t in texts:
        tr = ut.get(t).text
        failures += tr is None and bool(t.strip())
        out.append(t if tr is None else tr)
    return out, failures


def evaluate_with_translation(mode: str, backbone, model, examples, task, lang: str, gen, *, translator: Translator, source_lang: str,
                              cache: TranslationCache | None = None, project_answers: bool = False, device="cpu", precision="fp32",
                              progress: bool = True) -> tuple[dict, list[dict]]:
    """Metrics and prediction rows of one target language under `mode` (see the module docstring)."""
    if mode not in MODES[1:]:
        raise XlgenError(f"--mode: unknown evaluation mode {mode!r} (known: {', '.join(MODES)})")
    cache = cache if cache is not None else TranslationCache(None)
    same = lang == source_lang
    failures = 0
    if mode == "translate-test" and not same:
        translator.check_languages(lang, source_lang)
        inputs, f1 = _translate_all(translator, cache, [ex.input for ex in examples], lang, source_lang, progress)
        suffixes, f2 = _translate_all(translator, cache, [ex.suffix.strip() for ex in examples], lang, source_lang, progress)
        failures += f1 + f2
        model_inputs = [dataclasses.replace(ex, lang=source_lang, input=i, suffix=("\n" + s) if ex.suffix else "") for ex, i, s in zip(examples, inputs, suffixes)]
        gens = generate(backbone, model, model_inputs, task, source_lang, gen, device=device, precision=precision, desc=f"translate-test {lang}", progress=progress)
    else:
        model_inputs = examples
        gens = generate(backbone, model, examples, task, lang, gen, device=device, precision=precision, desc=f"{mode} {lang}", progress=progress)
    outputs = [g.prediction for g in gens]
    if not same:
        translator.check_languages(source_lang, lang)
        back, f3 = _translate_all(translator, cache, outputs, source_lang, lang, progress)
        failures += f3
    else:
        back = outputs
    projected = 0
    if project_answers and task.name == "qa":
        from xlgen.translate.qa_align import align_answer

        for i, (ex, b) in enumerate(zip(examples, back)):
            found = align_answer(ex.input, b, source_answer=outputs[i])
            if found is not None:
                back[i], projected = found.text, projected + 1
    final = [Generation(raw=g.raw, prediction=b) for g, b in zip(gens, back)]
    metrics, scores = score(task, examples, final, lang)
    metrics["translation_failures"] = failures
    if project_answers:
        metrics["projected"] = projected
    rows = prediction_rows(examples, final, scores)
    for row, mi, out in zip(rows, model_inputs, outputs):
        row["model_output"] = out
        if mode == "translate-test":
            row["model_input"] = mi.input + mi.suffix
    return metrics, rows


def evaluate_with_translation_split(ctx, mode: str, sets: dict, translator: Translator, cache: TranslationCache | None, source_lang: str, *,
                                    project_answers: bool = False) -> dict[str, dict]:
    """`evaluate.evaluate_split` under a translation mode: every language of a test split, predictions written to
    `ctx.run_dir/predictions/<lang>.jsonl` when there is a run directory."""
    from xlgen.io import atomic_write_jsonl

    results = {}
    for lang, examples in sets.items():
        metrics, rows = evaluate_with_translation(mode, ctx.backbone, ctx.model, examples, ctx.task, lang, ctx.cfg.generate, translator=translator,
                                                  source_lang=source_lang, cache=cache, project_answers=project_answers, device=ctx.device,
                                                  precision=ctx.precision, progress=ctx.progress)
        results[lang] = metrics
        if ctx.run_dir is not None:
            atomic_write_jsonl(ctx.run_dir / "predictions" / f"{lang}.jsonl", rows)
    return results
