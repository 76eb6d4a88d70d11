#!/usr/bin/python3
"""Golden parity fixtures for rnnkit, computed with PyTorch in float64.

Regenerate (Debian's python3 has torch; the python3 first on PATH may not):

    /usr/bin/python3 scripts/gen_parity_fixtures.py      # or: npm run fixtures

It (re)writes one JSON file per case into test/fixtures/parity/, checked by
test/parity.test.ts. Output is deterministic (fixed seeds, float64, weights and
initial states rounded to float32-representable values so that float32 and
float64 rnnkit models start from exactly the same numbers).

Every case: one-hot token input over V (F.one_hot(ids, V).double()), ragged
lengths through pack_padded_sequence(enforce_sorted=False), one torch
recurrent module (k layers -> k rnnkit recurrent layers), nn.Linear(H*dirs, V)
at every step (-> an rnnkit dense layer, activation 'linear'), and
nn.CrossEntropyLoss over the valid positions only (the packed data).

Cases:
  rnn_tanh_1layer         nn.RNN(tanh), 1 layer
  rnn_relu_1layer         nn.RNN(relu), 1 layer
  gru_1layer              nn.GRU, 1 layer
  lstm_1layer             nn.LSTM, 1 layer
  lstm_2layer             nn.LSTM, 2 layers
  gru_2layer              nn.GRU, 2 layers
  rnn_tanh_2layer         nn.RNN(tanh), 2 layers
  lstm_bidir_1layer       nn.LSTM bidirectional, 1 layer
  gru_bidir_2layer        nn.GRU bidirectional, 2 layers
  lstm_2layer_h0          nn.LSTM 2 layers, non-zero h0 and c0 (initial-state grads)
  gru_bidir_h0_sum        nn.GRU bidirectional 1 layer, non-zero h0, reduction 'sum'
  rnn_relu_sum            nn.RNN(relu) 1 layer, reduction 'sum'
  emb_lstm                nn.Embedding -> nn.LSTM -> nn.Linear
  emb_gru_pad             nn.Embedding(padding_idx=0) -> nn.GRU 2 layers -> nn.Linear
  emb_lstm_tied           nn.Embedding -> nn.LSTM -> nn.Linear sharing the embedding's weight (Press & Wolf)
  gru_label_smoothing     nn.GRU 1 layer, CrossEntropyLoss(label_smoothing=0.1) (trainStep's labelSmoothing)
  emb_lstm_sparse         nn.Embedding(sparse=True) -> nn.LSTM -> nn.Linear; Adam runs as torch.optim.SparseAdam
                          on the table and torch.optim.Adam on the rest (layers.embedding({ sparse: true }))

Embedding cases (emb=E): the input is nn.Embedding(V, E) instead of the one-hot
rows; rnnkit's layers.0 is the embedding ('layers.0.weight' [V, E]), the
recurrent layers follow it (layers.1..K) and the dense layer is layers.K+1.
With tie, nn.Linear's weight is the embedding's (named_parameters lists it
once, as rnnkit's table does) and the dense layer has only 'layers.K+1.bias'.
With sparse, the table's gradient is a sparse tensor: the fixture holds it
dense, its norm and clipping are of the coalesced rows (what clip_grad_norm_ /
clip_grad_value_ compute for dense gradients; they take no sparse ones), the
Adam run steps the table with SparseAdam (lazy: the rows no token used keep
their weights and moments) and the SGD run with torch.optim.SGD (momentum
moves every row, as rnnkit's full sweep of the table does then). The tokens
leave some ids unused so that laziness shows, and the table reads the packed
tokens (the padded positions' ids would otherwise be rows SparseAdam steps).

Each file holds: name, config (the rnnkit sequential() description), labelSmoothing
(when the loss smooths its targets: every gradients / trainStep call passes it), tokens
[B,T] and targets [B,T] (batch-first, padded with 0), lengths, optional
initialState ([{h, c?}] per recurrent layer, flat [dirs,B,H]), weights and
grads (rnnkit name -> {shape, data}), output (logits [B,T,V] flat, zero at
padded positions), finalState (torch h_n/c_n per layer, flat [dirs,B,H]), loss, initialStateGrads (if initialState), and steps: two
5-step training runs from the fixture weights (Adam + clip_grad_norm_, and
SGD momentum + clip_grad_value_), with the loss of each step recorded BEFORE
that step's update and the global grad norm before clipping (gradNorms).
A sparse case's runs also hold their per-step batches (batches: [{tokens, targets}])
and the weights after the last step (finalWeights).
The clip thresholds are chosen per case so that clipping is active on step 1
(asserted here).

Name mapping: torch rnn.weight_ih_l{k}[_reverse] -> layers.{k}.weight_ih_l0[_reverse]
(same for weight_hh, bias_ih, bias_hh); linear.weight/bias -> layers.{K}.weight/bias,
K = number of recurrent layers. torch h0 [K*dirs, B, H] -> per layer [dirs, B, H].
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'parity')

CASES = [
    # name, cell, activation, layers, bidir, V, H, B, T, lengths, initial state, reduction, seed
    dict(name='rnn_tanh_1layer', cell='rnn', act='tanh', K=1, bidir=False, V=7, H=5, B=4, T=5,
         lengths=[5, 3, 1, 4], h0=False, reduction='mean', seed=101),
    dict(name='rnn_relu_1layer', cell='rnn', act='relu', K=1, bidir=False, V=8, H=6, B=3, T=4,
         lengths=[2, 4, 3], h0=False, reduction='mean', seed=102),
    dict(name='gru_1layer', cell='gru', K=1, bidir=False, V=9, H=6, B=4, T=5,
         lengths=[5, 3, 1, 4], h0=False, reduction='mean', seed=103),
    dict(name='lstm_1layer', cell='lstm', K=1, bidir=False, V=10, H=7, B=4, T=6,
         lengths=[4, 6, 1, 5], h0=False, reduction='mean', seed=104),
    dict(name='lstm_2layer', cell='lstm', K=2, bidir=False, V=11, H=8, B=4, T=5,
         lengths=[5, 3, 1, 4], h0=False, reduction='mean', seed=105),
    dict(name='gru_2layer', cell='gru', K=2, bidir=False, V=8, H=7, B=3, T=6,
         lengths=[6, 4, 2], h0=False, reduction='mean', seed=106),
    dict(name='rnn_tanh_2layer', cell='rnn', act='tanh', K=2, bidir=False, V=9, H=5, B=4, T=4,
         lengths=[1, 4, 3, 2], h0=False, reduction='mean', seed=107),
    dict(name='lstm_bidir_1layer', cell='lstm', K=1, bidir=True, V=10, H=6, B=4, T=5,
         lengths=[5, 3, 1, 4], h0=False, reduction='mean', seed=108),
    dict(name='gru_bidir_2layer', cell='gru', K=2, bidir=True, V=11, H=5, B=4, T=6,
         lengths=[3, 6, 5, 1], h0=False, reduction='mean', seed=109),
    dict(name='lstm_2layer_h0', cell='lstm', K=2, bidir=False, V=9, H=6, B=3, T=5,
         lengths=[5, 2, 4], h0=True, reduction='mean', seed=110),
    dict(name='gru_bidir_h0_sum', cell='gru', K=1, bidir=True, V=8, H=5, B=4, T=5,
         lengths=[4, 5, 2, 1], h0=True, reduction='sum', seed=111),
    dict(name='rnn_relu_sum', cell='rnn', act='relu', K=1, bidir=False, V=7, H=6, B=3, T=6,
         lengths=[6, 1, 5], h0=False, reduction='sum', seed=112),
    dict(name='emb_lstm', cell='lstm', K=1, bidir=False, V=12, H=6, B=4, T=5, emb=5,
         lengths=[5, 3, 1, 4], h0=False, reduction='mean', seed=113),
    dict(name='emb_gru_pad', cell='gru', K=2, bidir=False, V=10, H=5, B=4, T=6, emb=4, pad=0,
         lengths=[6, 2, 5, 3], h0=False, reduction='mean', seed=114),
    dict(name='emb_lstm_tied', cell='lstm', K=1, bidir=False, V=11, H=6, B=4, T=5, emb=6, tie=True,
         lengths=[4, 5, 2, 3], h0=False, reduction='mean', seed=115),
    dict(name='gru_label_smoothing', cell='gru', K=1, bidir=False, V=9, H=6, B=4, T=5, ls=0.1,
         lengths=[5, 2, 4, 3], h0=False, reduction='mean', seed=117),
    dict(name='emb_lstm_sparse', cell='lstm', K=1, bidir=False, V=24, H=6, B=3, T=5, emb=5, sparse=True,
         lengths=[5, 3, 4], h0=False, reduction='mean', seed=116),
]

ADAM = {'type': 'adam', 'lr': 0.01}
SGD = {'type': 'sgd', 'lr': 0.1, 'momentum': 0.9}
NSTEPS = 5


def f32(t):
    """Round to float32-representable values (kept as float64)."""
    return t.float().double()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {'shape': list(t.shape), 'data': flat(t)}


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.emb = (nn.Embedding(c['V'], c['emb'], padding_idx=c.get('pad'), sparse=c.get('sparse', False))
                    if c.get('emb') else None)
        kw = dict(input_size=c.get('emb') or c['V'], hidden_size=c['H'], num_layers=c['K'], bidirectional=c['bidir'],
                  batch_first=True)
        if c['cell'] == 'rnn':
            self.rnn = nn.RNN(nonlinearity=c['act'], **kw)
        elif c['cell'] == 'gru':
            self.rnn = nn.GRU(**kw)
        else:
            self.rnn = nn.LSTM(**kw)
        self.dirs = 2 if c['bidir'] else 1
        self.linear = nn.Linear(c['H'] * self.dirs, c['V'])
        if c.get('tie'):
            assert c['H'] * self.dirs == c['emb']
            self.linear.weight = self.emb.weight
        self.c = c

    def embed(self, tokens):
        """The rows the recurrent module reads: the embedding's, else one-hot."""
        return self.emb(tokens) if self.emb is not None else F.one_hot(tokens, self.c['V']).double()

    def forward(self, tokens, lengths, hx):
        c = self.c
        if c.get('sparse'):
            # embed the packed tokens: the padded positions' ids never reach the table, so its sparse
            # gradient lists only the rows of valid tokens (rnnkit's rows used)
            ptok = pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
            packed = PackedSequence(self.emb(ptok.data), ptok.batch_sizes, ptok.sorted_indices, ptok.unsorted_indices)
        else:
            packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        out_packed, hn = self.rnn(packed, hx)
        out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=c['T'])
        self.last_hn = hn  # state at each row's last valid step, in the original batch order
        return self.linear(out)  # [B, T, V]; padded positions hold the bias


def rnnkit_name(torch_name, K, first=0):
    """torch parameter name -> rnnkit weight name; `first` is the index of the first recurrent layer (1 after an embedding)."""
    if torch_name.startswith('emb.'):
        return 'layers.0.' + torch_name[len('emb.'):]
    if torch_name.startswith('linear.'):
        return 'layers.%d.%s' % (first + K, torch_name[len('linear.'):])
    assert torch_name.startswith('rnn.'), torch_name
    local = torch_name[len('rnn.'):]  # e.g. weight_ih_l1_reverse
    kind, rest = local.rsplit('_l', 1)  # 'weight_ih', '1_reverse'
    parts = rest.split('_', 1)
    k = int(parts[0])
    suffix = '_' + parts[1] if len(parts) > 1 else ''
    return 'layers.%d.%s_l0%s' % (first + k, kind, suffix)


def make_config(c):
    layers = []
    if c.get('emb'):
        layers.append(dict({'type': 'embedding', 'dim': c['emb']}, **({'paddingIdx': c['pad']} if 'pad' in c else {}),
                           **({'sparse': True} if c.get('sparse') else {})))
    for _ in range(c['K']):
        spec = {'type': c['cell'], 'units': c['H'], 'bidirectional': c['bidir'], 'returnSequences': True}
        if c['cell'] == 'rnn':
            spec['activation'] = c['act']
        elif c['cell'] == 'gru':
            spec['resetAfter'] = True
            spec['variant'] = 'full'
        else:
            spec['peephole'] = False
        layers.append(spec)
    layers.append(dict({'type': 'dense', 'units': c['V'], 'activation': 'linear'}, **({'tieEmbedding': True} if c.get('tie') else {})))
    return {'input': {'vocabSize': c['V']}, 'layers': layers, 'loss': 'crossEntropy',
            'reduction': c['reduction']}


def seeded(cls, c):
    """cls(c) built after torch.manual_seed(c['seed']), its weights rounded to float32-representable values."""
    torch.manual_seed(c['seed'])
    net = cls(c)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(f32(p))
    return net


def build(c):
    net = seeded(Net, c)
    B, T, V = c['B'], c['T'], c['V']
    lengths = torch.tensor(c['lengths'], dtype=torch.int64)
    assert max(c['lengths']) == T and min(c['lengths']) >= 1
    mask = torch.arange(T)[None, :] < lengths[:, None]  # [B, T]
    tokens = torch.randint(0, V, (B, T)) * mask
    targets = torch.randint(0, V, (B, T)) * mask
    h0 = c0 = None
    if c['h0']:
        n = c['K'] * net.dirs
        h0 = f32(0.5 * torch.randn(n, B, c['H']))
        if c['cell'] == 'lstm':
            c0 = f32(0.5 * torch.randn(n, B, c['H']))
    return net, tokens, targets, lengths, mask, h0, c0


def loss_fn(c, logits, targets, mask):
    return F.cross_entropy(logits[mask], targets[mask], reduction=c['reduction'], label_smoothing=c.get('ls', 0.0))


def run_forward(net, c, tokens, lengths, mask, h0, c0, targets):
    hx = None
    if h0 is not None:
        hx = (h0, c0) if c['cell'] == 'lstm' else h0
    logits = net(tokens, lengths, hx)
    loss = loss_fn(c, logits, targets, mask)
    return logits, loss


def dense_grad(p):
    """p's gradient as a dense tensor (a sparse embedding's: its coalesced rows, zero elsewhere)."""
    return p.grad.to_dense() if p.grad.is_sparse else p.grad


def grad_norm(params):
    return math.sqrt(sum(float((dense_grad(p) ** 2).sum()) for p in params))


def clip_norm_(params, max_norm):
    """torch.nn.utils.clip_grad_norm_ (scale by max_norm / (norm + 1e-6) when < 1), sparse gradients included."""
    total = grad_norm(params)
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for p in params:
            p.grad = p.grad.coalesce() * coef if p.grad.is_sparse else p.grad * coef
    return total


def clip_value_(params, v):
    """torch.nn.utils.clip_grad_value_, a sparse gradient clamped after coalescing (its rows' sums)."""
    for p in params:
        if p.grad.is_sparse:
            g = p.grad.coalesce()
            p.grad = torch.sparse_coo_tensor(g.indices(), g.values().clamp(-v, v), g.shape)
        else:
            p.grad.clamp_(-v, v)


def train_run(c, opt_spec, clip, batches, lengths, mask, h0, c0):
    """NSTEPS steps, step i on batches[i] = (tokens, targets); returns the losses, grad norms, clipping
    activity and the weights after the last step."""
    net, *_ = build(c)  # same seed -> same weights
    params = list(net.parameters())
    sparse = [p for p in params if c.get('sparse') and p is net.emb.weight]
    rest = [p for p in params if not any(p is q for q in sparse)]
    if opt_spec['type'] == 'adam':
        opts = [torch.optim.Adam(rest, lr=opt_spec['lr'])]
        if sparse:
            opts.append(torch.optim.SparseAdam(sparse, lr=opt_spec['lr']))
    else:
        opts = [torch.optim.SGD(params, lr=opt_spec['lr'], momentum=opt_spec['momentum'])]
    losses, norms, active = [], [], []
    for tokens, targets in batches:
        for opt in opts:
            opt.zero_grad()
        _, loss = run_forward(net, c, tokens, lengths, mask, h0, c0, targets)
        losses.append(float(loss))
        loss.backward()
        norm = grad_norm(params)
        norms.append(norm)
        if 'clipNorm' in clip:
            if sparse:
                total = clip_norm_(params, clip['clipNorm'])
            else:
                total = float(torch.nn.utils.clip_grad_norm_(params, clip['clipNorm']))
            assert abs(total - norm) <= 1e-12 * max(1.0, norm)
            active.append(norm > clip['clipNorm'])
        if 'clipValue' in clip:
            gmax = max(float(dense_grad(p).abs().max()) for p in params)
            if sparse:
                clip_value_(params, clip['clipValue'])
            else:
                torch.nn.utils.clip_grad_value_(params, clip['clipValue'])
            active.append(gmax > clip['clipValue'])
        for opt in opts:
            opt.step()
    K, first = c['K'], 1 if c.get('emb') else 0
    final = {rnnkit_name(n, K, first): tensor_json(p) for n, p in net.named_parameters()}
    return losses, norms, active, final


def nice_below(x):
    """A round threshold clearly below x (between 0.3x and 0.6x): 1, 2 or 5 times a power of ten."""
    for e in range(3, -8, -1):
        for m in (5, 2, 1):
            v = m * 10.0 ** e
            if v <= 0.6 * x:
                return float('%.6g' % v)
    raise AssertionError(x)


def check_unpacked(net, c, tokens, lengths, h0, c0, output):
    """Cross-check packing and h0 ordering: run each sample alone, unpacked, on its valid prefix."""
    with torch.no_grad():
        for b in range(c['B']):
            n = int(lengths[b])
            x = net.embed(tokens[b:b + 1, :n])
            hx = None
            if h0 is not None:
                hb = h0[:, b:b + 1].contiguous()
                hx = (hb, c0[:, b:b + 1].contiguous()) if c0 is not None else hb
            out, _ = net.rnn(x, hx)
            y = net.linear(out)[0]
            assert torch.allclose(y, output[b, :n], rtol=0, atol=1e-13), (c['name'], b)
            assert float(output[b, n:].abs().max() if n < c['T'] else 0) == 0


def make_case(c):
    net, tokens, targets, lengths, mask, h0, c0 = build(c)
    K, dirs = c['K'], net.dirs
    first = 1 if c.get('emb') else 0
    if h0 is not None:
        h0.requires_grad_(True)
        if c0 is not None:
            c0.requires_grad_(True)
    weights = {rnnkit_name(n, K, first): tensor_json(p) for n, p in net.named_parameters()}
    logits, loss = run_forward(net, c, tokens, lengths, mask, h0, c0, targets)
    loss.backward()
    grads = {rnnkit_name(n, K, first): tensor_json(dense_grad(p)) for n, p in net.named_parameters()}
    assert set(grads) == set(weights)
    params = list(net.parameters())
    norm1 = grad_norm(params)
    gmax1 = max(float(dense_grad(p).abs().max()) for p in params)

    output = (logits * mask[:, :, None]).detach()
    check_unpacked(net, c, tokens, lengths, h0, c0, output)
    fx = {
        'name': c['name'],
        'description': '%s%s%s %d layer(s)%s, V=%d H=%d B=%d T=%d, reduction %s%s' % (
            ('nn.Embedding(%d%s%s) -> ' % (c['emb'], ', padding_idx=%d' % c['pad'] if 'pad' in c else '',
                                           ', sparse=True' if c.get('sparse') else '')
             if c.get('emb') else '') + ('tied ' if c.get('tie') else ''),
            'nn.' + {'rnn': 'RNN', 'gru': 'GRU', 'lstm': 'LSTM'}[c['cell']],
            '(%s)' % c['act'] if c['cell'] == 'rnn' else '', K, ' bidirectional' if c['bidir'] else '',
            c['V'], c['H'], c['B'], c['T'], c['reduction'], ', non-zero initial state' if c['h0'] else '')
            + (', label_smoothing %g' % c['ls'] if 'ls' in c else ''),
        'generator': 'scripts/gen_parity_fixtures.py (torch %s, float64)' % torch.__version__,
        'config': make_config(c),
        **({'labelSmoothing': c['ls']} if 'ls' in c else {}),
        'tokens': tokens.tolist(),
        'lengths': lengths.tolist(),
        'targets': targets.tolist(),
    }
    def per_layer(t):
        return [flat(t[k * dirs:(k + 1) * dirs]) for k in range(K)]

    if h0 is not None:
        hs = per_layer(h0)
        cs = per_layer(c0) if c0 is not None else None
        fx['initialState'] = [dict({'h': hs[k]}, **({'c': cs[k]} if cs else {})) for k in range(K)]
    fx['weights'] = weights
    fx['output'] = {'shape': list(output.shape), 'data': flat(output)}
    hn = net.last_hn
    hn, cn = hn if c['cell'] == 'lstm' else (hn, None)
    fx['finalState'] = [dict({'h': per_layer(hn)[k]}, **({'c': per_layer(cn)[k]} if cn is not None else {}))
                        for k in range(K)]
    fx['loss'] = float(loss)
    fx['grads'] = grads
    if h0 is not None:
        gh = per_layer(h0.grad)
        gc = per_layer(c0.grad) if c0 is not None else None
        fx['initialStateGrads'] = [dict({'h': gh[k]}, **({'c': gc[k]} if gc else {})) for k in range(K)]

    h0d = h0.detach() if h0 is not None else None
    c0d = c0.detach() if c0 is not None else None
    clip_norm = min(1.0, nice_below(norm1))
    clip_value = min(0.5, nice_below(gmax1))
    steps = []
    # the same batch every step; a sparse table: a new batch (same lengths) each step, so that
    # the rows used change and the lazy update of the others shows in the weights
    batches = [(tokens, targets)] * NSTEPS
    if c.get('sparse'):
        torch.manual_seed(c['seed'] + 1000)
        batches = [(tokens, targets)] + [(torch.randint(0, c['V'], tokens.shape) * mask,
                                          torch.randint(0, c['V'], tokens.shape) * mask) for _ in range(NSTEPS - 1)]
    for opt_spec, clip in ((ADAM, {'clipNorm': clip_norm}), (SGD, {'clipValue': clip_value})):
        losses, norms, active, final = train_run(c, opt_spec, clip, batches, lengths, mask, h0d, c0d)
        assert abs(losses[0] - float(loss)) <= 1e-12 * abs(float(loss)), (losses[0], float(loss))
        assert active[0], (c['name'], clip, norms[0], gmax1)
        # the runs must actually move the loss
        assert abs(losses[-1] - losses[0]) > 1e-3 * abs(losses[0]), (c['name'], losses)
        entry = {'optimizer': dict(opt_spec)}
        entry.update(clip)
        entry['losses'] = losses
        entry['gradNorms'] = norms
        entry['clipActive'] = active
        if c.get('sparse'):
            entry['batches'] = [{'tokens': x.tolist(), 'targets': y.tolist()} for x, y in batches]
            entry['finalWeights'] = final
        steps.append(entry)
    fx['steps'] = steps
    return fx


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    names = [c['name'] for c in CASES]
    assert len(set(names)) == len(names)
    for c in CASES:
        fx = make_case(c)
        path = os.path.join(OUT_DIR, c['name'] + '.json')
        text = json.dumps(fx, indent=None, separators=(',', ':'))
        assert len(text) < 300_000, (path, len(text))
        with open(path, 'w') as f:
            f.write(text + '\n')
        s = fx['steps']
        print('%-20s loss %.6f  %6.1f KB  clipNorm %g (norm1 %.3f, active %d/5)  clipValue %g (active %d/5)' % (
            c['name'], fx['loss'], len(text) / 1024, s[0]['clipNorm'], s[0]['gradNorms'][0],
            sum(s[0]['clipActive']), s[1]['clipValue'], sum(s[1]['clipActive'])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
