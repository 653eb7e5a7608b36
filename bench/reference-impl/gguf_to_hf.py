"""A llama GGUF (F32/F16 tensors) as a Hugging Face LlamaForCausalLM state dict, with numpy only.

GGUF stores q/k rows in llama.cpp's interleaved-rope order (pairs 2i, 2i+1 rotate together);
HF's LlamaAttention rotates halves (i, i + head_dim/2). convert_hf_to_gguf.py's permute() maps HF
to GGUF; unpermute() below is its inverse, so that the HF forward equals llama.cpp's.

  python3 gguf_to_hf.py MODEL.gguf --check INPUTS_DIR
runs a numpy forward of the converted weights with HF's conventions (rotate_half rope, repeat_kv)
and compares it with our reference logits (export.ts: logits.f32, meta.json, calib.u16).
"""
import json
import struct
import sys

import numpy as np

GGML_F32, GGML_F16 = 0, 1


def read_gguf(path):
    """(metadata dict, {name: np.ndarray in torch [out, in] layout}) of a GGUF v2/v3 file."""
    buf = open(path, 'rb').read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from('<' + fmt, buf, off)
        off += struct.calcsize('<' + fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal off
        n = take('Q')
        s = buf[off:off + n].decode('utf-8', 'replace')
        off += n
        return s

    scalar = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take('I'), take('Q')
            return [value(et) for _ in range(n)]
        raise ValueError(f'GGUF value type {t}')

    assert buf[:4] == b'GGUF', 'not a GGUF file'
    off = 4
    version, n_tensors, n_kv = take('I'), take('Q'), take('Q')
    assert version in (2, 3), version
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take('I'))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take('I')
        ne = [take('Q') for _ in range(nd)]
        infos.append((name, ne, take('I'), take('Q')))
    align = meta.get('general.alignment', 32)
    base = off + (-off) % align
    tensors = {}
    for name, ne, typ, toff in infos:
        n = int(np.prod(ne))
        dt = {GGML_F32: '<f4', GGML_F16: '<f2'}.get(typ)
        if dt is None:
            raise ValueError(f'{name}: GGML type {typ} is not F32/F16; use the F32 or F16 file')
        a = np.frombuffer(buf, dtype=dt, count=n, offset=base + toff).astype(np.float32)
        tensors[name] = a.reshape(list(reversed(ne)))  # ne[0] is the row length: [in, out] -> [out, in]
    return meta, tensors


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf.py's permute(): interleaved rope rows -> HF rotate_half rows."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_config(meta):
    a = meta['general.architecture']
    assert a == 'llama', a
    g = lambda k: meta[f'llama.{k}']
    dim, heads = g('embedding_length'), g('attention.head_count')
    assert g('rope.dimension_count') == dim // heads, 'partial rope is not supported'
    return {
        'architectures': ['LlamaForCausalLM'], 'model_type': 'llama',
        'vocab_size': g('vocab_size'), 'hidden_size': dim, 'intermediate_size': g('feed_forward_length'),
        'num_hidden_layers': g('block_count'), 'num_attention_heads': heads,
        'num_key_value_heads': g('attention.head_count_kv'), 'max_position_embeddings': g('context_length'),
        'rms_norm_eps': g('attention.layer_norm_rms_epsilon'), 'rope_theta': g('rope.freq_base'),
        'hidden_act': 'silu', 'tie_word_embeddings': False, 'attention_bias': False, 'mlp_bias': False,
        'bos_token_id': meta.get('tokenizer.ggml.bos_token_id', 1), 'eos_token_id': meta.get('tokenizer.ggml.eos_token_id', 2),
        'torch_dtype': 'float32',
    }


def hf_state_dict(path):
    """(HF config dict, {HF parameter name: float32 array}) of a llama GGUF."""
    meta, t = read_gguf(path)
    c = hf_config(meta)
    sd = {'model.embed_tokens.weight': t['token_embd.weight'], 'model.norm.weight': t['output_norm.weight'],
          'lm_head.weight': t['output.weight']}
    names = {'attn_q': 'self_attn.q_proj', 'attn_k': 'self_attn.k_proj', 'attn_v': 'self_attn.v_proj',
             'attn_output': 'self_attn.o_proj', 'ffn_gate': 'mlp.gate_proj', 'ffn_up': 'mlp.up_proj',
             'ffn_down': 'mlp.down_proj', 'attn_norm': 'input_layernorm', 'ffn_norm': 'post_attention_layernorm'}
    for l in range(c['num_hidden_layers']):
        for g, h in names.items():
            w = t[f'blk.{l}.{g}.weight']
            if g == 'attn_q':
                w = unpermute(w, c['num_attention_heads'])
            if g == 'attn_k':
                w = unpermute(w, c['num_key_value_heads'])
            sd[f'model.layers.{l}.{h}.weight'] = np.ascontiguousarray(w)
    return c, sd


def numpy_forward(c, sd, ids):
    """HF LlamaForCausalLM's forward in numpy float64 (rotate_half rope, repeat_kv GQA); logits (T, V)."""
    D, H, KV = c['hidden_size'], c['num_attention_heads'], c['num_key_value_heads']
    hd, eps, T = D // H, c['rms_norm_eps'], len(ids)
    f = lambda k: sd[k].astype(np.float64)
    norm = lambda x, w: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
    inv = 1.0 / (c['rope_theta'] ** (np.arange(0, hd, 2) / hd))
    ang = np.outer(np.arange(T), inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    rot = lambda x: x * cos[:, None] + np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1) * sin[:, None]
    x = f('model.embed_tokens.weight')[ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(c['num_hidden_layers']):
        p = f'model.layers.{l}.'
        n = norm(x, f(p + 'input_layernorm.weight'))
        q = rot((n @ f(p + 'self_attn.q_proj.weight').T).reshape(T, H, hd))
        k = rot((n @ f(p + 'self_attn.k_proj.weight').T).reshape(T, KV, hd))
        v = (n @ f(p + 'self_attn.v_proj.weight').T).reshape(T, KV, hd)
        k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)
        s = np.einsum('thd,uhd->htu', q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum('htu,uhd->thd', s, v).reshape(T, D)
        x = x + o @ f(p + 'self_attn.o_proj.weight').T
        n = norm(x, f(p + 'post_attention_layernorm.weight'))
        g = n @ f(p + 'mlp.gate_proj.weight').T
        x = x + (g / (1 + np.exp(-g)) * (n @ f(p + 'mlp.up_proj.weight').T)) @ f(p + 'mlp.down_proj.weight').T
    return norm(x, f('model.norm.weight')) @ f('lm_head.weight').T


if __name__ == '__main__':
    gguf, inputs = sys.argv[1], sys.argv[sys.argv.index('--check') + 1]
    c, sd = hf_state_dict(gguf)
    meta = json.load(open(f'{inputs}/meta.json'))
    ids = np.fromfile(f'{inputs}/calib.u16', dtype='<u2')[:meta['ctx']].astype(np.int64)
    ours = np.fromfile(f'{inputs}/logits.f32', dtype='<f4').reshape(-1, meta['vocab'])
    pos = meta['logitPositions']
    T = int(sys.argv[sys.argv.index('--positions') + 1]) if '--positions' in sys.argv else meta['ctx']
    keep = [i for i, p in enumerate(pos) if p < T]
    got = numpy_forward(c, sd, ids[:T])[[pos[i] for i in keep]]
    print(json.dumps({'max_abs_diff': float(np.abs(got - ours[keep]).max()), 'positions': [pos[i] for i in keep]}))
