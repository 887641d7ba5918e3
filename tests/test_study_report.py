"""`xlgen report` on synthetic study directories: the runs are written by driving LRProtocol with an oracle, exactly as
the study driver lays them out, so no training is needed."""

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from xlgen.study.protocol import LRProtocol, RunKey, canon_lr, fmt_lr
from xlgen.study.report import new_protocol, outcome_for, protocol_config_for, replay, replay_all_at_once, selection_summary, write_report

DEV = {"th": -3.0, "ro": 1.0, "vi": 2.0}  # language offsets; they average to 0 over the targets
TEST = {"en": 20.0, "de": 2.0, "ru": -2.0}
# (method, lr) -> (target F1, target LCR) without IT; IT adds IT_BONUS[method]. The FAILED run (no IT, any seed) fails.
POINTS = {
    "full": {1e-3: (30.0, 60.0), 3e-3: (20.0, 40.0), 1e-4: (50.0, 97.0), 3e-4: (52.0, 90.0), 1e-5: (35.0, 99.0)},
    "adapters": {1e-3: (40.0, 95.0), 1e-4: (30.0, 98.0), 1e-5: (20.0, 99.0), 1e-2: (38.0, 70.0)},
}
IT_BONUS = {"full": 5.0, "adapters": 3.0}
FAILED = ("adapters", 1e-2, False)


def study_json(root: Path, it: bool) -> dict:
    return {
        "name": "synthetic", "base": "/nowhere/base.yaml", "overrides": {}, "models": {"m": {}}, "tasks": {"qa": {}},
        "methods": {"full": {"adaptation.method": "full"}, "adapters": {"adaptation.method": "adapters"}},
        "intermediate": {"m": {"config": "/nowhere/it.yaml", "overrides": {}, "model": None}} if it else {},
        "seeds": [0, 1], "source_languages": ["en"], "validation_languages": list(DEV), "test_languages": list(TEST),
        "protocol": {}, "executor": {"kind": "local"}, "references": {"translate-train": {"lr": 1e-4, "overrides": {}}},
        "tracking": [], "output_dir": str(root),
    }


def per_lang(offsets: dict, f1: float, lcr: float, lr: float, step=None) -> dict:
    out = {}
    for lang, off in offsets.items():
        v = f1 + (off if lang != "en" else 20.0)
        out[lang] = {"f1": v, "exact_match": v - 10.0, "lang_correct": 100.0 if lang == "en" else lcr, "avg_length": 10.0 + 1e3 * lr, "n": 50}
        if step is not None:
            out[lang]["step"] = step
    return out


def results_for(method: str, lr: float, it: bool, seed: int, base: tuple[float, float]) -> dict:
    f1 = base[0] + (IT_BONUS.get(method, 0.0) if it else 0.0) + 1.5 * seed
    return {"primary_metric": "f1", "lr": lr, "steps": 100, "adaptation": method, "test": per_lang(TEST, f1, base[1], lr),
            "dev_last": per_lang(DEV, f1 - 1.0, base[1], lr, step=100), "trainable_params": 10, "total_params": 100,
            "trainable_share": 0.1, "artifact_bytes": 1000, "train_time_s": 1.0}


def write_run(root: Path, name: str, key: dict, results: dict | None, error: str | None = None) -> Path:
    d = root / "runs" / f"{name.replace('/', '_')}-{abs(hash(name)) % 10**10:010d}"
    d.mkdir(parents=True)
    (d / "study_key.json").write_text(json.dumps(key))
    if results is not None:
        (d / "results.json").write_text(json.dumps(results))
    if error is not None:
        (d / "failed.json").write_text(json.dumps({"error": error, "traceback": "..."}))
    return d


def make_study(root: Path, it: bool = True) -> tuple[LRProtocol, dict]:
    """Drive the protocol with the oracle like the runner does; returns it (the reference selection) and run dirs."""
    study = study_json(root, it)
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.json").write_text(json.dumps(study))
    cfg = protocol_config_for(study)
    proto = new_protocol(study, cfg)  # as the runner builds it: the methods' LR roles come from their classes
    dirs = {}
    while not proto.done():
        keys = proto.ask()
        outs = []
        for k in keys:
            base = POINTS[k.method][canon_lr(k.lr)]
            key = {**k.to_dict(), "kind": "protocol"}
            if base is None or (k.method, k.lr, k.it) == FAILED:
                dirs[k] = write_run(root, k.name, key, None, error="RuntimeError: loss is nan (diverged)")
                outs.append(outcome_for(k, None, cfg, ["en"], "RuntimeError: loss is nan (diverged)"))
            else:
                res = results_for(k.method, k.lr, k.it, k.seed, base)
                dirs[k] = write_run(root, k.name, key, res)
                outs.append(outcome_for(k, json.loads(json.dumps(res)), cfg, ["en"]))
        proto.tell(outs)
    ref = {"model": "m", "task": "qa", "method": "translate-train", "lr": 1e-4, "it": False, "seed": 0, "kind": "reference"}
    dirs["ref"] = write_run(root, "m/qa/translate-train/lr1e-4/s0", ref, results_for("translate-train", 1e-4, False, 0, (55.0, 99.0)))
    if it:
        write_run(root, "m/intermediate", {"model": "m", "kind": "intermediate"}, {"stage": "intermediate"})
    # A stale copy of a chosen-grid run from an older study config: much better numbers, older. Must be ignored.
    stale = write_run(root, "m/qa/full/lr1e-4/noit/s0-stale", {**RunKey("m", "qa", "full", 1e-4, False, 0).to_dict(), "kind": "protocol"},
                      results_for("full", 1e-4, False, 0, (99.0, 100.0)))
    os.utime(stale / "study_key.json", (1_000_000, 1_000_000))
    # selection.json must not be read: make it say something else.
    (root / "selection.json").write_text(json.dumps({"selected": [{"model": "m", "task": "qa", "method": "full", "lr": 0.5, "it": False}]}))
    return proto, dirs


def md_table(md: str, heading: str) -> list[dict]:
    """The first table after a heading line, as dicts keyed by the header."""
    lines = md.splitlines()
    i = lines.index(heading)
    while not lines[i].startswith("|"):
        i += 1
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split(" | ")]  # noqa: E731
    header = cells(lines[i])
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, cells(line))))
    return rows


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def num(x: float) -> str:
    return f"{x:.2f}"


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    proto, dirs = make_study(root)
    paths = write_report(root)
    return root, proto, dirs, paths, Path(paths["report_md"]).read_text(encoding="utf-8")


def test_files_exist_and_images_are_valid(complete):
    import matplotlib.image as mpimg

    root, _, _, paths, md = complete
    out = root / "report"
    names = {"results.csv", "report.md", "report.html", "fig1_m_qa_full.png", "fig1_m_qa_adapters.png", "fig2_m_qa.png"}
    assert names <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    assert all(Path(p).exists() for p in paths.values())
    pngs = sorted(out.glob("*.png"))
    for png in pngs:
        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(pngs) == 3
    assert page.count("<table>") == md.count("\n|---") and page.count("<table>") >= 8
    for title in ("Table 4 analogue", "Table 1 analogue", "Figure 2 analogue", "Figure 1 analogue", "Protocol decisions", "Failed runs"):
        assert title in page and title in md
    assert "<td>translate-train</td>" in page


def test_table4_is_the_protocol_selection(complete):
    root, proto, _, _, md = complete
    sel = proto.selected()
    rows = {r["method"]: r for r in md_table(md, "## Table 4 analogue: chosen learning rate and intermediate tuning")}
    assert set(rows) == {"full", "adapters"}
    for (_, _, method), s in sel.items():
        r = rows[method]
        assert (r["LR"], r["IT"], r["PLR"], r["status"]) == (fmt_lr(s["lr"]), "yes" if s["it"] else "no", fmt_lr(s["plr"]), "complete")
    assert "5e-1" not in md  # selection.json is not read
    # the expected choices of this oracle: full refines to 3e-4 and takes IT; adapters keeps 1e-3 (1e-2 failed)
    assert (sel[("m", "qa", "full")]["plr"], sel[("m", "qa", "full")]["lr"], sel[("m", "qa", "full")]["it"]) == (3e-4, 3e-4, True)
    assert (sel[("m", "qa", "adapters")]["lr"], sel[("m", "qa", "adapters")]["it"]) == (1e-3, True)
    summary = selection_summary(root)
    assert summary["complete"] and summary["waiting"] == []
    assert summary["selected"] == [{"model": m, "task": t, "method": me, **v} for (m, t, me), v in sel.items()]
    assert summary["decisions"] == proto.decisions()


def test_replay_in_ask_order_equals_all_at_once(complete):
    root, proto, _, _, _ = complete
    from xlgen.study.report import index_runs, load_study_json, outcomes_from_runs, scan_runs

    study = load_study_json(root)
    cfg = protocol_config_for(study)
    outcomes = outcomes_from_runs(index_runs(scan_runs(root)[0]), cfg, ["en"])
    p = new_protocol(study, cfg)
    assert replay(p, outcomes) == [] and p.done()
    once = replay_all_at_once(study, cfg, outcomes)
    assert once.done() and once.selected() == p.selected() == proto.selected()
    canon = lambda ds: sorted(json.dumps(d, sort_keys=True) for d in ds)  # noqa: E731
    assert canon(once.decisions()) == canon(p.decisions())
    assert p.decisions() == proto.decisions()  # ask order reproduces the live log, order included


def test_tables_match_results_csv(complete):
    root, proto, dirs, _, md = complete
    rows = read_csv(root / "report" / "results.csv")
    assert list(rows[0])[:10] == ["model", "task", "method", "kind", "lr", "it", "seed", "split", "lang", "status"]
    assert list(rows[0])[-5:] == ["n", "step", "run_dir", "superseded", "error"]
    assert {"f1", "exact_match", "lang_correct", "avg_length"} <= set(rows[0])
    # one row per run x split x language, failed runs one row
    done_runs = [d for d in dirs.values() if (d / "results.json").exists()]
    assert len([r for r in rows if r["superseded"] == "false"]) == len(done_runs) * 6 + 1
    assert [r["status"] for r in rows if r["superseded"] == "true"] == ["done"] * 6
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and "diverged" in failed[0]["error"] and failed[0]["lr"] == "0.01"

    live = [r for r in rows if r["superseded"] == "false" and r["status"] == "done" and r["split"] == "test"]

    def runs_of(method, lr, it, kind="protocol"):
        rs = [r for r in live if (r["method"], r["kind"], float(r["lr"]), r["it"]) == (method, kind, lr, "true" if it else "false")]
        return {seed: {r["lang"]: r for r in rs if r["seed"] == seed} for seed in {r["seed"] for r in rs}}

    def tavg(by_lang, col="f1"):
        vals = [float(r[col]) for lang, r in by_lang.items() if lang != "en"]
        return sum(vals) / len(vals)

    import statistics

    fig2 = {r["method"]: r for r in md_table(md, "### m / qa")}
    s = proto.selected()[("m", "qa", "full")]
    seeds = runs_of("full", s["lr"], s["it"])
    assert len(seeds) == 2
    per_seed = [tavg(v) for v in seeds.values()]
    assert fig2["full"]["f1 mean"] == num(statistics.fmean(per_seed))
    assert fig2["full"]["f1 std"] == num(statistics.stdev(per_seed))
    assert fig2["full"]["LCR mean"] == num(statistics.fmean(tavg(v, "lang_correct") for v in seeds.values()))
    ref = runs_of("translate-train", 1e-4, False, kind="reference")
    assert fig2["translate-train"]["kind"] == "reference" and fig2["translate-train"]["f1 std"] == "n/a"
    assert fig2["translate-train"]["f1 mean"] == num(tavg(ref["0"]))

    per_lang = {r["method"]: r for r in md_table(md, "### m / qa: f1")}
    a = proto.selected()[("m", "qa", "adapters")]
    aseeds = runs_of("adapters", a["lr"], a["it"])
    assert per_lang["adapters"]["de"] == num(statistics.fmean(float(v["de"]["f1"]) for v in aseeds.values()))
    assert per_lang["adapters"]["avg"] == fig2["adapters"]["f1 mean"]

    t1 = {r["method"]: r for r in md_table(md, "## Table 1 analogue: effect of intermediate tuning")}
    for method in ("full", "adapters"):
        r = t1[method]
        with_it = tavg(runs_of(method, float(r["LR IT"]), True)["0"])
        without = tavg(runs_of(method, float(r["LR no IT"]), False)["0"])
        assert r["IT"] == num(with_it) and r["no IT"] == num(without) and r["IT - no IT"] == f"{with_it - without:+.2f}"
    assert t1["full"]["IT - no IT"] == f"{IT_BONUS['full']:+.2f}"


def test_decisions_failed_runs_and_counts(complete):
    _, proto, _, _, md = complete
    assert md.count("\n- plr m / qa /") == 2
    assert "LR 1e-2, no IT, seed 0: failed (RuntimeError: loss is nan (diverged))\n" in md and "f1 51.00, LCR 90.00 [chosen]" in md
    failed = md_table(md, "## Failed runs")
    assert len(failed) == 1 and failed[0]["run"] == "m/qa/adapters/lr1e-2/noit/s0"
    counts = {r["kind"]: r for r in md_table(md, "## Run counts")}
    n_protocol = len(proto.results)
    assert counts["protocol"]["done"] == str(n_protocol - 1 + 1)  # minus the failed run, plus the stale duplicate
    assert counts["protocol"]["failed"] == "1" and counts["protocol"]["superseded"] == "1"
    assert counts["reference"]["done"] == "1" and counts["intermediate"]["done"] == "1"


def test_missing_runs_mark_the_selection_incomplete(tmp_path):
    proto, dirs = make_study(tmp_path)
    (dirs[RunKey("m", "qa", "adapters", 1e-3, True, 0)] / "results.json").unlink()  # a grid run still running
    shutil.rmtree(dirs[RunKey("m", "qa", "full", 3e-4, True, 1)])  # a seed run not even started
    paths = write_report(tmp_path)
    md = Path(paths["report_md"]).read_text(encoding="utf-8")
    rows = {r["method"]: r for r in md_table(md, "## Table 4 analogue: chosen learning rate and intermediate tuning")}
    assert rows["adapters"]["status"] == "incomplete: waiting for m/qa/adapters/lr1e-3/it/s0" and rows["adapters"]["LR"] == "n/a"
    assert rows["full"]["status"].startswith("seeds incomplete") and rows["full"]["LR"] == "3e-4"
    fig2 = {r["method"]: r for r in md_table(md, "### m / qa")}
    assert fig2["full"]["seeds"] == "1" and fig2["full"]["f1 std"] == "n/a" and fig2["adapters"]["f1 mean"] == "n/a"
    assert "not done, waiting for 2 run(s)" in md
    summary = selection_summary(tmp_path)
    assert not summary["complete"] and set(summary["waiting"]) == {"m/qa/adapters/lr1e-3/it/s0", "m/qa/full/lr3e-4/it/s1"}
    assert Path(paths["fig2_m_qa"]).exists() and "data:image/png;base64," in Path(paths["report_html"]).read_text()


def test_study_without_intermediate_tuning(tmp_path):
    proto, _ = make_study(tmp_path, it=False)
    assert not any(k.it for k in proto.results)
    md = Path(write_report(tmp_path, tmp_path / "elsewhere")["report_md"]).read_text(encoding="utf-8")
    assert (tmp_path / "elsewhere" / "results.csv").exists() and not (tmp_path / "report").exists()
    t1 = md_table(md, "## Table 1 analogue: effect of intermediate tuning")
    assert [r["IT - no IT"] for r in t1] == ["n/a", "n/a"] and "no intermediate tuning" in md
    rows = {r["method"]: r for r in md_table(md, "## Table 4 analogue: chosen learning rate and intermediate tuning")}
    sel = proto.selected()
    assert rows["full"]["LR"] == fmt_lr(sel[("m", "qa", "full")]["lr"]) and rows["full"]["IT"] == "no"


def test_outcome_for_mirrors_the_runner():
    cfg = protocol_config_for({"protocol": {}, "intermediate": {}})
    k = RunKey("m", "qa", "full", 1e-4, False, 0)
    res = results_for("full", 1e-4, False, 0, (50.0, 90.0))
    o = outcome_for(k, res, cfg, ["en"])
    assert o.status == "done" and o.metric == pytest.approx(49.0) and o.lang_correct == 90.0
    # Test data never stands in for missing validation data...
    no_dev = outcome_for(k, dict(res, dev_last={}), cfg, ["en"])
    assert no_dev.status == "failed" and "no validation metrics" in no_dev.error
    # ...unless the study asks for it explicitly.
    on_test = protocol_config_for({"protocol": {"select_on": "test"}, "intermediate": {}})
    assert outcome_for(k, dict(res, dev_last={}), on_test, ["en"]).metric == pytest.approx(50.0)
    assert outcome_for(k, None, cfg, ["en"], "boom").to_dict()["error"] == "boom"
    assert outcome_for(k, dict(res, dev_last={}, test={}), cfg, ["en"]).status == "failed"
    assert outcome_for(k, dict(res, dev_last={"en": res["dev_last"]["th"]}), cfg, ["en"]).status == "failed"


def test_decisions_name_runs_that_stopped_answering(tmp_path):
    """A run at 0 F1 and 0 LCR may have collapsed to empty outputs; the decision line says so, from the per-example
    lengths where the run kept them, else from every language's avg_length being 0."""
    _, dirs = make_study(tmp_path, it=False)
    collapsed = dirs[RunKey("m", "qa", "full", 1e-3, False, 0)]
    res = json.loads((collapsed / "results.json").read_text())
    for row in res["dev_last"].values():
        row["avg_length"] = 0.0
    (collapsed / "results.json").write_text(json.dumps(res))
    partly = dirs[RunKey("m", "qa", "full", 1e-5, False, 0)]  # 3 of 10 examples empty in every dev language
    sub = partly / "predictions" / "dev-step100"
    sub.mkdir(parents=True)
    for lang in DEV:
        rows = [{"id": f"{lang}{i}", "prediction": "" if i < 3 else "x", "scores": {"length": 0.0 if i < 3 else 1.0, "lang_correct": 1.0}}
                for i in range(10)]
        (sub / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    md = Path(write_report(tmp_path)["report_md"]).read_text(encoding="utf-8")
    lines = md.splitlines()
    assert any(line.strip().startswith("- LR 1e-3, no IT, seed 0:") and "(collapsed: every output empty)" in line for line in lines)
    assert any(line.strip().startswith("- LR 1e-5, no IT, seed 0:") and "(30% of outputs empty)" in line for line in lines)
    assert not any(line.strip().startswith("- LR 1e-4, no IT, seed 0:") and "empty" in line for line in lines)
