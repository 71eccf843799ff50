"""dann's SGD is torch.optim.SGD without the torch._dynamo import: the same updates and state, bit for bit."""
from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from dann_core.methods import sgd as sgd_module
from dann_core.methods.sgd import SGD


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))


def _train(optimizer_class, fused: bool, steps: int = 6, state=None):
    model = _model()
    groups = [{"params": list(model[0].parameters()), "lr_mult": 1.0, "lr": 0.05},
              {"params": list(model[2].parameters()), "lr_mult": 10.0, "lr": 0.5}]
    optimizer = optimizer_class(groups, lr=0.05, momentum=0.9, weight_decay=5e-4, fused=fused)
    if state is not None:
        optimizer.load_state_dict(state)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(11, 5, generator=generator)
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("dynamo_loaded", [False, True], ids=["unwrapped", "torch-wrappers"])
@pytest.mark.parametrize("fused", [False, True])
def test_updates_and_state_equal_torch_sgd(fused, dynamo_loaded, monkeypatch):
    """Both paths: torch's methods unwrapped (no torch._dynamo yet) and torch's own (once it is imported;
    other tests in this process may have imported it, so each path is forced)."""
    monkeypatch.setattr(sgd_module, "_dynamo_loaded", lambda: dynamo_loaded)
    ours, ours_opt = _train(SGD, fused)
    theirs, theirs_opt = _train(torch.optim.SGD, fused)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
    mine, torchs = ours_opt.state_dict(), theirs_opt.state_dict()
    assert mine["param_groups"] == torchs["param_groups"]
    assert mine["state"].keys() == torchs["state"].keys()
    for key in mine["state"]:
        assert torch.equal(mine["state"][key]["momentum_buffer"], torchs["state"][key]["momentum_buffer"])


def test_state_dicts_load_across_both_classes():
    """A checkpoint written with torch.optim.SGD (older runs) resumes into dann's SGD and back."""
    _, torch_opt = _train(torch.optim.SGD, False, steps=3)
    state = torch_opt.state_dict()  # load_state_dict shares its tensors: each side gets a copy
    ours, _ = _train(SGD, False, steps=3, state=copy.deepcopy(state))
    theirs, _ = _train(torch.optim.SGD, False, steps=3, state=copy.deepcopy(state))
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_step_with_closure_returns_its_loss():
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = model(torch.ones(2, 5)).sum()
        loss.backward()
        return loss

    assert torch.is_tensor(optimizer.step(closure))
    assert torch.is_grad_enabled()  # the step's no_grad ends with it


def test_a_run_never_imports_torch_dynamo(tmp_path):
    """A whole moons run (optimiser built, stepped, checkpointed, resumable) leaves torch._dynamo
    unimported: that import was 0.9 s of a default run. ``--compile`` imports it, and then dann's SGD
    is torch's."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('dynamo imported:', 'torch._dynamo' in sys.modules))\n"
        "from dann_core.cli import main\n"
        f"sys.argv = ['dann', 'run', '--dataset', 'moons', '--steps', '20', '--eval-every', '10', '--quiet', '--out', {str(tmp_path / 'run')!r}]\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "dynamo imported: False"
    assert (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize("dynamo_loaded", [False, True], ids=["unwrapped", "torch-wrappers"])
def test_step_hooks_run_once_and_lr_schedulers_work_as_on_torch_sgd(dynamo_loaded, monkeypatch):
    """Once each: torch's own SGD class carries a step-hook layer once one was built (the other tests
    built some), and dann's SGD has its own."""
    monkeypatch.setattr(sgd_module, "_dynamo_loaded", lambda: dynamo_loaded)
    torch.optim.SGD(_model().parameters(), lr=0.1)  # torch.optim.SGD.step is hooked from here on
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    calls = []
    optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    model(torch.ones(2, 5)).sum().backward()
    optimizer.step()
    scheduler.step()
    assert calls == ["pre", "post"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert isinstance(copy.deepcopy(optimizer), SGD)
