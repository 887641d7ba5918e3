"""Span guard: for extractive tasks the output must be a span of the input, so the answer cannot leave the
paragraph's language.

Constrained decoding over the input text: after each token the guard knows every place in the paragraph where the
output so far could be copied from, and allows only the tokens that continue one of them (and end-of-sequence, once
something was copied). Matching is on characters, not on the paragraph's own token ids: an answer tokenized alone
often splits differently from the same words inside the paragraph (" Paris" vs "Paris", Chinese words merged with
their neighbours), and the model was trained on answers tokenized alone. Whitespace runs in the paragraph count as
one space, and the first token's leading space is optional (the model writes " " + answer; the span may start
mid-word in scripts without spaces).

The span must cover whole words (option `span_whole_words`, on by default): it may end only where a word of the input
ends and begin only where one begins. In XQuAD, all but at most 4 of the 1,190 gold answers of each language end where
a word ends, and outside Arabic all but at most 3 begin where one begins (`benchmarks/span_word_ends.py` counts; the
exceptions are annotation slips such as "(2,70" for "(2,700,000"), while a model copying a span would otherwise stop
or start inside a word ("medicin" for "medicina", "thematics" from "Mathematics"): a cut word is both a worse answer
and one the language-ID cannot place. Scripts written without spaces between words (Han, kana, Thai, Lao, Khmer,
Myanmar, Tibetan) have no marked boundary, so any character boundary counts there; and a span may begin inside an
Arabic- or Hebrew-script word, where prefixes (Arabic "و", "ب", "ال"; Hebrew "ו", "ה", "ב") are written joined to
the word that follows (23 of XQuAD's 1,190 Arabic answers begin so).

transformers' `PrefixConstrainedLogitsProcessor` takes the same kind of callback but calls it once per row for a
list of ids; this guard builds one boolean matrix per step for the whole batch instead, which matters with a 262k
vocabulary.
"""

from __future__ import annotations

import regex
import torch

from xlgen.errors import XlgenError
from xlgen.guards.base import Guard, MaskProcessor, register_guard
from xlgen.guards.vocab import Vocab

START = None  # nothing copied yet: any place where a span may begin (a word start, see word_starts) is open
DEAD = frozenset()
WORD_CHARACTER = regex.compile(r"[\p{L}\p{N}\p{M}]")
UNSPACED_SCRIPTS = regex.compile(r"[\p{sc=Hani}\p{sc=Hira}\p{sc=Kana}\p{sc=Thai}\p{sc=Laoo}\p{sc=Khmr}\p{sc=Mymr}\p{sc=Tibt}]")
JOINED_PREFIX_SCRIPTS = regex.compile(r"[\p{sc=Arab}\p{sc=Hebr}]")


def _inside_words(text: str) -> list[bool]:
    return [WORD_CHARACTER.match(c) is not None and UNSPACED_SCRIPTS.match(c) is None for c in text]


def word_ends(text: str) -> list[bool]:
    """ends[p]: a span of `text` ending at position p (exclusive) ends at a word boundary."""
    inside = _inside_words(text)
    return [True] + [not (inside[p - 1] and inside[p]) for p in range(1, len(text))] + [True]


def word_starts(text: str) -> list[bool]:
    """starts[p]: a span of `text` may begin at position p (a word boundary, or inside an Arabic/Hebrew word)."""
    ends = word_ends(text)
    return [ends[p] or JOINED_PREFIX_SCRIPTS.match(text[p - 1]) is not None for p in range(len(text))]


class SpanTables:
    """Token ids by text (exact, and without leading whitespace for the first token), once per vocabulary."""

    def __init__(self, vocab: Vocab):
        self.exact: dict[str, list[int]] = {}
        self.stripped: dict[str, list[int]] = {}
        self.blank: list[int] = []
        for i, t in enumerate(vocab.texts):
            if t is None:
                continue
            self.exact.setdefault(t, []).append(i)
            s = t.lstrip()
            if s:
                self.stripped.setdefault(s, []).append(i)
            else:
                self.blank.append(i)
        self.max_exact = max(map(len, self.exact), default=1)
        self.max_stripped = max(map(len, self.stripped), default=1)


def span_tables(vocab: Vocab) -> SpanTables:
    if "span" not in vocab.cache:
        vocab.cache["span"] = SpanTables(vocab)
    return vocab.cache["span"]


class SpanIndex:
    """The copy automaton of one input text: states are the sets of text positions where the output so far ends."""

    def __init__(self, text: str, vocab: Vocab, tables: SpanTables, whole_words: bool = True):
        self.text = " ".join(text.split())
        self.vocab, self.tables = vocab, tables
        self.ends = word_ends(self.text) if whole_words else None
        self.starts = word_starts(self.text) if whole_words else None
        self._at: dict[int, list[int]] = {}
        self._start: list[int] | None = None
        self._any: list[int] | None = None
        self._start_tensor: torch.Tensor | None = None

    def start_ids(self) -> list[int]:
        """Tokens that may begin a span: whose text, leading whitespace removed, occurs where a span may begin."""
        if self._start is None:
            self._start = self._stripped_ids(self.starts) + self.tables.blank
        return self._start

    def any_ids(self) -> list[int]:
        """Every token a state can allow: one continuing a copy at p has its text (leading whitespace removed) at p or
        just after, so the tokens found anywhere in the input cover them all."""
        if self._any is None:
            self._any = self._stripped_ids(None) + self.tables.blank
        return self._any

    def _stripped_ids(self, where: list[bool] | None) -> list[int]:
        text, table, found = self.text, self.tables.stripped, set()
        longest = self.tables.max_stripped
        for p in range(len(text)):
            if where is not None and not where[p]:
                continue
            for end in range(p + 1, min(p + longest, len(text)) + 1):
                ids = table.get(text[p:end])
                if ids:
                    found.update(ids)
        return sorted(found)

    def ids_at(self, p: int) -> list[int]:
        """Tokens whose text matches the input at position p."""
        if p not in self._at:
            text, table, ids = self.text, self.tables.exact, []
            for end in range(p + 1, min(p + self.tables.max_exact, len(text)) + 1):
                ids += table.get(text[p:end], ())
            self._at[p] = ids
        return self._at[p]

    def step(self, state, token: int):
        t = self.vocab.texts[token] if token < self.vocab.size else None
        if t is None:
            return DEAD
        if state is START:
            s = t.lstrip()
            if not s:
                return START
            ends, p = set(), self.text.find(s)
            while p >= 0:
                if self.starts is None or self.starts[p]:
                    ends.add(p + len(s))
                p = self.text.find(s, p + 1)
            return frozenset(ends)
        return frozenset(p + len(t) for p in state if self.text.startswith(t, p))

    def allowed(self, state, eos_id: int) -> torch.Tensor:
        if state is START:
            if self._start_tensor is None:
                self._start_tensor = torch.tensor(self.start_ids(), dtype=torch.long)
            return self._start_tensor
        ids = [eos_id] if self.ends is None or any(self.ends[p] for p in state) else []
        for p in state:
            ids += self.ids_at(p)
        return torch.tensor(ids, dtype=torch.long)


@register_guard("span")
class SpanGuard(Guard):
    stage = 1

    def __init__(self, ctx):
        super().__init__(ctx)
        self.check(ctx.options, ctx.task, ctx.target_lang)
        self.tables = span_tables(ctx.vocab)
        self._indexes: dict[str, SpanIndex] = {}

    @classmethod
    def check(cls, options, task, target_lang):
        if not getattr(task, "extractive", False):
            raise XlgenError(f"generate.guard: span needs an extractive task (qa); task {task.name!r} is not")

    def index(self, text: str) -> SpanIndex:
        if text not in self._indexes:
            if len(self._indexes) > 4096:  # inputs of one evaluation; bounded for long-running callers
                self._indexes.clear()
            self._indexes[text] = SpanIndex(text, self.ctx.vocab, self.tables, self.ctx.options.span_whole_words)
        return self._indexes[text]

    def vocabulary(self, examples):
        allowed = torch.zeros(self.ctx.vocab.size, dtype=torch.bool)
        for ex in examples:
            allowed[self.index(ex.input).any_ids()] = True
        allowed[self.ctx.eos_id] = True
        return allowed

    def processor(self, examples, rows_per_example):
        indexes = [self.index(ex.input) for ex in examples]
        states: dict[tuple[int, tuple[int, ...]], object] = {}

        def state_of(i: int, seq: tuple[int, ...]):
            key = (i, seq)
            if key not in states:
                states[key] = START if not seq else indexes[i].step(state_of(i, seq[:-1]), seq[-1])
            return states[key]

        def allowed(gen: torch.LongTensor, rows: list[int], batch: list[int]) -> list[torch.Tensor]:
            seqs = gen.tolist()
            return [indexes[b // rows_per_example].allowed(state_of(b // rows_per_example, tuple(seqs[r])), self.ctx.eos_id) for r, b in zip(rows, batch)]

        return MaskProcessor(self.ctx, allowed)
