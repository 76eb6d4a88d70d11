#!/usr/bin/python3
"""rnnkit <-> PyTorch, the Python half of examples/torch-interop.ts.

Needs PyTorch (Debian: `apt-get install -y python3-torch`, then use
/usr/bin/python3) and numpy; no `safetensors` package (a tiny reader and
writer are below). Normally run by `npm run example:torch-interop`, which
trains the rnnkit models first; by hand:

    /usr/bin/python3 examples/torch_interop.py WORKDIR

WORKDIR/manifest.json lists the cases the Node side wrote. For each case this
script
  1. reads <case>.safetensors (written by rnnkit's model.saveSafetensors) and
     builds the torch model its metadata describes: nn.LSTM / nn.GRU / nn.RNN
     (`rnn`, all recurrent layers in one multi-layer module) + nn.Linear (`fc`),
     refusing what torch has no module for (peepholes, the minimal GRU, the
     GRU with resetAfter false) with a clear message;
  2. load_state_dict(strict=True), runs the probe batch (one-hot tokens) and
     compares the logits with rnnkit's (<case>.probe.json);
  3. fine-tunes a few Adam steps on the probe batch (teacher forcing), then
     writes <case>.torch.safetensors (the new state_dict; with rnnkit's
     metadata copied over, or, for cases marked `bareTorch`, only
     {"format": "pt"} as any torch user's file) and <case>.torch.json
     (torch's logits after fine-tuning) for the Node side to check.
Prints the max abs differences; exits 1 if one is over tolerance.

The helpers `read_safetensors`, `write_safetensors` and
`torch_model_from_rnnkit` can be copied into your own code.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as err:  # pragma: no cover - depends on the machine
    sys.stderr.write('torch_interop.py needs PyTorch and numpy (%s).\n'
                     'Debian/Ubuntu: apt-get install -y python3-torch, and run it with /usr/bin/python3\n' % err)
    sys.exit(3)

TOLERANCE = 1e-4  # float32 arithmetic on both sides, different summation orders

_NP = {'F32': '<f4', 'F64': '<f8'}
_CODE = {torch.float32: ('F32', '<f4'), torch.float64: ('F64', '<f8')}


def read_safetensors(path):
    """-> (dict name -> torch tensor, metadata dict). F32 / F64 only."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise ValueError('%s: not a safetensors file (header length %d)' % (path, n))
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', {}) or {}
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if info['dtype'] not in _NP:
            raise ValueError('%s: tensor %r has dtype %s (only F32 / F64 here)' % (path, name, info['dtype']))
        begin, end = info['data_offsets']
        arr = np.frombuffer(data[begin:end], dtype=_NP[info['dtype']]).reshape(info['shape'])
        tensors[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder('=')).copy())
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> float32 / float64 torch tensor; metadata: str -> str."""
    header = {'__metadata__': dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name, t in tensors.items():
        code, np_dtype = _CODE[t.dtype]
        blob = t.detach().contiguous().cpu().numpy().astype(np_dtype).tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))
    os.replace(tmp, path)


class CharRNN(nn.Module):
    """One-hot tokens -> rnn (nn.LSTM / nn.GRU / nn.RNN, K layers) -> fc (nn.Linear) at every step."""

    def __init__(self, cell, vocab, hidden, num_layers, bidirectional, nonlinearity, dropout):
        super().__init__()
        kw = dict(input_size=vocab, hidden_size=hidden, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        if cell == 'rnn':
            kw['nonlinearity'] = nonlinearity
        self.vocab = vocab
        self.rnn = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}[cell](**kw)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), vocab)

    def forward(self, tokens):
        out, _ = self.rnn(F.one_hot(tokens, self.vocab).to(self.fc.weight.dtype))
        return self.fc(out)


def torch_model_from_rnnkit(metadata):
    """Builds the CharRNN an rnnkit file describes, or raises ValueError for what torch cannot run.

    Reads __metadata__['rnnkit.config'] (the model config) and ['rnnkit.names'] (the prefix map; the
    recurrent layers must all map to 'rnn.' and the dense layer to 'fc.').
    """
    if 'rnnkit.config' not in metadata:
        raise ValueError('no rnnkit.config in the metadata: not written by rnnkit')
    config = json.loads(metadata['rnnkit.config'])
    names = json.loads(metadata.get('rnnkit.names', '{}'))
    if 'vocabSize' not in config['input'] or config.get('condition'):
        raise ValueError('this sketch handles token-input models without a condition only')
    layers = config['layers']
    recurrent = [(i, l) for i, l in enumerate(layers) if l['type'] in ('lstm', 'gru', 'rnn')]
    for i, l in recurrent:
        where = 'layers[%d] (%s)' % (i, l['type'])
        if l['type'] == 'lstm' and l.get('peephole', 'none') != 'none':
            raise ValueError('%s has %s peepholes (weight_peephole_l0): torch.nn.LSTM has none' % (where, l['peephole']))
        if l['type'] == 'gru' and l.get('variant', 'full') != 'full':
            raise ValueError('%s is the minimal GRU (update gate only, G=2): torch.nn.GRU has r, z, n' % where)
        if l['type'] == 'gru' and not l.get('resetAfter', True):
            raise ValueError('%s has resetAfter false (reset gate before W_hn): torch.nn.GRU applies it after' % where)
    dense = [(i, l) for i, l in enumerate(layers) if l['type'] == 'dense']
    if not recurrent or len(dense) != 1 or dense[0][0] != len(layers) - 1:
        raise ValueError('expected recurrent layers then one dense layer, got %s' % [l['type'] for l in layers])
    first = recurrent[0][1]
    keys = {(l['type'], l['units'], l['bidirectional'], l.get('activation')) for _, l in recurrent}
    if len(keys) != 1:
        raise ValueError('recurrent layers differ (%s): one torch module needs them all alike' % sorted(keys))
    prefix = lambda i, l: names.get(l.get('name') or 'layers.%d' % i, (l.get('name') or 'layers.%d' % i) + '.')
    if any(prefix(i, l) != 'rnn.' for i, l in recurrent) or prefix(*dense[0]) != 'fc.':
        raise ValueError("expected the file's prefixes rnn. and fc. (save with names: { 'layers.0': 'rnn', ..., 'layers.N': 'fc' })")
    if dense[0][1]['activation'] != 'linear':
        raise ValueError('the dense layer must output logits (activation linear)')
    dropouts = [l['rate'] for l in layers if l['type'] == 'dropout']
    return CharRNN(first['type'], config['input']['vocabSize'], first['units'], len(recurrent), first['bidirectional'],
                   first.get('activation', 'tanh'), dropouts[0] if dropouts else 0.0), config


def max_abs(a, b):
    return float((torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)).abs().max())


def run_case(workdir, case):
    name = case['name']
    tensors, metadata = read_safetensors(os.path.join(workdir, case['file']))
    try:
        model, config = torch_model_from_rnnkit(metadata)
    except ValueError as err:
        if case.get('expectRefusal'):
            print('%-10s refused, as it should be: %s' % (name, err))
            return True
        raise
    if case.get('expectRefusal'):
        print('%-10s was NOT refused' % name)
        return False
    model.load_state_dict(tensors, strict=True)
    model.eval()
    with open(os.path.join(workdir, case['probe'])) as f:
        probe = json.load(f)
    tokens = torch.tensor(probe['tokens'])
    with torch.no_grad():
        logits = model(tokens)
    d_in = max_abs(logits.reshape(-1), probe['logits'])
    print('%-10s %s: torch(rnnkit weights) vs rnnkit logits: max abs diff %.2e' % (name, type(model.rnn).__name__, d_in))

    # fine-tune a few steps in torch: next-token prediction on the probe rows
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    for step in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(inputs).reshape(-1, model.vocab), targets.reshape(-1))
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        tuned = model(tokens)
    print('%-10s fine-tuned 3 Adam steps in torch (loss %.3f); logits moved by up to %.2e' %
          (name, float(loss), max_abs(tuned.reshape(-1), logits.reshape(-1))))
    state = {k: v.detach().float() for k, v in model.state_dict().items()}
    out_meta = {'format': 'pt'} if case.get('bareTorch') else metadata
    write_safetensors(os.path.join(workdir, name + '.torch.safetensors'), state, out_meta)
    with open(os.path.join(workdir, name + '.torch.json'), 'w') as f:
        json.dump({'tokens': probe['tokens'], 'shape': list(tuned.shape), 'logits': [float(v) for v in tuned.reshape(-1)]}, f)
    return d_in <= TOLERANCE


def main():
    if len(sys.argv) != 2:
        sys.stderr.write('usage: /usr/bin/python3 examples/torch_interop.py WORKDIR\n')
        return 2
    workdir = sys.argv[1]
    with open(os.path.join(workdir, 'manifest.json')) as f:
        cases = json.load(f)['cases']
    print('torch %s' % torch.__version__)
    ok = all([run_case(workdir, c) for c in cases])
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
