"""Put a translated answer back onto a span of the translated paragraph, as extractive QA needs.

The paragraph and the answer are translated separately, so the answer's translation need not occur verbatim in the
paragraph's ("Broncos" vs "die Broncos", a case or inflection change). We look for it in this order and stop at the
first hit:

1. `exact`: the translated answer occurs in the paragraph (taken as it is, even inside a longer word: German
   compounds hold legitimate answers, XQuAD's "Kohlenmonoxid" in "Kohlenmonoxidvergiftungen");
2. `exact-source`: the untranslated answer does (names and numbers often stay as they are);
3. `fuzzy`: the best-matching window of the paragraph by RapidFuzz's `partial_ratio_alignment` (normalized Indel
   similarity of the answer against paragraph substrings of its length), accepted at a score of at least
   `FUZZY_THRESHOLD` = 80 (roughly: at most a fifth of the characters differ), then widened to whole words in scripts
   written with spaces.

Among several hits the one inside (or nearest to) the translation of the sentence that held the answer in the source
is taken (the driver translates sentence by sentence and knows where each sentence went), and within it the one
nearest to the answer's relative position in its source sentence. An answer found by none of
the three is unalignable; the driver drops that answer and, if no answer of the question is left, the question.
"""

from __future__ import annotations

from dataclasses import dataclass

FUZZY_THRESHOLD = 80.0


@dataclass(frozen=True)
class Alignment:
    start: int
    text: str
    method: str  # exact | exact-source | fuzzy
    score: float  # 100 for exact matches


def _occurrences(haystack: str, needle: str) -> list[int]:
    out, i = [], haystack.find(needle)
    while needle and i >= 0:
        out.append(i)
        i = haystack.find(needle, i + 1)
    return out


def _distance(start: int, end: int, hint: tuple[int, int] | None) -> int:
    if hint is None:
        return 0
    lo, hi = hint
    if start >= lo and end <= hi:
        return 0
    return max(lo - start, start - hi, end - hi, lo - end, 1)


def _closest(starts: list[int], length: int, hint: tuple[int, int] | None, anchor: float | None) -> int:
    return min(starts, key=lambda s: (_distance(s, s + length, hint), abs(s - anchor) if anchor is not None else 0, s))


def _widen_to_words(context: str, start: int, end: int) -> tuple[int, int]:
    """Extend a character window to whole words and trim spaces and punctuation at its edges."""
    while start > 0 and context[start - 1].isalnum() and context[start].isalnum():
        start -= 1
    while end < len(context) and context[end - 1].isalnum() and context[end].isalnum():
        end += 1
    strip = " \t\n.,;:!?\"'()[]«»“”„"
    while start < end and context[start] in strip:
        start += 1
    while end > start and context[end - 1] in strip:
        end -= 1
    return start, end


def _spaced(text: str) -> bool:
    return text.count(" ") >= max(1, len(text) // 40)


def align_answer(context: str, answer: str, *, source_answer: str | None = None, hint: tuple[int, int] | None = None,
                 anchor: float | None = None, threshold: float = FUZZY_THRESHOLD) -> Alignment | None:
    """The span of `context` that `answer` (its translation) refers to, or None. `hint` is the character span of the
    translated sentence that held the answer in the source paragraph; `anchor` the answer's relative position in its
    source sentence carried over to that span (it breaks ties between several occurrences inside one unit, as when
    a whole paragraph is one unit)."""
    answer = answer.strip()
    if not answer or not context:
        return None
    for method, needle in (("exact", answer), ("exact-source", (source_answer or "").strip())):
        starts = _occurrences(context, needle) if needle else []
        if starts:
            s = _closest(starts, len(needle), hint, anchor)
            return Alignment(s, needle, method, 100.0)
    from rapidfuzz import fuzz

    windows = [hint] if hint is not None and hint[1] - hint[0] >= len(answer) else []
    windows.append((0, len(context)))
    for lo, hi in windows:
        found = fuzz.partial_ratio_alignment(answer, context[lo:hi], score_cutoff=threshold)
        if found is None or found.score < threshold:
            continue
        # partial_ratio puts the shorter string first; the answer is the shorter one unless it outgrew the window.
        if len(answer) <= hi - lo:
            start, end = lo + found.dest_start, lo + found.dest_end
        else:
            start, end = lo + found.src_start, lo + found.src_end
        if _spaced(context):
            start, end = _widen_to_words(context, start, end)
        if end > start:
            return Alignment(start, context[start:end], "fuzzy", round(found.score, 1))
    return None


def reference_agreement(translated: dict, reference: dict) -> dict:
    """How realigned answers compare with a human translation of the same SQuAD data (XQuAD): per question, whether
    the first answer's text, and its text and position, equal the reference's. Positions are compared as counts of
    non-space characters before the answer, because paragraphs put back together from sentences may space sentences
    differently from the reference (XQuAD's Chinese puts a space after some 。, not after others)."""

    def first_answers(doc):
        out = {}
        for a in doc["data"]:
            for p in a["paragraphs"]:
                for qa in p["qas"]:
                    if qa.get("answers"):
                        ans = qa["answers"][0]
                        out[qa["id"]] = (ans["text"], len("".join(p["context"][: ans["answer_start"]].split())))
        return out

    ours, ref = first_answers(translated), first_answers(reference)
    both = [q for q in ours if q in ref]
    same_text = sum(ours[q][0] == ref[q][0] for q in both)
    same_span = sum(ours[q] == ref[q] for q in both)
    return {"reference_questions": len(ref), "aligned": len(both), "same_text": same_text, "same_span": same_span}
