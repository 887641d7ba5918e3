"""The LR protocol on synthetic metric tables: an oracle maps a run to (metric, lang_correct) or None (failed)."""

import json
import math

import pytest

from xlgen.errors import XlgenError
from xlgen.study.protocol import LRProtocol, LRRole, ProtocolConfig, RunKey, RunOutcome, canon_lr, fmt_lr, outcome_from_metrics

# The paper's roles, as xlgen.study.outcomes.method_roles derives them from the adaptation methods (checked in
# test_study.py): full finetuning refines its PLR by 3x; freezing and mixing-in take full finetuning's.
PAPER_ROLES = {"full": LRRole(refine=True), "freeze": LRRole(lr_from="full"), "mix": LRRole(lr_from="full")}


def table(points: dict, default=(0.0, 100.0), it_bonus=0.0):
    """Oracle from {lr: (metric, lcr) | None}; IT runs add `it_bonus` to the metric."""
    pts = {canon_lr(k): v for k, v in points.items()}

    def oracle(key: RunKey):
        v = pts.get(key.lr, default)
        if v is None:
            return None
        return (v[0] + (it_bonus if key.it else 0.0), v[1])

    return oracle


def run(proto: LRProtocol, oracle, max_rounds=100, higher_is_better=True):
    """Drive ask/tell to the end; returns the runs in the order asked and checks none is asked twice."""
    asked = []
    for _ in range(max_rounds):
        keys = proto.ask()
        if not keys:
            break
        assert not set(keys) & set(asked), "a run was proposed twice"
        asked += keys
        outs = []
        for k in keys:
            r = oracle(k)
            outs.append(RunOutcome(k, "failed", error="diverged") if r is None else RunOutcome(k, "done", metric=r[0], lang_correct=r[1], higher_is_better=higher_is_better))
        proto.tell(outs)
    assert proto.done()
    return asked


def search_lrs(asked, method="full"):
    return [fmt_lr(k.lr) for k in asked if k.method == method and not k.it and k.seed == 0]


def one(method="full", cfg=None, seeds=(0,), roles=PAPER_ROLES, **kw):
    return LRProtocol(cfg or ProtocolConfig(**kw), ["m"], ["t"], [method], list(seeds), roles)


def plr_of(p, method="full"):
    return [d for d in p.decisions() if d["phase"] == "plr" and d["method"] == method][0]["plr"]


# ---- edge extension --------------------------------------------------------------------------------------------------

def test_extend_up_stops_when_worse():
    p = one("adapters")
    asked = run(p, table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99), 1e-2: (25, 99)}))
    assert search_lrs(asked, "adapters")[:4] == ["1e-3", "1e-4", "1e-5", "1e-2"]
    assert "1e-1" not in search_lrs(asked, "adapters")
    assert plr_of(p, "adapters") == 1e-3
    phases = [d["phase"] for d in p.decisions()]
    assert phases == ["plr-search", "extend-up", "plr", "final"]


def test_extend_up_continues_to_max_lr():
    p = one("adapters")
    asked = run(p, table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99), 1e-2: (35, 99), 1e-1: (40, 99)}))
    assert search_lrs(asked, "adapters")[:5] == ["1e-3", "1e-4", "1e-5", "1e-2", "1e-1"]
    assert plr_of(p, "adapters") == 1e-1
    ext = [d for d in p.decisions() if d["phase"] == "extend-up"]
    assert "outside" in ext[-1]["reason"]
    # 10 x PLR = 1.0 is above max_lr: only PLR x {no IT, IT}
    grid = [d for d in p.decisions() if d["phase"] == "final"][0]["candidates"]
    assert {c["lr"] for c in grid} == {0.1}
    assert "above max_lr" in p.selected()[("m", "t", "adapters")]["reason"]


def test_extend_up_respects_lower_max_lr():
    p = one("adapters", max_lr=1e-2)
    asked = run(p, table({1e-3: (30, 99), 1e-2: (35, 99), 1e-1: (40, 99)}))
    assert max(k.lr for k in asked) == 1e-2


def test_extend_down_to_min_lr():
    p = one("adapters")
    asked = run(p, table({1e-3: (5, 99), 1e-4: (10, 99), 1e-5: (20, 99), 1e-6: (25, 99), 1e-7: (30, 99), 1e-8: (99, 99)}))
    assert search_lrs(asked, "adapters")[:5] == ["1e-3", "1e-4", "1e-5", "1e-6", "1e-7"]
    assert "outside" in [d for d in p.decisions() if d["phase"] == "extend-down"][-1]["reason"]
    assert min(k.lr for k in asked) == 1e-7
    assert plr_of(p, "adapters") == 1e-7


def test_extend_down_stops_when_worse_and_respects_min_lr():
    p = one("adapters")
    asked = run(p, table({1e-3: (5, 99), 1e-4: (10, 99), 1e-5: (20, 99), 1e-6: (15, 99)}))
    assert search_lrs(asked, "adapters")[:4] == ["1e-3", "1e-4", "1e-5", "1e-6"]
    assert 1e-7 not in {k.lr for k in asked}
    assert plr_of(p, "adapters") == 1e-5
    p = one("adapters", min_lr=1e-6)
    asked = run(p, table({1e-3: (5, 99), 1e-4: (10, 99), 1e-5: (20, 99), 1e-6: (25, 99)}))
    assert min(k.lr for k in asked) == 1e-6


def test_no_extension_when_best_in_middle():
    p = one("adapters")
    asked = run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99)}))
    assert sorted({k.lr for k in asked}) == [1e-5, 1e-4, 1e-3]
    d = p.decisions()[0]
    assert d["phase"] == "plr-search" and "inside the range" in d["reason"] and d["next_lrs"] == []


# ---- 3 x 10^-k* refinement -------------------------------------------------------------------------------------------

def test_refine_3x_for_full_only():
    oracle = table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99), 3e-4: (25, 99)})
    p = one("full")
    asked = run(p, oracle)
    assert search_lrs(asked)[:4] == ["1e-3", "1e-4", "1e-5", "3e-4"]
    assert plr_of(p) == 1e-4
    assert [d["phase"] for d in p.decisions()][:3] == ["plr-search", "refine-3x", "plr"]
    p = one("adapters")
    asked = run(p, oracle)
    assert 3e-4 not in {k.lr for k in asked}


def test_refine_picks_3x_and_final_uses_it():
    p = one("full")
    asked = run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99), 3e-4: (33, 99)}))
    assert plr_of(p) == 3e-4
    assert {(k.lr, k.it) for k in asked} >= {(3e-4, False), (3e-4, True), (3e-3, False), (3e-3, True)}
    sel = p.selected()[("m", "t", "full")]
    assert sel["plr"] == 3e-4 and sel["lr"] == 3e-4 and sel["it"] is False


def test_refine_after_extension_and_configurable_methods():
    p = one("adapters", roles={"adapters": LRRole(refine=True)})
    asked = run(p, table({1e-3: (30, 99), 1e-2: (20, 99), 3e-3: (31, 99)}))
    assert search_lrs(asked, "adapters")[:5] == ["1e-3", "1e-4", "1e-5", "1e-2", "3e-3"]
    assert plr_of(p, "adapters") == 3e-3


# ---- phase 2 and derived methods -------------------------------------------------------------------------------------

def test_final_grid_reuses_search_runs():
    p = one("full")
    asked = run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99), 3e-4: (25, 99)}, it_bonus=5))
    # the grid's no-IT runs at 1e-4 and 1e-3 were done in the search: only the two IT runs are new
    phase2 = [k for k in asked if k.it]
    assert sorted(k.lr for k in phase2) == [1e-4, 1e-3]
    assert len(asked) == len(set(asked)) == 4 + 2
    sel = p.selected()[("m", "t", "full")]
    assert (sel["lr"], sel["it"], sel["metric"]) == (1e-4, True, 35)


def test_derived_methods_wait_for_full_and_use_its_plr():
    p = LRProtocol(ProtocolConfig(), ["m"], ["t"], ["freeze", "full", "mix"], [0], PAPER_ROLES)
    first = p.ask()
    assert {k.method for k in first} == {"full"}  # freeze/mix must wait for full's PLR
    oracle = table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99), 3e-4: (25, 99)})
    asked = first + run_rest(p, first, oracle)
    for m in ("freeze", "mix"):
        mine = {(k.lr, k.it) for k in asked if k.method == m}
        assert mine == {(1e-4, False), (1e-4, True), (1e-3, False), (1e-3, True)}
        assert p.selected()[("m", "t", m)]["plr_from"] == "full"
        assert p.selected()[("m", "t", m)]["plr"] == 1e-4
    assert not [d for d in p.decisions() if d["method"] in ("freeze", "mix") and d["phase"] != "final"]


def test_derived_method_alone_searches_its_source():
    p = LRProtocol(ProtocolConfig(), ["m"], ["t"], ["freeze"], [0], PAPER_ROLES)
    asked = run(p, table({1e-4: (30, 99)}))
    assert {k.method for k in asked if not k.it} >= {"full"}
    assert set(p.selected()) == {("m", "t", "freeze")}
    assert p.selected()[("m", "t", "freeze")]["plr"] == 1e-4


def run_rest(p, first, oracle):
    outs = [RunOutcome(k, "done", *oracle(k)) for k in first]
    p.tell(outs)
    return run(p, oracle)


def test_derived_may_pick_10x_plr():
    # the paper's mBART freeze case: an advanced method plus IT tolerates 10 x PLR
    def oracle(k):
        if k.method == "freeze" and k.lr == 1e-5 and k.it:
            return (12.0, 99)
        return {1e-6: (10, 99), 1e-7: (5, 99)}.get(k.lr, (8, 40))  # LRs from 1e-5 up: wrong language
    p = LRProtocol(ProtocolConfig(lang_correct_floor=90), ["mbart"], ["xlsum"], ["full", "freeze"], [0], PAPER_ROLES)
    run(p, oracle)
    s = p.selected()
    assert (s[("mbart", "xlsum", "full")]["lr"], s[("mbart", "xlsum", "freeze")]["lr"]) == (1e-6, 1e-5)
    assert s[("mbart", "xlsum", "freeze")]["it"] is True


def test_seeds_only_for_final_setting():
    p = one("adapters", seeds=(0, 1, 2))
    asked = run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99)}))
    assert {k.seed for k in asked[:-2]} == {0}
    extra = [k for k in asked if k.seed != 0]
    assert extra == asked[-2:] and {(k.lr, k.it) for k in extra} == {(1e-4, False)}
    assert p.selected()[("m", "t", "adapters")]["seeds"] == [0, 1, 2]


def test_grid_without_extension_or_refinement_and_per_method_start_lrs():
    """`extend: false, refine: false`: exactly the start LRs (a demo's grid); start LRs may differ per method."""
    p = one("full", extend=False, refine=False, multipliers=[1], use_it_options=[False])
    asked = run(p, table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99)}))
    assert sorted(k.lr for k in asked) == [1e-5, 1e-4, 1e-3] and plr_of(p) == 1e-3
    assert "extension is off" in p.decisions()[0]["reason"]
    p = LRProtocol(ProtocolConfig(start_lrs_by_method={"prompt": [1e-2]}, extend=False, multipliers=[1], use_it_options=[False]),
                   ["m"], ["t"], ["full", "prompt"], [0], PAPER_ROLES)
    asked = run(p, table({}))
    assert {k.lr for k in asked if k.method == "prompt"} == {1e-2} and {k.lr for k in asked if k.method == "full"} >= {1e-3, 1e-4, 1e-5}


def test_no_it_options_configurable():
    p = one("adapters", use_it_options=[False], multipliers=[1])
    asked = run(p, table({1e-4: (30, 99)}))
    assert not any(k.it for k in asked) and len(asked) == 3


# ---- ties --------------------------------------------------------------------------------------------------------------

def test_tie_prefers_smaller_lr():
    p = one("adapters")
    run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (30, 99), 1e-6: (5, 99)}))
    assert plr_of(p, "adapters") == 1e-5
    # the extension to 1e-6 happened because 1e-5 won the tie and is the lower edge
    assert [d["phase"] for d in p.decisions()][:2] == ["plr-search", "extend-down"]


def test_tie_on_extension_does_not_continue():
    p = one("adapters")
    asked = run(p, table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99), 1e-2: (30, 99)}))
    assert 1e-1 not in {k.lr for k in asked}
    assert plr_of(p, "adapters") == 1e-3  # equal metric: the smaller LR


def test_tie_prefers_no_it():
    p = one("adapters")
    run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99)}, it_bonus=0.0))
    sel = p.selected()[("m", "t", "adapters")]
    assert (sel["lr"], sel["it"]) == (1e-4, False)
    assert "smaller LR, then without IT" in sel["reason"]


def test_lower_is_better_metric():
    p = one("adapters")
    run(p, table({1e-3: (10, 99), 1e-4: (30, 99), 1e-5: (20, 99), 1e-2: (12, 99)}), higher_is_better=False)
    assert plr_of(p, "adapters") == 1e-3


# ---- language-correct floor -----------------------------------------------------------------------------------------

def test_floor_excludes_best_metric_and_search_stays():
    # 1e-3 has the best metric but generates in the wrong language: 1e-4 is inside the eligible range, no extension
    p = one("adapters", lang_correct_floor=90)
    asked = run(p, table({1e-3: (40, 50), 1e-4: (30, 95), 1e-5: (20, 99)}))
    assert sorted({k.lr for k in asked if not k.it}) == [1e-5, 1e-4, 1e-3]
    assert plr_of(p, "adapters") == 1e-4
    c = {x["lr"]: x for x in p.decisions()[0]["candidates"]}
    assert c[1e-3]["eligible"] is False and "< floor 90" in c[1e-3]["why_not"] and c[1e-3]["metric"] == 40


def test_floor_stops_upward_extension():
    p = one("adapters", lang_correct_floor=90)
    asked = run(p, table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99), 1e-2: (45, 40), 1e-1: (50, 99)}))
    assert 1e-1 not in {k.lr for k in asked}
    assert plr_of(p, "adapters") == 1e-3
    ext = [d for d in p.decisions() if d["phase"] == "extend-up"][0]
    assert "not better" in ext["reason"] and "floor" in ext["reason"]


def test_floor_nothing_eligible_moves_down():
    # mBART-like: all start LRs generate in the wrong language; lower LRs recover it
    p = one("adapters", lang_correct_floor=90)
    asked = run(p, table({1e-3: (40, 10), 1e-4: (35, 30), 1e-5: (30, 70), 1e-6: (25, 95), 1e-7: (20, 99)}))
    assert search_lrs(asked, "adapters")[:5] == ["1e-3", "1e-4", "1e-5", "1e-6", "1e-7"]
    assert plr_of(p, "adapters") == 1e-6
    assert "lower LRs keep the target language" in p.decisions()[0]["reason"]


def test_floor_without_lang_correct_is_ineligible():
    p = one("adapters", lang_correct_floor=90)
    keys = p.ask()
    p.tell([RunOutcome(k, "done", metric=30.0, lang_correct=None) for k in keys])
    assert "no lang_correct" in p.decisions()[0]["candidates"][0]["why_not"]


# ---- failures ---------------------------------------------------------------------------------------------------------

def test_failed_edge_counts_as_not_improving():
    p = one("adapters")
    asked = run(p, table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99), 1e-2: None}))
    assert 1e-1 not in {k.lr for k in asked}
    assert plr_of(p, "adapters") == 1e-3
    ext = [d for d in p.decisions() if d["phase"] == "extend-up"][0]
    assert "failed: diverged" in ext["reason"]
    assert [c for c in ext["candidates"] if c["lr"] == 1e-2][0]["status"] == "failed"


def test_failed_middle_run_is_skipped():
    p = one("adapters")
    run(p, table({1e-3: (10, 99), 1e-4: None, 1e-5: (20, 99), 1e-6: (15, 99)}))
    assert plr_of(p, "adapters") == 1e-5


def test_all_failed_gives_clear_outcome():
    p = LRProtocol(ProtocolConfig(), ["m"], ["t"], ["full", "freeze", "adapters"], [0], PAPER_ROLES)
    asked = run(p, lambda k: None if k.method == "full" else (10.0, 99.0))
    assert not [k for k in asked if k.method == "freeze"]
    sel = p.selected()
    assert sel[("m", "t", "full")]["lr"] is None and "1e-3 failed: diverged" in sel[("m", "t", "full")]["reason"]
    assert "(all failed)" in [d for d in p.decisions() if d["phase"] == "plr-search"][0]["reason"]
    assert sel[("m", "t", "freeze")]["lr"] is None and "PLR of 'full'" in sel[("m", "t", "freeze")]["reason"]
    # the others go on. Flat metric: 1e-5 wins the tie, is the lower edge, 1e-6 ties again -> stop, smaller LR chosen
    assert sel[("m", "t", "adapters")]["lr"] == 1e-6 and min(k.lr for k in asked) == 1e-6


def test_all_final_candidates_failed():
    p = one("adapters")
    run(p, lambda k: None if k.it or k.lr == 1e-3 else (30.0 if k.lr == 1e-4 else 10.0, 99.0))
    sel = p.selected()[("m", "t", "adapters")]
    assert sel["lr"] == 1e-4 and sel["it"] is False  # IT runs failed, the no-IT one is chosen
    p = one("adapters", use_it_options=[True])
    run(p, lambda k: None if k.it else (30.0 if k.lr == 1e-4 else 10.0, 99.0))
    sel = p.selected()[("m", "t", "adapters")]
    assert sel["lr"] is None and sel["plr"] == 1e-4 and "no eligible candidate" in sel["reason"]


def test_nan_metric_is_no_metric():
    o = RunOutcome(RunKey("m", "t", "full", 1e-4, False), "done", metric=float("nan"), lang_correct=99)
    assert o.metric is None


# ---- state and logs ---------------------------------------------------------------------------------------------------

def test_state_dict_round_trip_mid_protocol():
    oracle = table({1e-3: (30, 99), 1e-4: (20, 99), 1e-5: (10, 99), 1e-2: (35, 99), 3e-2: (36, 99)}, it_bonus=1)
    cfg = ProtocolConfig(lang_correct_floor=90)
    p = LRProtocol(cfg, ["a", "b"], ["t"], ["full", "freeze", "adapters"], [0, 1], PAPER_ROLES)
    for _ in range(2):
        keys = p.ask()
        p.tell([RunOutcome(k, "done", *oracle(k)) for k in keys])
    sd = json.loads(json.dumps(p.state_dict()))
    q = LRProtocol.from_state_dict(sd)
    assert q.ask() == p.ask() and q.decisions() == p.decisions()
    r = LRProtocol(ProtocolConfig(lang_correct_floor=90), ["a", "b"], ["t"], ["full", "freeze", "adapters"], [0, 1], PAPER_ROLES)
    r.load_state_dict(sd)
    asked_p, asked_r = run(p, oracle), run(r, oracle)
    assert asked_p == asked_r and p.selected() == r.selected() and p.decisions() == r.decisions()
    json.dumps(p.state_dict())
    with pytest.raises(XlgenError, match="config"):
        one("full").load_state_dict(sd)


def test_tell_conflicting_outcome_rejected_identical_ok():
    p = one("full")
    k = p.ask()[0]
    p.tell([RunOutcome(k, "done", 1.0, 99.0)])
    p.tell([RunOutcome(k, "done", 1.0, 99.0)])
    with pytest.raises(XlgenError, match="already told"):
        p.tell([RunOutcome(k, "done", 2.0, 99.0)])


def test_ask_is_idempotent_and_lr_keys_canonical():
    p = one("full")
    assert p.ask() == p.ask()
    assert RunKey("m", "t", "full", 3 * 1e-4, False) == RunKey("m", "t", "full", 3e-4, False)
    assert RunKey("m", "t", "full", 1e-3 * 10, False).name == "m/t/full/lr1e-2/noit/s0"
    assert RunKey("mt5-base", "qa", "full", 1e-4, True, 2).name == "mt5-base/qa/full/lr1e-4/it/s2"


def test_decisions_contain_numbers():
    p = one("full")
    run(p, table({1e-3: (10.5, 97), 1e-4: (30.25, 99), 1e-5: (20, 99), 3e-4: (25, 98)}, it_bonus=2))
    ds = p.decisions()
    first = ds[0]
    assert first["phase"] == "plr-search" and first["model"] == "m" and first["method"] == "full"
    assert [(c["lr"], c["metric"], c["lang_correct"]) for c in first["candidates"]] == [(1e-5, 20, 99), (1e-4, 30.25, 99), (1e-3, 10.5, 97)]
    assert first["chosen"] == {"lr": 1e-4, "it": False, "metric": 30.25}
    final = [d for d in ds if d["phase"] == "final"][0]
    assert len(final["candidates"]) == 4 and final["chosen"]["it"] is True and final["chosen"]["metric"] == 32.25
    assert all(isinstance(d["reason"], str) and d["reason"] for d in ds)
    json.dumps(ds)


# ---- config and helpers ------------------------------------------------------------------------------------------------

def test_config_validation():
    with pytest.raises(XlgenError, match="takes its own from"):  # a derived method's source must search its own LR
        LRProtocol(ProtocolConfig(), ["m"], ["t"], ["freeze"], [0], {"freeze": LRRole(lr_from="mix"), "mix": LRRole(lr_from="full")})
    with pytest.raises(XlgenError, match="start_lrs"):
        ProtocolConfig(start_lrs=[1.0])
    # a method without a role searches its own LR (a study listing lora used to fail: "neither searched nor derived")
    assert {k.method for k in LRProtocol(ProtocolConfig(), ["m"], ["t"], ["lora"], [0], PAPER_ROLES).ask()} == {"lora"}
    with pytest.raises(XlgenError, match="protocol.lr: unknown config field"):
        ProtocolConfig.from_dict({"lr": 1})
    # a configurable derivation: "lora" searched on its own, "freeze" derived from adapters
    p = LRProtocol(ProtocolConfig(), ["m"], ["t"], ["lora", "freeze"], [0], {"freeze": LRRole(lr_from="adapters")})
    assert {k.method for k in p.ask()} == {"lora", "adapters"}


def test_roles_come_from_the_adaptation_methods():
    """The roles the study driver gives the protocol: PAPER_ROLES for the paper's methods, read from the method classes;
    a data strategy on top of a method takes that method's PLR; lora searches its own; a source not listed is implied."""
    from xlgen.study.outcomes import method_roles

    mix = {"raw": {"path": "x.{lang}.txt", "languages": ["de"]}, "probability": 0.01}
    study = {"base": "/nowhere.yaml", "methods": {
        "full": {"adaptation.method": "full"}, "freeze": {"adaptation": {"method": "freeze"}}, "mix": {"adaptation.method": "full", "data.mix": mix},
        "adapters": {"adaptation.method": "adapters"}, "lora": {"adaptation.method": "lora", "adaptation.lora.r": 4}}}
    roles = method_roles(study)
    assert {m: roles[m] for m in PAPER_ROLES} == PAPER_ROLES
    assert roles["adapters"] == roles["lora"] == LRRole()
    only = method_roles({"base": "/nowhere.yaml", "methods": {"zm": {"adaptation.method": "freeze"}, "ad-mix": {"adaptation.method": "adapters", "data": {"mix": mix}}}})
    assert only == {"zm": LRRole(lr_from="full"), "full": LRRole(refine=True), "ad-mix": LRRole(lr_from="adapters"), "adapters": LRRole()}


def test_outcome_from_metrics_averages_non_english():
    cfg = ProtocolConfig(metric={"xquad": "f1"})
    k = RunKey("m", "xquad", "full", 1e-4, False)
    o = outcome_from_metrics(k, {"en": {"f1": 90, "lang_correct": 100}, "th": {"f1": 40, "lang_correct": 90}, "ro": {"f1": 60, "lang_correct": 100}}, cfg)
    assert (o.metric, o.lang_correct) == (50, 95)
    with pytest.raises(XlgenError, match="primary_metric"):
        outcome_from_metrics(RunKey("m", "xlsum", "full", 1e-4, False), {"fr": {"rouge2": 1}}, cfg)
    o = outcome_from_metrics(RunKey("m", "xlsum", "full", 1e-4, False), {"fr": {"rouge2": 1}}, cfg, primary="rouge2")
    assert o.metric == 1 and o.lang_correct is None and o.higher_is_better is True  # the direction is the registry's
    with pytest.raises(XlgenError, match="no better direction"):
        outcome_from_metrics(k, {"th": {"avg_length": 30.0}}, ProtocolConfig(metric="avg_length"))


# ---- Table 4-like study -------------------------------------------------------------------------------------------------

def test_table4_like_study():
    """Plausible curves: metric peaks at some LR, the language-correct rate collapses above a model's threshold
    (mT5 tolerates more than mBART), IT helps some settings. The protocol recovers the Table 4 pattern."""
    opt = {  # (model, method) -> (log10 of the metric's peak LR, log10 of the largest LR that keeps the language)
        ("mt5", "full"): (-3, -4), ("mt5", "adapters"): (-3, -2), ("mt5", "prompt"): (-2, -1),
        ("mbart", "full"): (-4, -6), ("mbart", "adapters"): (-5, -4), ("mbart", "prompt"): (-2, -1),
        ("mt5", "freeze"): (-3, -4), ("mbart", "freeze"): (-4, -5),
    }
    it_helps = {("mt5", "prompt"), ("mbart", "full"), ("mbart", "freeze"), ("mbart", "adapters"), ("mbart", "prompt")}

    def oracle(k: RunKey):
        peak, keep = opt[(k.model, k.method)]
        x = math.log10(k.lr)
        if x > -0.5:
            return None  # diverges
        lcr = 99.0 if x <= keep + 1e-9 else max(5.0, 99.0 - 60 * (x - keep))
        metric = 20 - 3 * abs(x - peak) - (0.3 * (x - keep) * 20 if x > keep + 1e-9 else 0)
        return (metric + (1.5 if k.it and (k.model, k.method) in it_helps else 0), lcr)

    p = LRProtocol(ProtocolConfig(lang_correct_floor=90), ["mt5", "mbart"], ["xlsum"], ["full", "freeze", "adapters", "prompt"], [0, 1], PAPER_ROLES)
    asked = run(p, oracle)
    got = {(m, meth): (fmt_lr(v["lr"]), v["it"]) for (m, _, meth), v in p.selected().items()}
    assert got == {
        ("mt5", "full"): ("1e-4", False), ("mt5", "freeze"): ("1e-4", False),
        ("mt5", "adapters"): ("1e-3", False), ("mt5", "prompt"): ("1e-2", True),
        ("mbart", "full"): ("1e-6", True), ("mbart", "freeze"): ("1e-5", True),
        ("mbart", "adapters"): ("1e-5", True), ("mbart", "prompt"): ("1e-2", True),
    }
    # full searched 3e-k*, adapters did not; mBART full went down to 1e-7 and stopped
    assert 3e-6 in {k.lr for k in asked if k.model == "mbart" and k.method == "full"}
    assert not [k for k in asked if k.method == "adapters" and fmt_lr(k.lr).startswith("3")]
    assert min(k.lr for k in asked if k.model == "mbart" and k.method == "full") == 1e-7
    assert len(asked) == len(set(asked))


# ---- the demo and the method comparison are study configs ------------------------------------------------------------

def _study_protocol(name):
    from pathlib import Path

    from xlgen.config import to_dict
    from xlgen.study.config import load_study
    from xlgen.study.outcomes import new_protocol

    study, _ = load_study(Path(__file__).resolve().parents[1] / "configs" / "studies" / f"{name}.yaml")
    return new_protocol(to_dict(study))


def test_demo_study_runs_exactly_three_learning_rates():
    p = _study_protocol("demo")
    asked = run(p, table({1e-3: (5, 20), 1e-4: (30, 90), 1e-5: (20, 99)}))
    assert sorted((k.method, k.lr, k.it, k.seed) for k in asked) == [("full", lr, False, 0) for lr in (1e-5, 1e-4, 1e-3)]


def test_methods_study_runs_each_method_once_at_its_lr():
    p = _study_protocol("methods")
    asked = run(p, table({}))
    assert sorted((k.method, k.lr) for k in asked) == sorted([("full", 1e-4), ("freeze", 1e-4), ("full-mix", 1e-4), ("adapters", 1e-3),
                                                              ("lora", 1e-3), ("prompt", 1e-2)])
    assert all(not k.it and k.seed == 0 for k in asked)
