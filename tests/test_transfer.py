"""The transfer-language study on generation, end to end with the tiny causal model, and its checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xlgen.cli import main
from xlgen.errors import XlgenError
from xlgen.io import read_json, read_jsonl_lenient
from xlgen.testing import tiny_model
from xlgen.transfer.config import load_transfer_study
from xlgen.transfer.pretraining_languages import list_for_model, pretraining_languages, status
from xlgen.transfer.runner import TransferStudy


def _study(tmp_path: Path, **extra) -> Path:
    base = {
        "model": {"name": str(tiny_model("causal"))},
        "task": {"name": "qa"},
        "data": {"train": [{"path": "${XLGEN_DATA}/squad_v1.1_dev_reconstructed/squad_v1.1_dev_minus_xquad.json", "lang": "en", "max_examples": 24}]},
        "train": {"steps": 2, "warmup_steps": 1, "max_tokens": 500, "log_every": 1, "save_every": 100, "lr": 1e-3},
        "generate": {"max_new_tokens": 3},
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {
        "name": "tiny",
        "base": "base.yaml",
        "transfer": {"languages": ["de"], "raw": {"path": "${XLGEN_DATA}/ud_monolingual_text/ud_text.{lang}.txt", "max_lines": 20},
                     "steps": [1, 2], "overrides": {"train.max_tokens": 200, "train.lr": 1e-4}},
        "targets": {"languages": ["de", "zh"], "data": {"path": "${XLGEN_DATA}/xquad/xquad.{lang}.json", "max_examples": 3}},
        "seeds": [0, 1],
        "output_dir": str(tmp_path / "out"),
        **extra,
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    return tmp_path / "study.yaml"


def test_generation_study_end_to_end_resumes_and_reports(tmp_path, data_dir):
    inter = {"languages": ["de", "ru"], "raw": {"path": "${XLGEN_DATA}/ud_monolingual_text/ud_text.{lang}.txt", "max_lines": 20},
             "adapter": {"train.steps": 2, "train.max_tokens": 200}, "fusion": {"train.steps": 1}}
    path = _study(tmp_path, interference=inter)
    assert main(["transfer", str(path), "--no-progress"]) == 0
    out = tmp_path / "out"
    index = read_json(out / "index.json")
    kinds = sorted(v["kind"] for v in index.values())
    assert kinds.count("transfer") == 4 and kinds.count("baseline") == 1 and kinds.count("task_adapter") == 1
    assert kinds.count("language_adapter") == 2 and kinds.count("fusion") == 3  # de, ru, de+ru
    cells = {name: v for name, v in index.items() if v["kind"] == "transfer"}
    for name, v in cells.items():
        res = read_json(Path(v["run_dir"]) / "results.json")
        assert set(res["test"]) == {"de", "zh"} and {"f1", "lang_correct"} <= set(res["test"]["de"])
        # each budget is its own run from the base model, with its own number of steps and seed
        train_cfg = yaml.safe_load((Path(v["run_dir"]) / "transfer" / "config.yaml").read_text())
        assert train_cfg["train"]["steps"] == v["steps"] and train_cfg["train"]["seed"] == v["seed"]
        assert train_cfg["model"]["name"] == str(tiny_model("causal")) and train_cfg["stage"] == "intermediate"
        assert train_cfg["data"]["raw"]["lang"] == "de"
        assert not (Path(v["run_dir"]) / "transfer" / "model").exists()  # the finetuned base is dropped once evaluated
        log = read_jsonl_lenient(Path(v["run_dir"]) / "transfer" / "train_log.jsonl")
        assert [r["step"] for r in log] == list(range(1, v["steps"] + 1))
        rows = read_jsonl_lenient(Path(v["run_dir"]) / "predictions" / "de.jsonl")
        assert len(rows) == 3 and all("score" in r and "lang_ok" in r for r in rows)
    # the task adapter is trained once and every cell points at it
    ta = [v for v in index.values() if v["kind"] == "task_adapter"][0]["run_dir"]
    for v in list(cells.values()) + [v for v in index.values() if v["kind"] == "baseline"]:
        assert read_json(Path(v["run_dir"]) / "cell.json")["task_adapter"] == str(Path(ta) / "model")
    fusion = [v for v in index.values() if v["kind"] == "fusion" and len(v["group"]) == 2][0]
    fcfg = yaml.safe_load((Path(fusion["run_dir"]) / "fusion" / "config.yaml").read_text())
    assert fcfg["adaptation"]["adapters"]["load"]["task"] == str(Path(ta) / "model")
    assert fcfg["adaptation"]["adapters"]["stack_above"] == ["task"]
    manifest = read_json(Path(fusion["run_dir"]) / "fusion" / "model" / "xlgen_adaptation.json")
    assert manifest["adapters"]["composition"] == ["fusion", "task"] and manifest["adapters"]["trained"] == ["fusion"]

    report = out / "report"
    text = (report / "report.md").read_text()
    assert "## Findings (computed)" in text and "## Negative interference" in text
    for m in ("f1", "lang_correct"):
        for k in (1, 2):
            assert (report / f"heatmap_{m}_k{k}.png").stat().st_size > 1000
    assert (report / "interference.png").is_file()
    rows = list(csv_rows(report / "matrix.csv"))
    assert len(rows) == 2 * 2 * 1 * 2 and {r["n_seeds"] for r in rows} == {"2"}
    inter_rows = list(csv_rows(report / "interference.csv"))
    assert {r["group"] for r in inter_rows} == {"de+ru"} and len(inter_rows) == 2 * 2

    assert main(["transfer-report", str(out), "--out", str(tmp_path / "rep"), "--produced-by", "xlgen transfer s.yaml"]) == 0
    assert "    xlgen transfer s.yaml" in (tmp_path / "rep" / "report.md").read_text()

    # rerunning redoes nothing: every run is keyed by its config hash and finished
    n_before = len(read_jsonl_lenient(out / "executions.jsonl"))
    assert main(["transfer", str(path), "--no-progress", "--no-report"]) == 0
    assert len(read_jsonl_lenient(out / "executions.jsonl")) == n_before


def csv_rows(path):
    import csv

    with open(path, newline="") as fh:
        yield from csv.DictReader(fh)


def test_interrupted_cell_resumes_and_budgets_change_the_hash(tmp_path, data_dir):
    path = _study(tmp_path)
    study = TransferStudy(load_transfer_study(path))
    jobs = study.cell_jobs("/nowhere/task-adapter")
    names = {j.name: j for j in jobs}
    assert set(names) == {"baseline", "transfer-de-k1-s0", "transfer-de-k1-s1", "transfer-de-k2-s0", "transfer-de-k2-s1"}
    dirs = {Path(j.run_dir).name for j in jobs}
    assert len(dirs) == 5  # distinct config hashes: nothing shared between budgets or seeds
    assert names["transfer-de-k1-s0"].config["train"]["train"]["warmup_steps"] == 0  # a 1-step run really steps


def test_raw_text_holding_an_evaluation_sentence_is_refused(tmp_path, data_dir):
    doc = read_json(data_dir / "xquad" / "xquad.de.json")
    context = doc["data"][0]["paragraphs"][0]["context"]
    sentence = context.split(". ")[0] + "."
    raw = tmp_path / "raw.de.txt"
    raw.write_text("Ein ganz anderer Satz steht hier am Anfang.\n\n" + sentence + "\n", encoding="utf-8")
    path = _study(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["transfer"]["raw"] = {"path": str(tmp_path / "raw.{lang}.txt")}
    data["targets"]["data"]["max_examples"] = 1  # the check covers the whole evaluation file, not only what is used
    doc_q = doc["data"][0]["paragraphs"][0]["qas"]
    assert doc_q
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(XlgenError, match=r"raw\.de\.txt:3: field 'transfer\.raw': .*evaluation sentence"):
        TransferStudy(load_transfer_study(path)).validate()


def test_bad_inputs_fail_before_training_with_one_line(tmp_path, data_dir, capsys):
    path = _study(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["transfer"]["languages"] = ["de", "hi"]  # the shared data has no raw text for hi
    path.write_text(yaml.safe_dump(data))
    assert main(["transfer", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ud_text.hi.txt: field 'transfer.raw': no such raw text file" in err
    assert not (tmp_path / "out" / "runs").exists()  # nothing trained
    data["transfer"]["languages"] = ["de"]
    data["targets"]["languages"] = ["de", "ja"]  # XQuAD has no Japanese
    path.write_text(yaml.safe_dump(data))
    assert main(["transfer", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "xquad.ja.json: no such data file" in err and err.count("\n") == 0
    data["targets"]["languages"] = ["de"]
    data["transfer"]["stepz"] = [1]  # a typo in the study file
    path.write_text(yaml.safe_dump(data))
    assert main(["transfer", str(path), "--no-progress"]) == 2
    assert "transfer.stepz: unknown config field" in capsys.readouterr().err


def test_pretraining_language_lists():
    mbert, xlmr = pretraining_languages("mbert"), pretraining_languages("xlmr")
    assert len(mbert) == 104 and len(pretraining_languages("mt5")) == 101
    for unseen in ("fo", "hsb", "mt", "wo", "pcm"):  # the README's unseen UD languages
        assert status(unseen, mbert) == "unseen" and status(unseen, xlmr) == "unseen"
    assert status("yo", mbert) == "seen" and status("yo", xlmr) == "unseen"
    assert status("am", mbert) == "unseen" and status("am", xlmr) == "seen"
    assert status("de", pretraining_languages("mbart50")) == "seen" and status("fo", pretraining_languages("nllb200")) == "seen"
    assert pretraining_languages("gemma3") is None and status("de", None) == "unknown"
    assert list_for_model("bert-base-multilingual-cased") == "mbert" and list_for_model("FacebookAI/xlm-roberta-base") == "xlmr"
    assert list_for_model("embedded") == "gemma3" and list_for_model("google/mt5-base") == "mt5"


def test_ray_executor_runs_the_cells_like_the_local_one(tmp_path, data_dir):
    pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")
    path = _study(tmp_path, executor={"kind": "ray", "num_cpus": 2, "cpus_per_run": 1})
    data = yaml.safe_load(path.read_text())
    data["transfer"]["steps"], data["seeds"] = [1], [0, 1]
    path.write_text(yaml.safe_dump(data))
    out = TransferStudy(load_transfer_study(path)).run(progress=False)
    assert out["failed"] == []
    index = read_json(tmp_path / "out" / "index.json")
    cells = [v for v in index.values() if v["kind"] == "transfer"]
    assert len(cells) == 2 and all((Path(v["run_dir"]) / "results.json").is_file() for v in cells)
    log = read_jsonl_lenient(tmp_path / "out" / "executions.jsonl")
    assert {r["status"] for r in log} == {"done"} and len(log) == 4  # task adapter, baseline, two cells


@pytest.mark.parametrize("name", ["mbert-pos", "xlmr-pos", "mbert-ner", "xlmr-ner", "mbert-nli", "xlmr-nli"])
def test_paper_configs_resolve_into_runs(name):
    """The paper's settings (hub models and text) build valid run configs for every cell without the hub."""
    root = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "paper"
    study = TransferStudy(load_transfer_study(root / f"{name}.yaml"))
    jobs = study.cell_jobs("/task-adapter")
    assert len(jobs) == 1 + len(study.transfer_langs) * 4 * 3
    k1000 = [j for j in jobs if j.name.endswith("-k1000-s0")][0].config
    assert k1000["train"]["train"]["steps"] == 1000 and k1000["train"]["data"]["raw"]["hf"] == "wikimedia/wikipedia"
    assert study.task_adapter_job().config["adaptation"]["method"] == "adapters"
    assert study.task_adapter_job().config["adaptation"]["adapters"]["name"] == "task"
    assert len(study.groups()) == 4 + 6 + 1


def _fake_run(root: Path, name: str, test: dict, rows: dict | None = None) -> str:
    d = root / "runs" / name
    (d / "predictions").mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"primary_metric": "f1", "test": test}))
    for lang, rs in (rows or {}).items():
        (d / "predictions" / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    return str(d)


def test_findings_are_computed_from_the_runs(tmp_path):
    """Known numbers in, known findings out: helps/hurts beyond the seed spread, seen vs unseen, best and margin,
    interference against the best single adapter."""
    from xlgen.transfer.report import compute, load

    base = {"de": {"f1": 50.0, "lang_correct": 80.0}, "fo": {"f1": 10.0, "lang_correct": 20.0}}
    index = {"baseline": {"kind": "baseline", "run_dir": _fake_run(tmp_path, "b", base)}}
    # transfer scores (de, fo) per language and seed
    deltas = {"ru": [(4, 8), (5, 7)], "zh": [(-6, 2), (-5, 3)], "ar": [(1, 9), (-1, 11)]}
    for T, seeds in deltas.items():
        for s, (d_de, d_fo) in enumerate(seeds):
            test = {"de": {"f1": 50.0 + d_de, "lang_correct": 80.0}, "fo": {"f1": 10.0 + d_fo, "lang_correct": 20.0}}
            index[f"{T}{s}"] = {"kind": "transfer", "transfer": T, "steps": 10, "seed": s, "run_dir": _fake_run(tmp_path, f"{T}{s}", test)}
    rows = lambda vals: {"de": [{"id": str(i), "score": v, "lang_ok": True} for i, v in enumerate(vals)],  # noqa: E731
                         "fo": [{"id": str(i), "score": v, "lang_ok": True} for i, v in enumerate(vals)]}
    single = {"ru": ([60, 60, 40, 40], 50.0), "zh": ([40, 40, 40, 40], 40.0), "ru+zh": ([20, 20, 20, 20], 20.0)}
    for g, (vals, mean) in single.items():
        test = {t: {"f1": mean, "lang_correct": 100.0} for t in ("de", "fo")}
        index[g] = {"kind": "fusion", "group": g.split("+"), "run_dir": _fake_run(tmp_path, g, test, rows(vals))}
    (tmp_path / "index.json").write_text(json.dumps(index))
    (tmp_path / "study.json").write_text(json.dumps({"name": "x", "base": "b.yaml", "seeds": [0, 1], "transfer": {"languages": ["ru", "zh", "ar"]},
                                                     "pretraining_languages": "mbert", "model_name": "bert-base-multilingual-cased"}))
    c = compute(load(tmp_path))
    assert c["seen"] == {"de": "seen", "fo": "unseen"}
    f = c["findings"][("f1", 10)]["per_target"]
    assert f["de"]["helps"] == ["ru"] and f["de"]["hurts"] == ["zh"] and f["de"]["share_helps"] == pytest.approx(1 / 3)
    assert f["de"]["best"] == "ru" and f["de"]["best_delta"] == pytest.approx(4.5) and f["de"]["margin"] == pytest.approx(4.5)
    assert sorted(f["fo"]["helps"]) == ["ar", "ru", "zh"] and f["fo"]["best"] == "ar" and f["fo"]["margin"] == pytest.approx(2.5)
    by = c["findings"][("f1", 10)]["by_status"]
    assert by["unseen"]["share_helps"] == 1.0 and by["seen"]["share_helps"] == pytest.approx(1 / 3)
    inter = [r for r in c["interference"] if r["metric"] == "f1" and r["target"] == "de"]
    assert len(inter) == 1 and inter[0]["best_single"] == "ru" and inter[0]["interference"] == pytest.approx(-30.0)
    assert inter[0]["ci_high"] < 0  # the pair is worse on every example: the whole paired interval is below 0
