"""The text each token of a vocabulary stands for, computed once per tokenizer: what the script, span and prior guards
reason about.

A token's text is what it adds to the decoded output, leading space included ("▁Paris" and "ĠParis" are " Paris").
Special tokens and tokens that are not text on their own (SentencePiece byte fallback `<0xE4>`, byte-level BPE pieces
of a multi-byte character) have no text: None.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from dataclasses import dataclass, field

import numpy as np

REPLACEMENT = "\ufffd"  # what decoders emit for an incomplete UTF-8 sequence


@dataclass(eq=False)
class Vocab:
    texts: list[str | None]
    eos_id: int | None
    # Derived tables other guards cache here, keyed by what they depend on (e.g. ("script", "Cyrl")).
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.texts)

    @property
    def fingerprint(self) -> str:
        """Identifies the vocabulary (not the tokenizer's name: a trimmed or retrained vocabulary differs)."""
        if "fingerprint" not in self.cache:
            h = hashlib.sha256("\x00".join("\x01" if t is None else t for t in self.texts).encode("utf-8", "surrogatepass"))
            self.cache["fingerprint"] = h.hexdigest()[:16]
        return self.cache["fingerprint"]

    def codepoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Every character of every token as one array of code points, and the token each belongs to."""
        if "codepoints" not in self.cache:
            lengths = np.fromiter((len(t) if t else 0 for t in self.texts), dtype=np.int64, count=self.size)
            joined = "".join(t for t in self.texts if t)
            cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            owner = np.repeat(np.arange(self.size), lengths)
            self.cache["codepoints"] = (cps, owner)
        return self.cache["codepoints"]


_VOCABS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vocab_of(tokenizer) -> Vocab:
    """The tokenizer's Vocab, computed on first use (about a second for a 262k vocabulary) and kept with it."""
    try:
        return _VOCABS[tokenizer]
    except (KeyError, TypeError):
        pass
    vocab = Vocab(texts=token_texts(tokenizer), eos_id=tokenizer.eos_token_id)
    try:
        _VOCABS[tokenizer] = vocab
    except TypeError:  # pragma: no cover - a tokenizer class that refuses weak references: recompute next time
        pass
    return vocab


def _special_ids(tokenizer) -> set[int]:
    ids = set(tokenizer.all_special_ids)
    for i, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(added, "special", False):
            ids.add(int(i))
    return ids


def token_texts(tokenizer) -> list[str | None]:
    """Each token's decoded text (None for special and partial-character tokens).

    Tokens are decoded one by one after an anchor token: decoders with a `Strip` step (Llama-style SentencePiece
    conversions) drop the first token's leading space, which the anchor absorbs. transformers has no batch call for
    "the text of every token", and the tokenizers library's decoder is the only place that knows the family's
    conventions (metaspace, byte-level, byte fallback), so it is used rather than reimplemented.
    """
    n = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = backend.decoder if backend is not None else None
    if backend is not None and decoder is None:
        decode = lambda toks: "".join(toks)  # noqa: E731 - a WordLevel/WordPiece vocabulary without a decoder
    elif decoder is not None:
        decode = decoder.decode
    else:
        decode = tokenizer.convert_tokens_to_string  # SentencePiece-backed ("slow") tokenizers
    anchor = _anchor(tokenizer, pieces)
    head = decode([anchor]) if anchor is not None else ""
    special = _special_ids(tokenizer)

    def text_of(i: int) -> str | None:
        piece = pieces[i]
        if i in special or piece is None:
            return None
        text = decode([anchor, piece])[len(head) :] if anchor is not None else decode([piece])
        return None if (not text or REPLACEMENT in text) and piece != REPLACEMENT else text

    # Decoding 262k tokens one by one takes seconds; the common conventions are plain string maps, used when they
    # agree with the decoder on a sample of the vocabulary (and the decoder otherwise).
    for fast in (_metaspace_texts, _byte_level_texts):
        texts = fast(pieces, special)
        if texts is not None:
            sample = range(0, n, max(n // 3000, 1))
            if all(texts[i] == text_of(i) for i in sample):
                return texts
    return [text_of(i) for i in range(n)]


_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _metaspace_texts(pieces: list[str], special: set[int]) -> list[str | None]:
    """SentencePiece conventions: "▁" is a space, `<0xNN>` a byte (text only when it is a whole ASCII character)."""
    out: list[str | None] = []
    for i, p in enumerate(pieces):
        if i in special or not p:
            out.append(None)
        elif p.startswith("<0x") and (m := _BYTE_PIECE.fullmatch(p)):
            b = int(m.group(1), 16)
            out.append(chr(b) if b < 128 else None)
        else:
            out.append(p.replace("▁", " "))
    return out


def _byte_level_texts(pieces: list[str], special: set[int]) -> list[str | None] | None:
    """GPT-2 byte-level BPE: each character of a piece stands for one byte; pieces that are not whole UTF-8 text
    (a part of a multi-byte character) have no text."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    out: list[str | None] = []
    for i, p in enumerate(pieces):
        if i in special or not p:
            out.append(None)
            continue
        try:
            out.append(bytes(byte_of[c] for c in p).decode("utf-8"))
        except (KeyError, UnicodeDecodeError):
            out.append(None)
    return out


def _anchor(tokenizer, pieces: list[str]) -> str | None:
    """A token that decodes to plain letters, placed before each token so no decoder treats that token as first."""
    ids = tokenizer("a", add_special_tokens=False)["input_ids"]
    for i in ids:
        if pieces[i] is not None and pieces[i].strip("▁Ġ ") == "a":
            return pieces[i]
    return None
