"""Encoder-only masked LMs (mBERT, XLM-R, any `AutoModelForMaskedLM` checkpoint): the setting of the transfer-language
paper (arXiv 2403.20088), where a task adapter and a classification head sit on a frozen multilingual encoder.

The model is the masked LM (body + MLM head), so the transfer step trains it with its own objective: masked language
modelling, 15% of the tokens chosen, 80% of those replaced by the mask token, 10% by a random token, 10% kept
(transformers' `DataCollatorForLanguageModeling`, drawing from torch's global generator, which runs seed and
checkpoints). A task adds a head on the body (`prepare`), registered as `xlgen_head` so the adapters method trains
and saves it with the task adapter:

- token classification (POS, NER): a linear layer on the hidden state of each word's first sub-word; the other
  sub-words carry no label (the usual BERT recipe);
- sentence classification (NLI): dense + tanh + linear on the first token, as BERT's pooler + classifier and
  RoBERTa's classification head, over the pair encoded as the tokenizer encodes pairs.

Evaluation predicts labels instead of generating text (`predicts_labels`); the task scores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from xlgen import languages
from xlgen.backbones.base import Backbone, Encoded, register_family, unwrap
from xlgen.batching import token_budget_batches
from xlgen.errors import XlgenError

HEAD = "xlgen_head"  # = xlgen.adaptation.adapters.HEAD
MODEL_TYPES = ("bert", "xlm-roberta", "roberta", "distilbert", "camembert", "electra", "deberta-v2", "xlm", "mpnet", "rembert")


@dataclass
class EncodedLabels(Encoded):
    kind: str = "token"  # token | sequence | mlm
    word_ids: list | None = None  # token tasks: the word of each position (None for specials)
    token_type_ids: list | None = None

    @property
    def cost(self) -> tuple[int, int]:
        # One sequence and no generated target: the labels sit on the input positions (or are one class), so they
        # add no length to pad for (shape buckets pad the input alone).
        return len(self.input_ids), 0


class TokenHead(nn.Module):
    def __init__(self, d: int, n: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(d, n)

    def forward(self, h):
        return self.out(self.dropout(h))


class SequenceHead(nn.Module):
    def __init__(self, d: int, n: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(d, n)

    def forward(self, h):
        return self.out(self.dropout(torch.tanh(self.dense(self.dropout(h[:, 0])))))


# BERT-style encoders (mBERT, XLM-R, RoBERTa) add the residual and LayerNorm inside their output blocks, so adapters
# go on the output projections (`attention.output.dense`, then the FFN's `output.dense`), as Houlsby's.
ADAPTER_HOSTS = {"attn": ("attention.output.dense",), "cross": (), "ffn": ("output.dense",)}


@register_family("encoder")
class EncoderBackbone(Backbone):
    is_encoder_decoder = False
    predicts_labels = True
    model_types = MODEL_TYPES
    pretraining_objective = "mlm"

    @classmethod
    def adapter_hosts(cls, model) -> dict[str, tuple[str, ...]]:
        return ADAPTER_HOSTS

    @classmethod
    def frozen_patterns(cls, model, upper_fraction: float) -> list[str]:
        """`adaptation.method: freeze` on an encoder: embeddings and the upper layers stay frozen, as for decoder-only."""
        n = model.config.num_hidden_layers
        first_frozen = n - round(n * upper_fraction)
        upper = "|".join(str(i) for i in range(first_frozen, n))
        return [r"embeddings", r"(^|\.)(cls|lm_head)\."] + ([rf"(^|\.)layer\.({upper})\."] if upper else [])

    @classmethod
    def auto_class(cls):
        from transformers import AutoModelForMaskedLM

        return AutoModelForMaskedLM

    def default_max_length(self) -> int:
        limit = getattr(self.model.config, "max_position_embeddings", 512) or 512
        return int(min(limit, 512) - (2 if getattr(self.model.config, "model_type", "") in ("xlm-roberta", "roberta", "camembert") else 0))

    def check_language(self, lang: str) -> None:
        languages.normalize_language(lang)

    # -- heads -------------------------------------------------------------------------------------------------------
    def prepare(self, task) -> None:
        if not hasattr(task, "labels"):
            raise XlgenError(f"task.name: {task.name!r} is not a classification task; encoder models ({self.name}) classify, they do not generate")
        labels = task.labels
        if not labels:
            raise XlgenError(f"task.labels: declare the label set of task {task.name!r} (NER: the entity types, e.g. [PER, ORG, LOC, MISC])")
        d = unwrap(self.model).config.hidden_size
        dropout = getattr(unwrap(self.model).config, "hidden_dropout_prob", 0.1)
        cls = TokenHead if task.kind == "token" else SequenceHead
        existing = getattr(unwrap(self.model), HEAD, None)
        if isinstance(existing, cls) and existing.out.out_features == len(labels):
            return
        param = next(self.model.parameters())
        unwrap(self.model).add_module(HEAD, cls(d, len(labels), dropout).to(device=param.device, dtype=param.dtype))

    # -- encoding ----------------------------------------------------------------------------------------------------
    def encode(self, examples, task, target_lang=None, with_target=True) -> list[Encoded]:
        tok, limit = self.tokenizer, self.max_input_length
        if getattr(task, "name", "") == "mlm":
            enc = tok([ex.input for ex in examples], truncation=True, max_length=limit)
            return [EncodedLabels(ids, list(ids), kind="mlm") for ids in enc["input_ids"]]
        if task.kind == "token":
            enc = tok([ex.tokens for ex in examples], is_split_into_words=True, truncation=True, max_length=limit)
            out = []
            for i, ex in enumerate(examples):
                words = enc.word_ids(i)
                labels, prev = [], None
                for w in words:
                    labels.append(task.label_id(ex.tags[w]) if (w is not None and w != prev and with_target) else -100)
                    prev = w
                out.append(EncodedLabels(enc["input_ids"][i], labels, kind="token", word_ids=words))
            return out
        enc = tok([ex.input for ex in examples], [ex.suffix for ex in examples], truncation="longest_first", max_length=limit)
        types = enc.get("token_type_ids")
        return [EncodedLabels(ids, [task.label_id(ex.target)] if with_target else [-100], kind="sequence", token_type_ids=types[i] if types else None)
                for i, (ex, ids) in enumerate(zip(examples, enc["input_ids"]))]  # fmt: skip

    def batch_cost(self, costs) -> int:
        return len(costs) * max(c[0] for c in costs)

    def collate(self, items: list[Encoded], device, shape=None) -> dict:
        """`shape` (a `xlgen.perf.buckets.BatchShape`) pads to a bucket: longer rows, and extra rows whose labels are
        all ignored (their first token is attended, so attention over them stays finite, and never masked for MLM)."""
        n = max(len(items), shape.rows if shape else 0)
        length = max([len(it.input_ids) for it in items] + ([shape.source] if shape else []))
        kind = items[0].kind
        input_ids = torch.full((n, length), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, length), dtype=torch.long)
        attention[len(items) :, 0] = 1
        types = torch.zeros((n, length), dtype=torch.long)
        labels = None
        if kind == "token":
            labels = torch.full((n, length), -100, dtype=torch.long)
        elif kind == "sequence":
            labels = torch.tensor([it.labels[0] for it in items] + [-100] * (n - len(items)))
        for i, it in enumerate(items):
            input_ids[i, : len(it.input_ids)] = torch.tensor(it.input_ids)
            attention[i, : len(it.input_ids)] = 1
            if it.token_type_ids:
                types[i, : len(it.token_type_ids)] = torch.tensor(it.token_type_ids)
            if kind == "token":
                labels[i, : len(it.labels)] = torch.tensor(it.labels)
        if kind == "mlm":
            special = torch.isin(input_ids, torch.tensor(sorted(set(self.tokenizer.all_special_ids)))) | (attention == 0)
            special[len(items) :] = True
            input_ids, labels = self._masker().torch_mask_tokens(input_ids, special_tokens_mask=special)
        # The real tokens, which bucket padding (attended first positions of extra rows) must not count: see loss().
        real = torch.tensor(sum(len(it.input_ids) for it in items))
        batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels, "real_tokens": real}
        if any(it.token_type_ids for it in items):
            batch["token_type_ids"] = types
        return {"kind": kind, **{k: v.to(device) for k, v in batch.items()}}

    def _masker(self):
        if not hasattr(self, "_collator"):
            from transformers import DataCollatorForLanguageModeling

            if self.tokenizer.mask_token is None:
                raise XlgenError(f"model {self.name}: its tokenizer has no mask token, so it cannot be trained with MLM")
            self._collator = DataCollatorForLanguageModeling(self.tokenizer, mlm_probability=0.15, mask_replace_prob=0.8, random_replace_prob=0.1)
        return self._collator

    # -- training ----------------------------------------------------------------------------------------------------
    def _hidden(self, model, batch):
        body = unwrap(model).base_model
        kwargs = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
        return body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs).last_hidden_state

    def logits(self, model, batch):
        if batch["kind"] == "mlm":
            kwargs = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
            return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs).logits
        head = getattr(unwrap(model), HEAD, None)
        if head is None:
            raise XlgenError("encoder: the model has no task head; prepare(task) adds it before training")
        return head(self._hidden(model, batch))

    def loss(self, model, batch):
        logits, labels = self.logits(model, batch), batch["labels"]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=-100, reduction="sum")
        count = (labels != -100).sum()
        if batch["kind"] in ("mlm", "token"):
            # The loop divides by the length of the labels it was handed, which here is every token (MLM: which ones
            # are masked is drawn in collate; token tasks: only first sub-words carry a label), so rescale to the mean
            # over the labelled positions, the usual loss.
            loss = loss * (batch["real_tokens"] / count.clamp(min=1))
        return loss, count

    # -- evaluation --------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, model, examples, task, device, max_tokens: int = 8000) -> list:
        """Predicted labels: a list per word (token tasks) or one label (sentence tasks), in example order."""
        encoded = self.encode(examples, task, with_target=False)
        out: list = [None] * len(examples)
        was = model.training
        model.eval()
        for idx in token_budget_batches([(len(e.input_ids), 0) for e in encoded], max_tokens, batch_cost=self.batch_cost, max_batch_size=64):
            items = [encoded[i] for i in idx]
            pred = self.logits(model, self.collate(items, device)).argmax(-1).cpu()
            for row, i in enumerate(idx):
                if task.kind == "sequence":
                    out[i] = task.labels[int(pred[row])]
                    continue
                words = [task.labels[0]] * len(examples[i].tokens)  # words cut by truncation get the first label
                seen = set()
                for pos, w in enumerate(items[row].word_ids):
                    if w is not None and w not in seen:
                        seen.add(w)
                        words[w] = task.labels[int(pred[row, pos])]
                out[i] = words
        model.train(was)
        return out

    def evaluate_labels(self, model, examples, task, lang, *, device="cpu"):
        predictions = self.predict(model, examples, task, device)
        metrics = task.score_labels(examples, predictions)
        metrics["n"] = len(examples)
        return metrics, task.prediction_rows(examples, predictions)

    def generate(self, *args, **kwargs):
        raise XlgenError(f"model {self.name} is an encoder (masked LM): it classifies, it does not generate")
