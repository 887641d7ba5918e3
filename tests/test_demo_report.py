"""The demo study on a tiny model: the untrained base model as a reference row (zero training steps), selection on
test data said in the title, every per-language number with its 95% interval, and LR-vs-LR paired differences."""

import json
from pathlib import Path

import yaml

from test_study import write_study
from xlgen.demo import DEMO_STUDY, run_demo


def test_demo_study_has_base_row_intervals_and_paired_lrs(tmp_path, data_dir):
    path = write_study(tmp_path, data_dir, "demo")
    demo = yaml.safe_load(DEMO_STUDY.read_text())
    study = yaml.safe_load(path.read_text())
    # The real demo's protocol and references, on the tiny model without validation languages (as the demo).
    study.update(methods=demo["methods"] and {"full": {"adaptation.method": "full"}}, seeds=[0], validation_languages=[],
                 protocol={**demo["protocol"], "start_lrs": [1e-3, 1e-4]}, references=demo["references"])
    base = yaml.safe_load((tmp_path / "base.yaml").read_text())
    base["data"].pop("dev")
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    path.write_text(yaml.safe_dump(study))
    report = run_demo(tmp_path / "out", config=str(path), overrides=["train.steps=2"], progress=False)
    md = Path(report).read_text()
    runs = {d.name: json.loads((d / "results.json").read_text()) for d in (tmp_path / "out" / "runs").iterdir()}
    untrained = [r for name, r in runs.items() if "untrained" in name]
    assert len(untrained) == 1 and untrained[0]["steps"] == 0 and untrained[0]["test"]["de"]["n"] == 3
    assert md.splitlines()[0] == "# Study report: demo (selected on test data)"
    rows = {r.split("|")[1].strip(): r for r in md.split("### tiny / xquad: f1")[1].split("###")[0].splitlines() if r.startswith("| ")}
    assert "untrained" in rows and all(r.count("[") >= 3 for name, r in rows.items() if name in ("full", "untrained"))
    assert "chosen minus this" in md  # LR vs LR, paired on the same (test) questions
