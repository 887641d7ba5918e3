"""The paper's own setting end to end: tiny random-init BERT and XLM-R (real tokenizer classes), POS / NER / NLI,
MLM transfer steps, task adapters with heads, fusion; the readers' and the study's errors on bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
import yaml

from xlgen.cli import main
from xlgen.config import TaskConfig
from xlgen.errors import XlgenError
from xlgen.io import read_json, read_jsonl_lenient
from xlgen.tasks import get_task
from xlgen.testing_encoders import tiny_encoder
from xlgen.transfer.config import load_transfer_study
from xlgen.transfer.runner import TransferStudy

RAW = {"path": "${XLGEN_DATA}/ud_monolingual_text/ud_text.{lang}.txt", "max_lines": 12}


def _write(tmp_path: Path, model: str, task: dict, train: dict, targets: dict, **extra) -> Path:
    base = {"model": {"name": str(tiny_encoder(model))}, "task": task, "data": {"train": [train]},
            "train": {"steps": 3, "warmup_steps": 1, "max_tokens": 600, "log_every": 1, "save_every": 100, "lr": 1e-3}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {"name": "enc", "base": "base.yaml", "targets": targets, "output_dir": str(tmp_path / "out"),
             "transfer": {"languages": ["de"], "raw": RAW, "steps": [1, 2], "overrides": {"train.max_tokens": 300}}, "seeds": [0, 1], **extra}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    return tmp_path / "study.yaml"


POS_TARGETS = {"languages": ["de", "fo"], "data": {"path": "${XLGEN_DATA}/ud_pos/{name}-ud-test.conllu.gz", "lang_names": {"de": "de_pud", "fo": "fo_oft"}, "max_examples": 6}}
POS_TRAIN = {"path": "${XLGEN_DATA}/ud_pos/en_ewt-ud-train.conllu.gz", "lang": "en", "max_examples": 24}


def test_pos_study_with_tiny_bert_marks_unseen_targets(tmp_path, data_dir):
    path = _write(tmp_path, "bert", {"name": "pos"}, POS_TRAIN, POS_TARGETS, pretraining_languages="mbert")
    assert main(["transfer", str(path), "--no-progress"]) == 0
    out = tmp_path / "out"
    index = read_json(out / "index.json")
    cells = [v for v in index.values() if v["kind"] == "transfer"]
    assert len(cells) == 4
    for v in cells:
        res = read_json(Path(v["run_dir"]) / "results.json")
        assert set(res["test"]) == {"de", "fo"} and 0 <= res["test"]["fo"]["accuracy"] <= 100
        cfg = yaml.safe_load((Path(v["run_dir"]) / "transfer" / "config.yaml").read_text())
        assert cfg["data"]["objective"]["name"] == "pretraining" and cfg["adaptation"]["method"] == "full"
        rows = read_jsonl_lenient(Path(v["run_dir"]) / "predictions" / "de.jsonl")
        assert len(rows) == 6 and all(r["total"] == len(r["pred_tags"]) for r in rows)
    # the task adapter artifact holds the head with the adapters
    ta = Path(next(v["run_dir"] for v in index.values() if v["kind"] == "task_adapter")) / "model"
    from safetensors.torch import load_file

    keys = load_file(str(ta / "trained.safetensors"))
    assert any(k.startswith("xlgen_head.") for k in keys) and any(".adapters.task." in k for k in keys)
    text = (out / "report" / "report.md").read_text()
    assert "fo*" in text and "unseen" in text and "| seen |" in text  # seen vs unseen compared


def test_transfer_step_changes_the_base_and_keeps_the_task_adapter(tmp_path, data_dir):
    """A k-step MLM run moves the base weights; the task adapter and head re-attached are bit-identical."""
    from xlgen.config import ModelConfig
    from xlgen.transfer.cells import load_with_task_adapter
    from xlgen.adaptation.adapters import adapter_state

    path = _write(tmp_path, "xlmr", {"name": "pos"}, POS_TRAIN, POS_TARGETS)
    data = yaml.safe_load(path.read_text())
    data["transfer"]["steps"], data["seeds"] = [2], [0]
    path.write_text(yaml.safe_dump(data))
    study = TransferStudy(load_transfer_study(path))
    study.run(progress=False)
    cell = Path(next(v["run_dir"] for v in study.index.values() if v["kind"] == "transfer"))
    ta = Path(next(v["run_dir"] for v in study.index.values() if v["kind"] == "task_adapter")) / "model"
    from xlgen.tasks import get_task

    task = get_task(TaskConfig(name="pos"))
    base = load_with_task_adapter(ModelConfig(name=str(tiny_encoder("xlmr"))), str(tiny_encoder("xlmr")), str(ta), task, "cpu")
    from transformers import AutoModelForMaskedLM

    orig = AutoModelForMaskedLM.from_pretrained(str(tiny_encoder("xlmr")))
    assert torch.equal(base.model.roberta.embeddings.word_embeddings.weight, orig.roberta.embeddings.word_embeddings.weight)
    log = read_jsonl_lenient(cell / "transfer" / "train_log.jsonl")
    assert len(log) == 2 and all(r["loss"] > 0 for r in log)
    from safetensors.torch import load_file

    saved = load_file(str(ta / "trained.safetensors"))
    state = adapter_state(base.model, "task")
    assert all(torch.equal(saved[k], v) for k, v in state.items())


def test_ner_with_tiny_xlmr_and_masakhaner_label_map(tmp_path, data_dir):
    targets = {"languages": ["de", "ha"], "data": {"path": "${XLGEN_DATA}/{name}", "max_examples": 6,
                                                    "lang_names": {"de": "wikineural_ner/de.test.conllu.gz", "ha": "masakhaner/hau.test.txt.gz"}}}
    train = {"path": "${XLGEN_DATA}/wikineural_ner/en.val.conllu.gz", "lang": "en", "max_examples": 24}
    inter = {"languages": ["de", "ru"], "raw": RAW, "adapter": {"train.steps": 1}, "fusion": {"train.steps": 1}}
    path = _write(tmp_path, "xlmr", {"name": "ner", "label_map": {"DATE": "O"}}, train, targets, interference=inter, pretraining_languages="xlmr")
    data = yaml.safe_load(path.read_text())
    data["transfer"]["steps"], data["seeds"] = [1], [0]
    path.write_text(yaml.safe_dump(data))
    assert main(["transfer", str(path), "--no-progress"]) == 0
    index = read_json(tmp_path / "out" / "index.json")
    res = read_json(Path(next(v["run_dir"] for v in index.values() if v["kind"] == "baseline")) / "results.json")
    assert res["primary_metric"] == "f1" and {"f1", "precision", "recall"} <= set(res["test"]["ha"])
    fusion = [v for v in index.values() if v["kind"] == "fusion"]
    assert len(fusion) == 3
    assert "de+ru" in (tmp_path / "out" / "report" / "interference.csv").read_text()

    # without the map, MasakhaNER's DATE is outside WikiNEuRal's label set: an error at its line, before training
    data["task"] = None
    base = yaml.safe_load((tmp_path / "base.yaml").read_text())
    base["task"] = {"name": "ner"}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    data["output_dir"] = str(tmp_path / "out2")
    data.pop("task")
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(XlgenError, match=r"hau\.test\.txt\.gz:\d+: field 'tag': label 'B-DATE' is not in the label set"):
        TransferStudy(load_transfer_study(path)).validate()


def test_nli_with_tiny_bert_on_xnli_and_americasnli(tmp_path, data_dir):
    targets = {"languages": ["de", "aym"], "data": {"path": "${XLGEN_DATA}/{name}", "max_examples": 6,
                                                     "lang_names": {"de": "xnli/test-de.tsv.gz", "ay": "americasnli/test-aym.tsv.gz"}}}
    train = {"path": "${XLGEN_DATA}/xnli/dev-en.tsv.gz", "lang": "en", "max_examples": 24}
    path = _write(tmp_path, "bert", {"name": "nli"}, train, targets, pretraining_languages="mbert")
    data = yaml.safe_load(path.read_text())
    data["transfer"]["steps"], data["seeds"] = [1], [0]
    path.write_text(yaml.safe_dump(data))
    assert main(["transfer", str(path), "--no-progress"]) == 0
    index = read_json(tmp_path / "out" / "index.json")
    res = read_json(Path(next(v["run_dir"] for v in index.values() if v["kind"] == "transfer")) / "results.json")
    assert set(res["test"]) == {"de", "ay"} and res["primary_metric"] == "accuracy"
    assert "ay*" in (tmp_path / "out" / "report" / "report.md").read_text()


def test_pud_text_as_transfer_text_is_refused_for_pos_on_pud(tmp_path, data_dir):
    raw = {"path": "${XLGEN_DATA}/ud_pud_parallel/pud.{lang}.tsv"}
    path = _write(tmp_path, "bert", {"name": "pos"}, POS_TRAIN, POS_TARGETS)
    data = yaml.safe_load(path.read_text())
    data["transfer"]["raw"] = raw
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(XlgenError, match=r"pud\.de\.tsv:\d+: field 'transfer\.raw': .*evaluation sentence of .*de_pud-ud-test"):
        TransferStudy(load_transfer_study(path)).validate()


def _gz(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    return path


def test_readers_name_file_line_and_field(tmp_path):
    pos = get_task(TaskConfig(name="pos"))
    good = "# sent_id = 1\n1\tDer\tder\tDET\t_\t_\t2\tdet\t_\t_\n2-3\tzum\t_\t_\t_\t_\t_\t_\t_\t_\n"
    f = _gz(tmp_path / "a.conllu.gz", good + "2\tHund\tHund\tNOUN\t_\t_\t0\troot\t_\n\n")
    with pytest.raises(XlgenError, match=r"a\.conllu\.gz:4: field 'ID': a CoNLL-U word line has 10 tab-separated fields, this one has 9"):
        pos.load_file(f, "de")
    f = _gz(tmp_path / "b.conllu.gz", good + "2\tHund\tHund\tNOMEN\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(XlgenError, match=r"b\.conllu\.gz:4: field 'UPOS': unknown tag 'NOMEN'"):
        pos.load_file(f, "de")
    ok = pos.load_file(_gz(tmp_path / "c.conllu.gz", good + "2\tHund\tHund\tNOUN\t_\t_\t0\troot\t_\t_\n\n"), "de")
    assert ok[0].tokens == ["Der", "Hund"] and ok[0].tags == ["DET", "NOUN"] and ok[0].id == "1"  # the 2-3 range is skipped

    ner = get_task(TaskConfig(name="ner"))
    f = tmp_path / "n.txt"
    f.write_text("Trump B-PER\naike O\nda\n", encoding="utf-8")
    with pytest.raises(XlgenError, match=r"n\.txt:3: field 'tag': expected a token and an IOB2 tag"):
        ner.load_file(f, "ha")
    f.write_text("Trump B-PER\naike X-PER\n", encoding="utf-8")
    with pytest.raises(XlgenError, match=r"n\.txt:2: field 'tag': 'X-PER' is not an IOB2 tag"):
        ner.load_file(f, "ha")

    nli = get_task(TaskConfig(name="nli"))
    f = tmp_path / "x.tsv"
    f.write_text("A man.\tA person.\tentailment\nA dog.\tcontradiction\n", encoding="utf-8")
    with pytest.raises(XlgenError, match=r"x\.tsv:2: field 'label': expected 3 tab-separated fields"):
        nli.load_file(f, "en")
    f.write_text("A man.\tA person.\tentails\n", encoding="utf-8")
    with pytest.raises(XlgenError, match=r"x\.tsv:1: field 'label': unknown label 'entails'"):
        nli.load_file(f, "en")


def test_malformed_target_file_is_a_one_line_cli_error_before_training(tmp_path, data_dir, capsys):
    bad = _gz(tmp_path / "de_bad-ud-test.conllu.gz", "1\tDer\tder\tDET\t_\t_\t2\tdet\t_\t_\n2\tHund\n\n")
    targets = {"languages": ["de"], "data": {"path": str(tmp_path / "de_bad-ud-test.conllu.gz")}}
    path = _write(tmp_path, "bert", {"name": "pos"}, POS_TRAIN, targets)
    assert main(["transfer", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bad}:2: field 'ID'" in err
    assert not (tmp_path / "out" / "runs").exists()


def test_entity_f1_is_seqeval_and_matches_its_documented_example():
    """seqeval's README example: one of two gold entities found, one of two predictions right -> F1 0.50."""
    ner = get_task(TaskConfig(name="ner"))
    from xlgen.tasks.classification import TaggedExample

    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    exs = [TaggedExample(id=str(i), lang="en", input="", tokens=["w"] * len(g), tags=g) for i, g in enumerate(gold)]
    assert ner.score_labels(exs, pred)["f1"] == pytest.approx(50.0)


def test_mlm_masking_is_15_percent_80_10_10_and_never_specials(data_dir):
    from xlgen.backbones import load_backbone
    from xlgen.config import ModelConfig, ObjectiveConfig
    from xlgen.objectives import get_objective

    bb = load_backbone(ModelConfig(name=str(tiny_encoder("bert"))))
    assert bb.family == "encoder"
    obj = get_objective(ObjectiveConfig(name="pretraining"), bb.family, bb.tokenizer)
    assert obj.name == "mlm"
    text = (data_dir / "ud_monolingual_text" / "ud_text.de.txt").read_text(encoding="utf-8").splitlines()[:400]
    items = bb.encode([obj.make(t, "de", None, str(i)) for i, t in enumerate(text) if t.strip()], obj)
    torch.manual_seed(0)
    orig = bb.collate(items, "cpu")
    torch.manual_seed(0)
    clean = torch.nn.utils.rnn.pad_sequence([torch.tensor(it.input_ids) for it in items], batch_first=True, padding_value=bb.pad_id)
    labels, ids, mask = orig["labels"], orig["input_ids"], orig["attention_mask"]
    special = torch.isin(clean, torch.tensor(bb.tokenizer.all_special_ids)) | (mask == 0)
    masked = labels != -100
    assert not (masked & special).any()
    share = masked.sum().item() / (~special).sum().item()
    assert 0.13 < share < 0.17
    as_mask = (ids[masked] == bb.tokenizer.mask_token_id).float().mean().item()
    kept = (ids[masked] == clean[masked]).float().mean().item()
    assert 0.75 < as_mask < 0.85 and 0.06 < kept < 0.14
    assert torch.equal(labels[masked], clean[masked])


def test_nli_reads_hub_records_as_multinli_labels_them():
    nli = get_task(TaskConfig(name="nli"))
    rows = [{"premise": "A man.", "hypothesis": "A person.", "label": 0}, {"premise": "x", "hypothesis": "y", "label": -1},
            {"premise": "A dog.", "hypothesis": "A cat.", "label": 2}]
    exs = nli.load_hf(rows, "hf:nyu-mll/multi_nli", "en")
    assert [e.target for e in exs] == ["entailment", "contradiction"]
    with pytest.raises(XlgenError, match="record 0: field 'hypothesis' missing"):
        nli.load_hf([{"premise": "a", "label": 1}], "hf:x", "en")


@pytest.mark.parametrize("task_name", ["pos", "nli", "mlm"])
def test_bucketed_encoder_batches_give_the_loss_of_exact_ones(task_name, data_dir):
    """Shape buckets (issue 9) pad encoder batches too: longer rows and empty extra rows must not change the loss."""
    from xlgen.backbones import load_backbone
    from xlgen.config import ModelConfig, ObjectiveConfig
    from xlgen.objectives import get_objective
    from xlgen.perf.buckets import BucketPolicy

    bb = load_backbone(ModelConfig(name=str(tiny_encoder("bert"))))
    if task_name == "mlm":
        obj = get_objective(ObjectiveConfig(name="pretraining"), bb.family, bb.tokenizer)
        text = (data_dir / "ud_monolingual_text" / "ud_text.de.txt").read_text(encoding="utf-8").splitlines()[:6]
        items = bb.encode([obj.make(t, "de", None, str(i)) for i, t in enumerate(text) if t.strip()], obj)
    else:
        task = get_task(TaskConfig(name=task_name))
        bb.prepare(task)
        path = data_dir / ("ud_pos/en_ewt-ud-train.conllu.gz" if task_name == "pos" else "xnli/dev-de.tsv.gz")
        if not path.exists():
            pytest.skip(f"{path} not in the data directory")
        items = bb.encode(task.load_file(path, "de" if task_name == "nli" else "en")[:6], task)
    policy = BucketPolicy(max_tokens=4096, max_source=bb.max_input_length, max_target=bb.max_target_length,
                          source_multiple=64, target_multiple=16, decoder_only=True)
    shape = policy.shape([it.cost for it in items])
    assert shape.rows > len(items) and shape.source % 64 == 0
    model = bb.model.eval()
    torch.manual_seed(0)
    exact = bb.collate(items, "cpu")
    torch.manual_seed(0)
    padded = bb.collate(items, "cpu", shape)
    assert padded["input_ids"].shape == (shape.rows, shape.source)
    assert (padded["labels"][len(items) :] == -100).all()
    if task_name == "mlm":  # which tokens are masked is drawn over the whole padded matrix, so losses differ
        return
    with torch.no_grad():
        (a, na), (b, nb) = bb.loss(model, exact), bb.loss(model, padded)
    assert int(na) == int(nb) > 0
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
