"""The WAS authors' code (Ming0310/WAS) and TEAL's (FasterDecoding/TEAL) on llama16m-debtext, fp32.

Runs, on one CUDA GPU, with nothing fetched at run time:
 1. GGUF -> Hugging Face LlamaForCausalLM checkpoint (gguf_to_hf.py); its logits against ours.
 2. Their grabbing (WAS was/*.py and TEAL teal/*.py in grabbing mode, utils.ActivationModule:
    10,000-bin histograms of x*||W[:,j]||_1, resp. x) over our calibration chunks, layer by layer
    as teal/grab_acts.py does, saving each block's input for the greedy search.
 3. TEAL's greedy search (teal/greedyopt.py process_layer) on the WAS model, with two weightings:
    the authors' 'Llama-2-7B' entry (k, v = 1/8 of q, MLP 2.6875) and this model's true sizes.
 4. Their sparse forward (SparsifyFn: icdf(0.5 + s/2) thresholds, last int(0.99 n) positions of a
    prompt sparsified) at uniform levels and greedy splits; perplexity with llama.cpp's chunking on
    our evaluation chunks; skipped fraction from SparsifyFn's counters.

What is adapted, and only where their code cannot run here:
 - model loading: SparseModel.from_pretrained(local dir, fp32, eager) instead of get_sparse_model's
   hub id, float16 and flash_attention_2;
 - '.to(torch.float16)' in was/mlp.py and was/self_attn.py reads '.to(ACT_DTYPE)' (fp32 weights
   refuse fp16 inputs); ACT_DTYPE = float16 with an fp16 model reproduces their setting;
 - _flash_attention_forward -> plain causal softmax attention (flash-attn has no fp32), and the
   attributes newer transformers dropped from LlamaAttention (num_heads, rotary_emb, ...) are set;
 - a decoder layer is called through block_forward (HF's layer signature changed between versions);
   this replaces greedyopt.layer_forward and the layer call of grab_acts.py;
 - utils.eval_ppl / datasets (hub data) are stubbed: perplexity is llama.cpp's, on our chunks.

Usage: python3 run_reference.py --vendor DIR --inputs DIR --gguf F32.gguf --work DIR --out DIR
       [--ours ours_thresholds.json] [--levels 0.4,0.5,0.6,0.7]
(vendor: WAS/ and TEAL/ source trees; inputs: export.ts's output.)
"""
import argparse
import csv
import json
import math
import os
import sys
import time
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gguf_to_hf import hf_state_dict  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--vendor', required=True)
ap.add_argument('--inputs', required=True)
ap.add_argument('--gguf', required=True)
ap.add_argument('--work', required=True)
ap.add_argument('--out', required=True)
ap.add_argument('--ours', default=None, help='our thresholds (compare.py ours-thresholds) to run in their forward')
ap.add_argument('--levels', default='0.4,0.5,0.6,0.7')
ap.add_argument('--greedy-target', type=float, default=0.75, help='greedyopt --target_sparsity (rows are a prefix of a 0.9 run)')
ap.add_argument('--greedy-step', type=float, default=0.025, help='greedyopt --base_step_size (scripts/greedyopt.bash)')
ap.add_argument('--last-fraction', type=float, default=0.25)
ap.add_argument('--skip-greedy', action='store_true')
ap.add_argument('--greedy-runs', default='llama16m-debtext,Llama-2-7B,llama16m-debtext@our-step',
                help='which greedy runs, in order: true sizes, the authors\' Llama-2-7B weights, true sizes at our step')
ap.add_argument('--greedy-budget', type=float, default=240, help='seconds for all greedy runs; a run that would pass it is left out')
args = ap.parse_args()
LEVELS = [float(s) for s in args.levels.split(',')]
os.makedirs(args.work, exist_ok=True)
os.makedirs(args.out, exist_ok=True)
LOG = open(os.path.join(args.out, 'log.txt'), 'a')
T0 = time.time()


def log(*a):
    s = ' '.join(str(x) for x in a)
    print(f'[{time.time() - T0:7.1f}s] {s}', flush=True)
    LOG.write(f'[{time.time() - T0:7.1f}s] {s}\n')
    LOG.flush()


torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32: no TF32 in matmuls
torch.backends.cudnn.allow_tf32 = False
torch.set_grad_enabled(False)
DEV = 'cuda'
import transformers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
log('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))
R = {'versions': {'torch': torch.__version__, 'transformers': transformers.__version__}}

# ---------------------------------------------------------------- 1. checkpoint and its logits
meta = json.load(open(os.path.join(args.inputs, 'meta.json')))
CTX = meta['ctx']
cfg_dict, sd = hf_state_dict(args.gguf)
HF_DIR = os.path.join(args.work, 'hf')
cfg = LlamaConfig(**{k: v for k, v in cfg_dict.items() if k not in ('architectures', 'model_type', 'torch_dtype')})
cfg.architectures = ['LlamaForCausalLM']
hf = LlamaForCausalLM(cfg)
missing, unexpected = hf.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
assert not unexpected and all('rotary' in k for k in missing), (missing, unexpected)
hf = hf.float().eval()
hf.save_pretrained(HF_DIR)
hf = LlamaForCausalLM.from_pretrained(HF_DIR, torch_dtype=torch.float32, attn_implementation='eager').to(DEV).eval()


def u16(name):
    return torch.from_numpy(np.fromfile(os.path.join(args.inputs, f'{name}.u16'), dtype='<u2').astype(np.int64)).view(-1, CTX)


calib, texts = u16('calib'), {'dev': u16('dev'), 'wiki': u16('wiki')}
ours_logits = torch.from_numpy(np.fromfile(os.path.join(args.inputs, 'logits.f32'), dtype='<f4')).view(-1, meta['vocab'])
hf_logits = hf(calib[:1].to(DEV)).logits[0, meta['logitPositions']].float().cpu()
R['logits_max_abs_diff_hf_vs_ours'] = float((hf_logits - ours_logits).abs().max())
log('HF checkpoint vs our reference logits: max |d| =', R['logits_max_abs_diff_hf_vs_ours'])


ROPE = hf.model.rotary_emb  # (cos, sin) for HF's attention in block_forward


def attention_core(q, k, v, attention_mask, query_length, position_ids=None, dropout=0.0, sliding_window=None, is_causal=True, **kw):
    """Stands in for _flash_attention_forward: (b, s, h, d) in and out, causal, GQA by repeat_kv."""
    s, h, d = q.shape[1], q.shape[2], q.shape[3]
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    k, v = k.repeat_interleave(h // k.shape[1], dim=1), v.repeat_interleave(h // v.shape[1], dim=1)
    att = (q @ k.transpose(-1, -2)) / math.sqrt(d)
    att = att.masked_fill(torch.ones(s, s, dtype=torch.bool, device=q.device).triu(1), float('-inf'))
    return (torch.softmax(att.float(), dim=-1).to(v.dtype) @ v).transpose(1, 2)


def block_forward(layer, h, pos):
    """HF LlamaDecoderLayer.forward (pre-norm residual), calling the (patched) attention and MLP.
    HF's own attention (the check below) needs the rope table and a causal mask; theirs ignores both."""
    mask = torch.full((h.shape[1], h.shape[1]), torch.finfo(h.dtype).min, device=h.device, dtype=h.dtype).triu(1)
    a = layer.self_attn(layer.input_layernorm(h), attention_mask=mask[None, None], position_ids=pos, past_key_value=None,
                        position_embeddings=ROPE(h, pos))[0]
    h = h + a
    return h + layer.mlp(layer.post_attention_layernorm(h))


def positions(b, t):
    return torch.arange(t, device=DEV).unsqueeze(0).expand(b, -1)


def logits_of(model, ids):
    h = model.model.embed_tokens(ids)
    pos = positions(*ids.shape)
    for layer in model.model.layers:
        h = block_forward(layer, h, pos)
    return model.lm_head(model.model.norm(h)).float()


# ---------------------------------------------------------------- vendored code, imported as shipped
class _Rope:
    """Plain callable (not a submodule) with the old LlamaAttention.rotary_emb(x, position_ids) API."""
    def __init__(self, m):
        self.m = m

    def __call__(self, x, position_ids):
        return self.m(x, position_ids)


def _stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def _pkg(name, path):
    m = _stub(name)
    m.__path__ = [path]
    return m


def _load(name, path, patch=None):
    src = open(path).read()
    if patch:
        src = patch(src)
    m = _stub(name, __file__=path)
    exec(compile(src, path, 'exec'), m.__dict__)
    parent, _, leaf = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], leaf, m)
    return m


def _cast_patch(src):
    n = src.count('.to(torch.float16)')
    assert n > 0
    return src.replace('.to(torch.float16)', '.to(ACT_DTYPE)')


try:
    import datasets  # noqa: F401
except ImportError:
    _stub('datasets', load_dataset=None)
import transformers.configuration_utils as _cu  # noqa: E402
if not hasattr(_cu, 'PretrainedConfig'):  # their model.py imports the pre-5.x name
    _cu.PretrainedConfig = _cu.PreTrainedConfig
import transformers.modeling_flash_attention_utils as _fau  # noqa: E402
if not hasattr(_fau, '_flash_attention_forward'):
    _fau._flash_attention_forward = attention_core


def import_stack(kind, utils_from):
    """kind 'was' or 'teal': its mlp/self_attn/model modules, bound to utils/utils.py of `utils_from`."""
    for k in list(sys.modules):
        if k.split('.')[0] in ('utils', 'was', 'teal'):
            del sys.modules[k]
    root = os.path.join(args.vendor, utils_from)
    _pkg('utils', os.path.join(root, 'utils'))
    U = _load('utils.utils', os.path.join(root, 'utils', 'utils.py'))
    _stub('utils.eval_ppl', eval_ppl=None)  # teal/model.py imports it; it needs hub data
    src = os.path.join(args.vendor, 'WAS' if kind == 'was' else 'TEAL', kind)
    _pkg(kind, src)
    patch = _cast_patch if kind == 'was' else None
    mlp = _load(f'{kind}.mlp', os.path.join(src, 'mlp.py'), patch)
    sa = _load(f'{kind}.self_attn', os.path.join(src, 'self_attn.py'), patch)
    model = _load(f'{kind}.model', os.path.join(src, 'model.py'))
    sa._flash_attention_forward = attention_core
    sa.print = lambda *a, **k: None  # their fp32 branch prints on every call ("should not be happening")
    return types.SimpleNamespace(U=U, mlp=mlp, sa=sa, model=model, kind=kind)


def set_act_dtype(stack, dtype):
    for m in (stack.mlp, stack.sa):
        m.ACT_DTYPE = dtype


def build(stack, hist, grab, dtype=torch.float32):
    m = stack.model.LlamaSparseForCausalLM.from_pretrained(
        HF_DIR, torch_dtype=dtype, attn_implementation='eager', histogram_path=hist, grab_acts=grab)
    c = m.config
    if not hasattr(c, 'pretraining_tp'):
        c.pretraining_tp = 1  # read by their _mlp_forward; newer LlamaConfig has no such field
    for layer in m.model.layers:
        if hasattr(layer.mlp, 'config') and not hasattr(layer.mlp.config, 'pretraining_tp'):
            layer.mlp.config.pretraining_tp = 1
        a = layer.self_attn
        for k, v in (('num_heads', c.num_attention_heads), ('num_key_value_heads', c.num_key_value_heads),
                     ('hidden_size', c.hidden_size), ('head_dim', c.hidden_size // c.num_attention_heads),
                     ('attention_dropout', 0.0)):
            if not hasattr(a, k):
                setattr(a, k, v)
        if not hasattr(a, 'rotary_emb'):
            a.rotary_emb = _Rope(m.model.rotary_emb)
    return m.eval()


PROJ = ['q', 'k', 'v', 'o', 'gate', 'up', 'down']


def fns(layer):
    return [layer.self_attn.sparse_fns[p] for p in PROJ[:4]] + [layer.mlp.sparse_fns[p] for p in PROJ[4:]]


# Check block_forward itself: the plain HF model through it equals HF's own forward.
try:
    R['block_forward_vs_hf'] = float((logits_of(hf, calib[:2].to(DEV)) - hf(calib[:2].to(DEV)).logits).abs().max())
    log('block_forward vs HF forward: max |d| =', R['block_forward_vs_hf'])
except Exception:
    import traceback
    log('block_forward check FAILED:\n' + traceback.format_exc())

# ---------------------------------------------------------------- 2. grabbing (teal/grab_acts.py's loop)
was = import_stack('was', 'WAS')
set_act_dtype(was, torch.float32)
GRAB = {'was': os.path.join(args.work, 'was'), 'teal': os.path.join(args.work, 'teal')}
ids = calib.to(DEV)
thr = {}


def distr_stats(d, q):
    t = float(d.icdf(q))
    return t, float(d.bin_centers[2] - d.bin_centers[1])


def grab(stack, root, variants):
    """Their histograms per layer; `variants` also histograms BOS-free and |score| versions (WAS only)."""
    os.makedirs(os.path.join(root, 'activations'), exist_ok=True)
    model = build(stack, os.path.join(root, 'histograms'), grab=True).to(DEV)
    h = model.model.embed_tokens(ids)
    pos = positions(*ids.shape)
    out = {'no_bos': [], 'abs_no_bos': []}
    for i, layer in enumerate(model.model.layers):
        torch.save(h, os.path.join(root, 'activations', f'act_{i}.pt'))  # for greedyopt
        h = block_forward(layer, h, pos)
        per = {'no_bos': {}, 'abs_no_bos': {}}
        for m in (layer.mlp, layer.self_attn):
            am = m.activation_module
            if variants:
                acts = {k: torch.cat(v, dim=0) for k, v in am.activations.items()}
                for name, f, q in (('no_bos', lambda a: a[:, 1:], lambda s: 0.5 + s / 2), ('abs_no_bos', lambda a: a[:, 1:].abs(), lambda s: s)):
                    vm = stack.U.ActivationModule(os.path.join(args.work, 'variants', name, f'layer-{i}', os.path.basename(am.file_path)))
                    vm.activations = {k: [f(a)] for k, a in acts.items()}
                    vm.find_histogram()
                    vm.save_histogram()
                    for k in acts:
                        d = stack.U.Distribution(vm.file_path, k)
                        per[name][k] = [distr_stats(d, q(s)) for s in LEVELS]
            am.find_histogram()
            am.save_histogram()
            am.activations = None
        if variants:
            for name in out:
                out[name].append([per[name][p] for p in PROJ])
        torch.cuda.empty_cache()
    return out if variants else None


thr_variants = grab(was, GRAB['was'], variants=True)
log('WAS grabbing done')
teal = import_stack('teal', 'WAS')  # TEAL's mlp/self_attn with WAS's utils: SparsifyFn counts, 99 % prefill
grab(teal, GRAB['teal'], variants=False)
log('TEAL grabbing done')


def shipped_thresholds(stack, root, keys):
    U = stack.U
    res = []
    for i in range(cfg.num_hidden_layers):
        row = []
        for k, sub in keys:
            d = U.Distribution(os.path.join(root, 'histograms', f'layer-{i}', sub), k)
            row.append([distr_stats(d, 0.5 + s / 2) for s in LEVELS])
        res.append(row)
    return res


WAS_KEYS = [('q', 'self_attn'), ('k', 'self_attn'), ('v', 'self_attn'), ('o', 'self_attn'), ('gate', 'mlp'), ('up', 'mlp'), ('down', 'mlp')]
TEAL_KEYS = [('h1', 'self_attn'), ('h2', 'self_attn'), ('h1', 'mlp'), ('h2', 'mlp')]
R['levels'] = LEVELS
R['thresholds'] = {'was': shipped_thresholds(was, GRAB['was'], WAS_KEYS), 'teal': shipped_thresholds(teal, GRAB['teal'], TEAL_KEYS),
                   'was_no_bos': thr_variants['no_bos'], 'was_abs_no_bos': thr_variants['abs_no_bos']}

# ---------------------------------------------------------------- 4. sparse forward: perplexity, skipped fraction
FIRST = CTX // 2
dense_logp = {}
for name, t in texts.items():
    dense_logp[name] = torch.log_softmax(hf(t[:, :CTX - 1].to(DEV)).logits.float(), -1)[:, FIRST:]


def evaluate(model, dtype=torch.float32):
    """llama.cpp perplexity (BOS first, ctx-1 tokens fed, the second half scored) and skipped fraction."""
    res = {}
    P = [[l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj, l.self_attn.o_proj, l.mlp.gate_proj, l.mlp.up_proj, l.mlp.down_proj]
         for l in model.model.layers]
    for name, t in texts.items():
        for layer in model.model.layers:
            for f in fns(layer):
                f.activated_sum, f.activation_sum = 0, 0
        x = t[:, :CTX - 1].to(DEV)
        logp = torch.log_softmax(logits_of(model, x).float(), -1)[:, FIRST:]
        tgt = t[:, FIRST + 1:CTX].to(DEV)
        nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        d = dense_logp[name]
        kl = (d.exp() * (d - logp)).sum(-1)
        rows = x.numel()  # every position runs every projection; dense-prefix positions skip nothing
        skipped, total, per = 0.0, 0.0, [0.0] * 7
        for l, layer in enumerate(model.model.layers):
            for p, (f, W) in enumerate(zip(fns(layer), P[l])):
                out_dim, in_dim = W.weight.shape
                dropped = float(f.activation_sum) - float(f.activated_sum)
                skipped += dropped * out_dim
                total += rows * in_dim * out_dim
                per[p] += dropped / (rows * in_dim) / len(P)
        res[name] = {'ppl': math.exp(nll.double().mean().item()), 'nll': nll.double().mean().item(), 'tokens_scored': nll.numel(),
                     'mean_kl': kl.double().mean().item(), 'skipped_weight_fraction': skipped / total, 'skipped_by_projection': per}
    return res


def set_thresholds(model, table):
    """table[layer][projection] = score threshold t (their SparsifyFn keeps |score| > t)."""
    for layer, row in zip(model.model.layers, table):
        for f, t in zip(fns(layer), row):
            f.threshold = float(t) if t is not None and math.isfinite(t) else float('inf')


R['dense'] = {}
for name, t in texts.items():
    lp = dense_logp[name]
    nll = -lp.gather(-1, t[:, FIRST + 1:CTX].to(DEV).unsqueeze(-1)).squeeze(-1)
    R['dense'][name] = {'ppl': math.exp(nll.double().mean().item()), 'tokens_scored': nll.numel()}
log('dense', R['dense'])

ours = json.load(open(args.ours)) if args.ours else None
E = R['eval'] = {}


def record(key, model, dtype=torch.float32):
    E[key] = evaluate(model, dtype)
    log(key, {k: (round(v['ppl'], 4), round(v['skipped_weight_fraction'], 4)) for k, v in E[key].items()})


def stage(name, fn):
    """Runs one stage; a failure is logged and the next stage still runs (results so far are saved)."""
    try:
        fn()
    except Exception:
        import traceback
        log(f'stage {name} FAILED:\n' + traceback.format_exc())
        R.setdefault('failed', []).append(name)
    json.dump(R, open(os.path.join(args.out, 'results.json'), 'w'))


def eval_was(dtype):
    tag = '' if dtype == torch.float32 else ':fp16'
    stack = import_stack('was', 'WAS')
    set_act_dtype(stack, dtype)
    model = build(stack, os.path.join(GRAB['was'], 'histograms'), grab=False, dtype=dtype).to(DEV)
    model.set_apply_prefill(True)
    for s in LEVELS:
        model.set_uniform_sparsity(s)
        record(f'was:{s}{tag}', model)
        if dtype == torch.float16:
            continue
        # the same forward with the BOS-free and |score| thresholds of the grabbing variants
        for var in ('was_no_bos', 'was_abs_no_bos'):
            set_thresholds(model, [[R['thresholds'][var][l][p][LEVELS.index(s)][0] for p in range(7)] for l in range(cfg.num_hidden_layers)])
            record(f'was[{var}]:{s}', model)
        if ours:
            for mode in ('was', 'was-greedy'):
                set_thresholds(model, ours[mode][str(s)])
                record(f'{mode}[our thresholds]:{s}', model)


def eval_was_greedy():
    stack = import_stack('was', 'WAS')
    set_act_dtype(stack, torch.float32)
    if not _has_pandas:
        stack.model.get_layer_greedy_sparsities = _greedy_rows_without_pandas
    model = build(stack, os.path.join(GRAB['was'], 'histograms'), grab=False).to(DEV)
    model.set_apply_prefill(True)
    for s in LEVELS:
        for wtype in R['greedy']:
            model.load_greedy_sparsities(os.path.join(args.work, f'greedy-{wtype}', 'lookup'), s)
            record(f'was-greedy[{wtype}]:{s}', model)
            R.setdefault('greedy_levels', {}).setdefault(wtype, {})[str(s)] = [[float(f.sparsity_level) for f in fns(l)] for l in model.model.layers]


def eval_teal():
    for utils_from in ('WAS', 'TEAL'):
        # TEAL's code with WAS's utils (99 % of prefill sparsified, counters), then as shipped (50 %).
        teal = import_stack('teal', utils_from)
        model = build(teal, os.path.join(GRAB['teal'], 'histograms'), grab=False).to(DEV)
        for s in LEVELS:
            model.set_uniform_sparsity(s)
            if utils_from == 'WAS':
                record(f'teal:{s}', model)
                if ours:
                    set_thresholds(model, [[row[g] for g in (0, 0, 0, 1, 2, 2, 3)] for row in ours['teal'][str(s)]])
                    record(f'teal[our thresholds]:{s}', model)
            else:
                for f in (f for l in model.model.layers for f in fns(l)):
                    f.activated_sum = f.activation_sum = 0  # TEAL's SparsifyFn has no counters: skip the fraction
                x = {}
                for name, t in texts.items():
                    logp = torch.log_softmax(logits_of(model, t[:, :CTX - 1].to(DEV)).float(), -1)[:, FIRST:]
                    nll = -logp.gather(-1, t[:, FIRST + 1:CTX].to(DEV).unsqueeze(-1)).squeeze(-1)
                    x[name] = {'ppl': math.exp(nll.double().mean().item())}
                E[f'teal[shipped utils, 50% prefill]:{s}'] = x
                log(f'teal[shipped utils]:{s}', x)
        del model



try:
    import pandas  # noqa: F401  (utils.get_layer_greedy_sparsities reads the lookup CSVs with it)
    _has_pandas = True
except ImportError:
    _has_pandas = False


def _greedy_rows_without_pandas(layer_sparsities, results_dir):
    """utils.get_layer_greedy_sparsities without pandas: per layer the row closest in Effective Sparsity."""
    out = {p: [0.0] * len(layer_sparsities) for p in PROJ}
    for layer, target in enumerate(layer_sparsities):
        with open(os.path.join(results_dir, f'layer-{layer}', 'results.csv')) as f:
            rows = list(csv.DictReader(f))
        row = min(rows, key=lambda r: abs(float(r['Effective Sparsity']) - target))
        for p in PROJ:
            out[p][layer] = float(row[p])
    return out


def run_greedy():
    true_w = {'q': 1, 'k': cfg.num_key_value_heads / cfg.num_attention_heads, 'v': cfg.num_key_value_heads / cfg.num_attention_heads,
              'o': 1, 'gate': cfg.intermediate_size / cfg.hidden_size, 'up': cfg.intermediate_size / cfg.hidden_size,
              'down': cfg.intermediate_size / cfg.hidden_size}
    R['greedy'] = {}
    if not args.skip_greedy:
        teal_u = import_stack('teal', 'TEAL')
        sys.modules['teal.model'] = teal_u.model
        go = _load('greedyopt', os.path.join(args.vendor, 'TEAL', 'teal', 'greedyopt.py'))
        go.weight_dict['llama16m-debtext'] = true_w  # the sizes of this model's projections, relative to q
        go.layer_forward = lambda layer, h: block_forward(layer, h, positions(h.shape[0], h.shape[1]))
        was = import_stack('was', 'WAS')
        set_act_dtype(was, torch.float32)
        # The authors' weighting, this model's true one, and the true one at our step (0.025 of the
        # block per step = TEAL's base step times the sum of the weights) to isolate the step size.
        coarse = args.greedy_step * sum(true_w.values())
        t0, spent = time.time(), []
        for name, wtype, step in (('llama16m-debtext', 'llama16m-debtext', args.greedy_step), ('Llama-2-7B', 'Llama-2-7B', args.greedy_step),
                                  ('llama16m-debtext@our-step', 'llama16m-debtext', coarse)):
            if name not in args.greedy_runs.split(','):
                continue
            # The device time is shared: skip a run when the last one's duration would pass the budget.
            if spent and time.time() - t0 + spent[-1] * (0.1 if step == coarse else 1) > args.greedy_budget:
                log('greedy', name, 'left out: over --greedy-budget')
                continue
            t1 = time.time()
            root = os.path.join(args.work, f'greedy-{name}')
            os.makedirs(root, exist_ok=True)
            if not os.path.exists(os.path.join(root, 'activations')):
                os.symlink(os.path.join(GRAB['was'], 'activations'), os.path.join(root, 'activations'))
            model = build(was, os.path.join(GRAB['was'], 'histograms'), grab=False)
            model.set_apply_prefill(True)
            if hasattr(model.model, 'rotary_emb'):
                model.model.rotary_emb.to(DEV)  # layers move to the GPU one at a time; the shared rope table with them
            tables = []
            for i, layer in enumerate(model.model.layers):
                go.process_layer(layer, wtype, i, args.greedy_target, step, args.last_fraction, root)
                with open(os.path.join(root, 'lookup', f'layer-{i}', 'results.csv')) as f:
                    tables.append([[float(x) for x in row] for row in list(csv.reader(f))[1:]])
            R['greedy'][name] = {'weights': go.weight_dict[wtype], 'base_step': step, 'tables': tables}
            spent.append(time.time() - t1)
            log('greedy', name, 'done:', len(tables[0]), 'rows in layer 0')
            del model



stage('eval was fp32', lambda: eval_was(torch.float32))
stage('eval teal', eval_teal)
stage('eval was fp16', lambda: eval_was(torch.float16))
if not args.skip_greedy:
    stage('greedy', run_greedy)
    stage('eval was-greedy', eval_was_greedy)
log('done')
