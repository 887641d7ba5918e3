"""Decoder-only causal LMs (Gemma, Qwen, Llama, BLOOM): a prompt that names the target language, loss on target only."""

from __future__ import annotations

from pathlib import Path

import torch

from xlgen import languages
from xlgen.backbones.base import DEFAULT_ADAPTER_HOSTS, Backbone, Encoded, learned_prompt, memoized, register_family, unwrap
from xlgen.compat import cache_kwarg, forward_parameters, output_cache
from xlgen.errors import XlgenError
from xlgen.perf.losses import LOSS_IMPLS
from xlgen.tasks.base import Example, Task


# Generation-config fields under which transformers' greedy `generate` changes the scores itself; a model whose config
# sets any of them (a repetition penalty in a hub generation_config.json) is decoded by `generate`, not `greedy_decode`.
_SCORE_CHANGING = ("no_repeat_ngram_size", "bad_words_ids", "min_length", "min_new_tokens", "forced_bos_token_id", "forced_eos_token_id",
                   "suppress_tokens", "begin_suppress_tokens", "sequence_bias", "exponential_decay_length_penalty", "renormalize_logits")


def _last_logits_only(model) -> dict:
    """Forward kwargs that make the model project only the last position onto the vocabulary, where it can."""
    return {"logits_to_keep": 1} if "logits_to_keep" in forward_parameters(model) else {}


def _plain_greedy(generation_config) -> bool:
    if generation_config is None:
        return True
    if getattr(generation_config, "repetition_penalty", None) not in (None, 1.0):
        return False
    return not any(getattr(generation_config, f, None) for f in _SCORE_CHANGING)


def causal_body(model):
    """The transformer stack under the LM head (works through PEFT wrappers, whose `get_decoder` forwards)."""
    inner = unwrap(model)
    if hasattr(inner, "get_decoder"):
        dec = inner.get_decoder()
        if dec is not None and dec is not inner:
            return dec
    return getattr(inner, inner.base_model_prefix)


def body_hidden_states(model, input_ids, attention_mask):
    """Last hidden states aligned with `input_ids`. Under PEFT prompt tuning the learned prompt is prepended here, as
    PEFT's own forward does, and its positions are dropped from the result."""
    body = causal_body(model)
    if learned_prompt(model):
        n = input_ids.shape[0]
        prompts = model.get_prompt(batch_size=n).to(body.dtype if hasattr(body, "dtype") else torch.float32)
        embeds = torch.cat([prompts, model.get_input_embeddings()(input_ids)], dim=1)
        mask = torch.cat([torch.ones(n, prompts.shape[1], dtype=attention_mask.dtype, device=attention_mask.device), attention_mask], dim=1)
        return body(inputs_embeds=embeds, attention_mask=mask).last_hidden_state[:, prompts.shape[1] :]
    return body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


# BLOOM's attention and MLP add the residual themselves, so adapters go on their output projections. (With
# `slow_but_exact` and pretraining_tp > 1 BLOOM bypasses these modules' forward and the hooks would not run.)
BLOOM_ADAPTER_HOSTS = {"attn": ("self_attention.dense",), "cross": (), "ffn": ("mlp.dense_4h_to_h",)}


@register_family("causal")
class CausalBackbone(Backbone):
    is_encoder_decoder = False
    claims_other = "decoder-only"
    # <|endoftext|>, <|im_end|>, <|eot_id|>: the <|...|> form is used only for special tokens
    rudiments = (r"<\|[^<>|\s]{1,40}\|>",)
    lora_target_candidates = (("q_proj", "v_proj"), ("query_key_value",), ("c_attn",))

    @classmethod
    def adapter_hosts(cls, model) -> dict[str, tuple[str, ...]]:
        return BLOOM_ADAPTER_HOSTS if getattr(model.config, "model_type", "") == "bloom" else DEFAULT_ADAPTER_HOSTS

    @classmethod
    def frozen_patterns(cls, model, upper_fraction: float) -> list[str]:
        """No encoder to train: freeze what generates text (embeddings, output projection, the top `upper_fraction` of
        the layers) and train the lower layers, which read the prompt; the closest analogue of ZmBART's choice."""
        n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
        if not n:
            raise XlgenError("freeze: cannot tell how many layers the model has; set adaptation.freeze.patterns")
        first_frozen = int(n) - round(int(n) * upper_fraction)
        upper = "|".join(str(i) for i in range(first_frozen, int(n)))
        patterns = [r"embed", r"(^|\.)lm_head\.", r"(^|\.)wte\.", r"(^|\.)(norm|ln_f|final_layernorm)\."]
        if upper:
            patterns.append(rf"(^|\.)(layers|h|blocks)\.({upper})\.")
        return patterns

    def __init__(self, model, tokenizer, cfg, name):
        super().__init__(model, tokenizer, cfg, name)
        if "{input}" not in cfg.prompt_template:
            raise XlgenError(f"model.prompt_template: must contain {{input}} (got {cfg.prompt_template!r})")
        if self.eos_id is None:
            raise XlgenError(f"model {name}: its tokenizer has no end-of-sequence token, so generation could not stop")

    def default_max_length(self) -> int:
        # Long-context models (Gemma 3: 32k) would accept more, but task inputs beyond 1024 tokens are rare in these
        # tasks and the memory of a training batch grows with the longest example.
        limit = getattr(self.model.config, "max_position_embeddings", None) or 1024
        return int(min(limit, 1024))

    def check_language(self, lang: str) -> None:
        languages.language_name(lang)

    @memoized
    def _bos(self) -> tuple[int, ...]:
        plain = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        ids = self.tokenizer("a")["input_ids"]
        return tuple(ids[: len(ids) - len(plain)]) if ids[-len(plain):] == plain else ()

    def encode(self, examples: list[Example], task: Task, target_lang: str | None = None, with_target: bool = True, reserve: int = 0) -> list[Encoded]:
        """Prompt (and target) token ids. Within the position limit the prompt and what follows it share one
        sequence, so the body is cropped to leave room for the target, or for `reserve` generated tokens."""
        tok = self.tokenizer
        head, tail = self.cfg.prompt_template.split("{input}", 1)
        bos = list(self._bos())
        bodies = tok([head + ex.input for ex in examples], add_special_tokens=False)["input_ids"]
        tails = tok(
            [ex.suffix + tail.format(instruction=task.instruction, language=languages.language_name(target_lang or ex.lang)) for ex in examples],
            add_special_tokens=False,
        )["input_ids"]
        targets = tok([" " + ex.target.strip() for ex in examples], add_special_tokens=False)["input_ids"] if with_target else [[]] * len(examples)
        limit = self.room()
        if limit is not None:
            reserve = min(reserve, limit // 2)  # the prompt keeps half the positions; `generate` stops at the limit
        out = []
        for body, tl, target in zip(bodies, tails, targets):
            labels = (target[: self.max_target_length - 1] + [self.eos_id]) if with_target else []
            room = self.max_input_length - len(bos) - len(tl)
            if limit is not None:
                labels = labels[: max(limit - len(bos) - len(tl), 1)]  # only a prompt tail that long crops the target
                room = min(room, limit - len(bos) - len(tl) - (len(labels) if with_target else reserve))
            room = max(room, 0)
            prompt, shared = bos + body[:room] + tl, len(bos) + min(len(body), room)
            after = len(labels) if with_target else reserve
            if limit is not None and len(prompt) + after > limit:  # even without a body: keep the prompt's end
                cut = len(prompt) + after - limit
                prompt, shared = prompt[cut:], max(shared - cut, 0)
            out.append(Encoded(prompt, labels, shared_prefix=shared))
        return out

    def batch_cost(self, costs: list[tuple[int, int]]) -> int:
        return len(costs) * max(c[0] + c[1] for c in costs)

    def collate(self, items: list[Encoded], device, shape=None) -> dict[str, torch.Tensor]:
        n = len(items)
        if items[0].labels:
            # Training: prompt + target, right-padded; labels only on the target. `label_positions` / `label_ids` list
            # the labelled positions (in the flattened [rows, length - 1] layout of the shifted hidden states) and
            # their tokens, so the loss can gather them without reading a mask back from the device. `shape` (a
            # `xlgen.perf.buckets.BatchShape`) pads to a bucket: longer rows, extra rows and `shape.target` label
            # slots per row, the unused ones pointing at position 0 with label -100.
            rows = max(n, shape.rows if shape else 0)
            length = max([len(it.input_ids) + len(it.labels) for it in items] + ([shape.source] if shape else []))
            input_ids = torch.full((rows, length), self.pad_id, dtype=torch.long)
            labels = torch.full((rows, length), -100, dtype=torch.long)
            attention = torch.zeros((rows, length), dtype=torch.long)
            attention[n:, 0] = 1
            positions: list[int] = []
            label_ids: list[int] = []
            for i, it in enumerate(items):
                seq = it.input_ids + it.labels
                input_ids[i, : len(seq)] = torch.tensor(seq)
                labels[i, len(it.input_ids) : len(seq)] = torch.tensor(it.labels)
                attention[i, : len(seq)] = 1
                start = i * (length - 1) + len(it.input_ids) - 1
                positions += range(start, start + len(it.labels))
                label_ids += it.labels
                if shape:
                    slots = max(shape.target - len(it.labels), 0)
                    positions += [0] * slots
                    label_ids += [-100] * slots
            if shape:
                positions += [0] * (rows - n) * shape.target
                label_ids += [-100] * (rows - n) * shape.target
            batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
                     "label_positions": torch.tensor(positions, dtype=torch.long), "label_ids": torch.tensor(label_ids, dtype=torch.long)}
        else:
            # Generation: left-padded prompts so every row continues from the same position.
            length = max(len(it.input_ids) for it in items)
            input_ids = torch.full((n, length), self.pad_id, dtype=torch.long)
            attention = torch.zeros((n, length), dtype=torch.long)
            for i, it in enumerate(items):
                input_ids[i, length - len(it.input_ids) :] = torch.tensor(it.input_ids)
                attention[i, length - len(it.input_ids) :] = 1
            batch = {"input_ids": input_ids, "attention_mask": attention}
        return {k: v.to(device) for k, v in batch.items()}

    # "chunked" | "liger" | "plain": how the loss goes through the output layer (see xlgen.perf.losses).
    loss_impl = "chunked"

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # The output projection is computed only where a label is predicted. In a QA prompt most positions (the
        # paragraph) carry no label, and with a 262k vocabulary the projection and its softmax cost more than the
        # rest of a small model: computing them everywhere and masking afterwards wastes most of the step.
        # (transformers' `logits_to_keep` selects the same positions in every row, not per-row label positions.)
        # The labelled positions come from the collate (`label_positions`), so selecting them reads nothing back from
        # the device; a batch without them (built elsewhere) falls back to a mask.
        hidden = body_hidden_states(model, batch["input_ids"], batch["attention_mask"])
        shifted = hidden[:, :-1].reshape(-1, hidden.shape[-1])
        if "label_positions" in batch:
            h, targets = shifted.index_select(0, batch["label_positions"]), batch["label_ids"]
        else:
            flat = batch["labels"][:, 1:].reshape(-1)
            h, targets = shifted[flat != -100], flat[flat != -100]
        head = model.get_output_embeddings()
        softcap = getattr(model.config, "final_logit_softcapping", None)
        loss = LOSS_IMPLS[self.loss_impl](h, head.weight, targets, getattr(head, "bias", None), softcap)
        return loss, (targets != -100).sum()

    supports_shared_prefix = True

    @torch.no_grad()
    def generate_shared(
        self, model, items: list[Encoded], target_lang: str, max_new_tokens: int, device, copies: int = 1, logits_processor=None
    ) -> list[list[int]]:
        """Greedy generation where rows that start with the same prefix (a paragraph asked several questions) compute
        it once: the distinct prefixes are prefilled as a left-padded batch, their cache rows are repeated for the
        rows that share them, and `generate` continues from that cache with each row's own suffix.

        Rows are laid out as [left padding][prefix][padding][suffix]; padding is masked and position ids come from
        the attention mask, so every row sees the positions it would see alone.

        With `copies` > 1 (candidates of a reranker, xlgen.guards.rerank) each item becomes that many adjacent rows:
        its suffix is prefilled once too, and only the decoding runs per copy.
        """
        keys = [tuple(it.input_ids[: it.shared_prefix]) for it in items]
        distinct = list(dict.fromkeys(keys))
        group = torch.tensor([distinct.index(k) for k in keys], device=device)
        p_len = max(len(k) for k in distinct)
        s_len = max(len(it.input_ids) - it.shared_prefix for it in items)
        pre_ids = torch.full((len(distinct), p_len), self.pad_id, dtype=torch.long)
        pre_mask = torch.zeros((len(distinct), p_len), dtype=torch.long)
        for i, k in enumerate(distinct):
            pre_ids[i, p_len - len(k) :] = torch.tensor(k)
            pre_mask[i, p_len - len(k) :] = 1
        pre_ids, pre_mask = pre_ids.to(device), pre_mask.to(device)
        positions = (pre_mask.cumsum(-1) - 1).clamp(min=0)
        # Only the cache is needed from the prefill: the body alone, no output projection over the vocabulary.
        body = causal_body(model)
        cache = output_cache(body(input_ids=pre_ids, attention_mask=pre_mask, position_ids=positions, use_cache=True))
        cache.batch_select_indices(group)
        n = len(items)
        ids = torch.full((n, p_len + s_len), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, p_len + s_len), dtype=torch.long)
        for r, it in enumerate(items):
            suffix = it.input_ids[it.shared_prefix :]
            ids[r, :p_len] = pre_ids[group[r]].cpu()
            mask[r, :p_len] = pre_mask[group[r]].cpu()
            ids[r, p_len + s_len - len(suffix) :] = torch.tensor(suffix)
            mask[r, p_len + s_len - len(suffix) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        plain = _plain_greedy(unwrap(model).generation_config)
        first = None
        if copies > 1:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, p_len:]
            if plain:
                # The whole suffix once per item, and with it the first step's distribution: the copies differ only
                # from their first token on, so computing that step per copy would repeat the same row `copies` times
                # (with answers a few tokens long, the first step is the largest of the candidates' decoding).
                inner = unwrap(model)
                out = model(input_ids=ids[:, p_len:], attention_mask=mask, position_ids=positions, use_cache=True,
                            **{cache_kwarg(inner): cache}, **_last_logits_only(inner))
                first = out.logits[:, -1, :].to(dtype=torch.float32).repeat_interleave(copies, dim=0)
            elif s_len > 1:  # the suffix but its last token, once per item; generate starts from the last token
                body(input_ids=ids[:, p_len:-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1], use_cache=True,
                     **{cache_kwarg(body): cache})
            cache.batch_select_indices(torch.arange(n, device=device).repeat_interleave(copies))
            ids, mask = ids.repeat_interleave(copies, dim=0), mask.repeat_interleave(copies, dim=0)
        max_new = self._new_tokens(max_new_tokens, mask)
        if plain:
            cached = p_len + s_len if first is not None else p_len
            return self.greedy_decode(model, ids, mask, cache, cached, max_new, logits_processor, first_logits=first)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            **{cache_kwarg(unwrap(model)): cache},
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
            logits_processor=logits_processor,
        )
        return out[:, p_len + s_len :].tolist()

    def greedy_decode(self, model, ids, mask, cache, cached: int, max_new: int, logits_processor=None,
                      first_logits: torch.Tensor | None = None) -> list[list[int]]:
        """Greedy decoding from a cache that holds the first `cached` positions of `ids`, dropping each row from the
        batch and the cache once it ends: transformers' `generate` keeps every row until the longest one ends, which
        with short answers of very different lengths (and a reranker's candidates) spent about two thirds of the
        decoding on finished rows. Processors that take a `rows` attribute (xlgen's guards) see the rows still
        decoding and are told which batch rows they are; any other processor sees every row, finished rows padded as
        `generate` pads them. The tokens are those `generate` chooses (up to the summation order of a smaller batch).
        `first_logits`: the first step's distribution, already computed (the cache then holds all of `ids`).
        """
        n, device = ids.shape[0], ids.device
        inner = unwrap(model)
        keep_last = _last_logits_only(inner)
        cache_name = cache_kwarg(inner)
        processors = list(logits_processor or [])
        compact = all(getattr(p, "accepts_rows", False) for p in processors)
        seqs = ids
        alive = torch.arange(n, device=device)  # rows of the batch still decoding
        step_ids = ids[:, cached:]
        attn = mask
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, cached:]
        for step in range(max_new):
            if step == 0 and first_logits is not None:
                logits = first_logits
            else:
                logits = model(input_ids=step_ids, attention_mask=attn, position_ids=positions, use_cache=True, **{cache_name: cache}, **keep_last).logits
                logits = logits[:, -1, :].to(dtype=torch.float32)
            if processors and compact:
                rows = None if len(alive) == n else alive
                for p in processors:
                    p.rows = rows
                logits = logits_processor(seqs if rows is None else seqs[rows], logits)
            elif processors:
                scores = logits.new_zeros((n, logits.shape[-1]))
                scores[alive] = logits
                logits = logits_processor(seqs, scores)[alive]
            chosen = logits.argmax(dim=-1)
            column = torch.full((n,), self.pad_id, dtype=seqs.dtype, device=device)
            column[alive] = chosen
            seqs = torch.cat([seqs, column[:, None]], dim=1)
            going = chosen != self.eos_id
            if not going.any():
                break
            if not going.all():
                cache.batch_select_indices(going.nonzero().flatten())
                alive, chosen, attn = alive[going], chosen[going], attn[going]
            attn = torch.cat([attn, attn.new_ones((attn.shape[0], 1))], dim=1)
            step_ids = chosen[:, None]
            positions = attn.sum(-1, keepdim=True) - 1
        return seqs[:, ids.shape[1] :].tolist()

    def _new_tokens(self, requested: int, attention_mask: torch.Tensor) -> int:
        """New tokens that fit after the longest prompt of a batch within the position limit (at least one)."""
        room = self.room()
        return requested if room is None else max(min(requested, room - int(attention_mask.sum(-1).max())), 1)

    @torch.no_grad()
    def generate(self, model, batch: dict[str, torch.Tensor], target_lang: str, max_new_tokens: int, num_beams: int, logits_processor=None) -> list[list[int]]:
        out = model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            max_new_tokens=self._new_tokens(max_new_tokens, batch["attention_mask"]),
            num_beams=num_beams,
            do_sample=False,
            pad_token_id=self.pad_id,
            eos_token_id=self.eos_id,
            logits_processor=logits_processor,
        )
        return out[:, batch["input_ids"].shape[1] :].tolist()


# -- tiny test models (xlgen.testing) ---------------------------------------------------------------------------------


def _causal_tokenizer(scratch: Path):
    from transformers import LlamaTokenizer

    from xlgen.testing import shared_spm, write_file

    write_file(scratch / "tokenizer.model", shared_spm())
    # Llama has no pad token; a dedicated one keeps padding distinct from </s> in training labels. The .model
    # conversion path leaves add_bos_token off, unlike the hub Llama tokenizer.json, so it is set explicitly.
    return LlamaTokenizer.from_pretrained(str(scratch), pad_token="<pad>", add_bos_token=True, model_max_length=512)


def _causal_model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    from xlgen.testing import DIMS

    d = DIMS
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=d["d_model"],
        intermediate_size=d["ffn"],
        num_hidden_layers=d["layers"],
        num_attention_heads=d["heads"],
        num_key_value_heads=d["heads"] // 2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


CausalBackbone.tiny_models = {"causal": (_causal_tokenizer, _causal_model)}
