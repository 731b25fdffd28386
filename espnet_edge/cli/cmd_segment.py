"""espnet-edge segment: class masks (and optional colour/overlay images) for images or folders."""

import logging
import os

from espnet_edge.api import SegmentationModel, load
from espnet_edge.cli import validate
from espnet_edge.cli.args import add_alpha_arg, add_frame_graph_arg, add_output_args, add_source_args
from espnet_edge.cli.common import batch_error, no_empty_folder_left, source_from_args
from espnet_edge.errors import UserError
from espnet_edge.images import list_images
from espnet_edge.utils.atomic import ensure_writable_dir, write_bytes
from espnet_edge.utils.progress import Progress

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "segment", help="segment images into class masks",
        description="Write <stem>.png holding the class index of every pixel (uint8), at the image's "
        "own size (nearest-neighbour, as the authors' scripts) or at the network size.")
    add_frame_graph_arg(add_source_args(parser))
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="images or folders of images")
    outputs = add_output_args(parser, out="output folder", out_required=True)
    outputs.add_argument("--at-network-size", action="store_true",
                         help="write masks at the network input size instead of the image size")
    outputs.add_argument("--color", action="store_true", help="also write <stem>_color.png (palette)")
    outputs.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png (with a legend of "
                         "the classes present, as the demo draws)")
    add_alpha_arg(outputs)
    parser.set_defaults(func=run)


def _write_png(path, image):
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise UserError("could not encode {}".format(path))
    write_bytes(path, data.tobytes(), flag="--out")   # checked: a full disk is one line, no 0-byte PNG


def _model(args, source, images):
    """A zoo model runs the frame graph for the first readable image's size (other sizes: their cached
    graph or the CPU path; apps.frame_graph_choice), a file as it is. Unreadable images are left to the
    batch loop, which names them."""
    from espnet_edge.apps.frame_graph_choice import open_segmenter
    from espnet_edge.images import read_image

    first = None
    for path in images:
        try:
            first = read_image(path)
            break
        except UserError:
            continue
    if first is None:
        return load(source, threads=args.threads)
    segmenter = open_segmenter(source, first, args.alpha, args.frame_graph, args.threads,
                               trained_for="segment with it", label=args.onnx or args.engine)
    return SegmentationModel(segmenter.runner, source, segmenter)


SUFFIXES = (".png", "_color.png", "_overlay.png")


def _targets(args, images):
    """{input image: its output stem under --out}, checked before any work: two inputs with one stem,
    a folder where a PNG goes, an output that is one of the inputs (or the model file)."""
    from espnet_edge.cli.common import model_inputs

    stems = {}
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise UserError("{} and {} would both write {}.png; segment them into different --out "
                            "folders".format(stems[stem], path, stem))
        stems[stem] = path
    suffixes = [suffix for suffix, wanted in zip(SUFFIXES, (True, args.color, args.overlay)) if wanted]
    planned = [stem + suffix for stem in stems for suffix in suffixes]
    for name in planned:
        if os.path.isdir(os.path.join(args.out, name)):
            raise UserError("{} is a folder where segment writes {}; move it or choose another "
                            "--out".format(os.path.join(args.out, name), name))
    validate.outputs_apart([("--out", args.out, planned)], [("image", path) for path in images] + model_inputs(args))
    return dict((path, os.path.join(args.out, stem)) for stem, path in stems.items())


def _segment_all(args, model, targets, created):
    """Every image in turn; a bad one is skipped (and named), the rest still written. -> [(path, error)]."""
    failed = []
    with Progress(len(targets), "segment") as progress:
        for path, stem in targets.items():
            try:
                result = model.segment(path, channels="bgr", at_network_size=args.at_network_size)
                outputs = [(".png", result.class_map)]
                if args.color:
                    outputs.append(("_color.png", result.colorize()))
                if args.overlay:
                    outputs.append(("_overlay.png", result.overlay(args.alpha)))
            except UserError as exc:
                failed.append((path, exc))
                if len(targets) > 1:
                    log.warning("skipped %s: %s", path, exc)
                progress.update()
                continue
            if not created:
                created.append(ensure_writable_dir(args.out, "--out"))
            for suffix, image in outputs:
                _write_png(stem + suffix, image)
            progress.update()
    return failed


def run(args):
    from espnet_edge.cli.common import require_trained_model

    require_trained_model(args, "segment")
    source = source_from_args(args)
    images = list_images(args.inputs)
    validate.output_dir(args.out, "--out")
    targets = _targets(args, images)
    created = []
    with no_empty_folder_left(args.out), _model(args, source, images) as model:
        failed = _segment_all(args, model, targets, created)
    done = len(images) - len(failed)
    if failed:
        raise batch_error("image", "segmented", len(images), failed,
                          "the other {} were written to {}".format(done, args.out) if done else "nothing was written")
    print("segment: {} image(s) -> {} ({} backend, {})".format(done, args.out, model.backend, model.name))
    return 0
