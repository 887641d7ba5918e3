import json

import pytest

from xlgen.config import DatasetSpec, TaskConfig
from xlgen.errors import XlgenError
from xlgen.tasks import get_task


def test_xquad_loads_with_question_appended(data_dir):
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json")), "de")
    assert len(exs) == 1190
    ex = exs[0]
    assert ex.lang == "de" and ex.suffix.startswith("\n") and ex.target == ex.references[0]
    assert ex.suffix.strip() in json.dumps(json.load(open(data_dir / "xquad" / "xquad.de.json")), ensure_ascii=False)


def test_xquad_filter_keeps_about_half(data_dir):
    task = get_task(TaskConfig(name="qa", xquad_filter=True))
    for lang in ("de", "zh", "th"):
        kept = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json")), lang, evaluation=True)
        assert 300 < len(kept) < 1000, (lang, len(kept))  # the paper: ~50% of 1190
        assert not any(ch.isdigit() for ex in kept for a in ex.references for ch in a)


def test_other_squad_format_sets_load(data_dir):
    task = get_task(TaskConfig(name="qa"))
    ko = task.load(DatasetSpec(path=str(data_dir / "ja_ko_qa_eval" / "KorQuAD_v1.0_dev.json")), "ko")
    ja = task.load(DatasetSpec(path=str(data_dir / "ja_ko_qa_eval" / "jsquad-v1.3-valid.json")), "ja")
    assert len(ko) == 5774 and len(ja) > 4000


def test_summarization_jsonl(data_dir):
    task = get_task(TaskConfig(name="summarization", input_field="document"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xsum_test_1000" / "xsum_test.jsonl"), max_examples=10), "en")
    assert len(exs) == 10 and exs[0].target and exs[0].input
    assert task.primary_metric == "rouge2"


def test_generic_jsonl_needs_fields(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"src": "a", "tgt": "b"}\n')
    with pytest.raises(XlgenError, match="task.input_field"):
        get_task(TaskConfig(name="jsonl")).load(DatasetSpec(path=str(p)), "en")
    exs = get_task(TaskConfig(name="jsonl", input_field="src", target_field="tgt")).load(DatasetSpec(path=str(p)), "en")
    assert exs[0].input == "a" and exs[0].references == ["b"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "a", "summary": "b"}\n{"text": "a", "summary": \n', "d.jsonl:2: malformed JSON"),
        ('{"text": "a", "summary": "b"}\n{"text": "c"}\n', "d.jsonl:2: field 'summary': missing"),
        ('{"text": 3, "summary": "b"}\n', "d.jsonl:1: field 'text': expected str"),
        ("\n\n", "no examples"),
    ],
)
def test_bad_jsonl_errors_name_file_line_field(tmp_path, content, message):
    p = tmp_path / "d.jsonl"
    p.write_text(content)
    with pytest.raises(XlgenError) as e:
        get_task(TaskConfig(name="summarization")).load(DatasetSpec(path=str(p)), "en")
    assert message in str(e.value)


def test_bad_squad_json(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"data": [\n  {"paragraphs": [\n {"context": "x", "qas": [ }\n]}]}')
    with pytest.raises(XlgenError, match=r"s.json:3: malformed JSON"):
        get_task(TaskConfig(name="qa")).load(DatasetSpec(path=str(p)), "en")
    p.write_text('{"data": [{"paragraphs": [{"qas": []}]}]}')
    with pytest.raises(XlgenError, match=r"data\[0\].paragraphs\[0\].context"):
        get_task(TaskConfig(name="qa")).load(DatasetSpec(path=str(p)), "en")
    p.write_text('{"data": []}')
    with pytest.raises(XlgenError, match="no examples"):
        get_task(TaskConfig(name="qa")).load(DatasetSpec(path=str(p)), "en")


def test_missing_file_and_unknown_task(tmp_path):
    with pytest.raises(XlgenError, match="no such data file"):
        get_task(TaskConfig(name="qa")).load(DatasetSpec(path=str(tmp_path / "x.{lang}.json")), "de")
    with pytest.raises(XlgenError, match="unknown task"):
        get_task(TaskConfig(name="translation"))
