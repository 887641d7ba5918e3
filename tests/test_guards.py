"""Language guards (xlgen.guards): each on synthetic logits where that is the precise check (the span guard only ever
emits input spans, the script guard never emits a masked token), and end to end on tiny real models."""

import json

import numpy as np
import pytest
import regex
import torch

from xlgen.backbones import load_backbone
from xlgen.config import DatasetSpec, GenerateConfig, GuardOptions, ModelConfig, TaskConfig
from xlgen.errors import XlgenError
from xlgen.evaluate import generate
from xlgen.guards import build_guards, guard_label, guard_names
from xlgen.guards.base import GuardContext
from xlgen.guards.prior import PriorGuard, log_ratio
from xlgen.guards.rerank import BranchAndScore, RerankGuard
from xlgen.guards.script import ScriptGuard, language_scripts
from xlgen.guards.span import SpanGuard
from xlgen.guards.vocab import token_texts, vocab_of
from xlgen.tasks import Example, get_task
from xlgen.testing import tiny_model, tiny_qa_config

PARAGRAPH = "Der Rhein fließt durch Basel und Köln, bevor er   in die Nordsee mündet. Москва liegt nicht am Rhein."


@pytest.fixture(scope="module")
def causal():
    return load_backbone(ModelConfig(name=str(tiny_model("causal")), max_input_length=96))


def ctx_for(backbone, lang, task="qa", **options):
    tok = backbone.tokenizer
    return GuardContext(tokenizer=tok, vocab=vocab_of(tok), task=get_task(TaskConfig(name=task)), target_lang=lang,
                        options=GuardOptions(**options), eos_id=backbone.eos_id, pad_id=backbone.pad_id)


def run_processor(proc, steps, rows, width, seed, start_len=5):
    """Greedy decoding of random logits through a processor: the tokens it lets through, per row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros((rows, start_len), dtype=torch.long)
    for _ in range(steps):
        scores = torch.randn((rows, width), generator=g) * 3
        out = proc(ids, scores)
        ids = torch.cat([ids, out.argmax(-1, keepdim=True)], dim=1)
    return ids[:, start_len:]


# ---- vocabulary texts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["causal", "mt5", "mbart50", "marian", "byt5"])
def test_vocab_texts_match_the_decoder(family):
    """The fast string maps give, for every token, what decoding it after another token adds (leading space kept)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model(family)))
    texts = token_texts(tok)
    assert len(texts) == len(tok)
    anchor = tok("a", add_special_tokens=False)["input_ids"][-1]
    checked = 0
    for i, t in enumerate(texts):
        if t is None:
            continue
        both = tok.decode([anchor, i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        alone = tok.decode([anchor], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert both[len(alone):] == t, (i, t, both)
        checked += 1
    assert checked > 0.5 * len(texts) or family == "byt5"
    assert all(texts[i] is None for i in tok.all_special_ids)


# ---- script -----------------------------------------------------------------------------------------------------


def test_language_scripts_from_cldr():
    assert language_scripts("ru") == ("Cyrl",)
    assert language_scripts("zh") == ("Hani",)
    assert language_scripts("zh-Hant") == ("Hani",)
    assert language_scripts("ja") == ("Hani", "Hira", "Kana")
    assert language_scripts("sr-Latn") == ("Latn",)
    assert language_scripts("th") == ("Thai",)
    with pytest.raises(XlgenError):
        language_scripts("not a tag")


@pytest.mark.parametrize("lang,script", [("ru", "Cyrillic"), ("th", "Thai"), ("zh", "Han"), ("de", "Latin")])
def test_script_mask_agrees_with_a_per_token_check(causal, lang, script):
    guard = ScriptGuard(ctx_for(causal, lang))
    bad = regex.compile(rf"[^\p{{Common}}\p{{Inherited}}\p{{scx={script}}}]")
    texts = vocab_of(causal.tokenizer).texts
    expected = [t is None or bad.search(t) is None for t in texts]
    assert guard.allowed.tolist() == expected
    assert 0 < sum(expected) < len(expected)


@pytest.mark.parametrize("seed", range(3))
def test_script_guard_never_emits_a_masked_token(causal, seed):
    guard = ScriptGuard(ctx_for(causal, "ru"))
    width = causal.model.get_output_embeddings().weight.shape[0]  # wider than the tokenizer: padded rows are masked too
    out = run_processor(guard.processor([], 1), steps=30, rows=4, width=width, seed=seed)
    allowed = guard.allowed.tolist()
    for tok in out.flatten().tolist():
        assert tok < len(allowed) and allowed[tok] or tok == causal.eos_id


# ---- span -------------------------------------------------------------------------------------------------------


def normalized(text):
    return " ".join(text.split())


@pytest.mark.parametrize("seed", range(6))
def test_span_guard_only_emits_input_spans(causal, seed):
    """Random logits, greedy: whatever the model wants, the output is a non-empty span of the paragraph."""
    guard = SpanGuard(ctx_for(causal, "de"))
    examples = [Example(id="a", lang="de", input=PARAGRAPH), Example(id="b", lang="de", input="Paris ist die Hauptstadt Frankreichs.")]
    width = causal.model.get_output_embeddings().weight.shape[0]
    out = run_processor(guard.processor(examples, 2), steps=12, rows=4, width=width, seed=seed)
    texts = vocab_of(causal.tokenizer).texts
    for row, ids in enumerate(out.tolist()):
        ids = ids[: ids.index(causal.eos_id)] if causal.eos_id in ids else ids
        text = "".join(texts[i] for i in ids).strip()
        assert text, ids
        paragraph = normalized(examples[row // 2].input)
        assert text in paragraph, (text, row)
        if causal.eos_id in out[row].tolist():  # a finished answer ends where a word of the paragraph ends
            ends = [p + len(text) for p in range(len(paragraph)) if paragraph.startswith(text, p)]
            assert any(e == len(paragraph) or not paragraph[e].isalnum() or not paragraph[e - 1].isalnum() for e in ends), (text, row)


def test_span_guard_forbids_ending_before_any_copy(causal):
    guard = SpanGuard(ctx_for(causal, "de"))
    proc = guard.processor([Example(id="a", lang="de", input=PARAGRAPH)], 1)
    scores = torch.zeros((1, len(causal.tokenizer)))
    scores[0, causal.eos_id] = 100.0
    out = proc(torch.zeros((1, 3), dtype=torch.long), scores)
    assert out[0].argmax().item() != causal.eos_id


def test_word_boundaries_by_script():
    from xlgen.guards.span import word_ends, word_starts

    def cut(text):  # the positions inside `text` where a span may not end
        return [p for p, ok in enumerate(word_ends(text)) if not ok]

    assert cut("die Hauptstadt, 17.") == [1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17]
    assert cut("北京大学") == []  # no spaces between words: every boundary may end a word
    assert cut("ในปี") == []
    assert cut("ही है") == [1, 4]  # a Devanagari vowel sign belongs to its letter's word
    assert cut("والقاهرة") == list(range(1, 8))
    assert [p for p, ok in enumerate(word_starts("die Hauptstadt")) if ok] == [0, 3, 4]
    assert all(word_starts("والقاهرة"))  # Arabic prefixes are written joined: the answer may begin after them
    assert all(word_starts("北京大学"))


@pytest.mark.parametrize("whole_words", [True, False])
def test_span_guard_copies_whole_words(causal, whole_words):
    from xlgen.guards.span import SpanIndex, span_tables

    vocab = vocab_of(causal.tokenizer)
    index = SpanIndex("Paris ist die Hauptstadt.", vocab, span_tables(vocab), whole_words)
    eos = causal.eos_id
    inside, end = frozenset({len("Paris ist die Haupt")}), frozenset({len("Paris ist die Hauptstadt")})
    assert (eos in index.allowed(inside, eos).tolist()) is not whole_words
    assert eos in index.allowed(end, eos).tolist()
    assert eos in index.allowed(inside | end, eos).tolist()  # one place where the copy could end is enough
    starts = {vocab.texts[i].strip() for i in index.start_ids()}
    inside_only = {"aris", "ris", "au", "aupt", "st", "stadt", "ad", "adt", "dt"} & set(span_tables(vocab).stripped)
    assert inside_only, "the tokenizer should have a piece that only occurs inside a word here"
    assert bool(starts & inside_only) is not whole_words
    # every token a state may allow is in the guard's vocabulary (the restricted output layer keeps it)
    anywhere = set(index.any_ids())
    assert set(index.allowed(inside, eos).tolist()) - {eos} <= anywhere


def test_span_guard_needs_an_extractive_task(causal):
    with pytest.raises(XlgenError, match="extractive"):
        SpanGuard(ctx_for(causal, "de", task="summarization"))


# ---- prior ------------------------------------------------------------------------------------------------------


def test_log_ratio_signs_smoothing_and_clip():
    target = np.array([20, 0, 20, 0, 20])
    source = np.array([0, 20, 20, 0, 0])
    r = log_ratio(target, source, clip=10.0)
    assert r[0] > 0 > r[1]
    assert abs(r[2] - np.log((20.5 / 62.0) / (20.5 / 42.0))) < 1e-5  # add-0.5 over the 4 tokens seen
    assert r[3] == 0.0  # seen by neither corpus: no opinion
    assert log_ratio(target, source, clip=1.0)[0] == 1.0


def test_prior_guard_counts_raw_text_once_and_adds_the_ratio(causal, tmp_path, monkeypatch):
    monkeypatch.setenv("XLGEN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "de.txt").write_text("der die das und ist nicht\n" * 20, encoding="utf-8")
    (tmp_path / "en.txt").write_text("the and is not of a\n" * 20, encoding="utf-8")
    corpora = {"de": [str(tmp_path / "de.txt")], "en": [str(tmp_path / "en.txt")]}
    guard = PriorGuard(ctx_for(causal, "de", prior_corpora=corpora, prior_strength=2.0))
    ids = causal.tokenizer(" und the", add_special_tokens=False)["input_ids"]
    assert guard.bias[ids[0]] > 0 > guard.bias[ids[-1]]
    assert len(list((tmp_path / "cache" / "guards").glob("counts-*.npy"))) == 2
    # A new vocabulary cache (a new process) reads the counts from disk instead of tokenizing again.
    vocab_of(causal.tokenizer).cache.clear()
    monkeypatch.setattr(causal.tokenizer.__class__, "__call__", lambda *a, **k: pytest.fail("tokenized again"))
    again = PriorGuard(ctx_for(causal, "de", prior_corpora=corpora, prior_strength=2.0))
    assert torch.equal(again.bias, guard.bias)
    proc = guard.processor([], 1)
    scores = torch.zeros((1, causal.model.get_output_embeddings().weight.shape[0]))
    out = proc(torch.zeros((1, 4), dtype=torch.long), scores)
    assert torch.allclose(out[0, : len(guard.bias)], guard.bias)


def test_prior_guard_without_raw_text_is_a_clear_error(causal):
    with pytest.raises(XlgenError, match="prior_corpora"):
        PriorGuard(ctx_for(causal, "el"))


# ---- rerank -----------------------------------------------------------------------------------------------------


def test_branching_gives_each_copy_its_own_first_token_and_sums_log_probs(causal):
    ctx = ctx_for(causal, "de")
    proc = BranchAndScore(ctx, copies=3)
    g = torch.Generator().manual_seed(0)
    first = torch.randn((6, 50), generator=g)
    out = proc(torch.zeros((6, 2), dtype=torch.long), first.clone())
    chosen = out.argmax(-1)
    top3 = first.topk(3, dim=-1).indices
    assert chosen.tolist() == [top3[r, r % 3].item() for r in range(6)]
    second = torch.randn((6, 50), generator=g)
    proc(torch.cat([torch.zeros((6, 2), dtype=torch.long), chosen[:, None]], 1), second.clone())
    lp1, lp2 = torch.log_softmax(first, -1), torch.log_softmax(second, -1)
    expected = [(lp1[r, chosen[r]] + lp2[r].max()).item() / 2 for r in range(6)]
    assert np.allclose(proc.mean_logp(), expected, atol=1e-5)


def test_branching_over_the_allowed_columns_matches_the_full_width(causal):
    """Under masking guards the reranker sums over the columns they can leave finite: same first tokens and scores as
    over the whole (mostly -inf) row, columns past the output width (a padded vocabulary vector) ignored."""
    ctx = ctx_for(causal, "de")
    g = torch.Generator().manual_seed(1)
    cols = torch.tensor([3, 7, 11, 19, 20, 42, 60])  # 60 is past the output width of 50
    steps = []
    for _ in range(3):
        s = torch.full((6, 50), float("-inf"))
        s[:, cols[:-1]] = torch.randn((6, len(cols) - 1), generator=g)
        steps.append(s)
    runs = []
    for columns in (None, cols):
        proc = BranchAndScore(ctx, copies=3)
        proc.columns = columns
        ids, chosen = torch.zeros((6, 2), dtype=torch.long), []
        for s in steps:
            tok = proc(ids, s.clone()).argmax(-1)
            chosen.append(tok.tolist())
            ids = torch.cat([ids, tok[:, None]], 1)
        runs.append((chosen, proc.mean_logp()))
    assert runs[0][0] == runs[1][0]
    assert np.allclose(runs[0][1], runs[1][1], atol=1e-6)


def test_rerank_prefers_the_target_language_at_equal_model_score(causal):
    guard = RerankGuard(ctx_for(causal, "de"))
    texts = ["the river flows through the city", "der Fluss fließt durch die Stadt"]
    assert guard.choose(texts, [-0.5, -0.5]) == 1
    assert guard.choose(texts, [-0.5, -40.0]) == 0  # a much less likely candidate loses even in the right language


# ---- composition, config, generation ----------------------------------------------------------------------------


def test_guard_names_and_errors(causal):
    assert guard_names("span+script") == ["span", "script"]
    assert guard_names(["prior", "span,rerank"]) == ["prior", "span", "rerank"]
    assert guard_names("none") == [] and guard_label([]) == "none"
    with pytest.raises(XlgenError, match="unknown guard 'spam'"):
        guard_names("spam")
    task = get_task(TaskConfig(name="qa"))
    with pytest.raises(XlgenError, match="num_beams=1"):
        build_guards(GenerateConfig(guard=["rerank"], num_beams=2), causal, task, "de")
    gs = build_guards(GenerateConfig(guard=["rerank", "script", "span"]), causal, task, "de")
    assert [g.name for g in gs.guards] == ["script", "span", "rerank"] and gs.copies == 3


def qa_examples(data_dir, lang, n):
    task = get_task(TaskConfig(name="qa"))
    return task, task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=n), lang)


@pytest.mark.parametrize("family", ["causal", "mt5", "mbart50"])
def test_span_guard_end_to_end_outputs_are_spans(data_dir, family):
    """Batched generation with the guard on real (tiny) models: every output is copied from its paragraph. mBART
    forces the target-language code first; the guard must let it through."""
    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=96))
    task, exs = qa_examples(data_dir, "ru", 8)
    gens = generate(backbone, backbone.model, exs, task, "ru", GenerateConfig(max_new_tokens=6, guard=["span"]), progress=False)
    for ex, g in zip(exs, gens):
        assert g.prediction and g.prediction in normalized(ex.input), (g.prediction, family)


def test_rerank_candidates_are_the_same_on_the_shared_prefix_path(data_dir, causal):
    """The shared-prefix path with K copies per input (suffix prefilled once, cache copied) decodes what plain
    batched generation of the K copies decodes."""
    task, exs = qa_examples(data_dir, "de", 6)
    gen = GenerateConfig(max_new_tokens=5, guard=["rerank"], guard_options=GuardOptions(rerank_candidates=3))
    guards = build_guards(gen, causal, task, "de")
    enc = causal.encode(exs, task, target_lang="de", with_target=False)
    shared = causal.generate_shared(causal.model, enc, "de", 5, "cpu", copies=3, logits_processor=guards.for_batch(exs).logits_processor)
    dup = [e for e in enc for _ in range(3)]
    plain = causal.generate(causal.model, causal.collate(dup, "cpu"), "de", 5, 1, logits_processor=guards.for_batch(exs).logits_processor)
    assert [causal.decode(r) for r in shared] == [causal.decode(r) for r in plain]
    firsts = [r[0] for r in shared]
    assert all(len(set(firsts[i : i + 3])) == 3 for i in range(0, len(firsts), 3))


def test_rerank_when_wrong_reranks_only_the_wrong_language_outputs(data_dir, causal, monkeypatch):
    """`rerank_when: wrong`: inputs whose plain output is in the target language keep it; the others get what the
    reranker gives when it always runs. Language ID is pinned here (even inputs "right", odd ones "wrong"), so both
    branches run whatever the tiny random model writes."""
    import xlgen.evaluate as evaluate

    task, exs = qa_examples(data_dir, "de", 6)
    options = {"rerank_candidates": 3}
    plain = generate(causal, causal.model, exs, task, "de", GenerateConfig(max_new_tokens=5), progress=False)
    always = generate(causal, causal.model, exs, task, "de", GenerateConfig(max_new_tokens=5, guard=["rerank"], guard_options=GuardOptions(**options)), progress=False)
    monkeypatch.setattr(evaluate, "detect_languages", lambda texts: ["de" if i % 2 == 0 else "en" for i in range(len(texts))])
    seen = []
    real = causal.generate_shared
    monkeypatch.setattr(causal, "generate_shared", lambda model, items, *a, **k: seen.append(len(items)) or real(model, items, *a, **k))
    lazy = generate(causal, causal.model, exs, task, "de", GenerateConfig(max_new_tokens=5, guard=["rerank"], guard_options=GuardOptions(rerank_when="wrong", **options)), progress=False)
    assert [g.raw for g in lazy] == [(plain if i % 2 == 0 else always)[i].raw for i in range(len(exs))]
    assert seen[-1] == 3  # the candidate pass saw the wrong-language inputs only


def test_rerank_when_is_checked(causal):
    task = get_task(TaskConfig(name="qa"))
    with pytest.raises(XlgenError, match="rerank_when: unknown value 'sometimes'"):
        build_guards(GenerateConfig(guard=["rerank"], guard_options=GuardOptions(rerank_when="sometimes")), causal, task, "de")


def test_all_guards_compose_in_generation(data_dir, causal):
    task, exs = qa_examples(data_dir, "ru", 6)
    gen = GenerateConfig(max_new_tokens=5, guard=["span", "script", "prior", "rerank"])
    gens = generate(causal, causal.model, exs, task, "ru", gen, progress=False)
    cyrillic_or_common = regex.compile(r"^[\p{Common}\p{Inherited}\p{scx=Cyrillic}]*$")
    for ex, g in zip(exs, gens):
        assert g.prediction in normalized(ex.input)
        assert cyrillic_or_common.match(g.prediction), g.prediction


def test_no_guard_is_plain_decoding(data_dir, causal):
    task, exs = qa_examples(data_dir, "de", 5)
    plain = generate(causal, causal.model, exs, task, "de", GenerateConfig(max_new_tokens=5), progress=False)
    none = generate(causal, causal.model, exs, task, "de", GenerateConfig(max_new_tokens=5, guard=["none"]), progress=False)
    assert [g.raw for g in plain] == [g.raw for g in none]


def test_cli_evaluate_and_generate_take_guards(data_dir, tmp_path, capsys):
    from xlgen.cli import main

    model = str(tiny_model("causal"))
    rc = main(["evaluate", model, "--data", str(data_dir / "xquad" / "xquad.{lang}.json"), "--langs", "de", "--max-examples", "3",
               "--max-new-tokens", "4", "--guard", "span+script", "--guard-option", "prior_strength=2", "--out", str(tmp_path / "ev"), "--no-progress"])
    assert rc == 0
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert report["guard"]["names"] == ["span", "script"] and report["guard"]["options"]["prior_strength"] == 2.0
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"input": PARAGRAPH, "question": "Wohin fließt der Rhein?"}) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["generate", model, "--lang", "de", "--input", str(inp), "--max-new-tokens", "4", "--guard", "span"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["prediction"] in normalized(PARAGRAPH)
    assert main(["generate", model, "--lang", "de", "--input", str(inp), "--guard-option", "rerank_candidates=many"]) == 2
    assert "rerank_candidates" in capsys.readouterr().err


# ---- the study option -------------------------------------------------------------------------------------------


def test_study_evaluates_chosen_runs_with_guards_and_reports_them(tmp_path, data_dir):
    import yaml

    from xlgen.study.report import write_report
    from xlgen.study.runner import run_study

    base = tiny_qa_config(data_dir, "causal", train_examples=8, test_examples=3, steps=2)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {"name": "g", "base": "base.yaml", "models": {"tiny": {}}, "tasks": {"xquad": {}}, "methods": {"full": {"adaptation.method": "full"}},
             "validation_languages": ["vi"], "test_languages": ["en", "ru"],
             "protocol": {"start_lrs": [1e-4], "min_lr": 1e-4, "max_lr": 1e-4, "refine": False, "multipliers": [1], "use_it_options": [False]},
             "guards": ["span", "script+prior"], "output_dir": str(tmp_path / "g")}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(study))
    summary = run_study(tmp_path / "g.yaml", progress=False)
    chosen = [s for s in summary["selected"] if s["lr"] is not None]
    assert chosen
    guarded = sorted(p.parent.name for p in (tmp_path / "g" / "runs").glob("*/guarded/*/results.json"))
    assert guarded == ["none", "script+prior", "span"]
    span = json.loads(next((tmp_path / "g" / "runs").glob("*/guarded/span/results.json")).read_text())
    assert set(span["test"]) == {"en", "ru"} and span["test"]["ru"]["n"] == 3 and span["time_s"]["ru"] > 0
    report = write_report(tmp_path / "g")["report_md"].read_text()
    assert "## Language guards at the chosen settings" in report and "| full | 1e-4 | script+prior |" in report


def test_study_rejects_unknown_guards(tmp_path):
    import yaml

    from xlgen.study.config import load_study

    (tmp_path / "base.yaml").write_text("model: {name: embedded}\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "models": {"m": {}}, "methods": {"full": {}}, "guards": ["spam"]}))
    with pytest.raises(XlgenError, match="guards: generate.guard: unknown guard 'spam'"):
        load_study(tmp_path / "s.yaml")


# ---- the embedded model's 262k vocabulary -----------------------------------------------------------------------


def test_gemma_vocabulary_tables(tmp_path):
    """Token texts, script masks and span lookups on the real 262k Gemma vocabulary (tokenizer only, no weights)."""
    from xlgen import embedded

    if not embedded.is_prepared():
        pytest.skip("the embedded model is not prepared (xlgen models prepare)")
    from transformers import AutoTokenizer

    from xlgen.guards.script import script_mask
    from xlgen.guards.span import SpanIndex, span_tables

    tok = AutoTokenizer.from_pretrained(str(embedded.embedded_dir()))
    vocab = vocab_of(tok)
    assert vocab.size == 262144 and vocab.texts[tok.convert_tokens_to_ids("▁Paris")] == " Paris"
    ids = {w: tok.convert_tokens_to_ids(w) for w in ("▁the", "北京", "▁Москва", "2", ",")}
    assert tok.unk_token_id not in ids.values()
    for lang, ok in (("zh", {"北京", "2", ","}), ("ru", {"▁Москва", "2", ","}), ("de", {"▁the", "2", ","})):
        mask = script_mask(vocab, language_scripts(lang))
        assert {w for w, i in ids.items() if mask[i]} == ok, lang
    index = SpanIndex("北京大学位于北京市海淀区。", vocab, span_tables(vocab))
    state = index.step(None, tok.convert_tokens_to_ids("▁北京"))  # leading space optional at the start of a span
    assert state and tok.convert_tokens_to_ids("大学") in index.allowed(state, tok.eos_token_id)


# ---- output layer restricted to the guards' vocabulary --------------------------------------------------------------


def test_subset_head_computes_the_kept_columns_and_nothing_else():
    from xlgen.guards.head import SubsetHead

    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=True)
    ids = torch.tensor([3, 7, 0, 49])
    h = torch.randn(2, 3, 8)
    out = SubsetHead(head, ids)(h)
    assert out.shape == (2, 3, 50)
    torch.testing.assert_close(out[..., ids], head(h)[..., ids])
    rest = torch.ones(50, dtype=torch.bool)
    rest[ids] = False
    assert torch.isneginf(out[..., rest]).all()


@pytest.mark.parametrize("family", ["causal", "mt5", "mbart50"])
@pytest.mark.parametrize("spec", [["span"], ["span", "script", "rerank"]])
def test_restricted_head_leaves_guarded_outputs_unchanged(data_dir, family, spec, monkeypatch):
    """Computing only the columns the guards could allow decodes exactly what the full output layer decodes (the rest
    is masked anyway), on every family's path (Gemma's plain head, T5's rescaled tied head, mBART's bias and forced
    language code); the model gets its own head back afterwards."""
    from xlgen.guards import head as head_mod

    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=96))
    task, exs = qa_examples(data_dir, "ru", 6)
    gen = GenerateConfig(max_new_tokens=6, guard=spec, guard_options=GuardOptions(rerank_candidates=3))
    original = backbone.model.get_output_embeddings()
    monkeypatch.setattr(head_mod, "MIN_SAVING", float("inf"))  # never restrict
    full = generate(backbone, backbone.model, exs, task, "ru", gen, progress=False)
    used = []
    real = head_mod.SubsetHead.forward
    monkeypatch.setattr(head_mod.SubsetHead, "forward", lambda self, h: used.append(len(self.ids)) or real(self, h))
    monkeypatch.setattr(head_mod, "MIN_SAVING", 1.0)  # always restrict
    restricted = generate(backbone, backbone.model, exs, task, "ru", gen, progress=False)
    assert used and max(used) < original.out_features
    assert [g.raw for g in restricted] == [g.raw for g in full]
    assert backbone.model.get_output_embeddings() is original


def test_mask_processor_ends_a_row_with_nothing_allowed(causal):
    """Guards composed into an empty set end the row (end-of-sequence) instead of letting -inf argmax pick token 0;
    finished rows are left as they are."""
    from xlgen.guards.base import MaskProcessor

    ctx = ctx_for(causal, "de")
    proc = MaskProcessor(ctx, lambda gen, rows, batch: [torch.tensor([5, 6]), torch.tensor([], dtype=torch.long)][: len(rows)])
    ids = torch.tensor([[1, 7], [1, 7], [1, ctx.eos_id]])
    proc.start = 1
    scores = torch.randn(3, 20)
    out = proc(ids, scores.clone())
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == {5, 6}
    assert torch.isfinite(out[1]).nonzero().flatten().tolist() == [ctx.eos_id]
    torch.testing.assert_close(out[2], scores[2])
