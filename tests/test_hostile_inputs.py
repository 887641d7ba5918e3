"""Hostile inputs through the command line: every case ends in success or in the one-line error (exit 2), never a
traceback, and never a half-written result (no temporary files left, no new files at all after an error).

The CLI runs in this process (`xlgen.cli.main`), so a case costs what its command does, not an interpreter start:
most fail before any model loads; those that need a model use the tiny ones from `xlgen.testing`. An exception
escaping `main` fails the case with its traceback, which is exactly what a user must never see.

Add a case by writing a function `case_<name>(ctx) -> Case` below; it is collected automatically.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from xlgen.cli import main
from xlgen.testing import tiny_model


@dataclass
class Case:
    argv: list
    # None: must succeed (exit 0); otherwise fragments the one error line must contain.
    error: list[str] | None = None
    stdin: bytes | None = None
    # Extra check of a success: called with (stdout, ctx).
    check: Callable | None = None
    # Paths (relative to the case directory) that may appear even when the command fails (none by default).
    allow_new: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    dir: Path  # this case's own directory: every output goes here
    data: Path
    run: Path  # a finished tiny training run (kept checkpoints)
    study: Path  # a finished one-run study directory
    refs_de: Path  # XQuAD German, SQuAD JSON

    def write(self, name: str, content: str | bytes) -> Path:
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
        return p

    def config(self, name: str = "c.yaml", *, raw: str | None = None, **sections) -> Path:
        base = base_config(self.data, self.dir / "out")
        for key, value in sections.items():
            base[key] = value
        return self.write(name, raw if raw is not None else yaml.safe_dump(base, allow_unicode=True))

    def resumable_copy(self, name: str = "resumable") -> Path:
        """The finished run as it was before its last step: checkpoints, no results.json."""
        dst = self.dir / name
        shutil.copytree(self.run, dst)
        (dst / "results.json").unlink()
        cfg = yaml.safe_load((dst / "config.yaml").read_text())
        cfg["output_dir"] = str(dst)
        (dst / "config.yaml").write_text(yaml.safe_dump(cfg))
        return dst


def base_config(data: Path, out: Path, family: str = "t5") -> dict:
    xquad = str(data / "xquad" / "xquad.{lang}.json")
    return {
        "model": {"name": str(tiny_model(family)), "max_input_length": 48, "max_target_length": 8},
        "task": {"name": "qa"},
        "data": {"train": [{"path": xquad, "lang": "en", "max_examples": 8}], "test": {"path": xquad, "languages": ["de"], "max_examples": 2}},
        "train": {"steps": 2, "warmup_steps": 1, "max_tokens": 300, "save_every": 1, "eval_every": 100, "log_every": 1, "keep_checkpoints": 2},
        "generate": {"max_new_tokens": 3},
        "output_dir": str(out),
    }


# -- shared, expensive-once fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir) -> Path:
    from xlgen.config import from_dict, RunConfig
    from xlgen.train import train

    out = tmp_path_factory.mktemp("hostile-run") / "run"
    cfg = base_config(data_dir, out)
    cfg["train"]["keep_checkpoints_after_finish"] = True
    train(from_dict(RunConfig, cfg), progress=False)
    return out


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, data_dir) -> Path:
    from xlgen.study.runner import run_study

    tmp = tmp_path_factory.mktemp("hostile-study")
    base = base_config(data_dir, tmp / "unused")
    base["data"]["dev"] = {"path": base["data"]["test"]["path"], "max_examples": 2}
    (tmp / "base.yaml").write_text(yaml.safe_dump(base))
    study = {"name": "one", "base": "base.yaml", "models": {"tiny": {}}, "tasks": {"qa": {}}, "methods": {"full": {"adaptation.method": "full"}},
             "validation_languages": ["es"], "test_languages": ["de"], "output_dir": str(tmp / "one"),
             "protocol": {"start_lrs": [1e-3], "extend": False, "refine": False, "multipliers": [1]}}
    (tmp / "study.yaml").write_text(yaml.safe_dump(study))
    run_study(tmp / "study.yaml", progress=False)
    return tmp / "one"


# -- the cases ----------------------------------------------------------------------------------------------------

PREDS = [{"id": "56beb4343aeaaa14008c925b", "prediction": "Denver Broncos"}]


def _preds_jsonl(rows=PREDS) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _score(ctx: Ctx, preds: Path, *extra) -> list:
    return ["score", "--task", "qa", "--lang", "de", "--references", ctx.refs_de, "--predictions", preds, *extra]


def _scored(n: int):
    def check(out: str, ctx: Ctx) -> None:
        m = json.loads(out)
        assert m["n"] == n and "f1" in m, m

    return check


# score ---------------------------------------------------------------------------------------------------------------


def case_score_predictions_with_bom(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", codecs.BOM_UTF8 + _preds_jsonl().encode())), check=_scored(1190))


def case_score_predictions_crlf(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", _preds_jsonl().replace("\n", "\r\n"))), check=_scored(1190))


def case_score_predictions_utf16_with_bom(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", _preds_jsonl().encode("utf-16"))), check=_scored(1190))


def case_score_predictions_latin1(ctx):
    rows = _preds_jsonl([{"id": "a", "prediction": "x"}, {"id": "b", "prediction": "Zürich"}])
    return Case(_score(ctx, ctx.write("p.jsonl", rows.encode("latin-1"))), error=["p.jsonl:2", "not UTF-8"])


def case_score_predictions_is_a_directory(ctx):
    (ctx.dir / "preds").mkdir()
    return Case(_score(ctx, ctx.dir / "preds"), error=["preds: is a directory"])


def case_score_predictions_truncated(ctx):
    text = _preds_jsonl([{"id": str(i), "prediction": "x" * 30} for i in range(3)])
    return Case(_score(ctx, ctx.write("p.jsonl", text[:-20])), error=["p.jsonl:3", "malformed JSON"])


def case_score_predictions_json_array(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", json.dumps(PREDS))), error=["p.jsonl:1", "expected a JSON object, got list"])


def case_score_prediction_not_a_string(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", '{"id": "a", "prediction": 3}\n')), error=["p.jsonl:1", "'prediction'", "expected str"])


def case_score_prediction_without_id(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", '{"prediction": "x"}\n')), error=["p.jsonl:1", "'id'", "missing"])


def case_score_duplicate_ids(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", _preds_jsonl(PREDS * 2))), error=["p.jsonl:2", "duplicate id"])


def case_score_empty_predictions(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", "\n\n")), error=["no predictions"])


def case_score_empty_prediction_string(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", _preds_jsonl([{"id": PREDS[0]["id"], "prediction": ""}]))), check=_scored(1190))


def case_score_huge_prediction(ctx):
    rows = [{"id": PREDS[0]["id"], "prediction": "Denver " * 50_000}]
    return Case(_score(ctx, ctx.write("p.jsonl", _preds_jsonl(rows))), check=_scored(1190))


def case_score_deeply_nested_line(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", "[" * 100_000 + "\n")), error=["p.jsonl:1", "nested too deeply"])


def case_score_binary_predictions(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", gzip.compress(_preds_jsonl().encode()))), error=["p.jsonl:1", "not UTF-8"])


def case_score_unknown_prediction_id(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", '{"id": "nope", "prediction": "x"}\n')), error=["'nope'", "not in"])


def case_score_references_not_squad(ctx):
    refs = ctx.write("r.json", json.dumps([{"id": "a"}]))
    return Case(["score", "--task", "qa", "--lang", "de", "--references", refs, "--predictions", ctx.write("p.jsonl", _preds_jsonl())], error=["r.json", "not SQuAD JSON"])


def case_score_references_bad_answers(ctx):
    doc = {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q", "question": "?", "answers": "Denver"}]}]}]}
    refs = ctx.write("r.json", json.dumps(doc))
    return Case(["score", "--task", "qa", "--lang", "de", "--references", refs, "--predictions", ctx.write("p.jsonl", _preds_jsonl())],
                error=["r.json", "data[0].paragraphs[0].qas[0].answers"])


def case_score_references_truncated(ctx):
    text = ctx.refs_de.read_text(encoding="utf-8")
    refs = ctx.write("r.json", text[: len(text) // 2])
    return Case(["score", "--task", "qa", "--lang", "de", "--references", refs, "--predictions", ctx.write("p.jsonl", _preds_jsonl())], error=["r.json:", "malformed JSON"])


def case_score_references_missing(ctx):
    return Case(["score", "--task", "qa", "--lang", "de", "--references", ctx.dir / "none.json", "--predictions", ctx.write("p.jsonl", _preds_jsonl())], error=["none.json: no such file"])


def case_score_unknown_language(ctx):
    return Case(_score(ctx, ctx.write("p.jsonl", _preds_jsonl()))[:4] + ["xx-Nope"] + _score(ctx, ctx.dir / "p.jsonl")[5:], error=["xx-Nope"])


def case_score_unknown_task(ctx):
    return Case(["score", "--task", "sentiment", "--lang", "de", "--references", ctx.refs_de, "--predictions", ctx.write("p.jsonl", _preds_jsonl())], error=["unknown task", "sentiment"])


def case_score_summary_field_missing(ctx):
    refs = ctx.write("r.jsonl", '{"id": "1", "summary": "Ein Satz."}\n{"id": "2", "text": "kein Summary"}\n')
    preds = ctx.write("p.jsonl", '{"id": "1", "prediction": "Ein Satz."}\n')
    return Case(["score", "--task", "summarization", "--lang", "de", "--references", refs, "--predictions", preds], error=["r.jsonl:2", "'summary'", "missing"])


# generate ------------------------------------------------------------------------------------------------------------


def _gen(*extra) -> list:
    return ["generate", tiny_model("t5"), "--lang", "de", "--max-new-tokens", "2", *extra]


def _generated(n: int):
    def check(out: str, ctx: Ctx) -> None:
        rows = [json.loads(line) for line in out.strip().splitlines()]
        assert len(rows) == n and all("prediction" in r for r in rows), rows

    return check


def case_generate_unknown_language(ctx):
    return Case(["generate", tiny_model("t5"), "--lang", "klingon"], stdin=b"a\n", error=["klingon", "unknown language code"])


def case_generate_language_without_code(ctx):
    return Case(["generate", tiny_model("mbart50"), "--lang", "yo"], stdin=b"a\n", error=["no language code"])


def case_generate_input_is_a_directory(ctx):
    (ctx.dir / "inputs").mkdir()
    return Case(_gen("--input", ctx.dir / "inputs"), error=["inputs: is a directory"])


def case_generate_jsonl_without_input_field(ctx):
    return Case(_gen("--input", ctx.write("in.jsonl", '{"input": "a"}\n{"text": "b"}\n')), error=["in.jsonl:2", "'input'", "missing"])


def case_generate_latin1_text(ctx):
    return Case(_gen("--input", ctx.write("in.txt", "Zürich ist schön.\n".encode("latin-1"))), error=["in.txt:1", "not UTF-8"])


def case_generate_stdin_latin1(ctx):
    return Case(_gen(), stdin="eins\nZürich\n".encode("latin-1"), error=["<stdin>:2", "not UTF-8"])


def case_generate_text_with_bom_and_crlf(ctx):
    return Case(_gen("--input", ctx.write("in.txt", codecs.BOM_UTF8 + "Berlin ist groß.\r\nParis.\r\n".encode())), check=_generated(2))


def case_generate_empty_stdin(ctx):
    return Case(_gen(), stdin=b"\n \n", error=["<stdin>: no inputs"])


def case_generate_huge_input_line(ctx):
    return Case(_gen(), stdin=("Berlin ist groß. " * 20_000 + "\n").encode(), check=_generated(1))


def case_generate_output_is_a_directory(ctx):
    (ctx.dir / "out").mkdir()
    return Case(_gen("--output", ctx.dir / "out"), stdin=b"a\n", error=["out", "is a directory"])


def case_generate_output_under_a_file(ctx):
    ctx.write("a_file", "")
    return Case(_gen("--output", ctx.dir / "a_file" / "out.jsonl"), stdin=b"a\n", error=["a_file"])


def case_generate_missing_model(ctx):
    return Case(["generate", ctx.dir / "no-model", "--lang", "de"], stdin=b"a\n", error=["no-model", "no such directory"])


def case_generate_model_dir_without_model(ctx):
    (ctx.dir / "empty-model").mkdir()
    return Case(["generate", ctx.dir / "empty-model", "--lang", "de"], stdin=b"a\n", error=["empty-model", "cannot load"])


# evaluate ------------------------------------------------------------------------------------------------------------


def _eval(ctx: Ctx, *extra) -> list:
    return ["evaluate", ctx.run, "--max-examples", "2", "--max-new-tokens", "2", "--no-progress", *extra]


def case_evaluate_zero_beams(ctx):
    return Case(_eval(ctx, "--num-beams", "0"), error=["--num-beams", "at least 1, got 0"])


def case_evaluate_negative_max_examples(ctx):
    # Was a slice [:-1]: every example but the last, scored without a word.
    return Case(_eval(ctx, "--max-examples", "-1"), error=["--max-examples", "at least 1, got -1"])


def case_evaluate_zero_max_new_tokens(ctx):
    # Was read as "not given": the task's default length, silently.
    return Case(_eval(ctx, "--max-new-tokens", "0"), error=["--max-new-tokens", "at least 1, got 0"])


def case_generate_negative_max_new_tokens(ctx):
    return Case(_gen("--max-new-tokens", "-1"), stdin=b"Berlin\n", error=["--max-new-tokens", "at least 1, got -1"])


def case_translate_negative_max_examples(ctx):
    src = ctx.write("t.txt", "Hello.\n")
    return Case(["translate", src, "--to", "de", "--translator", "parallel:flores", "--out", ctx.dir / "tr", "--max-examples", "-1"],
                error=["--max-examples", "at least 1"])


def case_evaluate_several_languages_one_file(ctx):
    # Was accepted: the German file evaluated once as German and once as Chinese.
    return Case(_eval(ctx, "--data", ctx.refs_de, "--langs", "de,zh"), error=["2 languages (de, zh)", "xquad.de.json", "no {lang}"])


def case_train_several_languages_one_file(ctx):
    return Case(["train", ctx.config(), f"data.test={{path: '{ctx.refs_de}', languages: [de, zh]}}"], error=["data.test", "no {lang}"])


def case_evaluate_missing_language_file(ctx):
    return Case(_eval(ctx, "--data", ctx.data / "xquad" / "xquad.{lang}.json", "--langs", "de,ja", "--out", ctx.dir / "ev"), error=["xquad.ja.json", "no such data file"])


def case_evaluate_unknown_language(ctx):
    return Case(_eval(ctx, "--data", ctx.data / "xquad" / "xquad.{lang}.json", "--langs", "de,xx-Bogus", "--out", ctx.dir / "ev"), error=["xx-Bogus"])


def case_evaluate_out_is_a_file(ctx):
    return Case(_eval(ctx, "--out", ctx.write("ev", "")), error=["ev", "not writable"])


def case_evaluate_model_without_data(ctx):
    return Case(["evaluate", tiny_model("t5"), "--no-progress"], error=["--data"])


def case_evaluate_malformed_data(ctx):
    ctx.write("d/bad.de.json", '{"data": [\n{"paragraphs": [}\n]}')
    return Case(_eval(ctx, "--data", ctx.dir / "d" / "bad.{lang}.json", "--langs", "de", "--out", ctx.dir / "ev"), error=["bad.de.json:2", "malformed JSON"])


def case_evaluate_run_with_corrupt_config(ctx):
    run = ctx.dir / "run"
    shutil.copytree(ctx.run / "model", run / "model")
    ctx.write("run/config.yaml", "model: {name: [unclosed\n")
    return Case(["evaluate", run, "--no-progress"], error=["config.yaml", "malformed YAML"])


def case_evaluate_run_own_test_set(ctx):
    def check(out, ctx):
        assert set(json.loads(out)["results"]) == {"de"}

    return Case(_eval(ctx, "--out", ctx.dir / "ev"), check=check)


# train ---------------------------------------------------------------------------------------------------------------


def case_train_config_key_typo(ctx):
    cfg = base_config(ctx.data, ctx.dir / "out")
    cfg["train"]["lerning_rate"] = cfg["train"].pop("warmup_steps")
    return Case(["train", ctx.write("c.yaml", yaml.safe_dump(cfg))], error=["c.yaml", "train.lerning_rate", "unknown config field"])


def case_train_top_level_key_typo(ctx):
    cfg = base_config(ctx.data, ctx.dir / "out")
    cfg["trian"] = cfg.pop("train")
    return Case(["train", ctx.write("c.yaml", yaml.safe_dump(cfg))], error=["trian", "unknown config field"])


def case_train_override_typo(ctx):
    return Case(["train", ctx.config(), "train.lrr=1e-4"], error=["train.lrr", "unknown config field"])


def case_train_override_without_equals(ctx):
    return Case(["train", ctx.config(), "train.lr"], error=["train.lr", "key=value"])


def case_train_bad_number(ctx):
    return Case(["train", ctx.config(), "train.lr=fast"], error=["train.lr", "expected a number"])


def case_train_unknown_method(ctx):
    return Case(["train", ctx.config(), "adaptation.method=qlora"], error=["adaptation.method", "qlora"])


def case_train_unknown_task(ctx):
    return Case(["train", ctx.config(), "task.name=sentiment"], error=["task.name", "sentiment"])


def case_train_unknown_family(ctx):
    return Case(["train", ctx.config(), "model.family=rnn"], error=["model.family", "rnn"])


def case_train_unknown_test_language(ctx):
    return Case(["train", ctx.config(), "data.test.languages=[de,xx-Nope]"], error=["xx-Nope"])


def case_train_malformed_yaml(ctx):
    return Case(["train", ctx.config(raw="model:\n  name: x\n train: [\n")], error=["c.yaml:", "malformed YAML"])


def case_train_config_is_a_list(ctx):
    return Case(["train", ctx.config(raw="- a\n- b\n")], error=["c.yaml", "mapping"])


def case_train_config_is_a_directory(ctx):
    (ctx.dir / "cfgdir").mkdir()
    return Case(["train", ctx.dir / "cfgdir"], error=["cfgdir: is a directory"])


def case_train_config_latin1(ctx):
    return Case(["train", ctx.config(raw="# Zürich\nmodel: {name: embedded}\n".encode("latin-1"))], error=["c.yaml:1", "not UTF-8"])


def case_train_config_with_bom_and_crlf(ctx):
    text = yaml.safe_dump(base_config(ctx.data, ctx.dir / "out")).replace("\n", "\r\n")
    cfg = ctx.write("c.yaml", codecs.BOM_UTF8 + text.encode())

    def check(out, ctx):
        assert (ctx.dir / "out" / "results.json").exists()

    return Case(["train", cfg, "train.steps=1", "data.test=null", "--no-progress"], check=check)


def case_train_missing_config(ctx):
    return Case(["train", ctx.dir / "nope.yaml"], error=["nope.yaml", "no such"])


def case_train_output_under_a_file(ctx):
    ctx.write("a_file", "")
    return Case(["train", ctx.config(), f"output_dir={ctx.dir / 'a_file' / 'run'}"], error=["a_file", "not writable"])


def case_train_output_is_a_finished_run(ctx):
    return Case(["train", ctx.config(), f"output_dir={ctx.run}"], error=["already holds a run", "--resume"])


def case_train_truncated_training_data(ctx):
    text = (ctx.data / "xquad" / "xquad.en.json").read_text(encoding="utf-8")
    bad = ctx.write("train.json", text[: len(text) // 3])
    return Case(["train", ctx.config(), f"data.train=[{{path: '{bad}', lang: en}}]"], error=["train.json:", "malformed JSON"])


def case_train_empty_summarization_data(ctx):
    empty = ctx.write("empty.jsonl", "")
    return Case(["train", ctx.config(), "task.name=summarization", f"data.train=[{{path: '{empty}', lang: en}}]", "data.test=null"], error=["empty.jsonl", "no examples"])


def case_train_raw_text_latin1(ctx):
    ctx.write("raw.de.txt", "Eins.\nZwei.\nDrei für alle.\n".encode("latin-1"))
    cfg = base_config(ctx.data, ctx.dir / "out")
    cfg["data"] = {"raw": {"path": str(ctx.dir / "raw.{lang}.txt"), "languages": ["de"]}}
    return Case(["intermediate-tune", ctx.write("it.yaml", yaml.safe_dump(cfg))], error=["raw.de.txt:3", "not UTF-8"])


def case_train_numeric_key(ctx):
    return Case(["train", ctx.config(raw="1: x\nmodel: {name: embedded}\n")], error=["c.yaml", "Keys should be strings"])


def case_train_recursive_yaml_alias(ctx):
    return Case(["train", ctx.config(raw="model: &a {name: *a}\n")], error=["c.yaml", "model.name", "expected a string"])


def case_train_zero_eval_interval(ctx):
    return Case(["train", ctx.config(), "train.eval_every=0"], error=["train.eval_every", "at least 1"])


def case_train_nan_learning_rate(ctx):
    return Case(["train", ctx.config(), "train.lr=nan"], error=["train.lr", "finite"])


def case_train_unknown_guard(ctx):
    # Guards are built at the first evaluation: unchecked, a typo cost the whole training and left model/ behind.
    return Case(["train", ctx.config(), "generate.guard=[spam]"], error=["generate.guard", "unknown guard 'spam'"])


def case_train_unknown_rerank_option(ctx):
    return Case(["train", ctx.config(), "generate.guard=[rerank]", "generate.guard_options.rerank_when=sometimes"],
                error=["generate.guard_options.rerank_when", "sometimes"])


def case_train_span_guard_on_summarization(ctx):
    ref = ctx.write("s.de.jsonl", json.dumps({"id": "1", "text": "Ein Text.", "summary": "Text."}) + "\n")
    return Case(["train", ctx.config(), "task.name=summarization", f"data.train=[{{path: '{ref}', lang: de}}]",
                 f"data.test={{path: '{ref}', languages: [de]}}", "generate.guard=[span]"], error=["span needs an extractive task"])


def case_train_negative_steps(ctx):
    return Case(["train", ctx.config(), "train.steps=-5"], error=["train.steps", "at least 0"])


def case_train_zero_prompt_length(ctx):
    return Case(["train", ctx.config(), "adaptation={method: prompt, prompt: {length: 0}}"], error=["adaptation.prompt.length", "at least 1"])


def case_train_prompt_longer_than_the_model(ctx):
    return Case(["train", ctx.config(), f"model.name={tiny_model('mbart50')}", "adaptation={method: prompt, prompt: {length: 5000}}"],
                error=["5000 learned prompt vectors", "no room"])


def case_train_huge_paragraph(ctx):
    doc = {"data": [{"paragraphs": [{"context": "Berlin ist groß. " * 40_000, "qas": [{"id": "q", "question": "Was?", "answers": [{"text": "Berlin", "answer_start": 0}]}]}]}]}
    big = ctx.write("big.en.json", json.dumps(doc))

    def check(out, ctx):
        assert json.loads((ctx.dir / "out" / "results.json").read_text())["steps"] == 1

    return Case(["train", ctx.config(), f"data.train=[{{path: '{big}', lang: en}}]", "data.test=null", "train.steps=1", "--no-progress"], check=check)


def case_evaluate_unfinished_run(ctx):
    run = ctx.dir / "unfinished"
    run.mkdir()
    shutil.copy(ctx.run / "config.yaml", run / "config.yaml")
    return Case(["evaluate", run, "--no-progress"], error=["unfinished", "without a model", "not finished"])


def case_evaluate_diverged_run(ctx):
    run = ctx.dir / "diverged"
    run.mkdir()
    shutil.copy(ctx.run / "config.yaml", run / "config.yaml")
    (run / "results.json").write_text(json.dumps({"status": "diverged", "error": "diverged at step 3: the training loss is nan (lr=1e+08)"}))
    return Case(["evaluate", run, "--no-progress"], error=["diverged at step 3"])


def case_demo_missing_config(ctx):
    return Case(["demo", "--config", ctx.dir / "nope.yaml", "--out", ctx.dir / "demo"], error=["nope.yaml", "no such"])


def case_train_resume_not_a_run(ctx):
    (ctx.dir / "nothing").mkdir()
    return Case(["train", "--resume", ctx.dir / "nothing"], error=["not a run directory"])


def case_train_resume_with_extra_arguments(ctx):
    return Case(["train", "--resume", ctx.run, "train.lr=1"], error=["--resume takes the run directory only"])


def case_train_resume_tampered_checkpoint(ctx):
    import torch

    run = ctx.resumable_copy()
    last = sorted((run / "checkpoints").iterdir())[-1]
    state = torch.load(last / "state.pt", weights_only=True)
    state["rng"]["x"] = _Evil(str(ctx.dir / "pwned"))
    torch.save(state, last / "state.pt")
    return Case(["train", "--resume", run, "--no-progress"], error=["state.pt", "refused to load"], allow_new=["resumable"])


def case_train_resume_checkpoint_of_another_run(ctx):
    run = ctx.resumable_copy()
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["adaptation"]["method"] = "lora"  # the checkpoints hold full-finetuning weights
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return Case(["train", "--resume", run, "--no-progress"], error=["checkpoint of another run"], allow_new=["resumable"])


def case_train_resume_truncated_checkpoint(ctx):
    run = ctx.resumable_copy()
    last = sorted((run / "checkpoints").iterdir())[-1]
    data = (last / "trainable.safetensors").read_bytes()
    (last / "trainable.safetensors").write_bytes(data[:100])
    return Case(["train", "--resume", run, "--no-progress"], error=["trainable.safetensors", "unreadable"], allow_new=["resumable"])


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


# study and report ----------------------------------------------------------------------------------------------------


def _study(ctx: Ctx, **changes) -> Path:
    base = ctx.write("base.yaml", yaml.safe_dump(base_config(ctx.data, ctx.dir / "unused")))
    study = {"name": "s", "base": str(base), "models": {"tiny": {}}, "methods": {"full": {"adaptation.method": "full"}},
             "validation_languages": ["es"], "output_dir": str(ctx.dir / "s")}
    study.update(changes)
    return ctx.write("study.yaml", yaml.safe_dump(study))


def case_study_unknown_key(ctx):
    return Case(["study", _study(ctx, methodz={})], error=["study.yaml", "methodz", "unknown config field"])


def case_study_missing_base(ctx):
    return Case(["study", _study(ctx, base="missing.yaml")], error=["missing.yaml", "does not exist"])


def case_study_without_methods(ctx):
    return Case(["study", _study(ctx, methods={})], error=["needs models, tasks and methods"])


def case_study_unknown_executor(ctx):
    return Case(["study", _study(ctx, executor={"kind": "slurm"})], error=["executor.kind", "slurm"])


def case_study_unknown_protocol_field(ctx):
    return Case(["study", _study(ctx, protocol={"start_lr": [1e-3]})], error=["protocol", "start_lr"])


def case_study_malformed_yaml(ctx):
    return Case(["study", ctx.write("study.yaml", "name: s\nmodels: {tiny: {}\n")], error=["study.yaml:", "malformed YAML"])


def case_study_is_a_directory(ctx):
    (ctx.dir / "sd").mkdir()
    return Case(["study", ctx.dir / "sd"], error=["sd: is a directory"])


def case_report_not_a_study(ctx):
    (ctx.dir / "empty").mkdir()
    return Case(["report", ctx.dir / "empty", "--out", ctx.dir / "rep"], error=["no study.json"], allow_new=["rep"])


def case_report_run_directory_given(ctx):
    return Case(["report", ctx.run, "--out", ctx.dir / "rep"], error=["no study.json"], allow_new=["rep"])


def case_report_corrupt_study_json(ctx):
    study = ctx.dir / "st"
    shutil.copytree(ctx.study, study)
    (study / "study.json").write_text('{"name": "one",\n "models": ')
    return Case(["report", study, "--out", ctx.dir / "rep"], error=["study.json:2", "malformed JSON"], allow_new=["st", "rep"])


def case_report_truncated_results(ctx):
    study = ctx.dir / "st"
    shutil.copytree(ctx.study, study)
    res = next(study.glob("runs/*/results.json"))
    res.write_text(res.read_text()[:40])
    return Case(["report", study, "--out", ctx.dir / "rep"], error=["results.json", "malformed JSON"], allow_new=["st", "rep"])


def case_report_out_under_a_file(ctx):
    ctx.write("a_file", "")
    return Case(["report", ctx.study, "--out", ctx.dir / "a_file" / "rep"], error=["a_file"])


def case_report_of_a_finished_study(ctx):
    def check(out, ctx):
        assert (ctx.dir / "rep" / "report.md").exists() and (ctx.dir / "rep" / "results.csv").exists()

    return Case(["report", ctx.study, "--out", ctx.dir / "rep"], check=check)


# translate -----------------------------------------------------------------------------------------------------------


def _translate(ctx: Ctx, inp, *extra, translator="parallel:flores") -> list:
    return ["translate", inp, "--to", "de", "--translator", translator, "--cache", "none", "--no-progress", *extra]


def case_translate_missing_input(ctx):
    return Case(_translate(ctx, ctx.dir / "nope.txt", "--out", ctx.dir / "o"), error=["nope.txt", "no such"])


def case_translate_latin1_text(ctx):
    return Case(_translate(ctx, ctx.write("in.txt", "Hello.\nZürich is nice.\n".encode("latin-1")), "--out", ctx.dir / "o"), error=["in.txt:2", "not UTF-8"])


def case_translate_text_with_bom_and_crlf(ctx):
    def check(out, ctx):
        assert len((ctx.dir / "o" / "in.de.txt").read_text(encoding="utf-8").splitlines()) == 2

    return Case(_translate(ctx, ctx.write("in.txt", codecs.BOM_UTF8 + b"Hello.\r\nWorld.\r\n"), "--out", ctx.dir / "o"), check=check)


def case_translate_unknown_translator(ctx):
    return Case(_translate(ctx, ctx.write("in.txt", "Hello.\n"), "--out", ctx.dir / "o", translator="google:x"), error=["--translator", "google"])


def case_translate_unknown_language(ctx):
    args = _translate(ctx, ctx.write("in.txt", "Hello.\n"), "--out", ctx.dir / "o")
    args[args.index("--to") + 1] = "xx-Nope"
    return Case(args, error=["xx-Nope", "--to"])


def case_translate_out_under_a_file(ctx):
    ctx.write("a_file", "")
    return Case(_translate(ctx, ctx.write("in.txt", "Hello.\n"), "--out", ctx.dir / "a_file" / "o"), error=["a_file"])


def case_translate_corpus_pattern_matches_nothing(ctx):
    return Case(_translate(ctx, ctx.write("in.txt", "Hello.\n"), "--out", ctx.dir / "o", translator=f"parallel:{ctx.dir}/none.{{lang}}.txt"), error=["no files match"])


def case_translate_tsv_without_language_header(ctx):
    tsv = ctx.write("c.tsv", "a\tb\nx\ty\n")
    return Case(_translate(ctx, ctx.write("in.txt", "Hello.\n"), "--out", ctx.dir / "o", translator=f"parallel:{tsv}"), error=["c.tsv", "language columns"])


def case_translate_cache_is_a_directory(ctx):
    args = _translate(ctx, ctx.write("in.txt", "Hello.\n"), "--out", ctx.dir / "o")
    args[args.index("--cache") + 1] = ctx.dir
    return Case(args, error=["translation cache"])


def case_evaluate_translate_test_without_translator(ctx):
    return Case(_eval(ctx, "--mode", "translate-test"), error=["--translator"])


# transfer ------------------------------------------------------------------------------------------------------------


def case_transfer_missing_study(ctx):
    return Case(["transfer", ctx.dir / "nope.yaml", "--no-progress"], error=["nope.yaml", "no such"])


def case_transfer_study_key_typo(ctx):
    base = ctx.write("base.yaml", yaml.safe_dump(base_config(ctx.data, ctx.dir / "unused")))
    study = ctx.write("t.yaml", yaml.safe_dump({"name": "t", "base": str(base), "transferr": {}, "output_dir": str(ctx.dir / "t")}))
    return Case(["transfer", study, "--no-progress"], error=["t.yaml", "transfer"])


def case_transfer_study_malformed_yaml(ctx):
    return Case(["transfer", ctx.write("t.yaml", "name: t\nbase: [\n"), "--no-progress"], error=["t.yaml:", "malformed YAML"])


def case_transfer_report_not_a_transfer_study(ctx):
    (ctx.dir / "empty").mkdir()
    return Case(["transfer-report", ctx.dir / "empty", "--out", ctx.dir / "rep"], error=["no study.json"], allow_new=["rep"])


def case_transfer_report_of_a_generation_study(ctx):
    return Case(["transfer-report", ctx.study, "--out", ctx.dir / "rep"], error=["no index.json"], allow_new=["rep"])


# other commands ------------------------------------------------------------------------------------------------------


def case_unknown_command(ctx):
    return Case(["trian", "x.yaml"], error=["invalid choice", "trian"])


def case_trim_vocab_corpus_is_a_directory(ctx):
    (ctx.dir / "corpus").mkdir()
    return Case(["trim-vocab", tiny_model("t5"), "--corpora", ctx.dir / "corpus", "--out", ctx.dir / "trimmed"], error=["corpus: is a directory"])


def case_configs_lists_packaged_configs(ctx):
    def check(out, ctx):
        assert "demo.yaml" in json.loads(out)["configs"]

    return Case(["configs"], check=check)


CASES = {name[len("case_"):]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


# -- the harness --------------------------------------------------------------------------------------------------


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _leftover_temporaries(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name or p.name.startswith(".xlgen-probe")]


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input(name, tmp_path, data_dir, finished_run, finished_study, capsys, monkeypatch):
    ctx = Ctx(dir=tmp_path, data=data_dir, run=finished_run, study=finished_study, refs_de=data_dir / "xquad" / "xquad.de.json")
    case = CASES[name](ctx)
    before = _files(tmp_path)
    run_before = _files(finished_run)
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.stdin)))
    capsys.readouterr()
    try:
        code = main([str(a) for a in case.argv])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    if case.error is None:
        assert code == 0, err
        if case.check:
            case.check(out, ctx)
    else:
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("xlgen: error: "), (code, err)
        for fragment in case.error:
            assert fragment in lines[0], (fragment, lines[0])
        new = {f for f in _files(tmp_path) - before if not any(f == a or f.startswith(a + "/") for a in case.allow_new)}
        assert not new, f"files left by a failed command: {sorted(new)}"
    assert not _leftover_temporaries(tmp_path), _leftover_temporaries(tmp_path)
    assert _files(finished_run) == run_before  # shared fixtures are read, never written
    assert not (tmp_path / "pwned").exists()


def test_the_suite_is_large_enough():
    commands = {c.__name__.split("_")[1] for c in CASES.values()}
    assert len(CASES) >= 40 and {"score", "train", "evaluate", "generate", "study", "report", "translate", "transfer"} <= commands


def test_failed_start_leaves_no_empty_run_directory(tmp_path, data_dir, capsys):
    """The harness above counts files; a failed `xlgen train` also left the (empty) output directories it made."""
    cfg = base_config(data_dir, tmp_path / "runs" / "new" / "run")
    cfg["data"]["test"]["languages"] = ["xx-Nope"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "c.yaml"), "--no-progress"]) == 2
    assert "xx-Nope" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    (tmp_path / "mine").mkdir()  # a directory the user made is theirs: kept
    assert main(["train", str(tmp_path / "c.yaml"), f"output_dir={tmp_path / 'mine'}", "--no-progress"]) == 2
    assert (tmp_path / "mine").is_dir()
