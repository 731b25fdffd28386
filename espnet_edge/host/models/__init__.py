"""The authors' ESPNet and ESPNetv2 networks in PyTorch (host side).

``build_model(entry_or_name, weights=None, pretrained=True)`` -> eval-mode network with the
published checkpoint loaded, logits at the input resolution. Each network module registers its family
(``@register_family``: builder, input size multiple, key map); ``family_names()`` lists them.
"""

from espnet_edge.host.models.factory import (  # noqa: F401
    UpsampleOutput, build_model, build_network, check_size, count_parameters, load_checkpoint, read_state_dict,
    wrap_output,
)
from espnet_edge.host.models.flops import count_macs, gflops  # noqa: F401
from espnet_edge.host.models.registry import family_names, get_family, register_family  # noqa: F401
