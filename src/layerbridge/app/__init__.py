"""`layerbridge app`: a local web page to try a saved bridge: its answer to a text in any language and
each encoder token's weight over the fused layers (standard library server, one page, no extra)."""

from layerbridge.app.answer import Answerer, check_bridge_folder
from layerbridge.app.server import address, make_server

__all__ = ["Answerer", "address", "check_bridge_folder", "make_server"]
