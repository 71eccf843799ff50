"""Shared fixtures: a tiny, seconds-fast training config on moons."""
from __future__ import annotations

import signal
import sys

import pytest

from dann_core.config import RunConfig
from dann_core.testing import TINY_SETTINGS
from tests.paths import ROOT


@pytest.fixture
def tiny_config() -> RunConfig:
    """A fresh tiny moons RunConfig (callers may change fields freely)."""
    return RunConfig(**TINY_SETTINGS)


# The longest tests (over 12 s each under `-n 2`, from --durations), started first: a long test that a
# worker begins near the end keeps the run waiting while the other worker idles. Ordering only.
LONGEST = {
    "test_two_processes_write_one_run_of_a_streamed_image_folder_that_matches_one_process_and_resumes_exactly",
    "test_a_killed_worker_is_resumed_alone_and_ends_as_its_uninterrupted_twin",
    "test_run_multi_seed_writes_runs_and_table",
    "test_stop_signals_end_like_ctrl_c_with_one_line_and_the_run_resumes_exactly",
    "test_sweep_ranks_reasonable_lambda_above_zero_and_destructive",
    "test_table",
    "test_sigkill_at_random_moments_then_resume_gives_identical_metrics",
    "test_killing_the_nproc_launcher_stops_every_process_and_nothing_writes_after_it",
    "test_a_sweep_stops_on_term_and_its_workers_die_with_it_even_when_it_is_killed",
    "test_two_processes_train_what_one_process_trains",
    "test_eval_select_from_stored_views_chooses_as_scores_logged_during_training",
    "test_ray_local_runs_the_jobs",
    "test_sweep_files_are_complete_and_parseable",
    "test_optuna_search_of_4_trials_resumes_from_its_job_directories",
    "test_a_built_in_method_trains_under_compile_and_a_method_compile_cannot_trace_fails",  # inductor's first compile
}


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: getattr(item, "originalname", item.name) not in LONGEST)  # stable: the rest keep their order


def _compile_dann_sources() -> None:
    """Bytecode for dann's own modules, written once by the controlling process.

    Under PYTHONDONTWRITEBYTECODE=1 (set on CI machines like ours) no process writes it, so every dann
    subprocess the suite starts (hundreds) compiled dann_core and the plugins, 18,000 lines, from
    source: 0.8 of its 4 CPU-seconds. The files go where Python itself would put them (__pycache__,
    ignored by git); an edited module's stale bytecode is ignored by its timestamp, as always."""
    import compileall

    for package in ("dann_core", "plugins"):
        compileall.compile_dir(ROOT / package, quiet=1)


def pytest_configure(config):
    if sys.dont_write_bytecode and not hasattr(config, "workerinput"):  # the controller (or a run without -n)
        _compile_dann_sources()
    # dann keeps a stop signal that was ignored when it started ignored (as under nohup), and children
    # inherit that: a suite started under nohup would give the SIGHUP drills a dann that cannot be hung up
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
