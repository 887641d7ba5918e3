import random

from xlgen.batching import BatchStream, padded_cost, token_budget_batches


def _costs(n=500, seed=0):
    rng = random.Random(seed)
    return [(rng.randint(5, 300), rng.randint(1, 30)) for _ in range(n)]


def test_budget_respected_and_every_example_once():
    costs = _costs()
    batches = token_budget_batches(costs, 4000, seed=1)
    seen = sorted(i for b in batches for i in b)
    assert seen == list(range(len(costs)))
    for b in batches:
        assert padded_cost([costs[i] for i in b]) <= 4000 or len(b) == 1


def test_oversized_example_gets_its_own_batch():
    batches = token_budget_batches([(5000, 10), (10, 10)], 1000, seed=0)
    assert sorted(map(len, batches)) == [1, 1]


def test_length_grouping_wastes_little_padding():
    costs = _costs(2000)
    batches = token_budget_batches(costs, 4000, seed=3)
    real = sum(s + t for s, t in costs)
    padded = sum(padded_cost([costs[i] for i in b]) for b in batches)
    # Random batches of the same average size pad to the longest example: far more waste than grouped ones.
    rng = random.Random(0)
    order = list(range(len(costs)))
    rng.shuffle(order)
    size = len(costs) // len(batches)
    random_padded = sum(padded_cost([costs[i] for i in order[k : k + size]]) for k in range(0, len(order), size))
    assert padded / real < 1.2
    assert random_padded / real > 1.5


def test_order_is_seeded_and_resumable():
    costs = _costs()
    a = BatchStream(costs, 3000, seed=7)
    first = [next(a) for _ in range(200)]  # crosses epoch boundaries
    b = BatchStream(costs, 3000, seed=7)
    assert [next(b) for _ in range(200)] == first
    c = BatchStream(costs, 3000, seed=7)
    for _ in range(77):
        next(c)
    state = c.state_dict()
    d = BatchStream(costs, 3000, seed=7)
    d.load_state_dict(state)
    assert [next(d) for _ in range(123)] == first[77:]
    e = BatchStream(costs, 3000, seed=8)
    assert [next(e) for _ in range(20)] != first[:20]
