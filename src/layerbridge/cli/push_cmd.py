"""`layerbridge push`: share a trained bridge on the Hugging Face Hub, like a PEFT adapter.

    layerbridge push runs/sib user/sib200-e5-smollm2 [--private] [--revision v1]

Uploads only bridge.safetensors, bridge_config.json (base models named and fingerprinted) and a
generated README.md model card (settings, training summary, the newest per-language results of
the run). Log in first (`hf auth login`) or pass --token. Load it back anywhere with
`LayerBridge.from_pretrained("user/sib200-e5-smollm2")`.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    parser = sub.add_parser("push", help="upload a trained bridge to the Hugging Face Hub",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bridge", help="folder of a saved bridge (a training run)")
    parser.add_argument("repo_id", help="user/name on the Hub (created if needed)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--revision", default=None, help="a branch to push to (created if needed)")
    parser.add_argument("--token", default=None, help="default: the token of `hf auth login`")
    parser.add_argument("--cache-dir", default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from layerbridge.bridge import LayerBridge

    bridge = LayerBridge.from_pretrained(args.bridge, cache_dir=args.cache_dir)
    url = bridge.push_to_hub(args.repo_id, private=args.private, revision=args.revision, run_dir=args.bridge,
                             token=args.token)
    print(f"pushed to {args.repo_id}: {url}")
    return 0
