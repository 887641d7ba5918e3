"""A run whose loss becomes NaN/inf stops there, is recorded as diverged, and is a failed grid point of the LR protocol.

Divergence is real, not injected: the tiny T5 trained with Adam at lr=1e8 (one thread, so bitwise reproducible) has
finite losses for three steps and NaN from the fourth on.
"""

import json
import math
from pathlib import Path

import pytest
import yaml

from xlgen.config import from_dict, RunConfig
from xlgen.testing import tiny_model
from xlgen.train import train

DIVERGING_LR = 1e8


def config(data_dir: Path, out: Path, lr: float = DIVERGING_LR) -> dict:
    xquad = str(data_dir / "xquad" / "xquad.{lang}.json")
    return {
        "model": {"name": str(tiny_model("t5")), "max_input_length": 48, "max_target_length": 8},
        "task": {"name": "qa"},
        "data": {"train": [{"path": xquad, "lang": "en", "max_examples": 16}], "dev": {"path": xquad, "languages": ["es"], "max_examples": 2},
                 "test": {"path": xquad, "languages": ["de"], "max_examples": 2}},
        "train": {"lr": lr, "steps": 12, "warmup_steps": 1, "max_tokens": 300, "save_every": 2, "eval_every": 2, "log_every": 5},
        "generate": {"max_new_tokens": 3},
        "output_dir": str(out),
    }


def test_nan_loss_stops_the_run_and_results_say_diverged(tmp_path, data_dir):
    out = tmp_path / "run"
    results = train(from_dict(RunConfig, config(data_dir, out)), progress=False)
    assert results["status"] == "diverged" and results["diverged"]["step"] == 4, results.get("diverged")
    assert results["diverged"]["loss"] == "nan" and "diverged at step 4" in results["error"]
    assert json.loads((out / "results.json").read_text()) == results
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [4] and math.isnan(log[-1]["loss"])  # logged at once, though log_every is 5
    assert all(math.isfinite(json.loads(line)["f1"]) for line in (out / "metrics.jsonl").read_text().splitlines())
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [2]  # no evaluation of NaN weights
    # No model made of NaNs, no test evaluation of it, no checkpoints to resume into the same NaN.
    assert not (out / "model").exists() and not (out / "checkpoints").exists() and not (out / "predictions" / "de.jsonl").exists()
    # Resuming a diverged run finds it finished.
    assert train(resume_dir=out, progress=False)["status"] == "diverged"


def test_cli_reports_divergence_in_one_line_with_exit_code_3(tmp_path, data_dir, capsys):
    from xlgen.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config(data_dir, tmp_path / "run")))
    assert main(["train", str(cfg), "--no-progress"]) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("xlgen:")]
    assert len(err) == 1 and err[0].startswith("xlgen: diverged:") and "step 4" in err[0], err
    assert main(["evaluate", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("xlgen: error:") and "diverged at step 4" in err[-1]


def test_the_lr_protocol_treats_a_diverged_run_as_a_failed_grid_point(tmp_path, data_dir):
    from xlgen.study.report import write_report
    from xlgen.study.runner import run_study

    base = config(data_dir, tmp_path / "unused")
    base["train"].update(steps=6, eval_every=6, save_every=6)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {"name": "div", "base": "base.yaml", "models": {"tiny": {}}, "tasks": {"qa": {}}, "methods": {"full": {"adaptation.method": "full"}},
             "validation_languages": ["es"], "test_languages": ["de"], "output_dir": str(tmp_path / "div"),
             "protocol": {"start_lrs": [DIVERGING_LR, 1e-3], "max_lr": 1e9, "extend": False, "refine": False, "multipliers": [1]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    summary = run_study(tmp_path / "s.yaml", progress=False)
    assert [s["lr"] for s in summary["selected"]] == [1e-3]
    reasons = json.dumps(summary["decisions"])
    assert "diverged at step 4" in reasons, reasons
    log = [json.loads(line) for line in (tmp_path / "div" / "executions.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in log) == ["diverged", "done"]
    report = Path(write_report(tmp_path / "div", tmp_path / "rep")["report_md"]).read_text()
    assert "diverged at step 4" in report
    # A rerun does not retry it: the grid point is decided.
    assert run_study(tmp_path / "s.yaml", progress=False)["selected"] == summary["selected"]
    assert len((tmp_path / "div" / "executions.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("override,message", [("train.lr=nan", "train.lr: expected a finite number"), ("train.eval_every=0", "train.eval_every: must be at least 1, got 0"),
                                              ("train.max_tokens=0", "train.max_tokens: must be at least 1"), ("adaptation.prompt.length=0", "adaptation.prompt.length: must be at least 1")])
def test_settings_that_would_crash_or_never_end_are_config_errors(override, message, tmp_path, data_dir):
    from xlgen.config import load_config
    from xlgen.errors import XlgenError

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config(data_dir, tmp_path / "run")))
    with pytest.raises(XlgenError, match=message.replace(".", r"\.")):
        load_config(cfg, [override])
