"""Extractive QA in SQuAD JSON format (SQuAD, XQuAD, MLQA, TyDi gold passage, JSQuAD, KorQuAD), cast as generation.

The input is the paragraph with the question appended at its end, as in the paper; the target is the answer text.
"""

from __future__ import annotations

import re
from pathlib import Path

from xlgen.errors import XlgenError, where
from xlgen.io import read_json
from xlgen.tasks.base import Example, Task, register_task

_DIGIT = re.compile(r"\d")


def _qa_example(qid: str, lang: str, context: str, question: str, answers: list[str]) -> Example:
    return Example(
        id=qid,
        lang=lang,
        input=context.strip(),
        suffix="\n" + question.strip(),
        target=answers[0] if answers else "",
        references=answers,
    )


def read_squad_file(path: Path, lang: str) -> list[Example]:
    """Read SQuAD v1.1-format JSON; errors name the file and the JSON path of the bad record."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise XlgenError(f"{where(path, field='data')}: not SQuAD JSON (expected an object with a 'data' list)")
    examples = []
    for i, article in enumerate(doc["data"]):
        for j, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else []):
            loc = f"data[{i}].paragraphs[{j}]"
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str):
                raise XlgenError(f"{where(path, field=loc + '.context')}: missing or not a string")
            for k, qa in enumerate(para.get("qas", [])):
                qloc = f"{loc}.qas[{k}]"
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise XlgenError(f"{where(path, field=qloc + '.question')}: missing or not a string")
                qid = qa.get("id", f"{i}-{j}-{k}")
                answers = qa.get("answers", [])
                if not isinstance(answers, list) or any(not isinstance(a, dict) or not isinstance(a.get("text"), str) for a in answers):
                    raise XlgenError(f"{where(path, field=qloc + '.answers')}: expected a list of {{'text': ...}} objects")
                texts = [a["text"] for a in answers]
                if qa.get("is_impossible") or not texts:
                    continue  # SQuAD 2.0 unanswerable questions have no extractive target
                examples.append(_qa_example(str(qid), lang, context, qa["question"], texts))
    return examples


def keep_for_xquad_eval(answers: list[str], detected: list[str | None], lang: str) -> bool:
    """The paper's XQuAD filter: no digits in the gold answer and the answer is identified as the target language."""
    from xlgen.metrics.langid import same_language

    if any(_DIGIT.search(a) for a in answers):
        return False
    return same_language(detected[0], lang)


@register_task("qa")
class QATask(Task):
    instruction = "Answer"
    default_max_new_tokens = 32
    metric = "squad"
    extractive = True  # the answer is a span of the input (xlgen.guards.span relies on it)

    def load_file(self, path: Path, lang: str) -> list[Example]:
        return read_squad_file(path, lang)

    def load_hf(self, records, source: str, lang: str) -> list[Example]:
        examples = []
        for n, r in enumerate(records):
            for f in ("context", "question", "answers"):
                if f not in r:
                    raise XlgenError(f"{source}: record {n}: field '{f}' missing")
            texts = list(r["answers"]["text"]) if isinstance(r["answers"], dict) else [a["text"] for a in r["answers"]]
            if texts:
                examples.append(_qa_example(str(r.get("id", n)), lang, r["context"], r["question"], texts))
        return examples

    def filter_for_evaluation(self, examples: list[Example], lang: str) -> list[Example]:
        if not self.cfg.xquad_filter:
            return examples
        from xlgen.metrics.langid import detect_languages

        detected = detect_languages([ex.references[0] for ex in examples], self.cfg.langid_model)
        return [ex for ex, d in zip(examples, detected) if keep_for_xquad_eval(ex.references, [d], lang)]
