"""``dann run``: its options are generated from :class:`dann_core.config.RunConfig`, one per setting
(:mod:`dann_core.cli.run_options`); here the command itself: one run, ``--resume``, ``--nproc`` and ``--seeds``."""
from __future__ import annotations

import json
import os
import sys

import click

from . import common
from .run_options import PRECEDENCE, RunCommand, config_options, explicit_flags


def _print_recommended(cfg) -> None:
    applied = getattr(cfg, "recommended", None)
    if applied:
        shown = ", ".join(f"{key}={entry['value']} ({entry['from']})" for key, entry in applied.items())
        click.echo(f"recommended settings applied: {shown}", err=True)


def _print_started(cfg, resolved, resumed: bool) -> None:
    """The recommendations applied and the thread count chosen (dann_core/train/threads.py), on stderr."""
    from ..train import threads

    if not resumed:
        _print_recommended(cfg)
    click.echo(threads.describe(cfg.threads, resolved.threads, cfg, resumed=resumed), err=True)


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    final = summary["final"]

    def fmt(value):
        return "n/a" if value is None else f"{value:.4f}"

    click.echo(f"run dir:   {summary['run_dir']}")
    click.echo(
        f"trained:   {summary['method']} on {summary['dataset']} ({summary['backbone']} + {summary['discriminator']}), "
        f"seed {summary['seed']}, {summary['steps']} steps in {summary['seconds']:.1f} s"
    )
    click.echo(
        f"best.pt:   step {summary['best_step']}, source val acc {fmt(summary['best_source_val_acc'])}, "
        f"target test acc {fmt(summary['target_test_acc'])} (reported only: chosen by selector {summary['selector']}, "
        "never with target labels)"
    )
    click.echo(
        f"last.pt:   step {final['step']}, source val acc {fmt(final['source_val_acc'])}, "
        f"target test acc {fmt(final['target_test_acc'])}"
    )
    if summary.get("target_acc_estimate") is not None:  # label-free (dann_core/selection/estimate.py)
        from ..selection.estimate import MEASURED_ERROR

        click.echo(f"estimate:  target acc of best.pt {fmt(summary['target_acc_estimate'])}, estimated without target labels "
                   f"(ATC; off by {MEASURED_ERROR:.2f} on average where measured: docs/selection.md)")
    if summary.get("source_only_twin"):  # dann run --source-only-twin (dann_core/train/twin.py)
        click.echo(f"source-only twin: {summary['source_only_twin']['line']}")
    if summary.get("warning"):  # a run that ended collapsed (dann_core/train/health.py)
        click.echo(summary["warning"], err=True)


@click.command(
    "run",
    cls=RunCommand,
    epilog=PRECEDENCE + " Component options: --set dataset.NAME=VALUE (likewise backbone., discriminator.).",
)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML, YAML or JSON file of settings.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one setting; repeatable (dataset.angle=50, lr=0.01).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), help="Continue the run in this directory from its last.pt.")
@click.option("--quiet", is_flag=True, help="No progress bar (also hidden when stderr is not a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--seeds",
    metavar="0,1,2",
    help="Train the run over these seeds and write the mean ± std table (--out is the table's directory); "
    "dann table --methods adds baseline rows.",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train data-parallel in this many processes (torch.distributed.run; gloo on CPU, NCCL on CUDA). "
    "--batch-size stays the global batch, split evenly over the processes.",
)
@click.option(
    "--source-only-twin",
    is_flag=True,
    help="Also train the run's source-only twin (same data, steps and seed) into RUN_DIR/source-only and say, "
    "without target labels, whether adaptation helped: 'adaptation estimated +X over source-only' or "
    "'estimated to hurt: source-only kept' (summary.json: source_only_twin).",
)
@click.pass_context
def run_command(ctx: click.Context, config_file, sets, resume, quiet, as_json, seeds, nproc, source_only_twin=False, **_settings) -> None:
    """Train DANN (or another method) and write a run directory.

    With no options it trains the paper's shallow DANN on two moons in a few seconds; a dataset
    brings its recommended recipe (dann run --dataset digits-blend trains the paper's LeNet). The run
    directory gets config.json, metrics.jsonl, last.pt, best.pt (chosen by --select) and
    summary.json; --resume DIR continues a killed run to the same result.
    """
    # Unused by name, imported for its effect: torch and torch.distributed load here, before the stop
    # handlers are installed, so _interrupted (which uses distributed) never starts that import itself.
    common.import_torch()
    from ..train import distributed  # noqa: F401

    with _stop_signals():
        try:
            _run(ctx, config_file, sets, resume, quiet, as_json, seeds, nproc)
        except KeyboardInterrupt:
            _interrupted(ctx)


def _run(ctx: click.Context, config_file, sets, resume, quiet, as_json, seeds, nproc) -> None:
    from pathlib import Path

    from .. import config as config_io
    from ..rows import RowReadError
    from ..train import DivergedError, WorkerLostError, default_run_dir, read_summary
    from ..train import api, distributed
    from ..train.errors import MethodContractError

    flags = explicit_flags(ctx)
    registry = common.registry(ctx)  # load plugins (and report broken ones) before anything else
    if ctx.params.get("source_only_twin") and (nproc > 1 or seeds is not None):
        raise common.UserError("--source-only-twin compares one run in one process; drop --nproc/--seeds "
                               "(dann table compares with source-only over seeds)")
    if nproc > 1:
        _launch(ctx, nproc, config_file, sets, flags, resume, seeds, registry)
        return
    if seeds is not None:
        _run_seeds(ctx, config_file, sets, flags, seeds, resume, as_json, registry)
        return
    with common.user_errors():
        rank = distributed.rank()
        if resume:
            if flags or config_file or sets:
                given = [f"--{k.replace('_', '-')}" for k in flags] + (["--config"] if config_file else []) + (["--set"] if sets else [])
                raise common.UserError(f"--resume continues with the run's saved config.json; drop {', '.join(given)}")
            run_dir = Path(resume)
            ctx.meta["dann.run_dir"] = run_dir
            trainer = api.restore_run(run_dir, quiet=quiet or rank > 0, registry=registry)
            cfg = trainer.config  # the run's config.json (threads as it started)
        else:
            cfg = config_io.resolve(config_file, sets, flags, registry=registry)
            run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg)
            trainer = api.start_run(cfg, run_dir, quiet=quiet or rank > 0, registry=registry)
        ctx.meta["dann.run_dir"] = run_dir  # written from here on: an interruption can be resumed
    if not as_json and rank == 0 and not trainer.finished:  # once started: an error before is then the only line
        _print_started(cfg, trainer.config, resumed=bool(resume))
    if trainer.finished:
        click.echo(f"{run_dir} already finished (step {cfg.steps} of {cfg.steps}); nothing was trained or rewritten", err=True)
        _print_summary(read_summary(run_dir), as_json)
        distributed.leave()
        return
    if resume and rank == 0:
        if trainer.restarted:
            click.echo(f"{run_dir} was stopped before its first checkpoint; starting it again from step 0 of {cfg.steps}", err=True)
        elif trainer.summary_damage:
            click.echo(f"{trainer.summary_damage}; writing it again from last.pt (step {cfg.steps} of {cfg.steps})", err=True)
        else:
            click.echo(f"resuming {run_dir} at step {trainer.method.steps_done} of {cfg.steps}", err=True)
    try:
        summary = api.finish(trainer)  # a new run's directory removed when the method breaks its contract
    except DivergedError as exc:
        raise click.ClickException(str(exc)) from None
    except RowReadError as exc:  # a file broke after the dataset listed it
        raise common.UserError(f"{exc}; fix or remove it, then continue with: dann run --resume {run_dir}") from None
    except OSError as exc:  # disk full, permissions: the atomic writes left the last complete checkpoint
        raise common.UserError(f"{common.describe_os_error(exc)}; fix that, then continue with: dann run --resume {run_dir}") from None
    except MethodContractError as exc:
        raise common.UserError(f"{exc} (--method {cfg.method})") from None
    except WorkerLostError as exc:
        raise common.UserError(f"{exc}; continue with: dann run --resume {run_dir}") from None
    except RuntimeError as exc:
        if not distributed.launched():
            raise
        # another process died (killed, out of memory): the collective call fails in the survivors
        reason = common.first_line(exc)[:200]
        raise common.UserError(f"process {rank} lost the other processes of the run ({reason}); "
                               f"continue with: dann run --resume {run_dir}") from None
    distributed.leave()
    if ctx.params.get("source_only_twin") and trainer.world.writes and cfg.method != "source-only":
        from ..train import twin

        with common.user_errors():
            summary = twin.attach(cfg, run_dir, summary, registry, quiet=True)
    if trainer.world.writes:
        _print_summary(summary, as_json)


def _stop_signals():
    """Ctrl-C, SIGTERM and SIGHUP (a batch scheduler's stop, a closed terminal) end the run at the
    next safe point (:mod:`dann_core.stops`): the last checkpoint kept, one line saying how to continue."""
    from .. import stops

    return stops.handled()


def _interrupted(ctx: click.Context) -> None:
    """The one line of an interrupted ``dann run`` (none from the processes ``--nproc`` started:
    their launcher prints it), exit status 130."""
    from ..train import distributed

    try:
        launched = distributed.launched()
        # under dann run --nproc the launcher says it; under a user's torchrun, rank 0 once the group is joined
        silent = launched and (os.environ.get(distributed.LAUNCHER_PID) is not None or (distributed.rank() != 0 and distributed.joined()))
    except ValueError:
        launched = silent = False
    if not silent:
        run_dir = ctx.meta.get("dann.run_dir")
        if run_dir is not None and (run_dir / "config.json").exists():
            click.echo(f"\ninterrupted; continue with: dann run --resume {run_dir}", err=True)
        else:
            click.echo("\ninterrupted before training started; no run directory was written", err=True)
    if launched:  # a plain exit would end the interpreter under gloo's threads ("terminate called ...")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(130)


def _launch(ctx, nproc, config_file, sets, flags, resume, seeds, registry) -> None:
    """``dann run --nproc N``: this command line, less --nproc, in N processes under torch.distributed.run;
    the run directory and the thread count (when auto) are chosen here, so that every process uses the same."""
    from pathlib import Path

    from .. import config as config_io
    from ..train import distributed, threads
    from ..train import default_run_dir

    with common.user_errors():
        if distributed.launched():
            raise common.UserError("--nproc starts its own processes; under torchrun leave it out")
        if seeds is not None:
            raise common.UserError("--nproc trains one run; drop --seeds or --nproc")
        args, skip = [], False
        for arg in sys.argv[1:]:
            if skip or arg == "--nproc" or arg.startswith("--nproc="):
                skip = arg == "--nproc"
                continue
            args.append(arg)
        if not resume:
            cfg = config_io.resolve(config_file, sets, flags, registry=registry)
            run_dir = Path(cfg.out) if cfg.out else Path(default_run_dir(cfg))
            if not cfg.out:
                args += ["--out", str(run_dir)]
            if not cfg.threads:  # auto: resolved once here, so every process uses (and config.json records) one count
                args += ["--threads", str(threads.resolve(cfg, processes=nproc))]
    # for the one "interrupted" line (a run stopped before it wrote anything can be resumed too)
    ctx.meta["dann.run_dir"] = Path(resume) if resume else run_dir
    sys.exit(distributed.launch(nproc, args))


def _run_seeds(ctx: click.Context, config_file, sets, flags, seeds, resume, as_json, registry) -> None:
    """``dann run --seeds``: the run's resolved config handed to ``dann table`` (a command of the
    dann_evaluation plugin, found on the command line, never imported: the core imports no plugin),
    with the run's method as its one row and no label-free choice (``--choose none``)."""
    from pathlib import Path

    from .. import config as config_io
    from .. import files

    with common.user_errors():
        if resume or "seed" in flags:
            raise common.UserError("--seeds trains one run per seed; drop " + ("--resume" if resume else "--seed"))
        table = ctx.find_root().command.get_command(ctx, "table")
        if table is None:
            raise common.UserError("--seeds needs the 'dann table' command of the dann_evaluation plugin, which is not loaded; "
                                   "reinstall dann (pip install -e .) or train one seed at a time with --seed")
        cfg = config_io.resolve(config_file, sets, flags, registry=registry)
        if not as_json:
            _print_recommended(cfg)
        out = Path(cfg.out or "runs/table")
        base = out / f"{cfg.dataset}-base-config.json"  # the resolved settings every seed's run starts from
        base.parent.mkdir(parents=True, exist_ok=True)
        files.write_json({k: v for k, v in cfg.to_dict().items() if k not in ("out", "seed")}, base)
    ctx.invoke(table, config_file=str(base), sets=(), dataset=None, backbone=None, discriminator=None, steps=None, seeds=seeds,
               methods=cfg.method, out=str(out), choose="none", launcher="local", workers=1, retry_failed=False, as_json=as_json)


run_command.params[:0] = config_options()
