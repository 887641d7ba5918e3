"""Classification tasks of the transfer-language paper, for encoder backbones: POS tagging (Universal Dependencies
CoNLL-U, UPOS accuracy), NER (CoNLL / IOB2 files, entity-level F1 as `seqeval` computes it) and NLI (premise,
hypothesis, label TSV; accuracy). Files may be gzip-compressed. Every malformed line is an error naming file, line
and field, and every label is checked against one label set for all languages (`check_labels`) before training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from xlgen.errors import XlgenError, where
from xlgen.io import iter_lines
from xlgen.metrics.base import Measure, Metric, get_metric, register_metric
from xlgen.tasks.base import Example, Task, register_task

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
NLI_LABELS = ("entailment", "neutral", "contradiction")
_IOB2 = re.compile(r"^(O|[BI]-\S+)$")


# The metrics, registered like every other (xlgen.metrics): predictions and references are label strings, tag
# sequences joined by single spaces (tags never contain spaces).


@register_metric("tag_accuracy")
class TagAccuracy(Metric):
    """Share of words whose tag is right (UPOS accuracy), over all words of the language."""

    measures = {"accuracy": Measure("accuracy (%)", higher_is_better=True)}
    primary = "accuracy"

    def score(self, predictions, references, lang):
        pairs = [(p, g) for pred, refs in zip(predictions, references) for p, g in zip(pred.split(), refs[0].split())]
        total = sum(len(refs[0].split()) for refs in references)
        return {"accuracy": 100.0 * sum(p == g for p, g in pairs) / max(total, 1)}


@register_metric("seqeval")
class EntityF1(Metric):
    """Entity-level precision, recall and F1 of IOB2 sequences, computed by `seqeval` (its default, CoNLL-eval mode)."""

    measures = {"f1": Measure("entity F1", higher_is_better=True), "precision": Measure("entity precision", higher_is_better=True),
                "recall": Measure("entity recall", higher_is_better=True)}  # fmt: skip
    primary = "f1"

    def score(self, predictions, references, lang):
        from seqeval.metrics import f1_score, precision_score, recall_score

        gold, pred = [r[0].split() for r in references], [p.split() for p in predictions]
        return {"f1": 100.0 * f1_score(gold, pred), "precision": 100.0 * precision_score(gold, pred), "recall": 100.0 * recall_score(gold, pred)}


@register_metric("label_accuracy")
class LabelAccuracy(Metric):
    """Share of examples whose one label is right (NLI accuracy)."""

    measures = {"accuracy": Measure("accuracy (%)", higher_is_better=True)}
    primary = "accuracy"

    def score(self, predictions, references, lang):
        return {"accuracy": 100.0 * sum(p == r[0] for p, r in zip(predictions, references)) / max(len(predictions), 1)}


@dataclass
class TaggedExample(Example):
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    source: str = ""
    lines: list[int] = field(default_factory=list)  # the file line of each token, for errors


@dataclass
class PairExample(Example):
    source: str = ""
    line: int = 0


def _lines(path: Path):
    """(line number, line) of a plain or gzip-compressed text file, through the one reader of user files."""
    yield from iter_lines(path)


class ClassificationTask(Task):
    kind = "token"  # token | sequence
    default_labels: tuple[str, ...] | None = None

    def __init__(self, cfg):
        super().__init__(cfg)
        self.labels: list[str] | None = list(cfg.labels) if cfg.labels else (list(self.default_labels) if self.default_labels else None)

    def map_label(self, label: str) -> str:
        return self.cfg.label_map.get(label, label)

    def label_id(self, label: str) -> int:
        return self.labels.index(label)

    def score(self, predictions, references, lang):
        """The task metric only: the text diagnostics (language-correct rate, length) mean nothing for labels."""
        scores = get_metric(self.metric).score(predictions, references, lang)
        scores["n"] = len(predictions)
        return scores

    def score_labels(self, examples, predictions) -> dict:
        """Score predicted labels (a list per word for tagging, one label per example otherwise)."""
        join = (lambda x: " ".join(x)) if self.kind == "token" else (lambda x: x)  # noqa: E731
        gold = [join(ex.tags) if self.kind == "token" else ex.target for ex in examples]
        return self.score([join(p) for p in predictions], [[g] for g in gold], examples[0].lang if examples else "und")

    def load_hf(self, records, source, lang):  # pragma: no cover - hub path, kept simple
        raise XlgenError(f"{source}: task {self.name} reads local files (CoNLL-U, CoNLL, TSV); convert the dataset first")

    def check_labels(self, sets: dict[str, list]) -> None:
        """One label set for every language: declared (task.labels / the task's fixed set) or, else, the labels of the
        first set (the source-language training data). A label outside it is an error at its file and line."""
        if self.labels is None:
            first = next(iter(sets.values()))
            self.labels = self._collect(first)
        known = set(self._label_names())
        for examples in sets.values():
            for ex in examples:
                for label, source, line in self._labels_of(ex):
                    if self._name(label) not in known:
                        raise XlgenError(
                            f"{where(source, line, self.label_field)}: label {label!r} is not in the label set of the other languages "
                            f"({', '.join(sorted(known))}); map it with task.label_map or declare task.labels"
                        )

    label_field = "label"

    def _name(self, label: str) -> str:
        return label

    def _label_names(self) -> list[str]:
        return self.labels

    def _collect(self, examples) -> list[str]:
        return sorted({self._name(label) for ex in examples for label, _, _ in self._labels_of(ex)})


class _Tagging(ClassificationTask):
    kind = "token"
    label_field = "tag"

    def _labels_of(self, ex):
        return [(t, ex.source, ln) for t, ln in zip(ex.tags, ex.lines)]

    def prediction_rows(self, examples, predictions):
        return [{"id": ex.id, "gold_tags": ex.tags, "pred_tags": pred} for ex, pred in zip(examples, predictions)]


@register_task("pos")
class POSTask(_Tagging):
    """UPOS tagging from CoNLL-U: column 4 of each word line; multiword-token ranges (3-4) and empty nodes (8.1) skipped."""

    metric = "tag_accuracy"
    default_labels = UPOS
    label_field = "UPOS"

    def load_file(self, path: Path, lang: str) -> list[Example]:
        out, tokens, tags, lines, sent_id = [], [], [], [], None
        upos = set(self.labels or UPOS)

        def flush():
            if tokens:
                out.append(TaggedExample(id=sent_id or f"{path.name}:{lines[0]}", lang=lang, input=" ".join(tokens), tokens=list(tokens), tags=list(tags), source=str(path), lines=list(lines)))
            tokens.clear(), tags.clear(), lines.clear()

        for lineno, line in _lines(path):
            if not line.strip():
                flush()
                sent_id = None
                continue
            if line.startswith("#"):
                if line.startswith("# sent_id"):
                    sent_id = line.split("=", 1)[-1].strip()
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise XlgenError(f"{where(path, lineno, 'ID')}: a CoNLL-U word line has 10 tab-separated fields, this one has {len(cols)}")
            wid = cols[0]
            if "-" in wid or "." in wid:
                continue
            if not wid.isdigit():
                raise XlgenError(f"{where(path, lineno, 'ID')}: expected a word index, a range (3-4) or an empty node (8.1), got {wid!r}")
            tag = self.map_label(cols[3])
            if tag not in upos:
                raise XlgenError(f"{where(path, lineno, 'UPOS')}: unknown tag {cols[3]!r} (UPOS: {', '.join(sorted(upos))})")
            tokens.append(cols[1])
            tags.append(tag)
            lines.append(lineno)
        flush()
        return out

    def prediction_rows(self, examples, predictions):
        return [{"id": ex.id, "pred_tags": pred, "correct": sum(g == p for g, p in zip(ex.tags, pred)), "total": len(ex.tags)}
                for ex, pred in zip(examples, predictions)]  # fmt: skip


@register_task("ner")
class NERTask(_Tagging):
    """IOB2 NER from CoNLL-style files: one token per line, the token in the second-to-last column and the tag in the
    last (WikiNEuRal: index, token, tag; MasakhaNER and CoNLL-2003: token ... tag), blank lines between sentences.
    `task.labels` are entity types (PER, ORG, ...); the model's labels are O and B-/I- of each."""

    metric = "seqeval"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.types = list(cfg.labels) if cfg.labels else None
        self.labels = self._iob(self.types) if self.types else None

    @staticmethod
    def _iob(types):
        return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]

    def _name(self, label: str) -> str:
        return label[2:] if label != "O" else "O"

    def _label_names(self):
        return ["O", *self.types]

    def check_labels(self, sets):
        if self.types is None:
            self.types = [t for t in self._collect(next(iter(sets.values()))) if t != "O"]
        self.labels = self._iob(self.types)
        super().check_labels(sets)

    def map_label(self, tag: str) -> str:
        if tag in self.cfg.label_map:
            return self.cfg.label_map[tag]
        if tag != "O" and tag[2:] in self.cfg.label_map:  # {DATE: O} maps B-DATE and I-DATE
            to = self.cfg.label_map[tag[2:]]
            return "O" if to == "O" else f"{tag[:2]}{to}"
        return tag

    def load_file(self, path: Path, lang: str) -> list[Example]:
        out, tokens, tags, lines = [], [], [], []

        def flush():
            if tokens:
                out.append(TaggedExample(id=f"{lang}-{len(out)}", lang=lang, input=" ".join(tokens), tokens=list(tokens), tags=list(tags), source=str(path), lines=list(lines)))
            tokens.clear(), tags.clear(), lines.clear()

        for lineno, line in _lines(path):
            if not line.strip():
                flush()
                continue
            if line.startswith("-DOCSTART-") or line.startswith("#"):
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) < 2:
                raise XlgenError(f"{where(path, lineno, 'tag')}: expected a token and an IOB2 tag on the line, got {line.strip()!r}")
            tag = cols[-1].strip()
            if not _IOB2.match(tag):
                raise XlgenError(f"{where(path, lineno, 'tag')}: {tag!r} is not an IOB2 tag (O, B-TYPE or I-TYPE)")
            tokens.append(cols[-2].strip())
            tags.append(self.map_label(tag))
            lines.append(lineno)
        flush()
        return out


@register_task("nli")
class NLITask(ClassificationTask):
    """Premise, hypothesis, label per TSV line: XNLI in XTREME's layout (3 columns, no header) or AmericasNLI (a header
    naming premise, hypothesis and label among its columns)."""

    kind = "sequence"
    metric = "label_accuracy"
    default_labels = NLI_LABELS

    def _labels_of(self, ex):
        return [(ex.target, ex.source, ex.line)]

    def load_file(self, path: Path, lang: str) -> list[Example]:
        out, cols_of = [], None
        for lineno, line in _lines(path):
            if not line.strip():
                continue
            cols = line.split("\t")
            if lineno == 1 and "premise" in cols and "hypothesis" in cols:
                cols_of = {c: i for i, c in enumerate(cols)}
                if "label" not in cols_of:
                    raise XlgenError(f"{where(path, 1, 'label')}: the header names no label column")
                continue
            want = len(cols_of) if cols_of else 3
            if len(cols) != want:
                raise XlgenError(f"{where(path, lineno, 'label')}: expected {want} tab-separated fields (premise, hypothesis, label), got {len(cols)}")
            p, h, label = (cols[cols_of["premise"]], cols[cols_of["hypothesis"]], cols[cols_of["label"]]) if cols_of else cols
            label = self.map_label(label.strip())
            if label not in (self.labels or NLI_LABELS):
                raise XlgenError(f"{where(path, lineno, 'label')}: unknown label {label!r} (known: {', '.join(self.labels or NLI_LABELS)})")
            out.append(PairExample(id=f"{lang}-{lineno}", lang=lang, input=p.strip(), suffix=h.strip(), target=label, references=[label], source=str(path), line=lineno))
        return out

    def load_hf(self, records, source: str, lang: str) -> list[Example]:
        """Hub datasets with premise, hypothesis and label (a name, or the index of MultiNLI/XNLI's
        entailment, neutral, contradiction); rows labelled -1 (no gold label) are skipped."""
        out = []
        for n, r in enumerate(records):
            for f in ("premise", "hypothesis", "label"):
                if f not in r:
                    raise XlgenError(f"{source}: record {n}: field '{f}' missing")
            label = r["label"]
            if isinstance(label, int):
                if label < 0:
                    continue
                label = NLI_LABELS[label] if label < len(NLI_LABELS) else str(label)
            label = self.map_label(str(label))
            if label not in (self.labels or NLI_LABELS):
                raise XlgenError(f"{source}: record {n}: field 'label': unknown label {label!r}")
            out.append(PairExample(id=f"{lang}-{n}", lang=lang, input=r["premise"], suffix=r["hypothesis"], target=label, references=[label], source=source, line=n))
        return out

    def prediction_rows(self, examples, predictions):
        return [{"id": ex.id, "prediction": p, "gold": ex.target, "score": 100.0 * (ex.target == p)} for ex, p in zip(examples, predictions)]
