#!/usr/bin/python3
"""PyTorch-written safetensors fixtures for rnnkit's interop test.

Regenerate (Debian's python3 has torch; the python3 first on PATH may not):

    /usr/bin/python3 scripts/gen_safetensors_fixtures.py   # or: npm run fixtures:safetensors

It (re)writes test/fixtures/safetensors/: per case a <name>.safetensors file
holding a torch module's state_dict exactly as a torch user would save it
(tensor names from the module, `__metadata__` {"format": "pt"} only, no rnnkit
metadata), and <name>.json with what test/safetensors.test.ts needs to load
and check it. Output is deterministic (fixed seeds).

The writer below is a few lines of pure Python (struct + json), because
Debian's python3 has no `safetensors` package; it follows the format:
8-byte little-endian header length N, N bytes of JSON (padded with spaces to
a multiple of 8), then each tensor's little-endian row-major bytes, tiled in
header order.

Every case is a character language model as rnnkit builds it: one-hot token
input over V (so weight_ih_l0 is [G*H, V]), recurrent layer(s), nn.Linear to V
logits at every step. Full-length sequences (no padding).

Cases:
  lstm_char            Net(rnn=nn.LSTM, fc=nn.Linear)            names rnn / fc
  gru_char             Net(rnn=nn.GRU, fc)                       names rnn / fc
  rnn_tanh_char        Net(rnn=nn.RNN(tanh), fc)                 names rnn / fc
  rnn_relu_f64         Net(rnn=nn.RNN(relu), fc), float64 model  file dtype F64
  lstm_bidir_modlist   nn.ModuleList([LSTM(bidirectional), Dropout, Linear])
                       as `layers`: rnnkit's default names, no map needed
  gru_2layer           Net(rnn=nn.GRU(num_layers=2, dropout=0.1), fc): the two
                       rnnkit GRU layers (dropout between) share prefix `rnn`
  rnn_bidir_2layer     Net(rnn=nn.RNN(tanh, num_layers=2, bidirectional), fc)

<name>.json: name, description, file, dtype ('F32' | 'F64'), config (the
rnnkit sequential() config), names (the prefix map for loadSafetensors, or
null), tokens [B][T], logits {shape [B, T, V], data} computed by torch in
float64 from the stored weights (the reference), logits32 the same computed in
float32 when the file is F32, torch (its version).
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'safetensors')

DTYPES = {torch.float32: ('F32', '<f4'), torch.float64: ('F64', '<f8')}


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> torch tensor (float32 / float64), written in the given order."""
    header = {}
    if metadata:
        header['__metadata__'] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        code, np_dtype = DTYPES[t.dtype]
        blob = t.detach().contiguous().cpu().numpy().astype(np_dtype).tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


CELLS = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}


class Net(nn.Module):
    """The usual torch char LM: self.rnn (one multi-layer module) + self.fc."""

    def __init__(self, cell, V, H, num_layers=1, bidirectional=False, nonlinearity=None, dropout=0.0):
        super().__init__()
        kw = dict(input_size=V, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=True, dropout=dropout)
        if nonlinearity:
            kw['nonlinearity'] = nonlinearity
        self.V = V
        self.rnn = CELLS[cell](**kw)
        self.fc = nn.Linear(H * (2 if bidirectional else 1), V)

    def forward(self, tokens):
        out, _ = self.rnn(F.one_hot(tokens, self.V).to(self.fc.weight.dtype))
        return self.fc(out)


class ModListNet(nn.Module):
    """Layers in an nn.ModuleList named `layers`: state_dict names equal rnnkit's defaults."""

    def __init__(self, V, H):
        super().__init__()
        self.V = V
        self.layers = nn.ModuleList([nn.LSTM(V, H, batch_first=True, bidirectional=True), nn.Dropout(0.2),
                                     nn.Linear(2 * H, V)])

    def forward(self, tokens):
        x = F.one_hot(tokens, self.V).to(self.layers[2].weight.dtype)
        x, _ = self.layers[0](x)
        x = self.layers[1](x)
        return self.layers[2](x)


def rec(cell, H, **kw):
    return dict(type=cell, units=H, **kw)


CASES = [
    dict(name='lstm_char', description='nn.LSTM + nn.Linear as rnn / fc',
         make=lambda V, H: Net('lstm', V, H), V=13, H=10, seed=201,
         layers=lambda V, H: [rec('lstm', H), dict(type='dense', units=V)],
         names={'layers.0': 'rnn', 'layers.1': 'fc'}),
    dict(name='gru_char', description='nn.GRU + nn.Linear as rnn / fc',
         make=lambda V, H: Net('gru', V, H), V=12, H=9, seed=202,
         layers=lambda V, H: [rec('gru', H), dict(type='dense', units=V)],
         names={'layers.0': 'rnn', 'layers.1': 'fc'}),
    dict(name='rnn_tanh_char', description='nn.RNN(tanh) + nn.Linear as rnn / fc',
         make=lambda V, H: Net('rnn', V, H, nonlinearity='tanh'), V=11, H=8, seed=203,
         layers=lambda V, H: [rec('rnn', H, activation='tanh'), dict(type='dense', units=V)],
         names={'layers.0': 'rnn', 'layers.1': 'fc'}),
    dict(name='rnn_relu_f64', description='nn.RNN(relu) + nn.Linear, float64 model (F64 file)',
         make=lambda V, H: Net('rnn', V, H, nonlinearity='relu').double(), V=10, H=8, seed=204,
         layers=lambda V, H: [rec('rnn', H, activation='relu'), dict(type='dense', units=V)],
         names={'layers.0': 'rnn', 'layers.1': 'fc'}),
    dict(name='lstm_bidir_modlist', description='nn.ModuleList([bidirectional LSTM, Dropout, Linear]) as layers',
         make=lambda V, H: ModListNet(V, H), V=12, H=7, seed=205,
         layers=lambda V, H: [rec('lstm', H, bidirectional=True), dict(type='dropout', rate=0.2),
                              dict(type='dense', units=V)],
         names=None),
    dict(name='gru_2layer', description='nn.GRU(num_layers=2, dropout=0.1) + nn.Linear as rnn / fc',
         make=lambda V, H: Net('gru', V, H, num_layers=2, dropout=0.1), V=11, H=8, seed=206,
         layers=lambda V, H: [rec('gru', H), dict(type='dropout', rate=0.1), rec('gru', H),
                              dict(type='dense', units=V)],
         names={'layers.0': 'rnn', 'layers.2': 'rnn', 'layers.3': 'fc'}),
    dict(name='rnn_bidir_2layer', description='nn.RNN(tanh, num_layers=2, bidirectional) + nn.Linear as rnn / fc',
         make=lambda V, H: Net('rnn', V, H, num_layers=2, bidirectional=True, nonlinearity='tanh'), V=10, H=6,
         seed=207,
         layers=lambda V, H: [rec('rnn', H, activation='tanh', bidirectional=True),
                              rec('rnn', H, activation='tanh', bidirectional=True), dict(type='dense', units=V)],
         names={'layers.0': 'rnn', 'layers.1': 'rnn', 'layers.2': 'fc'}),
]

B, T = 3, 7


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for c in CASES:
        torch.manual_seed(c['seed'])
        V, H = c['V'], c['H']
        net = c['make'](V, H).eval()
        tokens = torch.randint(0, V, (B, T))
        state = net.state_dict()
        file_dtype = DTYPES[next(iter(state.values())).dtype][0]
        write_safetensors(os.path.join(OUT_DIR, c['name'] + '.safetensors'), state, {'format': 'pt'})
        with torch.no_grad():
            ref = c['make'](V, H).double().eval()
            ref.load_state_dict({k: v.double() for k, v in state.items()})
            logits = ref(tokens)
            logits32 = net(tokens) if file_dtype == 'F32' else None
        out = {
            'name': c['name'],
            'description': c['description'],
            'file': c['name'] + '.safetensors',
            'dtype': file_dtype,
            'config': {'input': {'vocabSize': V}, 'layers': c['layers'](V, H)},
            'names': c['names'],
            'tokens': tokens.tolist(),
            'logits': {'shape': list(logits.shape), 'data': flat(logits)},
            'torch': torch.__version__,
        }
        if logits32 is not None:
            out['logits32'] = {'shape': list(logits32.shape), 'data': flat(logits32)}
        with open(os.path.join(OUT_DIR, c['name'] + '.json'), 'w') as f:
            json.dump(out, f, separators=(',', ':'))
            f.write('\n')
        print('%-20s %s, %d tensors' % (c['name'], file_dtype, len(state)))


if __name__ == '__main__':
    main()
