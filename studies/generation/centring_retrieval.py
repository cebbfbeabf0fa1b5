"""Sentence retrieval English <-> X per encoder hidden state (mean pooling, 120 FLORES test sentences),
raw vs with each language's mean removed: the centring numbers of docs/generation.md.

    LAYERBRIDGE_DATA_DIR=../shared/data python studies/generation/centring_retrieval.py
"""
import json
import os

import torch

from layerbridge import BridgeConfig
from layerbridge.bridge.loading import load_models
torch.set_num_threads(1)
D = os.path.join(os.environ["LAYERBRIDGE_DATA_DIR"], "sib200")
rows = lambda lang: {json.loads(l)["index_id"]: json.loads(l)["text"] for l in open(f"{D}/{lang}/test.jsonl")}
enc, tok, _, _ = load_models(BridgeConfig(), dtype=torch.float32)
def pooled(texts):
    out = []
    for s in range(0, len(texts), 32):
        b = tok(texts[s:s+32], padding=True, truncation=True, max_length=200, return_tensors="pt")
        with torch.no_grad(): hs = torch.stack(enc(**b, output_hidden_states=True).hidden_states, 1)  # B L+1 S D
        m = b["attention_mask"][:, None, :, None].float()
        out.append((hs * m).sum(2) / m.sum(2))
    return torch.cat(out)  # N L+1 D
eng = rows("eng_Latn"); ids = sorted(eng)[:120]
E = pooled([eng[i] for i in ids])
for lang in ["sin_Sinh", "swh_Latn", "yor_Latn", "tam_Taml"]:
    x = rows(lang); X = pooled([x[i] for i in ids])
    res = []
    for l in range(E.shape[1]):
        def acc(a, b):
            a = torch.nn.functional.normalize(a, dim=-1); b = torch.nn.functional.normalize(b, dim=-1)
            return float(((a @ b.T).argmax(-1) == torch.arange(len(a))).float().mean())
        raw = acc(X[:, l], E[:, l]); cen = acc(X[:, l] - X[:, l].mean(0), E[:, l] - E[:, l].mean(0))
        res.append(f"{l}:{raw:.2f}/{cen:.2f}")
    print(lang, " ".join(res), flush=True)
