"""espnet-edge segment: class masks (and optional colour/overlay images) for images or folders."""

import os

from espnet_edge.api import SegmentationModel
from espnet_edge.cli.args import add_alpha_arg, add_frame_graph_arg, add_output_args, add_source_args
from espnet_edge.cli.common import source_from_args
from espnet_edge.errors import UserError
from espnet_edge.images import list_images
from espnet_edge.utils.atomic import ensure_writable_dir, write_bytes
from espnet_edge.utils.progress import Progress


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
    """A zoo model runs the frame graph for the first image's size (other sizes: their cached graph or the
    CPU path; apps.frame_graph_choice), a file as it is."""
    from espnet_edge.apps.frame_graph_choice import open_segmenter
    from espnet_edge.images import read_image

    segmenter = open_segmenter(source, read_image(images[0]), args.alpha, args.frame_graph, args.threads,
                               trained_for="segment with it", label=args.onnx or args.engine)
    return SegmentationModel(segmenter.runner, segmenter=segmenter)


def run(args):
    from espnet_edge.cli.common import require_trained_model

    require_trained_model(args, "segment")
    source = source_from_args(args)
    images = list_images(args.inputs)
    ensure_writable_dir(args.out, "--out")
    stems = {}
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise UserError("{} and {} would both write {}.png; segment them into different --out "
                            "folders".format(stems[stem], path, stem))
        stems[stem] = path
        for suffix in (".png", "_color.png", "_overlay.png"):
            target = os.path.join(args.out, stem + suffix)
            if os.path.isdir(target):
                raise UserError("{} is a folder where segment writes {}; move it or choose another "
                                "--out".format(target, os.path.basename(target)))
    with _model(args, source, images) as model:
        with Progress(len(images), "segment") as progress:
            for path in images:
                result = model.segment(path, channels="bgr", at_network_size=args.at_network_size)
                stem = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0])
                _write_png(stem + ".png", result.class_map)
                if args.color:
                    _write_png(stem + "_color.png", result.colorize())
                if args.overlay:
                    _write_png(stem + "_overlay.png", result.overlay(args.alpha))
                progress.update()
    print("segment: {} image(s) -> {} ({} backend, {})".format(len(images), args.out, model.backend, model.name))
    return 0
