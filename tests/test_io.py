"""The one place user files are read: BOMs and CRLF accepted, gzip transparent, everything else one error line."""

import codecs
import gzip
import json

import pytest

from xlgen.errors import XlgenError
from xlgen.io import iter_conll, iter_jsonl, iter_lines, read_json, read_text, read_yaml

ROWS = [{"id": "1", "prediction": "Москва"}, {"id": "2", "prediction": "北京"}]
JSONL = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS)


def _variants(text: str) -> dict[str, bytes]:
    """The same text as users save it: plain UTF-8, with a BOM (Windows Notepad), CRLF, both, UTF-16 with a BOM."""
    crlf = text.replace("\n", "\r\n")
    return {
        "utf8": text.encode(),
        "bom": codecs.BOM_UTF8 + text.encode(),
        "crlf": crlf.encode(),
        "bom-crlf": codecs.BOM_UTF8 + crlf.encode(),
        "utf16": text.encode("utf-16"),  # carries its BOM
        "cr": text.replace("\n", "\r").encode(),
    }


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("variant", list(_variants("")))
def test_every_reader_accepts_boms_and_line_endings(tmp_path, variant):
    p = tmp_path / f"p.{variant}.jsonl"
    p.write_bytes(_variants(JSONL)[variant])
    assert [obj for _, obj in iter_jsonl(p)] == ROWS
    assert [n for n, _ in iter_jsonl(p)] == [1, 2]
    doc = {"data": [{"paragraphs": [{"context": "Ein Text.", "qas": []}]}]}
    j = tmp_path / f"d.{variant}.json"
    j.write_bytes(_variants(json.dumps(doc, ensure_ascii=False, indent=1))[variant])
    assert read_json(j) == doc
    y = tmp_path / f"c.{variant}.yaml"
    y.write_bytes(_variants("train:\n  lr: 1.0e-4\nname: Zürich\n")[variant])
    assert read_yaml(y) == {"train": {"lr": 1e-4}, "name": "Zürich"}
    t = tmp_path / f"r.{variant}.txt"
    t.write_bytes(_variants("erste Zeile\nzweite Zeile\n")[variant])
    assert [line for _, line in iter_lines(t)] == ["erste Zeile", "zweite Zeile"]
    assert read_text(t) == "erste Zeile\nzweite Zeile\n"
    c = tmp_path / f"s.{variant}.conllu"
    c.write_bytes(_variants("# sent_id = 1\n1\tHallo\tINTJ\n2\tWelt\tNOUN\n\n1\tJa\tINTJ\n")[variant])
    sents = list(iter_conll(c))
    assert [s.rows for s in sents] == [[["1", "Hallo", "INTJ"], ["2", "Welt", "NOUN"]], [["1", "Ja", "INTJ"]]]
    assert sents[0].comments == ["sent_id = 1"] and sents[1].line == 5


def test_other_encodings_name_file_line_and_column(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(JSONL.encode() + '{"id": "3", "prediction": "Zürich"}\n'.encode("latin-1"))
    with pytest.raises(XlgenError) as e:
        list(iter_jsonl(p))
    assert _one_line(e).startswith(f"{p}:3: not UTF-8 text (byte 0xfc at column 29)")
    j = tmp_path / "latin1.json"
    j.write_bytes('{\n "a": "Zürich"}'.encode("cp1252"))
    with pytest.raises(XlgenError, match=r"latin1\.json:2: not UTF-8"):
        read_json(j)
    y = tmp_path / "c.yaml"
    y.write_bytes("name: Zürich\n".encode("latin-1"))
    with pytest.raises(XlgenError, match=r"c\.yaml:1: not UTF-8"):
        read_yaml(y)
    raw = tmp_path / "r.txt"
    raw.write_bytes(b"ok\nok\n\xff\xfe\x00junk")  # not a BOM at the start: binary garbage on line 3
    with pytest.raises(XlgenError, match=r"r\.txt:3: not UTF-8"):
        list(iter_lines(raw))


@pytest.mark.parametrize("reader", [read_json, read_yaml, read_text, lambda p: list(iter_jsonl(p)), lambda p: list(iter_lines(p)), lambda p: list(iter_conll(p))])
def test_directories_and_missing_files(tmp_path, reader):
    with pytest.raises(XlgenError) as e:
        reader(tmp_path)
    assert _one_line(e) == f"{tmp_path}: is a directory, expected a file"
    with pytest.raises(XlgenError) as e:
        reader(tmp_path / "nope.json")
    assert _one_line(e) == f"{tmp_path / 'nope.json'}: no such file"


def test_malformed_json_and_yaml_name_the_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": 1}\n\n[1, 2]\n')
    with pytest.raises(XlgenError, match=r"p\.jsonl:3: expected a JSON object, got list"):
        list(iter_jsonl(p))
    p.write_text('{"id": 1}\r\n{"id": \r\n')
    with pytest.raises(XlgenError, match=r"p\.jsonl:2: malformed JSON"):
        list(iter_jsonl(p))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(XlgenError, match="nested too deeply"):
        read_json(deep)
    big = tmp_path / "big.json"
    big.write_text("1" * 10_000)
    with pytest.raises(XlgenError, match="big.json: malformed JSON"):
        read_json(big)
    y = tmp_path / "c.yaml"
    y.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(XlgenError, match=r"c\.yaml:\d+: malformed YAML"):
        read_yaml(y)


def test_json_and_jsonl_given_for_each_other_say_so(tmp_path):
    """JSON's own messages ("Extra data", "Expecting property name") do not tell a user they gave a JSONL file where a
    JSON document belongs (SQuAD references as JSONL) or the reverse (SQuAD JSON to a JSONL task)."""
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(JSONL)
    with pytest.raises(XlgenError) as e:
        read_json(jsonl)
    assert "r.jsonl:2: malformed JSON" in _one_line(e) and "the file is JSONL (one JSON object per line), expected one JSON document" in _one_line(e)
    doc = tmp_path / "squad.json"
    doc.write_text(json.dumps({"data": [{"paragraphs": []}], "version": "1.1"}, indent=2))
    with pytest.raises(XlgenError) as e:
        list(iter_jsonl(doc))
    assert "squad.json:1: malformed JSON" in _one_line(e) and "the file is one JSON document, expected JSONL" in _one_line(e)
    # A truly malformed file keeps the plain message.
    jsonl.write_text('{"id": 1}\n{"id": \n')
    with pytest.raises(XlgenError) as e:
        read_json(jsonl)
    assert "expected one JSON document" not in _one_line(e)
    doc.write_text('{\n  "data": [\n')
    with pytest.raises(XlgenError) as e:
        list(iter_jsonl(doc))
    assert "expected JSONL" not in _one_line(e)


def test_gzip_is_transparent_and_truncation_is_an_error(tmp_path):
    p = tmp_path / "p.jsonl.gz"
    p.write_bytes(gzip.compress(codecs.BOM_UTF8 + JSONL.encode()))
    assert [obj for _, obj in iter_jsonl(p)] == ROWS
    data = gzip.compress(("x\n" * 50_000).encode())
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(XlgenError, match="not a readable gzip file"):
        list(iter_lines(p))
    p.write_bytes(b"not gzip at all")
    with pytest.raises(XlgenError, match="not a readable gzip file"):
        list(iter_lines(p))


def test_conll_errors_name_file_line_and_field(tmp_path):
    c = tmp_path / "bad.conllu"
    c.write_text("1\tHallo\tINTJ\n2\tWelt\n")
    with pytest.raises(XlgenError) as e:
        list(iter_conll(c))
    assert _one_line(e) == f"{c}:2: expected 3 tab-separated columns, got 2"
    c.write_text("1\tHallo\tINTJ\n2\t\tNOUN\n")
    with pytest.raises(XlgenError, match=r"bad\.conllu:2: field 'column 2': empty"):
        list(iter_conll(c))
    with pytest.raises(XlgenError, match=r"bad\.conllu:1: expected 10"):
        list(iter_conll(c, columns=10))
    ner = tmp_path / "ner.txt"
    ner.write_text("-DOCSTART- O\n\n# O\nEU B-ORG\n\nrejects  O\n")
    sents = list(iter_conll(ner, sep=None, comment=None))
    assert [s.rows for s in sents] == [[["#", "O"], ["EU", "B-ORG"]], [["rejects", "O"]]]
    assert sents[0].where(1, "tag") == f"{ner}:4: field 'tag'"


def test_conll_reads_the_shared_treebanks_and_ner_files(data_dir):
    ud = data_dir / "ud_pos" / "de_pud-ud-test.conllu.gz"
    sents = list(iter_conll(ud, columns=10))
    assert len(sents) == 1000 and all(s.comments for s in sents)
    assert any(r[3] == "NOUN" for r in sents[0].rows)
    wiki = next((data_dir / "wikineural_ner").glob("*.gz"))
    assert all(len(r) == 3 for s in list(iter_conll(wiki))[:50] for r in s.rows)
    masakha = data_dir / "masakhaner" / "swa.dev.txt.gz"
    assert all(len(r) == 2 for s in iter_conll(masakha, sep=None, comment=None) for r in s.rows)
