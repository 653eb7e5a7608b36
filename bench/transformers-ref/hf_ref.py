"""Hugging Face transformers as the independent reference for architectures llama.cpp c392e509 lacks
(qwen3), and as a check of this harness on one it has (qwen2, against llama.cpp's dump).

Reads each GGUF with llama.cpp's gguf-py (its own numpy dequantization of every type), loads the
weights into transformers' Qwen2ForCausalLM / Qwen3ForCausalLM, and prints one JSON line per file:
prompt ids in, the last prompt position's logits and 32 greedy ids out, computed in float64 on the CPU.

  python3 hf_ref.py INPUT.json GGUF_DIR  (INPUT.json: {"cases": [{"file": "qwen3-F16", "prompt": "…", "ids": [...]}, ...]})
"""
import json
import sys

import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize
from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM


def field(r, key):
    f = r.fields[key]
    v = f.parts[f.data[0]]
    return v.tobytes().decode() if f.types[0].name == "STRING" else v.item()


def load(path):
    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    a = lambda k: field(r, f"{arch}.{k}")
    t = {x.name: torch.from_numpy(np.array(dequantize(x.data, x.tensor_type), dtype=np.float64)) for x in r.tensors}
    heads = a("attention.head_count")
    dim = a("embedding_length")
    head_dim = a("attention.key_length") if f"{arch}.attention.key_length" in r.fields else dim // heads
    common = dict(vocab_size=t["token_embd.weight"].shape[0], hidden_size=dim, intermediate_size=a("feed_forward_length"),
                  num_hidden_layers=a("block_count"), num_attention_heads=heads, num_key_value_heads=a("attention.head_count_kv"),
                  rope_theta=a("rope.freq_base"), rms_norm_eps=a("attention.layer_norm_rms_epsilon"),
                  max_position_embeddings=a("context_length"), tie_word_embeddings="output.weight" not in t)
    if arch == "qwen3":
        cfg = Qwen3Config(head_dim=head_dim, attention_bias=False, **common)
    elif arch == "qwen2":
        cfg = Qwen2Config(**common)
    else:
        raise SystemExit(f"{path}: {arch} is llama.cpp's to check")
    if hasattr(cfg, "rope_parameters"):  # transformers 5 keeps rope_theta here
        cfg.rope_parameters = {"rope_type": "default", "rope_theta": common["rope_theta"]}
    model = (Qwen3ForCausalLM if arch == "qwen3" else Qwen2ForCausalLM)(cfg)
    sd = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    if "output.weight" in t:
        sd["lm_head.weight"] = t["output.weight"]
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for l in range(common["num_hidden_layers"]):
        for hf, gg in names.items():
            for kind in ("weight", "bias"):
                if f"blk.{l}.{gg}.{kind}" in t:
                    sd[f"model.layers.{l}.{hf}.{kind}"] = t[f"blk.{l}.{gg}.{kind}"]
    model = model.to(torch.float64).eval()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and common["tie_word_embeddings"]) and "rotary" not in m]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")
    if common["tie_word_embeddings"]:
        model.tie_weights()
    return model


def main():
    cases = json.load(open(sys.argv[1]))["cases"]
    folder = sys.argv[2]
    models = {}
    for c in cases:
        if c["file"] not in models:
            try:
                models[c["file"]] = load(f"{folder}/{c['file']}.gguf")
            except Exception as e:  # one file's failure is reported, the others still run
                print(json.dumps({"file": c["file"], "error": repr(e)}), flush=True)
                models[c["file"]] = None
        if models[c["file"]] is None:
            continue
        model = models[c["file"]]
        with torch.no_grad():
            seq = list(c["ids"])
            logits = model(torch.tensor([seq])).logits[0, -1]
            out = {"file": c["file"], "prompt": c["prompt"], "prompt_ids": c["ids"], "logits": [float(x) for x in logits], "greedy_ids": []}
            for _ in range(32):
                nxt = int(torch.argmax(model(torch.tensor([seq])).logits[0, -1]))
                out["greedy_ids"].append(nxt)
                seq.append(nxt)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
