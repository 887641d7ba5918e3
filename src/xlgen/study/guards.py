"""Language guards in a study: `guards: [span, script+prior]` in the study file.

After the protocol has chosen its settings, each finished run of a chosen setting (every seed) is evaluated again on
its test languages with each guard setting, and once without guards in the same process so that generation times
compare. Results stay in the run directory, `guarded/<setting>/results.json` (written atomically; a rerun of the
study skips those present), and the report shows guarded beside unguarded numbers. The evaluation runs in the study's
own process, one run after another, whatever the executor.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from xlgen.io import atomic_write_json, read_json

UNGUARDED = "none"


def guarded_dir(run_dir: Path, label: str) -> Path:
    return Path(run_dir) / "guarded" / label


def evaluate_run_guards(run_dir: Path, settings: list[str], progress: bool = True) -> None:
    """Evaluate one finished run with each guard setting (and unguarded) on its test languages, if not done yet."""
    from xlgen.backbones import load_backbone
    from xlgen.config import load_config, to_dict
    from xlgen.data import load_run_data
    from xlgen.evaluate import generate, score
    from xlgen.guards import guard_label, guard_names
    from xlgen.runtime import resolve_device, resolve_precision
    from xlgen.tasks import get_task

    labels = list(dict.fromkeys([UNGUARDED, *(guard_label(s) for s in settings)]))
    todo = [label for label in labels if not (guarded_dir(run_dir, label) / "results.json").is_file()]
    if not todo:
        return
    cfg = load_config(Path(run_dir) / "config.yaml")
    cfg.model.name, cfg.model.init_from = str(Path(run_dir) / "model"), None
    cfg.data.train, cfg.data.dev = [], None
    device = resolve_device(cfg.train.device)
    precision = resolve_precision(cfg.train.precision, device)
    task = get_task(cfg.task)
    backbone = load_backbone(cfg.model, device)
    data = load_run_data(cfg, task, backbone, need_train=False)
    for label in todo:
        gen = copy.deepcopy(cfg.generate)
        gen.guard = guard_names(label)
        results, times = {}, {}
        for lang, examples in data.test.items():
            t0 = time.perf_counter()
            gens = generate(backbone, backbone.model, examples, task, lang, gen, device=device, precision=precision,
                            desc=f"guard {label} {lang}", progress=progress)
            times[lang] = time.perf_counter() - t0
            results[lang] = score(task, examples, gens, lang)[0]
        atomic_write_json(guarded_dir(run_dir, label) / "results.json",
                          {"guard": label, "options": to_dict(gen.guard_options), "test": results, "time_s": times})


def evaluate_selected(study, selected: dict, progress: bool = True) -> None:
    """Every finished seed run of every chosen setting, with the study's guard settings."""
    from xlgen.study.executors import finished
    from xlgen.study.protocol import RunKey

    for (model, task, method), s in selected.items():
        if not s or s.get("lr") is None:
            continue
        for seed in s["seeds"]:
            run_dir = Path(study.key_job(RunKey(model, task, method, s["lr"], s["it"], seed)).run_dir)
            if finished(run_dir):
                evaluate_run_guards(run_dir, list(study.cfg.guards), progress)


# ---- report -------------------------------------------------------------------------------------------------------


def section(doc, ctx) -> None:
    """Report section: per chosen setting, each guard setting's target average, language-correct rates and speed."""
    from xlgen.guards import guard_label
    from xlgen.study.collect import done_run
    from xlgen.study.protocol import RunKey
    from xlgen.study.tables import lr_text, mean_std, num, target_avg, target_langs

    settings = list(dict.fromkeys([UNGUARDED, *(guard_label(s) for s in ctx.study.get("guards") or [])]))
    if len(settings) == 1:
        return
    doc.heading(2, "Language guards at the chosen settings")
    doc.para("Each chosen setting's runs evaluated again on the test languages with decoding-time language guards (xlgen.guards), "
             "in one process with the unguarded evaluation; mean over seeds. speed: generation time relative to unguarded. "
             "LCR: language-correct rate (%), average and minimum over non-source languages.")
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            rows, per_lang = [], []
            for sel in ctx.selection:
                s = sel["selected"]
                if (sel["model"], sel["task"]) != (model, task) or not s or s["lr"] is None:
                    continue
                runs = [r for seed in s["seeds"] if (r := done_run(ctx.index, "protocol", RunKey(model, task, sel["method"], s["lr"], s["it"], seed)))]
                found = {label: [read_json(p) for r in runs if (p := guarded_dir(r.dir, label) / "results.json").is_file()] for label in settings}
                base = found[UNGUARDED]
                for label in settings:
                    res = found[label]
                    if not res:
                        continue
                    tests = [x["test"] for x in res]
                    avg = mean_std([target_avg(t, metric, ctx.sources) for t in tests])[0] if metric else None
                    lcr = mean_std([target_avg(t, "lang_correct", ctx.sources) for t in tests])[0]
                    low = mean_std([min((t[lang]["lang_correct"] for lang in target_langs(t, ctx.sources)), default=None) for t in tests])[0]
                    speed = (sum(sum(x["time_s"].values()) for x in res) / sum(sum(x["time_s"].values()) for x in base)) if base else None
                    rows.append([sel["method"], lr_text(s["lr"]), label, str(len(res)), num(avg), num(lcr), num(low),
                                 "n/a" if speed is None else f"{speed:.2f}x"])
                    per_lang.append([sel["method"], label, *[num(mean_std([t.get(lang, {}).get(metric) for t in tests])[0]) + " / "
                                                            + num(mean_std([t.get(lang, {}).get("lang_correct") for t in tests])[0], 0) for lang in ctx.langs]])
            if rows:
                m = metric or "metric"
                doc.heading(3, f"{model} / {task}")
                doc.table(["method", "LR", "guard", "seeds", f"{m} avg", "LCR avg", "LCR min", "speed"], rows)
                doc.para(f"Per language: {m} / LCR.")
                doc.table(["method", "guard", *ctx.langs], per_lang)
