"""`build --inspect`: an engine file checked against its sidecar, and against this machine where TensorRT
and a GPU are here (an engine runs only on the GPU model and TensorRT version it was built with)."""

import os

from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.runtime.tensorrt import sidecar
from espnet_edge.runtime.tensorrt.compat import format_version
from espnet_edge.runtime.tensorrt.cuda import open_cuda


def inspect_engine(engine_path):
    """-> the engine's sidecar (dict) with ``this_machine``: "compatible", or why only the sidecar was
    checked. One line when the file is missing, altered, or built for another GPU or TensorRT."""
    if not os.path.isfile(engine_path):
        raise UserError("engine {} does not exist".format(engine_path))
    meta = sidecar.read_sidecar(engine_path)
    sidecar.verify_engine_file(engine_path, meta)
    try:
        import tensorrt
    except ImportError:
        meta["this_machine"] = "TensorRT not installed here: engine file checked against its sidecar only"
        return meta
    try:
        cuda = open_cuda()
    except (UserError, MissingDependency) as exc:
        # TensorRT but no GPU (or no CUDA binding): the sidecar check above is what can be done
        meta["this_machine"] = "TensorRT {} here but no usable GPU ({}): engine file checked against its " \
                               "sidecar only".format(format_version(tensorrt.__version__), exc)
        return meta
    try:
        sidecar.check_compatible(meta, format_version(tensorrt.__version__), cuda.device_name(),
                                 cuda.compute_capability(), engine_path)
    finally:
        cuda.close()
    meta["this_machine"] = "compatible"
    return meta
