"""Per encoder hidden state: how well a ridge map reproduces the LLM input embedding of the same
characters (held-out R^2 and nearest-token accuracy), fitted on SIB-200 English train, tested on
English validation. The per-layer table of docs/generation.md ("The lexical start").

    LAYERBRIDGE_DATA_DIR=../shared/data python studies/generation/lexical_layers.py
"""
import json
import os

import torch

from layerbridge import BridgeConfig, LayerBridge
from layerbridge.bridge.loading import load_models
D = os.path.join(os.environ["LAYERBRIDGE_DATA_DIR"], "sib200")
rows = lambda lang, split: [json.loads(l) for l in open(f"{D}/{lang}/{split}.jsonl")]
train = [r["text"] for r in rows("eng_Latn", "train")]
held = [r["text"] for r in rows("eng_Latn", "validation")]
models = load_models(BridgeConfig(), dtype=torch.bfloat16)
b = LayerBridge(BridgeConfig(fusion="last", layers="all+embeddings", llm_input="soft+instruction", instruction="Translate into English: "), *models)
E = b.llm.get_input_embeddings().weight.float()
En = torch.nn.functional.normalize(E, dim=-1)

def pairs(texts):
    X, Y, T = [], [], []
    for s in range(0, len(texts), 16):
        batch = texts[s:s+16]
        enc = b.encoder_tokenizer(batch, return_offsets_mapping=True, padding=True, truncation=True, max_length=200, return_tensors="pt")
        llm = b.llm_tokenizer(batch, return_offsets_mapping=True, add_special_tokens=False)
        with torch.no_grad():
            out = b.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
        hs = torch.stack(out.hidden_states, 2).float()  # B S L+1 D
        for i in range(len(batch)):
            for t, (a, z) in enumerate(enc["offset_mapping"][i].tolist()):
                if z <= a: continue
                over = [(min(z, y) - max(a, x), lid) for (x, y), lid in zip(llm["offset_mapping"][i], llm["input_ids"][i]) if min(z, y) > max(a, x)]
                if not over: continue
                w = torch.tensor([o for o, _ in over], dtype=torch.float); w /= w.sum()
                X.append(hs[i, t]); Y.append((w[:, None] * E[[l for _, l in over]]).sum(0)); T.append(max(over)[1])
    return torch.stack(X), torch.stack(Y), torch.tensor(T)

X, Y, T = pairs(train); Xh, Yh, Th = pairs(held)
print("tokens", X.shape, Xh.shape, flush=True)
for layer in list(range(X.shape[1])) + ["mean", "concat_all"]:
    if layer == "mean": x, xh = X.mean(1), Xh.mean(1)
    elif layer == "concat_all": x, xh = X.flatten(1), Xh.flatten(1)
    else: x, xh = X[:, layer], Xh[:, layer]
    xm, ym = x.mean(0), Y.mean(0)
    xc, yc = x - xm, Y - ym
    for lam_rel in (1e-1,):
        lam = lam_rel * xc.pow(2).sum() / xc.shape[0]
        W = torch.linalg.solve(xc.T @ xc + lam * torch.eye(x.shape[1]), xc.T @ yc)
        pred = (xh - xm) @ W + ym
        r2 = 1 - (pred - Yh).pow(2).sum() / (Yh - Yh.mean(0)).pow(2).sum()
        nn_acc = ((torch.nn.functional.normalize(pred, dim=-1) @ En.T).argmax(-1) == Th).float().mean()
        print(f"layer {layer}: held-out R2 {float(r2):.3f}  nearest-token acc {float(nn_acc):.3f}", flush=True)
