"""File drills of issue 31: damaged job and summary files, a partial first write, pruned candidates, and
the "lower" one-liners (metrics against last.pt, a plain pickle, a FIFO, a dangling --out, huge numbers).

Every case ends in one line naming the file (or the run goes on and repairs what dann wrote itself),
never a traceback; the command lines run in-process (CliRunner) except the sweep's relaunch, whose
jobs are processes.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import warnings
from pathlib import Path

import pytest

from test_faults import TINY, assert_one_line_error, cli

from dann_core import run_summary
from dann_core.testing import tiny_config
from dann_core.train import train
from dann_evaluation import jobs
from dann_evaluation.sweep import collect

CHEAP = {"select": "source-val"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny run (source-val keeps two candidates and the last)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train(tiny_config(**CHEAP), run_dir=run_dir)
    return run_dir


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def _one_line(result) -> str:
    """The single line of a result's stderr (no traceback, exit status 2)."""
    return assert_one_line_error(result)


# ------------------------------------------------------- 3: one validating reader for job and summary files


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, finished) -> Path:
    """A finished sweep of two jobs (lr 0.3 and 0.2), trained in-process as a launcher would."""
    out = tmp_path_factory.mktemp("sweep") / "S"
    for index, lr in enumerate((0.3, 0.2)):
        cfg = tiny_config(lr=lr, **CHEAP)
        job_dir = jobs.write_job(out, cfg, {"lr": str(lr)}, index, "sweep")
        train(cfg, run_dir=job_dir / "run")
    return out


@pytest.fixture
def sweep_copy(sweep, tmp_path) -> Path:
    shutil.copytree(sweep, tmp_path / "S")
    return tmp_path / "S"


def damaged_job(sweep_dir: Path) -> Path:
    """The directory of the sweep's first job (lr 0.3)."""
    return jobs.jobs_dir(sweep_dir) / jobs.job_id(dataclasses.replace(tiny_config(lr=0.3, **CHEAP), out=None))


JOB_DAMAGE = {
    "a list": lambda record: [1, 2, 3],
    "no config": lambda record: {k: v for k, v in record.items() if k != "config"},
    "a label that is text": lambda record: {**record, "label": "oops"},
    "a label that is a list": lambda record: {**record, "label": [["lr", 1]]},
    "not JSON": None,
}


@pytest.mark.parametrize("damage", list(JOB_DAMAGE))
def test_a_damaged_job_json_is_one_line_naming_it_skipped_by_status_and_collect_and_rewritten_by_the_next_launch(sweep_copy, damage):
    job_dir = damaged_job(sweep_copy)
    path = job_dir / "job.json"
    original = path.read_text()
    change = JOB_DAMAGE[damage]
    path.write_text("{not json" if change is None else json.dumps(change(json.loads(original))))

    status = cli("sweep", "status", str(sweep_copy))
    assert status.exit_code == 0 and "Traceback" not in status.output, status.output
    assert "1 done, 1 damaged" in status.output and f"{path}" in status.output
    as_json = cli("sweep", "status", str(sweep_copy), "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)[1]["state"] == "damaged"

    collected = cli("sweep", "collect", str(sweep_copy))
    assert collected.exit_code == 0, collected.output
    assert f"warning: skipped: {path}" in collected.stderr and "Traceback" not in collected.output
    assert json.loads((sweep_copy / "sweep.json").read_text())["skipped"][0].startswith(str(path))

    with pytest.raises(jobs.JobFileError, match=str(path)):
        jobs.read_job(job_dir)
    cfg = tiny_config(lr=0.3, **CHEAP)
    assert jobs.write_job(sweep_copy, cfg, {"lr": "0.3"}, 0, "sweep") == job_dir  # what a relaunch does: writes it again
    assert json.loads(path.read_text()) == json.loads(original)
    assert [row["status"] for row in collect(sweep_copy)["rows"]] == ["ok", "ok"]


@pytest.mark.parametrize("damage", ["selector_score NaN?", "not JSON", "empty table", "a list", "final missing"])
def test_a_damaged_summary_is_never_done_and_the_job_finishes_again(sweep_copy, damage):
    job_dir = damaged_job(sweep_copy)
    path = job_dir / "run" / "summary.json"
    good = json.loads(path.read_text())
    text = {"selector_score NaN?": json.dumps({**good, "selector_score": "NaN?"}), "not JSON": "\x00{", "empty table": "{}",
            "a list": "[1, 2]", "final missing": json.dumps({k: v for k, v in good.items() if k != "final"})}[damage]
    path.write_text(text)

    state = jobs.job_state(job_dir)
    assert state.state == "interrupted" and str(path) in state.error and "finishes the run again" in state.error
    status = cli("sweep", "status", str(sweep_copy))
    assert status.exit_code == 0 and "1 interrupted, 1 done" in status.output and str(path) in status.output, status.output
    rows = collect(sweep_copy)["rows"]  # the other job still counts; the damaged one is not "ok"
    assert [row["status"] for row in rows] == ["interrupted", "ok"] and rows[1]["selected"]
    with pytest.raises(jobs.JobFileError, match=str(path)):
        jobs.read_summary(job_dir)

    assert jobs.run_job(job_dir) == "done"  # what the next launch runs: resumes, finishes again, writes it
    assert run_summary.problem(json.loads(path.read_text())) is None
    assert json.loads(path.read_text())["selector_score"] == good["selector_score"]
    assert [row["status"] for row in collect(sweep_copy)["rows"]] == ["ok", "ok"]


def test_a_relaunch_heals_a_damaged_summary_and_job_file_through_the_launcher(sweep_copy):
    from dann_evaluation.sweep import run_sweep

    job_dir = damaged_job(sweep_copy)
    (job_dir / "run" / "summary.json").write_text("{")
    other = next(d for d in sweep_copy.glob("jobs/*") if d != job_dir)
    (other / "job.json").write_text("[1, 2, 3]")
    result = run_sweep(tiny_config(**CHEAP), {"lr": [0.3, 0.2]}, sweep_copy, select="source-val")  # the same sweep again
    assert result["launch"].ran == [job_dir.name], (job_dir / "log").read_text()  # the other one is done: not run
    assert [row["status"] for row in result["rows"]] == ["ok", "ok"] and result["skipped"] == []
    assert sorted(jobs.job_state(d).state for d in sweep_copy.glob("jobs/*")) == ["done", "done"]


# ------------------------------------------------------------------- 4: resume of a run whose summary lacks keys


@pytest.mark.parametrize("text", ["{}", '{"method": null, "final": null}', "[]"])
def test_resume_of_a_finished_run_with_a_damaged_summary_writes_it_again(run_copy, text):
    good = json.loads((run_copy / "summary.json").read_text())
    (run_copy / "summary.json").write_text(text)
    result = cli("run", "--resume", str(run_copy))
    assert result.exit_code == 0, result.output
    assert any(line.startswith(f"{run_copy / 'summary.json'} is damaged (") for line in result.stderr.splitlines()), result.stderr
    assert "writing it again from last.pt (step 20 of 20)" in result.stderr and "Traceback" not in result.output
    again = json.loads((run_copy / "summary.json").read_text())
    assert {k: again[k] for k in ("best_step", "selector_score", "final")} == {k: good[k] for k in ("best_step", "selector_score", "final")}
    second = cli("run", "--resume", str(run_copy))
    assert second.exit_code == 0 and "already finished" in second.stderr


# ----------------------------------------------------------------------------- 6: eval select while pruning


def test_eval_select_leaves_out_a_candidate_the_run_prunes_while_it_reads(run_copy, monkeypatch):
    from dann_evaluation import report

    kept = sorted((run_copy / "candidates").glob("step-*.pt"))
    assert len(kept) >= 2, kept
    original = report._score_kept

    def pruning(selector, candidate):  # the training run drops a candidate it no longer keeps, meanwhile
        kept[-1].unlink(missing_ok=True)
        return original(selector, candidate)

    monkeypatch.setattr(report, "_score_kept", pruning)
    result = cli("eval", "select", str(run_copy), "--skip", "reverse-val", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "No such file" not in result.output and "dev" in result.stdout


# ------------------------------------------------------ 7: a directory holding only dann's partial first write


def partial_first_write(directory: Path) -> Path:
    """What a SIGKILL while config.json is written leaves: the lock and atomic_write's temporary file."""
    directory.mkdir()
    (directory / ".lock").write_text("12345\n")
    (directory / ".config.json.k3j2_x9.tmp").write_text('{"method": "da')
    return directory


def test_a_directory_holding_only_a_partial_first_write_is_taken_as_new(tmp_path):
    run_dir = partial_first_write(tmp_path / "run")
    resumed = cli("run", "--resume", str(run_dir))
    line = _one_line(resumed)
    assert "holds only what a run killed while writing its config.json left" in line and f"--out {run_dir}" in line
    result = cli("run", *TINY, "--out", str(run_dir))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []  # the leftovers are gone
    assert (run_dir / "summary.json").exists()


def test_a_users_hidden_file_still_makes_a_directory_not_new(tmp_path):
    run_dir = partial_first_write(tmp_path / "run")
    (run_dir / ".notes.tmp").write_text("mine")  # not dann's: never taken over
    result = cli("run", *TINY, "--out", str(run_dir))
    assert "not empty" in _one_line(result) and (run_dir / ".notes.tmp").read_text() == "mine"


# ------------------------------------------------------------------------------------------ lower items


def test_resume_checks_metrics_against_last_pt(run_copy):
    (run_copy / "summary.json").unlink()  # as if killed while finishing: the resume would finish it
    metrics = run_copy / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    metrics.write_bytes(b"".join(lines[:2]))  # torn: the last evaluations' records are gone
    line = _one_line(cli("run", "--resume", str(run_copy)))
    assert f"{metrics} lacks 2 of the 4 evaluations last.pt holds (the first at step 15)" in line
    metrics.unlink()
    assert f"{metrics} is missing, but last.pt holds 4 evaluations" in _one_line(cli("run", "--resume", str(run_copy)))
    assert not (run_copy / "summary.json").exists()


def test_a_plain_pickle_checkpoint_is_one_line_without_torchs_warning(run_copy):
    with open(run_copy / "best.pt", "wb") as file:
        pickle.dump({"algorithm": [1, 2, 3]}, file, protocol=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("eval", str(run_copy))
    assert "not a torch checkpoint: a plain pickle or another format" in _one_line(result)
    assert not [w for w in caught if issubclass(w.category, UserWarning)], [str(w.message) for w in caught]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_fifo_as_the_npz_path_says_what_it_is(tmp_path):
    fifo = tmp_path / "d.npz"
    os.mkfifo(fifo)
    line = _one_line(cli("run", "--dataset", "npz", "--set", f"dataset.path={fifo}", "--out", str(tmp_path / "run")))
    assert f"'{fifo}' is a named pipe (FIFO), not a file" in line
    assert not (tmp_path / "run").exists()


def test_a_dangling_symlink_as_out_says_so(tmp_path):
    out = tmp_path / "out"
    out.symlink_to(tmp_path / "nowhere")
    line = _one_line(cli("run", *TINY, "--out", str(out)))
    assert f"{out} is a symbolic link to {tmp_path / 'nowhere'}, which does not exist" in line
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("how", ["--set", "--steps", "config.json", "config.toml", "config.yaml", "component option"])
def test_a_5000_digit_integer_is_one_short_line(tmp_path, how):
    digits = "1" * 5000
    files = {"config.json": f'{{"steps": {digits}}}', "config.toml": f"steps = {digits}", "config.yaml": f"steps: {digits}"}
    if how in files:
        path = tmp_path / how
        path.write_text(files[how])
        args = ["--config", str(path)]
    else:
        args = {"--set": ["--set", f"steps={digits}"], "--steps": ["--steps", digits],
                "component option": ["--set", f"dataset.n_per_class={digits}"]}[how]
    result = cli("run", *args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Error:") and len(message) < 300 and "set_int_max_str_digits" not in result.output, message[:400]
    assert not (tmp_path / "run").exists()
