"""The transfer step must never train on the evaluation sentences themselves.

Some shared folders are the raw text of evaluation sets (ud_pud_parallel is the PUD treebanks' text,
wikineural_wikipedia_text the WikiNEuRal val+test sentences), and a transfer step on them would measure
memorisation, not transfer. So before any training, every sentence of the raw text a study will use is compared with
every evaluation sentence, after removing all whitespace and case (tokenized CoNLL text and detokenized raw text then
compare equal); a raw line holding an evaluation sentence of 20 or more characters is an error naming both.
"""

from __future__ import annotations

from pathlib import Path

import regex

from xlgen.config import RawTextSpec, expand_path
from xlgen.errors import XlgenError
from xlgen.objectives import split_sentences

MIN_CHARS = 20
_SPACE = regex.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub("", text).casefold()


def example_texts(example) -> list[str]:
    """The sentences an evaluation example shows the model: QA paragraph and question, a tagged sentence, a pair."""
    texts = [example.input, example.suffix]
    tokens = getattr(example, "tokens", None)
    if tokens:
        texts.append(" ".join(tokens))
    texts.extend(getattr(example, "texts", ()) or ())
    return [t for t in texts if t]


def evaluation_index(sets: dict[str, list], source: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """normalized sentence -> (evaluation source, language, example id)."""
    index: dict[str, tuple[str, str, str]] = {}
    for lang, examples in sets.items():
        for ex in examples:
            for text in example_texts(ex):
                for piece in [text, *split_sentences(text)]:
                    key = normalize(piece)
                    if len(key) >= MIN_CHARS:
                        index.setdefault(key, (source.get(lang, "?"), lang, ex.id))
    return index


def _raw_lines(spec: RawTextSpec, lang: str, field: str = "transfer.raw"):
    """(file, line number, text) of the lines `xlgen.objectives.read_raw_lines` uses (non-blank, up to max_lines)."""
    if not spec.path:
        from xlgen.objectives import read_raw_lines

        for i, line in enumerate(read_raw_lines(spec, lang), 1):
            yield f"hf:{spec.hf}", i, line
        return
    path = Path(expand_path(spec.path, lang, spec.lang_names))
    if not path.exists():
        raise XlgenError(f"{path}: field '{field}': no such raw text file (language '{lang}')")
    from xlgen.io import iter_lines

    used = 0
    for lineno, line in iter_lines(path):  # as training reads it (read_raw_lines): the same lines, numbered alike
        if not line.strip():
            continue
        yield str(path), lineno, line
        used += 1
        if spec.max_lines and used >= spec.max_lines:
            return


def check_raw_text(spec: RawTextSpec, lang: str, index: dict[str, tuple[str, str, str]], field: str) -> int:
    """Raise if a line of `lang`'s raw text holds an evaluation sentence; return the number of lines checked."""
    n = 0
    for path, lineno, line in _raw_lines(spec, lang, field):
        n += 1
        for piece in [line, *split_sentences(line)]:
            hit = index.get(normalize(piece))
            if hit:
                source, tlang, ex_id = hit
                raise XlgenError(
                    f"{path}:{lineno}: field '{field}': this raw text ('{lang}') contains an evaluation sentence of {source} "
                    f"(target '{tlang}', example {ex_id}); the transfer step must never train on evaluation sentences "
                    "(pick raw text disjoint from the evaluation sets; the data README names the overlapping folders)"
                )
    if n == 0:
        where = expand_path(spec.path, lang, spec.lang_names) if spec.path else f"hf:{spec.hf}"
        raise XlgenError(f"{where}: field '{field}': no raw text for '{lang}' (nothing but blank lines)")
    return n
