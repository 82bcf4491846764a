"""The `posevid` command line: parse, call, report. No pipeline logic lives here.

Every expected failure reaches the user as one line and a documented exit code
(posevid/errors.py); set POSEVID_DEBUG=1 to see a traceback instead.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import choices, config
from .errors import INTERNAL_ERROR, INTERRUPTED, InputError, Interrupted, PosevidError
from .network.presets import PRESETS
from .version import __version__


def fail(message: str, code: int) -> None:
    click.echo(f"posevid: error: {message}", err=True)
    sys.exit(code)


def friendly(fn: Callable) -> Callable:
    """Turn exceptions into one line and an exit code. click's own usage errors (exit 2 with the
    usage line) pass through unchanged, with or without POSEVID_DEBUG."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except PosevidError as e:
            fail(str(e), e.exit_code)
        except KeyboardInterrupt as e:
            click.echo("", err=True)  # off the progress bar's line
            fail(e.message if isinstance(e, Interrupted) else
                 "interrupted; outputs already finished are kept, unfinished ones removed", INTERRUPTED)
        except Exception as e:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("POSEVID_DEBUG"):
                raise
            fail(f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                 "(set POSEVID_DEBUG=1 for details)", INTERNAL_ERROR)
    return wrapper


def parse_box(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> list[float] | None:
    """--box x,y,w,h: four numbers, positive width and height (checked while parsing)."""
    if value is None:
        return None
    try:
        box = [float(v) for v in value.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
        raise click.BadParameter(f"{value!r}: expected x,y,w,h with positive width and height")
    return box


def parse_person(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> str | None:
    if value is not None and not choices.valid_person(value):
        raise click.BadParameter(f"{value!r}: expected {', '.join(choices.PERSON_RULES)} or a number N (from 0)")
    return value


def _defaults() -> dict[str, Any]:
    """The annotate defaults, shown in --help (reading the YAML costs milliseconds, not torch)."""
    from .config import defaults  # noqa: PLC0415

    return defaults()["annotate"]


def pipeline_options(fn: Callable) -> Callable:
    """Options shared by annotate and batch; None means "from the config", whose value --help shows."""
    d = _defaults()

    def shown(key: str) -> str:
        v = d[key]
        return "none" if v is None else ("on" if v is True else "off" if v is False else str(v))

    opts = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="YAML file overriding the defaults."),
        click.option("--model", type=click.Path(dir_okay=False),
                     help="Weight file (default: the shipped model of --preset)."),
        click.option("--preset", type=click.Choice(tuple(PRESETS)), show_default=shown("preset"),
                     help="Model preset (network width and input size)."),
        click.option("--device", show_default=shown("device"),
                     help="auto (CUDA when available), cpu, cuda, cuda:N."),
        click.option("--batch-size", type=click.IntRange(1, 1024), show_default=shown("batch_size"),
                     help="Frames per network batch."),
        click.option("--precision", type=click.Choice(choices.PRECISIONS), show_default=shown("precision"),
                     help="Network arithmetic: auto = fp16 on CUDA, bf16 where the CPU has it natively, else fp32."),
        click.option("--flow", type=click.Choice(choices.FLOW_METHODS), show_default=shown("flow"),
                     help="Optical flow method."),
        click.option("--flow-size", type=click.IntRange(16, 1024), show_default=shown("flow_size"),
                     help="Pixels of the (square) image flow is computed on."),
        click.option("--window", type=click.IntRange(0, 100), show_default="as trained",
                     help="n: pool frames t-n..t+n."),
        click.option("--pool", type=click.Choice(choices.POOL_METHODS), show_default=shown("pool"),
                     help="How warped heatmaps are combined."),
        click.option("--threshold", type=click.FloatRange(0.0, 1.0), show_default=shown("threshold"),
                     help="Confidence below which a joint is reported not visible."),
        click.option("--flip/--no-flip", default=None, show_default=shown("flip"),
                     help="Also run each crop mirrored and average (more accurate; twice the network time)."),
        click.option("--box", callback=parse_box, help="Fixed region of interest x,y,w,h in frame pixels."),
        click.option("--roi", type=click.Choice(choices.ROI_MODES), show_default=shown("roi"),
                     help="Find and follow the person (auto), or the whole frame as it is (letterbox)."),
        click.option("--person", callback=parse_person, show_default=shown("person"),
                     help=("With --roi auto: largest, center, main (the detector's confidence, size "
                           "and nearness to the centre together), N (N-th person from the left), "
                           "or all (every person, each with an id).")),
        click.option("--detector", type=click.Path(dir_okay=False),
                     help="Person detector weight file (default: the shipped models/posevid-detector.pt)."),
        click.option("--show-box/--no-show-box", default=None, show_default=shown("show_box"),
                     help="Draw the region of interest in the overlay."),
        click.option("--deinterlace", type=click.Choice(choices.DEINTERLACE), show_default=shown("deinterlace"),
                     help="Deinterlace before the network."),
        click.option("--video/--no-video", "video", default=None, show_default=shown("video"),
                     help="Write NAME.mp4 with the skeleton drawn."),
        click.option("--csv/--no-csv", "csv", default=None, show_default=shown("csv"), help="Write NAME.csv."),
        click.option("--overwrite", is_flag=True, help="Replace existing outputs."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="posevid")
def main() -> None:
    """Upper-body pose (head, shoulders, elbows, wrists) in every frame of a video,
    with the Flowing ConvNets method: a heatmap network per frame, neighbouring heatmaps
    warped along optical flow and pooled by a learned layer."""


@main.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Output folder.")
@pipeline_options
@friendly
def annotate(videos: tuple[Path, ...], out_dir: Path, overwrite: bool, quiet: bool, config_file: str | None,
             **flags: Any) -> None:
    """Find the joints in every frame of VIDEOS; write NAME.json, NAME.csv and NAME.mp4 to --out."""
    from .annotate import annotate_video  # noqa: PLC0415
    from .pipeline import Annotator  # noqa: PLC0415

    settings = config.annotate_settings(config_file, **flags)
    annotator = Annotator(settings)
    failed = 0
    last_code = 0
    for video in videos:
        try:
            r = annotate_video(annotator, video, out_dir, overwrite=overwrite, progress=not quiet)
        except PosevidError as e:
            if len(videos) == 1:
                raise
            click.echo(f"posevid: error: {e}", err=True)
            failed, last_code = failed + 1, e.exit_code
            continue
        for w in r.warnings:
            click.echo(f"posevid: warning: {video}: {w}", err=True)
        if not quiet:
            resumed = f" (continued from frame {r.resumed_from})" if r.resumed_from else ""
            click.echo(f"{video}: {r.frames} frames{resumed} in {r.seconds:.1f} s ({r.fps:.1f} fps) -> "
                       f"{', '.join(r.outputs)}")
    if failed:
        sys.exit(last_code if failed == len(videos) else 1)


@main.command()
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder; mirrors the input folder's structure.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Videos processed at once (processes sharing the cores).")
@click.option("--ray", "ray_address",
              help="Distribute videos over an existing Ray cluster (e.g. auto, ray://host:10001).")
@pipeline_options
@friendly
def batch(in_dir: Path, out_dir: Path, workers: int, ray_address: str | None, overwrite: bool, quiet: bool,
          config_file: str | None, **flags: Any) -> None:
    """Annotate every video under IN_DIR (recursively), resumably; a manifest records each attempt."""
    from tqdm import tqdm  # noqa: PLC0415

    from .batch import find_videos, run_batch, summary_table  # noqa: PLC0415
    from .pipeline import Annotator  # noqa: PLC0415

    settings = config.annotate_settings(config_file, **flags)
    Annotator(settings)  # fail now, once, on a bad model or setting, not in every worker
    if not in_dir.is_dir():
        raise InputError(f"{in_dir}: not a folder")
    bar = tqdm(total=len(find_videos(in_dir)), disable=quiet, unit="video", dynamic_ncols=True)

    def report(o: dict[str, Any]) -> None:
        bar.update(1)
        if o["status"] == "failed":
            bar.write(f"posevid: error: {o['error']}", file=sys.stderr)

    outcomes = run_batch(in_dir, out_dir, settings, workers, overwrite, ray_address, report)
    bar.close()
    if not quiet:
        click.echo(summary_table(outcomes))
    if any(o["status"] == "failed" for o in outcomes):
        sys.exit(1)


@main.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one CSV of every result.")
@click.option("--format", "fmt", type=click.Choice(["csv", "openpose"]), default="csv", show_default=True)
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), help="Folder for --format openpose.")
@friendly
def export(out_dir: Path, csv_path: Path | None, fmt: str, dest: Path | None) -> None:
    """Gather the results under OUT_DIR into one CSV, or into OpenPose per-frame JSON."""
    from .io.export import export_csv, export_openpose  # noqa: PLC0415

    if fmt == "openpose":
        n = export_openpose(out_dir, dest or out_dir / "openpose")
        click.echo(f"{n} OpenPose files written under {dest or out_dir / 'openpose'}")
        return
    if csv_path is None:
        raise click.UsageError("give --csv FILE (or --format openpose)")
    click.echo(f"{export_csv(out_dir, csv_path)} rows written to {csv_path}")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the label files (NAME.json).")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Teacher confidence below which a joint is unlabelled.")
@click.option("--people", type=click.Choice(["one", "all"]), default="one", show_default=True,
              help="one: the teacher's one person a frame; all: every person the person detector proposes "
                   "and the teacher confirms (a record each, with `person`); proposals it cannot confirm are listed "
                   "as `unsure`.")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True,
              help="Label every N-th frame of a video.")
@click.option("-q", "--quiet", is_flag=True)
@friendly
def label(inputs: tuple[Path, ...], out_dir: Path, threshold: float, people: str, every: int, quiet: bool) -> None:
    """Label videos (or folders of videos, or of images) with the MediaPipe teacher."""
    from .batch import find_videos  # noqa: PLC0415 - the one rule for videos in a folder
    from .train.teacher import EveryPerson, Teacher, image_files, label_images, label_video  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, Path, str]] = []  # kind, path, label file name
    for inp in inputs:
        if inp.is_dir():
            vids = find_videos(inp)
            # Named by their path under the folder, folder first (pose2sim-demo_single-person_cam01):
            # two videos of one name in different subfolders must not overwrite each other's labels.
            top = inp.resolve().name
            jobs += [("video", v, "_".join((top, *v.relative_to(inp).with_suffix("").parts))) for v in vids]
            if any(True for _ in image_files(inp)):
                jobs.append(("images", inp, inp.resolve().name))
        else:
            jobs.append(("video", inp, inp.stem))
    seen_names: set[str] = set()
    failed = 0
    for kind, path, name in jobs:
        if name in seen_names:  # two inputs given by the same file name: keep both
            name = next(f"{name}_{k}" for k in range(2, 10**6) if f"{name}_{k}" not in seen_names)
        seen_names.add(name)
        # every person: each crop is a photo of its own to the teacher (no tracking between frames)
        teacher = Teacher(video=kind == "video" and people == "one")
        everyone = EveryPerson(teacher, threshold) if people == "all" else None
        try:
            if kind == "video":
                kept, seen = label_video(teacher, path, out_dir / f"{name}.json", threshold, progress=not quiet,
                                         everyone=everyone, every=every)
            else:
                kept, seen = label_images(teacher, path, out_dir / f"{name}.json", threshold, everyone)
        except PosevidError as e:
            click.echo(f"posevid: error: {e}", err=True)
            failed += 1
            continue
        finally:
            teacher.close()
        if not quiet:
            click.echo(f"{path}: labelled {kept} of {seen} frames -> {out_dir / (name + '.json')}")
    if failed:
        sys.exit(1)


def _teacher_on_photos(config_file: str, quiet: bool, read):  # noqa: ANN001, ANN202 - read(photos, teacher)
    """Run `read(photos, teacher)` on the labelled photos of a training config's data, as their labels
    are (a source's `swapped` list not applied), with the MediaPipe teacher; (its result, photo count)."""
    from tqdm import tqdm  # noqa: PLC0415

    from .config import section  # noqa: PLC0415
    from .train.datasets import read_source  # noqa: PLC0415
    from .train.teacher import Teacher  # noqa: PLC0415

    specs = [{k: v for k, v in spec.items() if k != "swapped"} for spec in section("train", config_file)["data"]
             if spec["type"] != "posevid"]
    photos = [s for spec in specs for s in read_source(spec)]
    teacher = Teacher(video=False)
    try:
        return read(tqdm(photos, disable=quiet, unit="photo"), teacher), len(photos)
    finally:
        teacher.close()


def _config_and_output(help_text: str):  # noqa: ANN202 - a decorator
    """The arguments of the commands that read a training config's photos with the teacher."""
    def wrap(f):  # noqa: ANN001, ANN202
        f = click.option("-q", "--quiet", is_flag=True)(f)
        f = click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
                         help=help_text)(f)
        return click.argument("config_file", type=click.Path(exists=True, dir_okay=False))(f)
    return wrap


@main.command("check-sides")
@_config_and_output("JSON list of the image file names whose labels have left and right the viewer's way.")
@friendly
def check_sides(config_file: str, out_file: Path, quiet: bool) -> None:
    """List the labelled photos of a training config whose left and right the MediaPipe teacher reads
    the other way round (a data source's `swapped: FILE` then reads them with the sides exchanged)."""
    from .train.sides import find_viewer_sided, write_list  # noqa: PLC0415

    names, n = _teacher_on_photos(config_file, quiet, find_viewer_sided)
    write_list(names, out_file)
    click.echo(f"{len(names)} of {n} labelled photos have left and right the other way -> {out_file}")


@main.command("face-points")
@_config_and_output("JSON of the teacher's nose, eyes and ears per labelled photo.")
@friendly
def face_points(config_file: str, out_file: Path, quiet: bool) -> None:
    """Ask the MediaPipe teacher for the face points of every labelled photo of a training config,
    kept where it reads the person as the labels do (`train.faces: FILE` teaches them beside the
    joints; docs/training.md)."""
    from .train.faces import find_face_points, write_face_points  # noqa: PLC0415

    points, n = _teacher_on_photos(config_file, quiet, find_face_points)
    write_face_points(points, out_file)
    click.echo(f"face points of {len(points)} of {n} labelled photos -> {out_file}")


@main.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt exactly where it stopped.")
@click.option("--device", default="auto", show_default=True)
@click.option("--iterations", type=int, help="Override train.iterations.")
@click.option("--workers", type=click.IntRange(0, 256), help="Override train.workers (processes making batches).")
@click.option("--minutes", type=click.FloatRange(0.5), help="Override train.minutes (the run's time budget).")
@click.option("--export-only", is_flag=True, help="Only write the latest checkpoint as a weight file.")
@click.option("--pack", "pack_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Only decode the config's samples into DIR/data.npz and DIR/validation.npz, for a config "
                   "with `packed: DIR` on a machine without the datasets (spatial and fusion stages).")
@click.option("--pack-size", type=click.IntRange(64, 512), default=160, show_default=True,
              help="Side of each packed patch in pixels (the config's patch is shrunk to it).")
@click.option("--pack-every", type=click.IntRange(1), default=2, show_default=True,
              help="Pack every k-th labelled video sample (neighbouring frames are near copies).")
@click.option("-q", "--quiet", is_flag=True)
@friendly
def train(config_file: str, resume: bool, device: str, iterations: int | None, workers: int | None,
          minutes: float | None, export_only: bool, pack_dir: Path | None, pack_size: int, pack_every: int,
          quiet: bool) -> None:
    """Train SpatialNet / SpatialNet Fusion (stage spatial|fusion), the pooling layer (stage pooling),
    the person detector (stage detector) or the box refiner (stage refiner)."""
    from .config import section  # noqa: PLC0415

    cfg = section("train", config_file, iterations=iterations, workers=workers, minutes=minutes)
    if pack_dir is not None:
        from .train.pack import pack_config  # noqa: PLC0415

        counts = pack_config(cfg, pack_dir, pack_size, pack_every)
        click.echo(", ".join(f"{n} {k} samples" for k, n in counts.items()) + f" packed in {pack_dir}")
        return
    if export_only and cfg["stage"] == "detector":
        from .train.detector import export_checkpoint as export_detector  # noqa: PLC0415

        path = export_detector(cfg)
    elif export_only and cfg["stage"] == "refiner":
        from .train.refiner import export_checkpoint as export_refiner  # noqa: PLC0415

        path = export_refiner(cfg)
    elif export_only:
        from .train.pose import export_checkpoint  # noqa: PLC0415

        path = export_checkpoint(cfg)
    elif cfg["stage"] == "pooling":
        from .train.pool import train_pooling  # noqa: PLC0415

        path = train_pooling(cfg, device=device, progress=not quiet)
    elif cfg["stage"] == "detector":
        from .train.detector import train_detector  # noqa: PLC0415

        path = train_detector(cfg, resume=resume, device=device, progress=not quiet)
    elif cfg["stage"] == "refiner":
        from .train.refiner import train_refiner  # noqa: PLC0415

        path = train_refiner(cfg, resume=resume, device=device, progress=not quiet)
    else:
        from .train.pose import train as run  # noqa: PLC0415

        path = run(cfg, resume=resume, device=device, progress=not quiet)
    click.echo(f"weights written to {path}")


@main.command("eval")
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Path(dir_okay=False), help="Weight file (overrides eval.model).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (overrides eval.out).")
@click.option("-q", "--quiet", is_flag=True)
@friendly
def evaluate(config_file: str, model: str | None, out_dir: str | None, quiet: bool) -> None:
    """Accuracy against distance (the paper's metric) on labelled images and videos: table, CSV, plot."""
    from .config import section  # noqa: PLC0415
    from .train.evaluate import format_table, run_eval  # noqa: PLC0415

    cfg = section("eval", config_file, model=model, out=out_dir)
    summary = run_eval(cfg, progress=not quiet)
    click.echo(format_table(summary))
    click.echo(f"written: {cfg['out']}/accuracy.csv, summary.json and plots")


if __name__ == "__main__":
    main()
