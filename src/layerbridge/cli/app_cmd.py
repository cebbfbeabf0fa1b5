"""`layerbridge app`: a local web page to try a saved bridge. Type or paste a text in any language and
see the bridge's answer (each label's probability for a classification bridge, the generated English
for a generation bridge) and a heat map of each encoder token's weight over the encoder's layers.

It serves on this machine only (127.0.0.1, answering requests to localhost names only) unless --host
says otherwise, prints its address, and stops with Ctrl+C. Standard library server: no extra to install."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from layerbridge.cli.options import add_decoding_options, decoding_from_args
from layerbridge.errors import ConfigError


def register(sub) -> None:
    parser = sub.add_parser("app", help="a local web page to try a saved bridge: its answer and per-token layer weights",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bridge", help="folder of a saved bridge (bridge_config.json + bridge.safetensors)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s; 0: any free port)")
    parser.add_argument("--task", default=None, help="task whose prompt and labels to use (default: the trained one)")
    parser.add_argument("--mode", default="rank", choices=["rank", "rank_mean"],
                        help="label probabilities from the summed (rank) or per-token mean (rank_mean) log-likelihood")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    add_decoding_options(parser)
    parser.set_defaults(func=run)



def run(args: argparse.Namespace) -> int:
    from layerbridge.app import Answerer, address, check_bridge_folder, make_server
    from layerbridge.app.server import is_loopback
    from layerbridge.cli.evaluate_cmd import default_task

    folder = check_bridge_folder(args.bridge)  # before any model loads
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: give a port from 1 to 65535, or 0 for any free one")
    answerer = Answerer.load(folder, task=args.task or default_task(Path(folder)), cache_dir=args.cache_dir,
                             mode=args.mode)
    answerer.decoding = decoding_from_args(args, answerer.bridge.generation_config)  # flags over the saved settings
    try:
        server = make_server(answerer, args.host, args.port, verbose=args.verbose)
    except OSError as err:
        raise ConfigError(f"cannot listen on {args.host} port {args.port}: {err.strerror or err}") from err
    if not is_loopback(args.host):
        print(f"warning: --host {args.host}: other machines can reach this page (and it answers any Host name)",
              file=sys.stderr)
    print(f"layerbridge app: {folder} is served at {address(server)} (Ctrl+C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
