"""`xlgen demo` / `make demo`: a miniature of the paper's Figure 1 on the embedded model, on CPU.

The demo is a study (`configs/studies/demo.yaml`: full finetuning of Gemma-3-270M on English QA at three learning
rates two orders of magnitude apart, zero-shot XQuAD in English and eight target languages), run by the study driver
and rendered by the study report: F1, language-correct rate and answer length against the learning rate. Each
learning rate is an ordinary run directory, so an interrupted demo resumes where it was.
"""

from __future__ import annotations

from pathlib import Path

from xlgen.config import parse_override
from xlgen.packaged import configs_dir, resolve_config
from xlgen.study.config import load_study
from xlgen.study.report import write_report
from xlgen.study.runner import Study

DEMO_STUDY = configs_dir() / "studies" / "demo.yaml"  # shipped in the package, so an installed wheel runs the demo


def run_demo(out: str | Path, *, config: str | None = None, overrides: list[str] = (), progress: bool = True) -> Path:
    """Run the demo study into `out` and write its report there; `overrides` (`train.steps=10`) apply to every run."""
    study, path = load_study(resolve_config(config) if config else DEMO_STUDY, [f"output_dir={out}"])
    study.overrides.update(parse_override(item) for item in overrides)
    Study(study, path).run(progress=progress)
    return Path(write_report(out, out)["report_md"])
