#!/usr/bin/python3
"""Golden fixtures for rnnkit's Seq2Seq attention, computed with PyTorch in float64.

Regenerate (Debian's python3 has torch; the python3 first on PATH may not):

    /usr/bin/python3 scripts/gen_attention_fixtures.py      # or: npm run fixtures:attention

It (re)writes one JSON file per case into test/fixtures/attention/, checked by
test/attention-parity.test.ts. Deterministic: fixed seeds, float64, weights
rounded to float32-representable values.

The reference (class Seq2SeqAttention below) is a plain nn.Module written from
the equations in docs/api.md ("Attention") and native/attention.h, not from
rnnkit's code:

  encoder   one-hot source ids -> torch nn.GRU / nn.LSTM / nn.RNN (K_e layers,
            optionally bidirectional), packed by source length; its outputs
            m [B, T_x, E] (zeros past each source's length), E = dirs * H_e
  bridge    identity (E = H_d): the decoder's first layer starts from the
            encoder's top layer's final h (forward then backward direction,
            concatenated), and c for LSTM -> LSTM; the other decoder layers
            start from zeros
  decoder   one-hot <bos> y_1..y_n -> a unidirectional nn.GRU / nn.LSTM
            (K_d layers), packed by target length + 1; its outputs s
  attention score_j = s . m_j (dot), s . (W_a m_j) (general),
            v . tanh(W_s s + W_h m_j) (additive); masked to j < the source's
            length; alpha = softmax; c = sum_j alpha_j m_j;
            h = tanh(W_c [c; s] + b_c)
  output    nn.Linear(H_d, V_t) on h; cross-entropy over the valid target
            positions (y_1..y_n <eos>), mean

Each file: name, description, config (the seq2seq() config without layers'
defaults), sources, targets (lists of ids), weights {encoder, decoder} and
grads {encoder, decoder} (rnnkit name -> {shape, data}), loss, logits
[B, T_y, V_t] and attention [B, T_y, T_x] (teacher-forced; zero past each
row's target length + 1).

Name mapping: encoder rnn.weight_ih_l{k}[_reverse] -> layers.{k}.weight_ih_l0[_reverse]
(same for the decoder's rnn), attention.* -> attention.*, linear.* ->
layers.{K_d + 1}.* (the attention layer is the decoder's layer K_d).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_parity_fixtures import flat, seeded, tensor_json  # noqa: E402  (the same rounding and JSON as the parity fixtures)

torch.set_default_dtype(torch.float64)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'attention')
BOS, EOS = 1, 2

CASES = [
    dict(name='general_bigru_gru', enc='gru', Ke=1, bidir=True, He=3, dec='gru', Kd=1, Hd=6, type='general',
         Vs=7, Vt=6, seed=201, sources=[[3, 4, 5, 6, 3], [6, 3], [4, 4, 5], [5]],
         targets=[[3, 5], [4, 4, 3, 5], [], [5, 5, 3]]),
    dict(name='dot_lstm_2lstm', enc='lstm', Ke=1, bidir=False, He=5, dec='lstm', Kd=2, Hd=5, type='dot',
         Vs=8, Vt=7, seed=202, sources=[[3, 4, 5], [6, 7, 3, 4, 5, 6], [4]],
         targets=[[3, 5, 6], [4], [6, 6, 3, 4, 5]]),
    dict(name='additive_2bilstm_lstm', enc='lstm', Ke=2, bidir=True, He=3, dec='lstm', Kd=1, Hd=6, type='additive', A=4,
         Vs=7, Vt=8, seed=203, sources=[[3, 4], [6, 3, 5, 5], [4, 4, 5, 6, 6, 3]],
         targets=[[3, 5, 7, 7], [4, 3], [6]]),
    dict(name='additive_rnn_rnn', enc='rnn', Ke=1, bidir=False, He=4, dec='rnn', Kd=1, Hd=4, type='additive', A=3,
         Vs=6, Vt=6, seed=204, sources=[[3, 4, 5], [5], [4, 3, 3, 5]],
         targets=[[3], [4, 5, 3], []]),
]

CELLS = {'gru': nn.GRU, 'lstm': nn.LSTM, 'rnn': nn.RNN}


def pad(rows, width=None):
    T = max(1, max(len(r) for r in rows))
    out = torch.zeros(len(rows), T, dtype=torch.int64)
    for b, r in enumerate(rows):
        out[b, :len(r)] = torch.tensor(r, dtype=torch.int64)
    lengths = torch.tensor([max(1, len(r)) for r in rows], dtype=torch.int64)
    return out, lengths


class Seq2SeqAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.dirs = 2 if c['bidir'] else 1
        E = self.dirs * c['He']
        assert E == c['Hd'], 'identity bridge'
        self.enc = CELLS[c['enc']](c['Vs'], c['He'], num_layers=c['Ke'], bidirectional=c['bidir'], batch_first=True)
        self.dec = CELLS[c['dec']](c['Vt'], c['Hd'], num_layers=c['Kd'], batch_first=True)
        Hd = c['Hd']
        if c['type'] == 'general':
            self.W_a = nn.Parameter(torch.empty(Hd, E))
        if c['type'] == 'additive':
            self.W_s = nn.Parameter(torch.empty(c['A'], Hd))
            self.W_h = nn.Parameter(torch.empty(c['A'], E))
            self.v = nn.Parameter(torch.empty(c['A']))
        self.W_c = nn.Parameter(torch.empty(Hd, E + Hd))
        self.b_c = nn.Parameter(torch.empty(Hd))
        self.linear = nn.Linear(Hd, c['Vt'])
        for p in [self.W_c, self.b_c] + [getattr(self, n) for n in ('W_a', 'W_s', 'W_h', 'v') if hasattr(self, n)]:
            nn.init.uniform_(p, -0.7, 0.7)

    def forward(self, src, src_len, tin, tin_len):
        c = self.c
        x = F.one_hot(src, c['Vs']).double()
        out, hn = self.enc(pack_padded_sequence(x, src_len, batch_first=True, enforce_sorted=False))
        mem, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # [B, Tx, E]
        h, cell = hn if c['enc'] == 'lstm' else (hn, None)
        top = lambda s: torch.cat([s[-self.dirs + d] for d in range(self.dirs)], dim=-1)  # forward first
        B = src.shape[0]
        h0 = torch.zeros(c['Kd'], B, c['Hd'])
        h0[0] = top(h)
        if c['dec'] == 'lstm':
            c0 = torch.zeros(c['Kd'], B, c['Hd'])
            if cell is not None:
                c0[0] = top(cell)
            hx = (h0, c0)
        else:
            hx = h0
        y = F.one_hot(tin, c['Vt']).double()
        dout, _ = self.dec(pack_padded_sequence(y, tin_len, batch_first=True, enforce_sorted=False), hx)
        s, _ = pad_packed_sequence(dout, batch_first=True, total_length=tin.shape[1])  # [B, Ty, Hd]
        if c['type'] == 'dot':
            scores = s @ mem.transpose(1, 2)
        elif c['type'] == 'general':
            scores = s @ (mem @ self.W_a.T).transpose(1, 2)
        else:
            scores = torch.tanh((s @ self.W_s.T)[:, :, None, :] + (mem @ self.W_h.T)[:, None, :, :]) @ self.v
        mask = torch.arange(mem.shape[1])[None, None, :] < src_len[:, None, None]
        alpha = torch.softmax(scores.masked_fill(~mask, float('-inf')), dim=-1)  # [B, Ty, Tx]
        ctx = alpha @ mem
        att = torch.tanh(torch.cat([ctx, s], dim=-1) @ self.W_c.T + self.b_c)
        return self.linear(att), alpha


def rnnkit_name(n, Kd):
    for part in ('enc.', 'dec.'):
        if n.startswith(part):
            local = n[len(part):]
            kind, rest = local.rsplit('_l', 1)
            k, _, suffix = rest.partition('_')
            return ('encoder' if part == 'enc.' else 'decoder'), 'layers.%d.%s_l0%s' % (int(k), kind, '_' + suffix if suffix else '')
    if n.startswith('linear.'):
        return 'decoder', 'layers.%d.%s' % (Kd + 1, n[len('linear.'):])
    return 'decoder', 'attention.' + n


def layer_config(cell, H, bidir=False):
    spec = {'type': cell, 'units': H}
    if bidir:
        spec['bidirectional'] = True
    return spec


def make_case(c):
    net = seeded(Seq2SeqAttention, c)
    src, src_len = pad(c['sources'])
    tin, tin_len = pad([[BOS] + t for t in c['targets']])
    tout, _ = pad([t + [EOS] for t in c['targets']])
    logits, alpha = net(src, src_len, tin, tin_len)
    mask = torch.arange(tin.shape[1])[None, :] < tin_len[:, None]
    loss = F.cross_entropy(logits[mask], tout[mask])
    loss.backward()
    weights = {'encoder': {}, 'decoder': {}}
    grads = {'encoder': {}, 'decoder': {}}
    for n, p in net.named_parameters():
        part, name = rnnkit_name(n, c['Kd'])
        weights[part][name] = tensor_json(p)
        grads[part][name] = tensor_json(p.grad)
    attention = {'type': c['type']}
    if c['type'] == 'additive':
        attention['units'] = c['A']
    return {
        'name': c['name'],
        'description': '%s attention, %s%s x%d (H=%d) -> %s x%d (H=%d), V %d -> %d, B=%d' % (
            c['type'], 'bidirectional ' if c['bidir'] else '', c['enc'], c['Ke'], c['He'], c['dec'], c['Kd'], c['Hd'],
            c['Vs'], c['Vt'], len(c['sources'])),
        'generator': 'scripts/gen_attention_fixtures.py (torch %s, float64)' % torch.__version__,
        'config': {
            'sourceVocab': c['Vs'], 'targetVocab': c['Vt'], 'bos': BOS, 'eos': EOS,
            'encoder': [layer_config(c['enc'], c['He'], c['bidir']) for _ in range(c['Ke'])],
            'decoder': [layer_config(c['dec'], c['Hd']) for _ in range(c['Kd'])],
            'attention': attention,
        },
        'sources': c['sources'],
        'targets': c['targets'],
        'weights': weights,
        'grads': grads,
        'loss': float(loss),
        'logits': {'shape': list(logits.shape), 'data': flat(logits * mask[:, :, None])},
        'attention': {'shape': list(alpha.shape), 'data': flat(alpha * mask[:, :, None])},
    }


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for c in CASES:
        fx = make_case(c)
        path = os.path.join(OUT_DIR, c['name'] + '.json')
        text = json.dumps(fx, separators=(',', ':'))
        with open(path, 'w') as f:
            f.write(text + '\n')
        print('%-24s loss %.6f  %5.1f KB' % (c['name'], fx['loss'], len(text) / 1024))
    return 0


if __name__ == '__main__':
    sys.exit(main())
