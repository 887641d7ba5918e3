"""The command line: one-line errors with exit code 2, score/generate/evaluate on tiny models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xlgen.testing import tiny_model

REPO = Path(__file__).resolve().parents[1]


def xlgen(*args, stdin=None, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "xlgen", *map(str, args)], input=stdin, capture_output=True, text=True, env=env, cwd=cwd)


def assert_clean_error(r, *fragments):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("xlgen: error:"), r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_closed_output_pipe_is_no_traceback():
    """`xlgen configs | head -1`: the reader closes the pipe before the JSON is written."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    p = subprocess.Popen([sys.executable, "-m", "xlgen", "configs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdout.close()  # before the interpreter has even imported xlgen
    err = p.stderr.read().decode()
    assert p.wait() == 141 and "Traceback" not in err and "BrokenPipeError" not in err, err


def test_score_qa_matches_library(tmp_path, data_dir):
    refs = data_dir / "xquad" / "xquad.de.json"
    doc = json.load(open(refs))
    qas = [qa for art in doc["data"] for p in art["paragraphs"] for qa in p["qas"]]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": qa["id"], "prediction": qa["answers"][0]["text"] if i % 2 else "nichts"}) + "\n" for i, qa in enumerate(qas)))
    r = xlgen("score", "--task", "qa", "--lang", "de", "--references", refs, "--predictions", preds)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["n"] == 1190 and m["missing"] == 0
    assert 49 < m["exact_match"] < 51 and m["f1"] >= m["exact_match"]
    assert {"lang_correct", "avg_length"} <= set(m)
    r = xlgen("score", "--task", "qa", "--lang", "de", "--references", refs, "--predictions", preds, "--xquad-filter")
    assert r.returncode == 0 and json.loads(r.stdout)["n"] < 1000


def test_score_summarization_non_latin(tmp_path):
    refs = tmp_path / "r.jsonl"
    refs.write_text(json.dumps({"id": "1", "summary": "Москва — столица России."}, ensure_ascii=False) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "1", "prediction": "Москва — столица России."}, ensure_ascii=False) + "\n")
    r = xlgen("score", "--task", "summarization", "--lang", "ru", "--references", refs, "--predictions", preds)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    # The default profile is the paper's: gem-metrics ROUGE sees no Cyrillic letters, and says so.
    assert m["profile"] == "paper" and m["rouge1"] == 0.0 and "scored as empty" in m["flags"][0]
    assert m["profiles"]["multilingual"]["rouge1"] == pytest.approx(100) and m["lang_correct"] == 100
    assert m["langid_model"].startswith("lid.176.ftz")
    r = xlgen("score", "--task", "summarization", "--lang", "ru", "--references", refs, "--predictions", preds, "--profile", "multilingual")
    m = json.loads(r.stdout)
    assert m["profile"] == "multilingual" and m["rouge1"] == pytest.approx(100) and m["rouge2"] == pytest.approx(100) and m["rouge1_ci"] == pytest.approx([100, 100])


def test_score_any_task_through_its_own_scorer(tmp_path):
    """`xlgen score` is the task's own scoring: a generic JSONL task scored with SQuAD F1 (list references)."""
    refs = tmp_path / "r.jsonl"
    refs.write_text(json.dumps({"id": 7, "answers": ["the Eiffel Tower", "Eiffel Tower"]}) + "\n" + json.dumps({"id": 8, "answers": ["Paris"]}) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "7", "prediction": "Eiffel Tower"}) + "\n")
    r = xlgen("score", "--task", "jsonl", "--metric", "squad", "--reference-field", "answers", "--lang", "en", "--references", refs, "--predictions", preds)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert (m["f1"], m["exact_match"], m["n"], m["missing"]) == (50.0, 50.0, 2, 1)
    assert [k for k in m if not k.endswith("_ci")][:7] == ["profile", "f1", "exact_match", "lang_correct", "avg_length", "n", "flags"]
    assert m["profile"] == "paper" and set(m["profiles"]) == {"paper", "multilingual"} and m["f1_ci"][0] <= 50.0 <= m["f1_ci"][1]
    assert_clean_error(xlgen("score", "--task", "jsonl", "--metric", "bleu", "--reference-field", "answers", "--lang", "en", "--references", refs, "--predictions", preds), "task.metric", "bleu")


def test_score_bad_inputs(tmp_path, data_dir):
    """Through the real entry point (a fresh interpreter): the one-line error and exit 2. The many other bad inputs
    are cases of tests/test_hostile_inputs.py, which runs the CLI in-process."""
    refs = data_dir / "xquad" / "xquad.de.json"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prediction": "x"}\n{"id": "b", "prediction": \n')
    assert_clean_error(xlgen("score", "--task", "qa", "--lang", "de", "--references", refs, "--predictions", bad), "bad.jsonl:2", "malformed JSON")


def _config(tmp_path, data_dir, family="t5", **extra):
    xquad = data_dir / "xquad" / "xquad.{lang}.json"
    text = f"""
model: {{name: "{tiny_model(family)}", max_input_length: 64}}
task: {{name: qa}}
data:
  train: [{{path: "{xquad}", lang: en, max_examples: 8}}]
  test: {{path: "{xquad}", languages: [de], max_examples: 3}}
train: {{steps: 2, warmup_steps: 1, max_tokens: 400, save_every: 2, eval_every: 100}}
generate: {{max_new_tokens: 4}}
output_dir: "{tmp_path / 'run'}"
"""
    p = tmp_path / "c.yaml"
    p.write_text(text + "".join(f"{k}: {v}\n" for k, v in extra.items()))
    return p


def test_train_evaluate_generate_roundtrip(tmp_path, data_dir):
    cfg = _config(tmp_path, data_dir)
    r = xlgen("train", cfg, "train.lr=1e-4", "--no-progress")
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    assert json.loads((run / "results.json").read_text())["lr"] == 1e-4
    # evaluate a run directory on other languages
    r = xlgen("evaluate", run, "--data", data_dir / "xquad" / "xquad.{lang}.json", "--langs", "es,ru", "--max-examples", "2", "--out", tmp_path / "ev", "--no-progress")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["results"]) == {"es", "ru"} and (tmp_path / "ev" / "predictions" / "ru.jsonl").exists()
    # evaluate with the run's own test set
    r = xlgen("evaluate", run, "--no-progress")
    assert r.returncode == 0 and set(json.loads(r.stdout)["results"]) == {"de"}
    # generate from stdin, plain text
    r = xlgen("generate", run, "--lang", "de", stdin="Berlin ist die Hauptstadt.\nParis ist schön.\n")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert len(rows) == 2 and all("prediction" in x for x in rows)
    # generate from a JSONL file with QA fields, to a file
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "q1", "input": "Berlin ist die Hauptstadt.", "question": "Was ist Berlin?"}) + "\n")
    r = xlgen("generate", run, "--lang", "de", "--input", inp, "--output", tmp_path / "out.jsonl")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out.jsonl").read_text())["id"] == "q1"


def test_train_bad_inputs(tmp_path, data_dir):
    """Through the real entry point; tests/test_hostile_inputs.py holds the other cases (in-process)."""
    cfg = _config(tmp_path, data_dir)
    assert_clean_error(xlgen("train", cfg, "train.lr=fast"), "train.lr")
    assert_clean_error(xlgen("generate", tiny_model("mbart50"), "--lang", "yo", stdin="a\n"), "no language code")
    assert not (tmp_path / "run" / "results.json").exists()


def test_intermediate_tune_and_trim_vocab_commands(tmp_path, data_dir):
    raw = data_dir / "ud_monolingual_text" / "ud_text.{lang}.txt"
    cfg = tmp_path / "it.yaml"
    cfg.write_text(f"""
model: {{name: "{tiny_model('t5')}", max_input_length: 48, max_target_length: 24}}
data:
  raw: {{path: "{raw}", languages: [de, zh], max_lines: 100}}
  objective: {{name: prefix_lm, segment_chars: 150}}
train: {{steps: 2, warmup_steps: 1, max_tokens: 300, save_every: 2}}
output_dir: "{tmp_path / 'it'}"
""")
    r = xlgen("intermediate-tune", cfg, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"].endswith("model") and (tmp_path / "it" / "model" / "config.json").exists()
    r = xlgen("trim-vocab", tmp_path / "it", "--corpora", data_dir / "ud_monolingual_text" / "ud_text.de.txt", "--out", tmp_path / "trimmed")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["vocab_size_after"] < report["vocab_size_before"]
    assert_clean_error(xlgen("trim-vocab", tmp_path / "it", "--corpora", tmp_path / "missing.txt", "--out", tmp_path / "t2"), "missing.txt")
