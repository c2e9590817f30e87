"""Learning-rate schedules give torch.optim.lr_scheduler's numbers, epoch for epoch."""

import warnings

import numpy as np
import pytest

import bpnn
from bpnn.nn import Parameter
from bpnn.optim import lr_scheduler

STEPS = 50
HALFWAY = 25
LRS = (0.1, 0.04)

SCHEDULES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 20}),
    ("CosineAnnealingLR", {"T_max": 13, "eta_min": 0.01}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.2, "end_factor": 0.6, "total_iters": 30}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": STEPS}),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "epochs": 5, "steps_per_epoch": 10,
                    "anneal_strategy": "linear", "pct_start": 0.25}),
    ("OneCycleLR", {"max_lr": 0.8, "total_steps": STEPS, "three_phase": True,
                    "div_factor": 10.0, "final_div_factor": 100.0}),
    ("OneCycleLR", {"max_lr": 0.8, "total_steps": STEPS, "cycle_momentum": False}),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def _groups(make_param):
    return [{"params": [make_param()], "lr": LRS[0]}, {"params": [make_param()], "lr": LRS[1]}]


def _bpnn_optimizer(kind="SGD"):
    make = lambda: Parameter(np.zeros(2))  # noqa: E731
    extra = {"momentum": 0.9} if kind == "SGD" else {}
    return getattr(bpnn.optim, kind)(_groups(make), **extra)


def _torch_optimizer(torch, kind="SGD"):
    make = lambda: torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))  # noqa: E731
    extra = {"momentum": 0.9} if kind == "SGD" else {}
    return getattr(torch.optim, kind)(_groups(make), **extra)


def _momenta(optimizer):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in optimizer.param_groups]


@pytest.mark.parametrize("optimizer_kind", ["SGD", "Adam"])
@pytest.mark.parametrize("case", SCHEDULES, ids=_case_id)
def test_schedule_matches_torch_with_reload_halfway(torch, case, optimizer_kind):
    name, kwargs = case
    optimizer = _bpnn_optimizer(optimizer_kind)
    scheduler = getattr(lr_scheduler, name)(optimizer, **kwargs)
    reference_optimizer = _torch_optimizer(torch, optimizer_kind)
    reference = getattr(torch.optim.lr_scheduler, name)(reference_optimizer, **kwargs)
    np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12)

    steps = STEPS - 1 if name == "OneCycleLR" else STEPS  # OneCycleLR allows total_steps - 1
    for epoch in range(1, steps + 1):
        optimizer.step()
        scheduler.step()
        reference_optimizer.step()
        reference.step()
        assert scheduler.last_epoch == reference.last_epoch == epoch
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12,
                                   atol=1e-15, err_msg=f"epoch {epoch}")
        np.testing.assert_allclose([g["lr"] for g in optimizer.param_groups],
                                   reference.get_last_lr(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(_momenta(optimizer), _momenta(reference_optimizer),
                                   rtol=1e-12)
        if epoch == HALFWAY:
            # a fresh optimizer and scheduler resume from the two state dicts
            saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()
            optimizer = _bpnn_optimizer(optimizer_kind)
            scheduler = getattr(lr_scheduler, name)(optimizer, **kwargs)
            optimizer.load_state_dict(saved_optimizer)
            scheduler.load_state_dict(saved_scheduler)


PLATEAU_CASES = [
    {},
    {"patience": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "threshold": 0.05},
    {"patience": 2, "threshold_mode": "abs", "threshold": 0.02, "cooldown": 3},
    {"mode": "max", "threshold_mode": "abs", "patience": 0, "min_lr": [0.01, 0.02]},
    {"patience": 1, "factor": 0.2, "min_lr": 0.005, "eps": 1e-3},
]


def _metrics():
    # improvement, then a noisy plateau, so that every branch is reached
    rng = np.random.default_rng(11)
    trend = np.concatenate([np.linspace(1.0, 0.6, 15), np.full(STEPS - 15, 0.6)])
    return (trend + 0.03 * rng.standard_normal(STEPS)).tolist()


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=str)
def test_reduce_on_plateau_matches_torch_with_reload_halfway(torch, kwargs):
    optimizer = _bpnn_optimizer()
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
    reference_optimizer = _torch_optimizer(torch)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_optimizer, **kwargs)
    reductions = 0
    for epoch, metric in enumerate(_metrics(), start=1):
        before = scheduler.get_last_lr()
        scheduler.step(metric)
        reference.step(metric)
        reductions += scheduler.get_last_lr() != before
        assert scheduler.get_last_lr() == reference.get_last_lr(), f"epoch {epoch}"
        assert scheduler.num_bad_epochs == reference.num_bad_epochs
        assert scheduler.best == reference.best
        if epoch == HALFWAY:
            saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()
            optimizer = _bpnn_optimizer()
            scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **kwargs)
            optimizer.load_state_dict(saved_optimizer)
            scheduler.load_state_dict(saved_scheduler)
    assert reductions > 0  # the metric sequence does exercise the reduction


def test_chained_schedulers_compose_as_in_torch(torch):
    optimizer = _bpnn_optimizer()
    ours = [lr_scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=8),
            lr_scheduler.ExponentialLR(optimizer, gamma=0.95),
            lr_scheduler.MultiStepLR(optimizer, milestones=[10, 20])]
    reference_optimizer = _torch_optimizer(torch)
    theirs = [torch.optim.lr_scheduler.LinearLR(reference_optimizer, start_factor=0.25,
                                                total_iters=8),
              torch.optim.lr_scheduler.ExponentialLR(reference_optimizer, gamma=0.95),
              torch.optim.lr_scheduler.MultiStepLR(reference_optimizer, milestones=[10, 20])]
    for _ in range(30):
        optimizer.step()
        reference_optimizer.step()
        for a, b in zip(ours, theirs, strict=True):
            a.step()
            b.step()
        np.testing.assert_allclose(ours[-1].get_last_lr(), theirs[-1].get_last_lr(), rtol=1e-12)


@pytest.mark.parametrize("case", SCHEDULES[:7], ids=_case_id)
def test_step_with_an_epoch_uses_the_closed_form_as_torch(torch, case):
    name, kwargs = case
    scheduler = getattr(lr_scheduler, name)(_bpnn_optimizer(), **kwargs)
    reference = getattr(torch.optim.lr_scheduler, name)(_torch_optimizer(torch), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates the epoch argument
        for epoch in (3, 17, 9, 40):
            scheduler.step(epoch)
            reference.step(epoch)
            np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(),
                                       rtol=1e-12)


def test_initial_lr_is_the_lr_when_the_scheduler_is_built(torch):
    # the lr may be changed between building the optimizer and its scheduler, as in torch
    optimizer = _bpnn_optimizer()
    reference_optimizer = _torch_optimizer(torch)
    for opt in (optimizer, reference_optimizer):
        opt.param_groups[0]["lr"] = 0.5
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(reference_optimizer, T_max=4)
    assert scheduler.base_lrs == reference.base_lrs == [0.5, LRS[1]]
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.5, LRS[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler.step(3)
        reference.step(3)
    np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12)


def test_one_cycle_cycles_beta1_of_adam():
    optimizer = _bpnn_optimizer("Adam")
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=10, pct_start=0.5)
    assert optimizer.param_groups[0]["betas"] == (0.95, 0.999)
    for _ in range(4):
        scheduler.step()
    assert optimizer.param_groups[0]["betas"][0] == pytest.approx(0.85)
    assert scheduler.get_last_lr()[0] == pytest.approx(1.0)


def test_state_dict_is_plain_data():
    import json

    scheduler = lr_scheduler.MultiStepLR(_bpnn_optimizer(), milestones=[3, 1, 3])
    state = json.loads(json.dumps(scheduler.state_dict()))
    assert state["milestones"] == [1, 3, 3]
    assert state["last_epoch"] == 0 and state["base_lrs"] == list(LRS)


ERRORS = [
    (lambda opt: lr_scheduler.StepLR(opt, step_size=0), ValueError,
     "step_size must be a positive integer, got 0"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=0), ValueError,
     "T_max must be positive, got 0"),
    (lambda opt: lr_scheduler.LinearLR(opt, start_factor=0), ValueError,
     r"start_factor must be in \(0, 1\]"),
    (lambda opt: lr_scheduler.LinearLR(opt, end_factor=1.5), ValueError,
     r"end_factor must be in \[0, 1\], got 1.5"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0), ValueError,
     "needs total_steps, or both epochs and steps_per_epoch"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=-3), ValueError,
     "total_steps must be a positive integer, got -3"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=0),
     ValueError, "steps_per_epoch must be a positive integer, got 0"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=9, pct_start=1.5),
     ValueError, r"pct_start must be a float in \[0, 1\], got 1.5"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=9, anneal_strategy="exp"),
     ValueError, "anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=[1.0], total_steps=9), ValueError,
     "max_lr must have one value per parameter group: got 1 values for 2 groups"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), ValueError,
     r"factor must be < 1.0 \(it multiplies the lr\), got 1.0"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="lowest"), ValueError,
     "mode must be 'min' or 'max', got 'lowest'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct"), ValueError,
     "threshold_mode must be 'rel' or 'abs', got 'pct'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2, 0.3]), ValueError,
     "min_lr must have one value per parameter group: got 3 values for 2 groups"),
    (lambda opt: lr_scheduler.StepLR(opt, step_size=3, last_epoch=5), KeyError,
     r"'initial_lr' is not specified in param_groups\[0\]"),
    (lambda opt: lr_scheduler.ExponentialLR(object(), gamma=0.9), TypeError,
     "object is not a bpnn.optim.Optimizer"),
]


@pytest.mark.parametrize(("build", "error", "message"), ERRORS, ids=[m[:30] for *_, m in ERRORS])
def test_errors_name_the_problem(build, error, message):
    with pytest.raises(error, match=message):
        build(_bpnn_optimizer())


def test_one_cycle_refuses_to_step_past_total_steps():
    scheduler = lr_scheduler.OneCycleLR(_bpnn_optimizer(), max_lr=1.0, total_steps=3)
    scheduler.step()
    scheduler.step()
    scheduler.step()
    with pytest.raises(ValueError, match="tried to step 4 times; OneCycleLR was built for "
                                         "total_steps=3"):
        scheduler.step()


def test_one_cycle_needs_momentum_or_betas():
    optimizer = bpnn.optim.Adagrad([Parameter(np.zeros(2))])
    with pytest.raises(ValueError, match="Adagrad has neither"):
        lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=10)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=10,
                                        cycle_momentum=False)
    assert scheduler.get_last_lr() == pytest.approx([0.04])


@pytest.mark.parametrize("case", SCHEDULES[:7], ids=_case_id)
def test_resuming_with_last_epoch_matches_torch(torch, case):
    name, kwargs = case
    optimizer = _bpnn_optimizer()
    reference_optimizer = _torch_optimizer(torch)
    for opt in (optimizer, reference_optimizer):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"] * 2
    scheduler = getattr(lr_scheduler, name)(optimizer, last_epoch=5, **kwargs)
    reference = getattr(torch.optim.lr_scheduler, name)(reference_optimizer, last_epoch=5,
                                                        **kwargs)
    for _ in range(10):
        np.testing.assert_allclose(scheduler.get_last_lr(), reference.get_last_lr(), rtol=1e-12)
        optimizer.step()
        reference_optimizer.step()
        scheduler.step()
        reference.step()


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
def test_is_improvement_is_torchs_is_better(torch, mode, threshold_mode):
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), mode=mode,
        threshold=0.01, threshold_mode=threshold_mode)
    values = [-2.0, -1.0, -0.99, 0.0, 0.5, 0.995, 1.0, 1.005, 1.01, 1.02, 2.0]
    for current in values:
        for best in (-1.0, 1.0):
            assert lr_scheduler.is_improvement(current, best, mode, 0.01, threshold_mode) \
                == reference._is_better(current, best), (current, best)  # torch==2.13 pinned
