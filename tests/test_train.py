"""End-to-end runs on tiny real models of every family: train a few steps, evaluate, resume. (Kill -9 and resume: tests/test_faults.py.)"""

import json
from pathlib import Path

import pytest
import torch

from xlgen.config import DataConfig, DatasetSpec, GenerateConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from xlgen.errors import XlgenError
from xlgen.testing import tiny_model
from xlgen.train import train


def small_run(tmp_path, family, data_dir, **train_kw) -> RunConfig:
    xquad = str(data_dir / "xquad" / "xquad.{lang}.json")
    tkw = dict(lr=1e-3, steps=4, warmup_steps=1, max_tokens=600, eval_every=2, save_every=2, log_every=1)
    tkw.update(train_kw)
    return RunConfig(
        model=ModelConfig(name=str(tiny_model(family)), max_input_length=96),
        task=TaskConfig(name="qa"),
        data=DataConfig(
            train=[DatasetSpec(path=xquad, lang="en", max_examples=24)],
            dev=DatasetSpec(path=xquad, languages=["es"], max_examples=3),
            test=DatasetSpec(path=xquad, languages=["en", "de", "zh"], max_examples=4),
        ),
        train=TrainConfig(**tkw),
        generate=GenerateConfig(max_new_tokens=6),
        output_dir=str(tmp_path / family),
    )


FAMILIES = ["t5", "mt5", "byt5", "mbart50", "nllb", "m2m100", "marian", "causal"]


@pytest.mark.parametrize("family", FAMILIES)
def test_train_evaluate_every_family(tmp_path, data_dir, family):
    cfg = small_run(tmp_path, family, data_dir)
    results = train(cfg, progress=False)
    run = Path(cfg.output_dir)
    assert (run / "config.yaml").exists() and (run / "results.json").exists()
    assert set(results["test"]) == {"en", "de", "zh"}
    for lang in ("en", "de", "zh"):
        rows = [json.loads(line) for line in open(run / "predictions" / f"{lang}.jsonl")]
        assert len(rows) == 4 and all({"id", "prediction", "output", "references"} <= set(r) for r in rows)
    metrics = [json.loads(line) for line in open(run / "metrics.jsonl")]
    dev = [m for m in metrics if m["split"] == "dev"]
    assert [m["step"] for m in dev] == [2, 4] and all(m["lang"] == "es" for m in dev)
    for m in metrics:
        assert {"f1", "exact_match", "lang_correct", "avg_length", "n"} <= set(m)
    log = [json.loads(line) for line in open(run / "train_log.jsonl")]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["loss"] == r["loss"] for r in log)
    assert (run / "model" / "config.json").exists()
    assert not (run / "checkpoints").exists()  # a finished run drops its checkpoints


@pytest.mark.parametrize("family", ["mbart50", "nllb", "m2m100"])
def test_target_language_code_is_first_generated_token(tmp_path, data_dir, family):
    from xlgen.backbones import load_backbone
    from xlgen.config import TaskConfig
    from xlgen.evaluate import generate
    from xlgen.languages import resolve_model_language_code
    from xlgen.tasks import get_task

    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=64))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=3), "de")
    for lang in ("de", "zh", "ar"):
        enc = backbone.encode(exs, task, target_lang=lang, with_target=False)
        batch = backbone.collate(enc, "cpu")
        rows = backbone.generate(backbone.model, batch, lang, 4, 1)
        code_id = backbone.tokenizer.convert_tokens_to_ids(resolve_model_language_code(lang, backbone.tokenizer))
        assert all(r[0] == code_id for r in rows)
        # The source carries the source language code (German inputs).
        src_code = backbone.tokenizer.convert_tokens_to_ids(resolve_model_language_code("de", backbone.tokenizer))
        assert src_code in enc[0].input_ids[:2]
        gens = generate(backbone, backbone.model, exs, task, lang, GenerateConfig(max_new_tokens=4), progress=False)
        code = resolve_model_language_code(lang, backbone.tokenizer)
        assert all(code not in g.prediction for g in gens)  # the forced code is removed before scoring


def test_causal_loss_only_on_target_tokens(data_dir):
    from xlgen.backbones import load_backbone
    from xlgen.tasks import get_task

    backbone = load_backbone(ModelConfig(name=str(tiny_model("causal"))))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=4), "en")
    enc = backbone.encode(exs, task)
    batch = backbone.collate(enc, "cpu")
    loss_sum, n = backbone.loss(backbone.model, batch)
    assert n == sum(len(e.labels) for e in enc)
    # Same value as the full-logits loss transformers computes, restricted to the same labels.
    out = backbone.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    assert torch.allclose(loss_sum / n, out.loss, atol=1e-5)
    # The prompt names the target language.
    prompt = backbone.tokenizer.decode(backbone.encode(exs[:1], task, target_lang="de", with_target=False)[0].input_ids)
    assert prompt.rstrip().endswith("Answer in German:")


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "causal"])
def test_seq2seq_loss_matches_the_models_own(data_dir, family):
    """The loss builds decoder inputs itself (sparing the model's unused second loss); the value must not change."""
    from xlgen.backbones import load_backbone
    from xlgen.tasks import get_task

    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=96))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=4), "en")
    batch = backbone.collate(backbone.encode(exs, task), "cpu")
    loss_sum, n = backbone.loss(backbone.model, batch)
    out = backbone.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    assert n == int((batch["labels"] != -100).sum())
    assert torch.allclose(loss_sum / n, out.loss, atol=1e-5)


def test_compiled_loss_trains_like_eager(tmp_path, data_dir):
    """`train.compile` traces xlgen's loss (the label-only projection included) without changing what is learned.
    The aot_eager backend checks the tracing without generating C++ kernels (the slow part on CPU)."""
    losses = {}
    for comp in (False, True):
        # Compiled runs bucket their shapes by default (bucketing: auto); the eager run buckets too, for the same batches.
        cfg = small_run(tmp_path / str(comp), "causal", data_dir, steps=3, eval_every=100, save_every=100, compile=comp, compile_backend="aot_eager", bucketing="on")
        cfg.data.dev, cfg.data.test = None, None
        train(cfg, progress=False)
        losses[comp] = [json.loads(line)["loss"] for line in open(Path(cfg.output_dir) / "train_log.jsonl")]
    assert len(losses[True]) == 3
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)


def test_input_cropped_but_question_kept(data_dir):
    from xlgen.backbones import load_backbone
    from xlgen.tasks import get_task

    backbone = load_backbone(ModelConfig(name=str(tiny_model("mt5")), max_input_length=40))
    task = get_task(TaskConfig(name="qa"))
    ex = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=1), "en")[0]
    enc = backbone.encode([ex], task)[0]
    assert len(enc.input_ids) == 40
    q = backbone.tokenizer(ex.suffix, add_special_tokens=False)["input_ids"]
    assert enc.input_ids[-len(q) - 1 : -1] == q  # question, then </s>


def test_unknown_language_fails_before_training(tmp_path, data_dir):
    cfg = small_run(tmp_path, "mbart50", data_dir)
    cfg.data.test.languages = ["en", "xx"]
    with pytest.raises(XlgenError, match="xx"):
        train(cfg, progress=False)
    cfg.data.test.languages = ["en", "yo"]  # a real language mBART-50 has no code for
    with pytest.raises(XlgenError, match="no language code"):
        train(cfg, progress=False)
    assert not (Path(cfg.output_dir) / "checkpoints").exists()
    assert not (Path(cfg.output_dir) / "results.json").exists()


def test_existing_run_dir_is_not_overwritten(tmp_path, data_dir):
    cfg = small_run(tmp_path, "causal", data_dir, steps=2)
    train(cfg, progress=False)
    with pytest.raises(XlgenError, match="--resume"):
        train(cfg, progress=False)


def test_tensorboard_tracking_mirrors_the_logs(tmp_path, data_dir):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = small_run(tmp_path, "t5", data_dir, steps=2)
    cfg.tracking = ["tensorboard"]
    train(cfg, progress=False)
    acc = EventAccumulator(str(Path(cfg.output_dir) / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "dev/es/f1", "test/de/f1", "test/zh/lang_correct"} <= tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_mlflow_tracking_mirrors_the_logs(tmp_path, data_dir, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow is not installed")
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = small_run(tmp_path, "t5", data_dir, steps=2)
    cfg.tracking = ["mlflow"]
    train(cfg, progress=False)
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs(experiment_ids=[e.experiment_id for e in client.search_experiments()])
    assert [r.info.run_name for r in runs] == ["t5"] and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["train.lr"] == "0.001"
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss")] == [1, 2]
    assert {"dev/es/f1", "test/de/f1", "test/zh/lang_correct"} <= set(runs[0].data.metrics)


def test_wandb_tracking_mirrors_the_logs(tmp_path, data_dir, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")  # no account, no network: the run is written locally
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    from xlgen.tracking import Trackers

    # An offline run keeps its history in a binary log that only `wandb sync` reads, so the test records what xlgen
    # hands to the real run's `log` (which still runs) and reads the live run's config before xlgen finishes it.
    logged, seen = [], {}
    log, close = wandb.Run.log, Trackers.close

    def log_and_record(self, data, step=None, **kw):
        logged.append((step, dict(data)))
        return log(self, data, step=step, **kw)

    def close_and_record(self):
        for kind, handle in self.backends:
            if kind == "wandb":
                seen.update(config=dict(handle.config), name=handle.name, summary=dict(handle.summary))
        close(self)

    monkeypatch.setattr(wandb.Run, "log", log_and_record)
    monkeypatch.setattr(Trackers, "close", close_and_record)
    cfg = small_run(tmp_path, "t5", data_dir, steps=2)
    cfg.tracking = ["wandb"]
    train(cfg, progress=False)
    assert seen["name"] == "t5" and seen["config"]["train"]["lr"] == 0.001
    assert "train/loss" in seen["summary"]  # step 1 was committed to the run while it trained
    assert [step for step, data in logged if "train/loss" in data] == [1, 2]
    keys = {k for _, data in logged for k in data}
    assert {"dev/es/f1", "test/de/f1", "test/zh/lang_correct"} <= keys
    runs = list((Path(cfg.output_dir) / "wandb").glob("offline-run-*/*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0


def test_unknown_tracker_is_a_clear_error(tmp_path, data_dir):
    cfg = small_run(tmp_path, "t5", data_dir, steps=1)
    cfg.tracking = ["comet"]
    with pytest.raises(XlgenError, match="unknown tracker 'comet'"):
        train(cfg, progress=False)

