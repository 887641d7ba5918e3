"""Encoder-decoders: what every encoder-decoder family shares (input X </s> -> target Y </s>, the loss on the decoder,
generation), and the generic family for encoder-decoders no other family claims (BART and the like).

The families with their own knowledge subclass these: `t5.py` (mT5/T5/byT5), `mbart.py` (mBART-50), `m2m100.py`
(NLLB-200, M2M100), `marian.py` (opus-mt)."""

from __future__ import annotations

from functools import lru_cache  # keyed by model class (a few, alive anyway): no backbone is kept

import torch
import torch.nn.functional as F

from xlgen import languages
from xlgen.backbones.base import DEFAULT_ADAPTER_HOSTS, Backbone, Encoded, memoized, register_family, unwrap
from xlgen.perf.losses import LOSS_IMPLS
from xlgen.tasks.base import Example, Task


def _split_specials(with_specials: list[int], plain: list[int]) -> tuple[list[int], list[int]]:
    """Find the special tokens a tokenizer adds around text: (prefix, suffix) of `with_specials` around `plain`."""
    n = len(plain)
    for start in range(len(with_specials) - n + 1):
        if with_specials[start : start + n] == plain:
            return with_specials[:start], with_specials[start + n :]
    return [], []


def decoder_inputs_from_labels(model, labels: torch.Tensor) -> torch.Tensor:
    """Labels shifted right behind the decoder start token, as the model's own forward would build them."""
    inner = unwrap(model)
    if hasattr(inner, "prepare_decoder_input_ids_from_labels"):
        return inner.prepare_decoder_input_ids_from_labels(labels=labels)
    # M2M100/NLLB define no such method; their forward shifts with the decoder start token as BART does.
    from transformers.models.bart.modeling_bart import shift_tokens_right

    return shift_tokens_right(labels, inner.config.pad_token_id, inner.config.decoder_start_token_id)


def decoder_hidden_states(model, input_ids, attention_mask, decoder_input_ids):
    """The decoder's last hidden states exactly as the LM head receives them (T5 with tied embeddings: rescaled), so the
    loss can apply the head chunk by chunk. Under PEFT prompt tuning the learned prompt is prepended to the encoder
    input, as PEFT's own forward does. Returns None where a wrapper changes the forward in a way not reproduced here
    (PEFT prefix tuning), and the caller takes the model's own logits."""
    inner = unwrap(model)
    peft_cfg = getattr(model, "active_peft_config", None)
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if peft_cfg is not None and peft_cfg.is_prompt_learning:
        if str(getattr(peft_cfg.peft_type, "value", peft_cfg.peft_type)) not in ("PROMPT_TUNING", "P_TUNING"):
            return None
        n = input_ids.shape[0]
        embeds = model.word_embeddings(input_ids)
        prompts = model.get_prompt(batch_size=n).to(embeds.dtype)[:, : peft_cfg.num_virtual_tokens]
        kwargs = {"inputs_embeds": torch.cat([prompts, embeds], dim=1),
                  "attention_mask": torch.cat([attention_mask.new_ones(n, prompts.shape[1]), attention_mask], dim=1)}
    if hasattr(inner, "encoder") and hasattr(inner, "decoder") and hasattr(inner, "model_dim"):  # T5 family
        encoded = inner.encoder(**kwargs).last_hidden_state
        hidden = inner.decoder(input_ids=decoder_input_ids, encoder_hidden_states=encoded, encoder_attention_mask=kwargs["attention_mask"]).last_hidden_state
        if _rescales_output(inner):
            hidden = hidden * (inner.model_dim**-0.5)
        return hidden
    body = getattr(inner, inner.base_model_prefix, None)
    if body is None or body is inner:
        return None
    return body(decoder_input_ids=decoder_input_ids, use_cache=False, **kwargs).last_hidden_state


@lru_cache(maxsize=None)
def _rescaling_rule(cls) -> str:
    """How this T5-like class rescales the decoder output before its head, read from the class's own forward so the
    loss follows the installed transformers exactly: "flag" (`config.scale_decoder_outputs`, T5 in transformers 5.2x),
    "tied" (when embeddings are tied: older T5, umT5, LongT5) or "never" (MT5 in transformers 5)."""
    import inspect

    try:
        src = inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return "tied"
    if "model_dim**-0.5" not in src:
        return "never"
    return "flag" if "scale_decoder_outputs" in src else "tied"


def _rescales_output(inner) -> bool:
    rule = _rescaling_rule(type(inner))
    if rule == "flag":
        return bool(getattr(inner.config, "scale_decoder_outputs", False))
    return rule == "tied" and bool(inner.config.tie_word_embeddings)


def output_head(model) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The LM head's weight and bias (mBART and Marian add a `final_logits_bias` buffer to the projection)."""
    inner = unwrap(model)
    bias = getattr(inner, "final_logits_bias", None)
    return inner.get_output_embeddings().weight, (bias.reshape(-1) if bias is not None else None)


# ZmBART (Maurya et al. 2021) trains the encoder only: the decoder keeps generating every pretraining language.
ENCODER_DECODER_FROZEN = [
    r"(^|\.)decoder\.",  # the whole decoder, its embeddings and norms included
    r"(^|\.)shared\.",  # the shared input embedding (T5, mBART, M2M100)
    r"embed",  # encoder token/position embeddings and their layer norm (mBART's layernorm_embedding)
    r"(^|\.)lm_head\.",
    r"final_logits_bias",
]
# The BART family's sublayers: attention modules, and `fc2`, since its feed-forward block has no module of its own.
BART_ADAPTER_HOSTS = {"attn": ("self_attn",), "cross": ("encoder_attn",), "ffn": ("fc2",)}


@register_family("seq2seq")
class Seq2SeqBackbone(Backbone):
    """Encoder-decoder without language codes (BART and any model no other family claims): X </s> -> Y </s>."""

    claims_other = "encoder-decoder"
    lora_target_candidates = (("q_proj", "v_proj"), ("q", "v"))

    @classmethod
    def adapter_hosts(cls, model) -> dict[str, tuple[str, ...]]:
        return {kind: BART_ADAPTER_HOSTS[kind] + names for kind, names in DEFAULT_ADAPTER_HOSTS.items()}

    @classmethod
    def frozen_patterns(cls, model, upper_fraction: float) -> list[str]:
        return ENCODER_DECODER_FROZEN

    def default_max_length(self) -> int:
        # mT5 has relative positions and no hard limit; 512 is what it was pretrained on (the paper crops to it).
        # Models with learned positions cannot go past max_position_embeddings (mBART 1024).
        return int(getattr(self.model.config, "max_position_embeddings", None) or 512)

    def code(self, lang: str) -> str | None:
        return None

    @memoized
    def _specials(self, lang: str | None, side: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        tok = self.tokenizer
        probe = "a b c"
        plain = tok(probe, add_special_tokens=False)["input_ids"]
        code = self.code(lang) if lang else None
        code = languages.tokenizer_lang_value(tok, code) if code else None  # M2M100 wants "de" for "__de__"
        if side == "source":
            if code and hasattr(tok, "src_lang"):
                tok.src_lang = code
            ids = tok(probe)["input_ids"]
        else:
            if code and hasattr(tok, "tgt_lang"):
                tok.tgt_lang = code
            ids = tok(text_target=probe)["input_ids"]
        pre, post = _split_specials(ids, plain)
        return tuple(pre), tuple(post)

    def encode(self, examples: list[Example], task: Task, target_lang: str | None = None, with_target: bool = True) -> list[Encoded]:
        tok = self.tokenizer
        bodies = tok([ex.input for ex in examples], add_special_tokens=False)["input_ids"]
        suffixes = tok([ex.suffix for ex in examples], add_special_tokens=False)["input_ids"] if any(ex.suffix for ex in examples) else [[]] * len(examples)
        targets = tok([ex.target for ex in examples], add_special_tokens=False)["input_ids"] if with_target else [[]] * len(examples)
        max_input, max_target = self.max_lengths()
        out = []
        for ex, body, suffix, target in zip(examples, bodies, suffixes, targets):
            tgt_lang = target_lang or ex.lang
            pre, post = self._specials(ex.lang, "source")
            pre = pre + self.source_prefix(tgt_lang)
            room = max(max_input - len(pre) - len(post) - len(suffix), 0)
            input_ids = list(pre) + body[:room] + suffix + list(post)
            input_ids = input_ids[:max_input] if len(input_ids) > max_input else input_ids
            labels: list[int] = []
            if with_target:
                tpre, tpost = self._specials(tgt_lang, "target")
                room = max(max_target - len(tpre) - len(tpost), 0)
                labels = (list(tpre) + target[:room] + list(tpost))[:max_target]
            out.append(Encoded(input_ids, labels))
        return out

    def max_lengths(self) -> tuple[int, int]:
        """Source and target crops: the configured ones (the family's defaults), within the positions a learned prompt
        leaves. The prompt is counted on both sides, since PEFT prompt learning may prepend it to the decoder too
        (`num_transformer_submodules=2`, prefix tuning's past length)."""
        room = self.room()
        if room is None:
            return self.max_input_length, self.max_target_length
        return min(self.max_input_length, room), min(self.max_target_length, room)

    def source_prefix(self, target_lang: str) -> tuple[int, ...]:
        return ()

    def collate(self, items: list[Encoded], device, shape=None) -> dict[str, torch.Tensor]:
        """`shape` (a `xlgen.perf.buckets.BatchShape`) pads to a bucket: longer rows, and extra rows whose labels are
        all ignored (their first token is attended, so attention over them stays finite)."""
        n = max(len(items), shape.rows if shape else 0)
        src_len = max([len(it.input_ids) for it in items] + ([shape.source] if shape else []))
        input_ids = torch.full((n, src_len), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, src_len), dtype=torch.long)
        attention[len(items) :, 0] = 1
        for i, it in enumerate(items):
            input_ids[i, : len(it.input_ids)] = torch.tensor(it.input_ids)
            attention[i, : len(it.input_ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention}
        tgt_len = max([len(it.labels) for it in items] + ([shape.target] if shape and items[0].labels else []))
        if tgt_len:
            labels = torch.full((n, tgt_len), -100, dtype=torch.long)
            for i, it in enumerate(items):
                labels[i, : len(it.labels)] = torch.tensor(it.labels)
            batch["labels"] = labels
            if n > len(items):
                # mBART builds decoder inputs around each row's last label token: padding rows need one. They get
                # an end-of-sequence token there, used for the decoder inputs only (their labels stay ignored).
                decoder_labels = labels.clone()
                decoder_labels[len(items) :, 0] = self.eos_id
                batch["decoder_labels"] = decoder_labels
        return {k: v.to(device) for k, v in batch.items()}

    # How the loss goes through the output layer: "chunked" (xlgen.perf.losses, never every position's logits at once),
    # "liger" (Liger-Kernel, CUDA) or "plain" (the model's own logits). Set from `train.loss_impl`.
    loss_impl = "chunked"

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # Decoder inputs are built here rather than by passing `labels`: given labels, the model would also compute
        # its own mean loss over the full vocabulary, a second softmax over 250k logits per target token, unused.
        labels = batch["labels"]
        decoder_input_ids = decoder_inputs_from_labels(model, batch.get("decoder_labels", labels))
        hidden = None
        if self.loss_impl != "plain":
            hidden = decoder_hidden_states(model, batch["input_ids"], batch["attention_mask"], decoder_input_ids)
        if hidden is None:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=decoder_input_ids).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=-100, reduction="sum")
        else:
            weight, bias = output_head(model)
            loss = LOSS_IMPLS[self.loss_impl](hidden, weight, labels, bias)
        return loss, (labels != -100).sum()

    def generation_kwargs(self, target_lang: str) -> dict:
        return {}

    @torch.no_grad()
    def generate(self, model, batch: dict[str, torch.Tensor], target_lang: str, max_new_tokens: int, num_beams: int, logits_processor=None) -> list[list[int]]:
        room = self.room()
        out = model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            # The decoder start token takes a position too.
            max_new_tokens=max_new_tokens if room is None else max(min(max_new_tokens, room - 1), 1),
            num_beams=num_beams,
            do_sample=False,
            logits_processor=logits_processor,
            **self.generation_kwargs(target_lang),
        )
        # Drop the decoder start token; the forced language code (if any) stays and is removed before scoring.
        return [row[1:].tolist() for row in out]


class CodedSeq2SeqBackbone(Seq2SeqBackbone):
    """Families whose tokenizer knows language codes (`src_lang`/`tgt_lang`), read with the family's `code_patterns`."""

    lora_target_candidates = (("q_proj", "v_proj"),)

    @classmethod
    def adapter_hosts(cls, model) -> dict[str, tuple[str, ...]]:
        return BART_ADAPTER_HOSTS

    def check_language(self, lang: str) -> None:
        self.code(lang)

    def code(self, lang: str) -> str:
        return languages.resolve_model_language_code(lang, self.tokenizer, model_name=self.name, patterns=self.code_patterns)

    def generation_kwargs(self, target_lang: str) -> dict:
        # The target code is forced as the first generated token (mBART-50, NLLB-200, M2M100).
        return {"forced_bos_token_id": self.tokenizer.convert_tokens_to_ids(self.code(target_lang))}
