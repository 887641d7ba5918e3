"""Studies on tiny models: the LR protocol end to end, in-process and on a local two-worker Ray cluster, and a study
driver killed mid-way that finishes on rerun without redoing finished runs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from xlgen.errors import XlgenError
from xlgen.study.runner import run_study
from xlgen.testing import tiny_qa_config

REPO = Path(__file__).resolve().parents[1]


def write_study(tmp_path: Path, data_dir: Path, name: str, executor: dict | None = None) -> Path:
    base = tiny_qa_config(data_dir, train_examples=12, eval_examples=3, target_length=16)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {
        "name": name,
        "base": "base.yaml",
        "models": {"tiny": {}},
        "tasks": {"xquad": {}},
        "methods": {"full": {"adaptation.method": "full"}, "adapters": {"adaptation.method": "adapters", "adaptation.adapters.dim": 4}},
        "seeds": [0, 1],
        "validation_languages": ["th", "vi"],
        "test_languages": ["en", "de"],
        "protocol": {"min_lr": 1e-6, "max_lr": 1e-2},
        "executor": executor or {"kind": "local"},
        "output_dir": str(tmp_path / name),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _selected(summary):
    return sorted((s["model"], s["task"], s["method"], s["lr"], s["it"]) for s in summary["selected"])


@pytest.fixture(scope="module")
def local_study(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("study-local")
    path = write_study(tmp, data_dir, "local")
    return path, run_study(path, progress=False)


def test_local_study_runs_the_protocol(local_study):
    path, summary = local_study
    out = Path(yaml.safe_load(path.read_text())["output_dir"])
    selected = _selected(summary)
    assert [s[2] for s in selected] == ["adapters", "full"] and all(s[3] is not None for s in selected)
    phases = {d["phase"] for d in summary["decisions"]}
    assert "final" in phases and ("plr" in phases or "refine-3x" in phases)
    runs = list((out / "runs").iterdir())
    keys = [json.loads((r / "study_key.json").read_text()) for r in runs]
    assert {k["seed"] for k in keys} == {0, 1}  # chosen settings rerun with the second seed
    assert {k["lr"] for k in keys if k["method"] == "full"} >= {1e-3, 1e-4, 1e-5}
    assert all((r / "results.json").exists() for r in runs)
    # A rerun finds everything finished and executes nothing.
    before = len((out / "executions.jsonl").read_text().splitlines())
    again = run_study(path, progress=False)
    assert _selected(again) == selected
    assert len((out / "executions.jsonl").read_text().splitlines()) == before


def test_ray_two_workers_select_the_same_settings(tmp_path, data_dir, local_study):
    pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")
    path = write_study(tmp_path, data_dir, "ray", executor={"kind": "ray", "num_cpus": 2, "cpus_per_run": 1})
    summary = run_study(path, progress=False)
    assert _selected(summary) == _selected(local_study[1])
    log = [json.loads(line) for line in (tmp_path / "ray" / "executions.jsonl").read_text().splitlines()]
    assert all(r["status"] == "done" for r in log)


def test_parallel_local_runs_select_the_same_settings(tmp_path, data_dir, local_study):
    """`executor.parallel_runs: 2` runs two runs at a time in worker processes (how k runs share one GPU): same
    decisions as one at a time, and runs did execute side by side."""
    path = write_study(tmp_path, data_dir, "parallel", executor={"kind": "local", "parallel_runs": 2})
    summary = run_study(path, progress=False)
    assert _selected(summary) == _selected(local_study[1])
    log = [json.loads(line) for line in (tmp_path / "parallel" / "executions.jsonl").read_text().splitlines()]
    assert all(r["status"] == "done" for r in log)
    ran = [r for r in log if r["executed"]]
    assert len({r["pid"] for r in ran}) == 2  # one pool of two workers for the whole study
    spans = sorted((r["started"], r["started"] + r["seconds"]) for r in ran)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two runs overlapped in time"


def test_failed_run_is_recorded_and_the_study_goes_on(tmp_path, data_dir):
    path = write_study(tmp_path, data_dir, "failing")
    study = yaml.safe_load(path.read_text())
    study["methods"]["broken"] = {"adaptation.method": "lora", "adaptation.lora.target_modules": ["no_such_module"]}
    study["methods"].pop("adapters")
    path.write_text(yaml.safe_dump(study))
    summary = run_study(path, progress=False)
    sel = {s["method"]: s for s in summary["selected"]}
    assert sel["full"]["lr"] is not None and sel["broken"]["lr"] is None
    failed = list((tmp_path / "failing" / "runs").glob("*/failed.json"))
    assert failed and "no_such_module" in json.loads(failed[0].read_text())["error"]


def test_killed_driver_resumes_without_redoing_finished_runs(tmp_path, data_dir, local_study):
    path = write_study(tmp_path, data_dir, "killed")
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "xlgen", "study", str(path), "--no-progress", "--no-report"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(out.glob("runs/*/results.json"))) < 3:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name for p in out.glob("runs/*/results.json")}
    assert len(done_before) >= 3
    first = [json.loads(line) for line in (out / "executions.jsonl").read_text().splitlines()]
    assert not any(r["run_dir"].endswith(tuple(done_before)) and False for r in first)

    r = subprocess.run([sys.executable, "-m", "xlgen", "study", str(path), "--no-progress", "--no-report"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    log = [json.loads(line) for line in (out / "executions.jsonl").read_text().splitlines()]
    invocations = sorted({row["invocation"] for row in log}, key=lambda i: [row["invocation"] for row in log].index(i))
    second = [row for row in log if row["invocation"] == invocations[-1]]
    redone = [row["run"] for row in second if Path(row["run_dir"]).name in done_before]
    assert not redone, f"finished runs were executed again: {redone}"
    assert second, "the rerun had work left to do"
    assert _selected(json.loads(r.stdout)) == _selected(local_study[1])


def test_report_renders_from_a_real_study(local_study, tmp_path):
    from xlgen.study.report import write_report

    path, summary = local_study
    out = write_report(yaml.safe_load(path.read_text())["output_dir"], tmp_path / "report")
    md = Path(out["report_md"]).read_text()
    rows = Path(out["results_csv"]).read_text().splitlines()
    assert len(rows) > 10 and "table 4" in md.lower()
    for s in summary["selected"]:
        assert s["method"] in md
    # Real runs keep per-example scores: intervals everywhere, columns named by profile, paired comparisons.
    assert "paper.f1_lo" in rows[0] and "multilingual.f1" in rows[0] and "langid_model" in rows[0]
    assert "## Methods vs full finetuning (paired)" in md and "## Training dynamics" in md
    fig2 = md.split("## Figure 2 analogue")[1].split("\n## ")[0]
    assert "f1 95% CI" in fig2 and "[" in fig2
    # The protocol's record says which candidates its choices could not be told from.
    finals = [d for d in summary["decisions"] if d["phase"] == "final" and d.get("chosen")]
    assert finals and all("within_noise" in d and "paired_vs_chosen" in d for d in finals)


def test_demo_is_a_study_rendered_by_the_study_report(tmp_path, data_dir):
    """`xlgen demo`'s path on a tiny model: a grid study (no search) with run overrides, and the study report."""
    from xlgen.demo import run_demo

    path = write_study(tmp_path, data_dir, "demo")
    study = yaml.safe_load(path.read_text())
    study.update(methods={"full": {"adaptation.method": "full"}}, seeds=[0],
                 protocol={"start_lrs": [1e-3, 1e-4], "extend": False, "refine": False, "multipliers": [1]})
    path.write_text(yaml.safe_dump(study))
    report = run_demo(tmp_path / "out", config=str(path), overrides=["train.steps=2"], progress=False)
    runs = [json.loads((d / "results.json").read_text()) for d in (tmp_path / "out" / "runs").iterdir()]
    assert sorted(r["lr"] for r in runs) == [1e-4, 1e-3] and all(r["steps"] == 2 for r in runs)
    md = report.read_text()
    assert "Figure 1 analogue" in md and "Costs at the chosen settings" in md and (tmp_path / "out" / "fig1_tiny_xquad_full.png").exists()


@pytest.mark.parametrize("validation", [[], ["en"]])
def test_study_without_validation_data_stops_before_training(tmp_path, data_dir, validation):
    path = write_study(tmp_path, data_dir, "nodev")
    study = yaml.safe_load(path.read_text())
    study["validation_languages"] = validation
    if not validation:
        base = yaml.safe_load((tmp_path / "base.yaml").read_text())
        base["data"].pop("dev")
        (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(XlgenError, match="no validation data in a target language.*select_on: test"):
        run_study(path, progress=False)
    assert not (tmp_path / "nodev" / "runs").exists()  # nothing trained, nothing created
    # Selecting on test data is possible, but only when asked for (the report's title then says so).
    study["protocol"]["select_on"] = "test"
    path.write_text(yaml.safe_dump(study))
    from xlgen.study.runner import Study
    from xlgen.study.config import load_study

    Study(*load_study(path))  # no error


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs" / "studies").glob("*.yaml")))
def test_committed_studies_pass_the_selection_data_check(name):
    """Every shipped study either has validation data in a target language or says it selects on test data."""
    from xlgen.study.config import load_study
    from xlgen.study.runner import Study

    Study(*load_study(REPO / "configs" / "studies" / name))
