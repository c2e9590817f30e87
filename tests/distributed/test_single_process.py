"""bpnn.distributed without mpirun: the API in one process, the packing, the sharding, and
bpnn working with mpi4py missing."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bpnn
from bpnn import distributed, nn
from bpnn.distributed import broadcast, runtime
from bpnn.distributed import optimizer as distributed_optimizer

PYTHON = sys.executable
LAUNCHER_VARIABLES = ("OMPI_", "PMIX_", "PMI_", "MPI_LOCALNRANKS")


def _python(code: str, **extra_env) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_VARIABLES)}
    env.update(extra_env)
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)


_FIT = """
import numpy as np, bpnn
from bpnn import nn
x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
model = bpnn.Model(nn.Sequential(nn.Linear(3, 2)), "cross_entropy", "adam")
history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
"""


def test_import_bpnn_and_fit_never_import_mpi4py():
    result = _python(_FIT + "import sys, json\n"
                     "print(json.dumps(sorted(m for m in sys.modules if 'mpi4py' in m)))")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_without_mpi4py_bpnn_trains_and_init_says_how_to_install_the_extra():
    block = "import sys\nsys.modules['mpi4py'] = None  # as if mpi4py were not installed\n"
    result = _python(block + _FIT + """
import bpnn.distributed as dist
assert len(history.history["loss"]) == 2
assert (dist.rank(), dist.size(), dist.local_rank()) == (0, 1, 0)
try:
    dist.init()
except ImportError as error:
    print(error)
""")
    assert result.returncode == 0, result.stderr
    assert "pip install 'bpnn[mpi]'" in result.stdout and "mpi4py" in result.stdout
    # launched by mpirun without mpi4py: fit stops before training, with the same advice
    launched = _python(block + _FIT, OMPI_COMM_WORLD_SIZE="2")
    assert launched.returncode != 0
    assert "ImportError: bpnn.distributed needs mpi4py" in launched.stderr
    assert "pip install 'bpnn[mpi]'" in launched.stderr


def _needs_mpi4py():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        if os.environ.get("BPNN_REQUIRE_MPI") == "1":
            pytest.fail("mpi4py is required (BPNN_REQUIRE_MPI=1) but missing")
        pytest.skip("init() needs mpi4py (pip install 'bpnn[mpi]')")


def test_single_process_is_rank_zero_of_one():
    _needs_mpi4py()
    distributed.init()
    distributed.init()  # idempotent
    assert distributed.is_initialized()
    assert (distributed.rank(), distributed.size(), distributed.local_rank()) == (0, 1, 0)
    assert not distributed.launched_by_mpi()
    distributed.barrier()
    value = {"a": np.arange(3.0), "b": (1, 2.5)}
    assert distributed.broadcast_object(value) is value


def _deal(monkeypatch, loader, size: int) -> list:
    """Each rank's batches, with this process playing every rank in turn."""
    parts = []
    for rank in range(size):
        monkeypatch.setattr(runtime._world, "rank", rank)
        monkeypatch.setattr(runtime._world, "size", size)
        if loader._own_rng is not None:
            loader._own_rng = np.random.default_rng(loader.seed)
        parts.append([batch[0].data.copy() for batch in loader])
    return parts


@pytest.mark.parametrize("size", [2, 3, 4])
def test_shards_deal_the_order_as_torch_distributed_sampler(monkeypatch, torch, size):
    """Rank r's samples, batch after batch, are DistributedSampler's indices for rank r."""
    from torch.utils.data import DistributedSampler

    n = 48
    loader = bpnn.data.DataLoader((np.arange(n),), batch_size=4 * size, shard=True)
    for rank, batches in enumerate(_deal(monkeypatch, loader, size)):
        sampler = DistributedSampler(range(n), num_replicas=size, rank=rank, shuffle=False)
        assert np.concatenate(batches).tolist() == list(sampler)


@pytest.mark.parametrize("size", [2, 3])
def test_shards_of_each_shuffled_batch_make_up_the_single_process_batch(monkeypatch, size):
    n, batch_size = 53, 16  # a short last batch of 5
    plain = [b[0].data for b in bpnn.data.DataLoader((np.arange(n),), batch_size=batch_size,
                                                     shuffle=True, seed=3)]
    loader = bpnn.data.DataLoader((np.arange(n),), batch_size=batch_size, shuffle=True,
                                  seed=3, shard=True)
    parts = _deal(monkeypatch, loader, size)
    assert len(loader) == len(plain) == 4
    for index, batch in enumerate(plain):
        together = np.concatenate([parts[rank][index] for rank in range(size)])
        assert sorted(together.tolist()) == sorted(batch.tolist())
        assert [len(parts[rank][index]) for rank in range(size)] == \
            [len(batch[rank::size]) for rank in range(size)]


def test_packed_buffers_sum_to_the_weighted_gradient():
    """Two ranks' packed buffers, added as Allreduce adds them, unpack to the weighted sum
    of the gradients; a parameter no rank has a gradient for keeps none."""
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    extra = nn.Parameter(bpnn.tensor(np.ones(5), dtype="float64"))
    unused = nn.Parameter(bpnn.tensor(np.ones(2), dtype="float64"))
    params = [*net.parameters(), extra, unused]
    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=p.data.shape).astype(p.data.dtype) for p in params[:-1]]
             for _ in range(2)]
    grads[1][0] = None  # rank 1 computed no gradient for the first weight
    weights = (0.75, 0.25)
    buffers = []
    for rank in range(2):
        for p, g in zip(params, grads[rank] + [None], strict=True):
            p.grad = g
        buffers.append(distributed_optimizer.pack_gradients(params, weights[rank],
                                                            extras=[10.0 * rank + 1]))
    assert [b.dtype for b, _, _ in buffers[0]] == [np.float32, np.float64]  # one per dtype
    summed = [(a + b, group, sizes) for (a, group, sizes), (b, _, _)
              in zip(buffers[0], buffers[1], strict=True)]
    for p in params:
        p.grad = None
    extras = distributed_optimizer.unpack_gradients(summed)
    assert extras == [12.0]
    for i, p in enumerate(params[:-1]):
        expected = sum(w * g[i] for w, g in zip(weights, grads, strict=True)
                       if g[i] is not None)
        np.testing.assert_allclose(p.grad, expected, rtol=1e-6)
        assert p.grad.dtype == p.data.dtype and p.grad.shape == p.data.shape
    assert unused.grad is None


def test_distributed_optimizer_in_one_process_steps_as_the_optimizer():
    bpnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    twin = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    twin.load_state_dict(net.state_dict())
    net[0].weight.requires_grad_(False)
    twin[0].weight.requires_grad_(False)
    plain = bpnn.optim.Adam(net.parameters(), lr=0.1, weight_decay=0.01)
    wrapped = distributed.DistributedOptimizer(
        bpnn.optim.Adam(twin.parameters(), lr=0.1, weight_decay=0.01))
    assert isinstance(wrapped, bpnn.optim.Adam) and type(wrapped).__name__ == "Adam"
    assert wrapped.gradient_weight == 1.0
    assert distributed.DistributedOptimizer(wrapped) is wrapped
    assert bpnn.optim.optimizer_config(wrapped)["name"] == "Adam"
    x = bpnn.tensor(np.random.default_rng(1).normal(size=(8, 4)).astype("float32"))
    for model, optimizer in ((net, plain), (twin, wrapped)):
        for _ in range(3):
            optimizer.zero_grad()
            (model(x) ** 2).mean().backward()
            optimizer.step()
    for a, b in zip(net.state_dict().values(), twin.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert twin[0].weight.grad is None  # frozen: no gradient made up for it


def test_distributed_optimizer_refuses_what_is_not_an_optimizer():
    with pytest.raises(TypeError, match="wraps a bpnn.optim.Optimizer, got list"):
        distributed.DistributedOptimizer([])


def test_broadcast_codec_keeps_arrays_tuples_numbers_and_keys():
    value = {"state": {0: {"exp_avg": np.arange(6, dtype=np.float32).reshape(2, 3),
                           "step": 3}},
             "param_groups": [{"betas": (0.9, 0.999), "lr": float("inf"),
                               "eps": np.float64(1e-8), "name": None}]}
    arrays: list = []
    text = json.dumps(broadcast._encode(value, arrays))
    decoded = broadcast._decode(json.loads(text), arrays)
    assert decoded["state"][0]["step"] == 3 and list(decoded["state"]) == [0]
    np.testing.assert_array_equal(decoded["state"][0]["exp_avg"], value["state"][0]["exp_avg"])
    group = decoded["param_groups"][0]
    assert group["betas"] == (0.9, 0.999) and group["lr"] == float("inf")
    assert group["eps"] == 1e-8 and group["eps"].dtype == np.float64 and group["name"] is None


@pytest.mark.parametrize("name", ["bpnn.distributed", "bpnn.distributed.runtime",
                                  "bpnn.distributed.broadcast", "bpnn.distributed.optimizer",
                                  "bpnn.distributed.sharding"])
def test_docstring_examples(name):
    if name in ("bpnn.distributed", "bpnn.distributed.runtime"):  # they call init()
        _needs_mpi4py()
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and attempted > 0


def test_synchronize_then_step_allreduces_once(monkeypatch):
    """Clipping by the global norm: synchronize(), clip .grad, step() must not sum again."""
    calls = []
    monkeypatch.setattr(runtime, "allreduce_sum_", lambda buffer: calls.append(buffer.size))
    net = nn.Linear(3, 2)
    optimizer = distributed.DistributedOptimizer(bpnn.optim.SGD(net.parameters(), lr=0.1))
    (net(bpnn.ones(4, 3)) ** 2).sum().backward()
    optimizer.synchronize()
    optimizer.step()
    assert calls == [6 + 2 + 2]  # 8 gradients, 2 flags, in one call
    optimizer.zero_grad()
    (net(bpnn.ones(4, 3)) ** 2).sum().backward()
    optimizer.step()
    assert len(calls) == 2


@pytest.mark.parametrize("name, options", [
    ("lbfgs", {"max_iter": 5, "line_search_fn": "strong_wolfe"}),
    ("lm", {"max_iter": 5}),
    ("newton", {"hessian": "cg", "max_iter": 2}),
])
def test_wrapped_second_order_optimizers_in_one_process_match_the_plain_ones(
        monkeypatch, name, options):
    """The reduced closure and LM's summed normal equations, at size 1, change nothing (the
    2-rank equality is in test_mpi_jobs); each evaluation is one Allreduce."""
    calls = []
    monkeypatch.setattr(runtime, "allreduce_sum_", lambda buffer: calls.append(buffer.size))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 2))
    y = np.tanh(x @ np.array([[1.5], [-0.7]]))
    results = []
    for wrap in (False, True):
        bpnn.set_default_dtype("float64")
        bpnn.manual_seed(3)
        model = bpnn.Model(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)), "mse",
                           name, **options)
        if wrap:
            model.optimizer = distributed.DistributedOptimizer(model.optimizer)
        model.fit(x, y, epochs=2, verbose=0)
        results.append(model.get_weights())
    for key, value in results[0].items():
        np.testing.assert_array_equal(results[1][key], value)
    assert calls, "the wrapped optimizer never summed anything"
