#!/usr/bin/env python3
"""Train an rnnkit model with PyTorch's DistributedDataParallel, then bring it back to Node.

This file was written into a training package by `rnnkit export-torch` (rnnkit's
templates/train.py; docs/scale-out.md is the guide). The package directory holds

  manifest.json     what the package is: data files, window length, training defaults
  init.safetensors  the model's weights under torch's names; __metadata__ holds the
                    rnnkit config (which torch.nn modules to build) and the tokenizer
  tokenizer.json    the tokenizer (the data files record its CRC-32)
  train.bin         training token ids (format below); val.bin: validation, optional
  train.py          this script

Run it with torchrun (CPU: gloo; GPU: nccl, one process per GPU), or plain python3 for
one process:

  torchrun --standalone --nproc_per_node=2 train.py --epochs 3 --out trained
  python3 train.py --epochs 1 --out trained

It writes OUT/model.safetensors (the trained weights, with the rnnkit metadata copied
from init.safetensors, so rnnkit's loadSafetensors rebuilds the model alone) and
OUT/result.json (the per-epoch losses), into a temporary sibling directory renamed to
OUT at the end: OUT appears complete or not at all. Then, in Node:

  rnnkit import-torch trained --out model.rnnkit && rnnkit sample model.rnnkit

What it does is what rnnkit's `model.fit(data, options)` does on the same data
(docs/scale-out.md, "Parity"): rows are consecutive windows of the token stream,
input ids[r*T : r*T+T], target ids[r*T+1 : r*T+T+1], each starting from a zero state;
each epoch visits the rows in the order of rnnkit's seeded permutation (lib/train.ts
`permutation`, reimplemented below), cut into batches of --batch-size rows per process;
the loss is softmax cross-entropy over the dense layer's pre-activation (mean over the
batch's tokens, or sum, as the model's reduction says); gradients are clipped by value,
then by global L2 norm (torch.nn.utils.clip_grad_*_, as rnnkit's core does); the
optimizer is torch.optim.Adam / AdamW / SGD with the manifest's settings (rnnkit
implements torch.optim's update rules). With N processes each takes every N-th row of
the permutation (DistributedSampler's split) and DDP averages the gradients, so one
step sees N * batch-size rows.

Binary token files (train.bin, val.bin), little-endian:
  bytes 0-7    magic b'RNNKTOK1'
  bytes 8-11   uint32 format version (1)
  bytes 12-15  uint32 vocabulary size V (every id is in [0, V))
  bytes 16-19  uint32 CRC-32 (zlib) of tokenizer.json's bytes
  bytes 20-23  uint32 reserved (0)
  bytes 24-31  uint64 number of tokens N
  bytes 32-    N int32 token ids

Exit codes: 0 done, 1 unexpected error, 2 bad usage, 3 PyTorch missing,
4 a damaged or inconsistent package (the message names the file).
"""
import argparse
import json
import os
import shutil
import struct
import sys
import time
import zlib

EXIT_USAGE = 2
EXIT_NO_TORCH = 3
EXIT_BAD_PACKAGE = 4

try:
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data.distributed import DistributedSampler
except ImportError as err:  # depends on the machine
    sys.stderr.write('train.py: PyTorch is not installed for %s (%s).\n'
                     'Install it: Debian/Ubuntu `apt-get install -y python3-torch` (then run /usr/bin/python3 '
                     'or /usr/bin/torchrun), or `pip install torch`.\n' % (sys.executable, err))
    sys.exit(EXIT_NO_TORCH)

PACKAGE_FORMAT = 'rnnkit-torch-package'
PACKAGE_VERSION = 1
RESULT_FORMAT = 'rnnkit-torch-result'
TOKENS_MAGIC = b'RNNKTOK1'
TOKENS_VERSION = 1
TOKENS_HEADER = 32
HERE = os.path.dirname(os.path.abspath(__file__))


class BadPackage(Exception):
    """A file of the package is missing, damaged or does not fit the others."""


# ---------------------------------------------------------------- package files

def read_json(name):
    path = os.path.join(HERE, name)
    try:
        with open(path, 'rb') as f:
            return json.loads(f.read().decode('utf-8'))
    except OSError as err:
        raise BadPackage('cannot read %s: %s' % (path, err.strerror or err))
    except ValueError as err:
        raise BadPackage('%s is not valid JSON (%s)' % (path, err))


# The package runs without rnnkit or the `safetensors` package (Debian's torch 1.13 has none), hence
# this small reader and writer (examples/torch_interop.py has the same for its own use).
_DTYPES = {'F32': (torch.float32, 4), 'F64': (torch.float64, 8)}


def read_safetensors(path):
    """-> (name -> tensor, metadata). F32 / F64 only; checks that the tensors tile the data."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as err:
        raise BadPackage('cannot read %s: %s' % (path, err.strerror or err))
    if len(raw) < 8:
        raise BadPackage('%s is truncated (%d bytes)' % (path, len(raw)))
    (n,) = struct.unpack('<Q', raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise BadPackage('%s is not a safetensors file or is truncated (header length %d, file %d bytes)' % (path, n, len(raw)))
    try:
        header = json.loads(raw[8:8 + n].decode('utf-8'))
    except ValueError as err:
        raise BadPackage('%s has a damaged header (%s)' % (path, err))
    metadata = header.pop('__metadata__', None) or {}
    data = bytearray(raw[8 + n:])
    tensors, covered = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        dtype, size = _DTYPES.get(info.get('dtype'), (None, 0))
        begin, end = info['data_offsets']
        count = 1
        for d in info['shape']:
            count *= d
        if dtype is None or begin != covered or end - begin != count * size or end > len(data):
            raise BadPackage('%s: tensor %r is damaged (dtype %s, offsets %s, shape %s)' % (path, name, info.get('dtype'), info['data_offsets'], info['shape']))
        tensors[name] = torch.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(info['shape']).clone()
        covered = end
    if covered != len(data):
        raise BadPackage('%s: %d bytes of data belong to no tensor (truncated or damaged)' % (path, len(data) - covered))
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """tensors: name -> float32 / float64 tensor (any device); metadata: str -> str."""
    header = {'__metadata__': dict(metadata)}
    blobs, offset = [], 0
    for name, t in tensors.items():
        code = 'F64' if t.dtype == torch.float64 else 'F32'
        blob = t.detach().to('cpu', torch.float64 if code == 'F64' else torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))
        f.flush()
        os.fsync(f.fileno())


def read_tokens(name, vocab, tokenizer_crc):
    """The ids of a binary token file (format in the docstring), checked against the model and tokenizer."""
    path = os.path.join(HERE, name)
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as err:
        raise BadPackage('cannot read %s: %s' % (path, err.strerror or err))
    if len(raw) < TOKENS_HEADER or raw[:8] != TOKENS_MAGIC:
        raise BadPackage('%s is not an rnnkit token file (no RNNKTOK1 header)' % path)
    version, v, crc, _, count = struct.unpack('<IIIIQ', raw[8:TOKENS_HEADER])
    if version != TOKENS_VERSION:
        raise BadPackage('%s has token format version %d; this train.py reads %d' % (path, version, TOKENS_VERSION))
    if v != vocab:
        raise BadPackage('%s was encoded for a vocabulary of %d tokens but the model has %d: data and model do not match' % (path, v, vocab))
    if crc != tokenizer_crc:
        raise BadPackage('%s was encoded with another tokenizer (CRC-32 %08x, tokenizer.json has %08x)' % (path, crc, tokenizer_crc))
    if len(raw) != TOKENS_HEADER + 4 * count:
        raise BadPackage('%s should hold %d tokens (%d bytes) but has %d bytes: truncated or damaged' % (path, count, TOKENS_HEADER + 4 * count, len(raw)))
    ids = torch.frombuffer(bytearray(raw), dtype=torch.int32, count=count, offset=TOKENS_HEADER).to(torch.int64)
    if count > 0 and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise BadPackage('%s has token ids outside [0, %d): data and tokenizer do not match' % (path, vocab))
    return ids


def windows(ids, seq_len):
    """Rows of the stream: input ids[r*T : r*T+T], target one token later (lib/io/torch-package.ts windowRows)."""
    rows = (ids.numel() - 1) // seq_len
    n = rows * seq_len
    return ids[:n].view(rows, seq_len), ids[1:n + 1].view(rows, seq_len)


# ---------------------------------------------------------------- the model

RECURRENT = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}
ACTIVATIONS = {'linear': lambda x: x, 'tanh': torch.tanh, 'relu': torch.relu, 'sigmoid': torch.sigmoid,
               'softmax': lambda x: torch.softmax(x, -1)}


def unsupported(layer):
    """Why torch.nn has no module for a layer (lib/io/torch-package.ts torchUnsupported says the same), or None."""
    if layer['type'] == 'lstm' and layer.get('peephole', 'none') != 'none':
        return 'an LSTM with %s peepholes (torch.nn.LSTM has none)' % layer['peephole']
    if layer['type'] == 'gru' and layer.get('variant', 'full') != 'full':
        return 'the minimal GRU (update gate only; torch.nn.GRU has r, z, n)'
    if layer['type'] == 'gru' and not layer.get('resetAfter', True):
        return 'a GRU with resetAfter false (reset gate before W_hn; torch.nn.GRU applies it after)'
    if layer['type'] in RECURRENT and not layer.get('returnSequences', True):
        return 'a recurrent layer with returnSequences false (a language model scores every step)'
    if layer['type'] in RECURRENT and (layer.get('dropout') or layer.get('recurrentDropout')):
        return 'variational (input or recurrent) dropout (torch.nn.LSTM / GRU / RNN drop only between layers)'
    return None


class RnnkitNet(nn.Module):
    """The rnnkit sequential model as torch modules, in an nn.ModuleList called `layers`, so that
    state_dict() names are rnnkit's getWeights() names (layers.<i>.weight_ih_l0, layers.<i>.weight, ...).
    Token ids go in one-hot, as rnnkit's token input is defined (a row gather of weight_ih_l0), or
    through an nn.Embedding when the first layer is one. A dense layer with tieEmbedding shares the
    embedding's weight (its name in `tied`: in state_dict() but not in rnnkit's files)."""

    def __init__(self, config):
        super().__init__()
        if 'vocabSize' not in config['input'] or config.get('condition') or config['loss'] != 'crossEntropy':
            raise BadPackage('the config is not a token-input crossEntropy language model without a condition')
        self.vocab = config['input']['vocabSize']
        self.activations, mods, width, self.tied = [], [], self.vocab, []
        for i, layer in enumerate(config['layers']):
            why = unsupported(layer)
            if why:
                raise BadPackage('config.layers[%d] is %s' % (i, why))
            kind = layer['type']
            if kind in RECURRENT:
                kw = dict(input_size=width, hidden_size=layer['units'], batch_first=True, bidirectional=layer['bidirectional'])
                if kind == 'rnn':
                    kw['nonlinearity'] = layer['activation']
                mods.append(RECURRENT[kind](**kw))
                width = layer['units'] * (2 if layer['bidirectional'] else 1)
            elif kind == 'embedding' and i == 0:
                mods.append(nn.Embedding(self.vocab, layer['dim'], padding_idx=layer.get('paddingIdx')))
                if layer.get('trainable', True) is False:
                    mods[-1].weight.requires_grad_(False)  # frozen, as rnnkit's trainable: false
                width = layer['dim']
            elif kind == 'dense':
                mods.append(nn.Linear(width, layer['units']))
                if layer.get('tieEmbedding'):
                    if not isinstance(mods[0], nn.Embedding) or mods[-1].weight.shape != mods[0].weight.shape:
                        raise BadPackage('config.layers[%d].tieEmbedding does not fit the embedding' % i)
                    mods[-1].weight = mods[0].weight
                    self.tied.append('layers.%d.weight' % i)
                width = layer['units']
            elif kind == 'dropout':
                mods.append(nn.Dropout(layer['rate']))
            else:
                raise BadPackage('config.layers[%d] has unknown type %r' % (i, kind))
            self.activations.append(layer.get('activation') if kind == 'dense' else None)
        self.layers = nn.ModuleList(mods)

    def forward(self, ids):
        """ids [B, T] -> logits [B, T, V]: the last dense layer's pre-activation, which rnnkit's
        crossEntropy scores whether its activation is 'linear' or 'softmax'."""
        x = ids if isinstance(self.layers[0], nn.Embedding) else F.one_hot(ids, self.vocab).to(next(self.parameters()).dtype)
        last = len(self.layers) - 1
        for i, (m, act) in enumerate(zip(self.layers, self.activations)):
            x = m(x)[0] if isinstance(m, nn.RNNBase) else m(x)
            if act is not None and i != last:
                x = ACTIVATIONS[act](x)
        return x


# ---------------------------------------------------------------- order of rows

def rnnkit_permutation(n, seed, epoch):
    """lib/train.ts permutation(n, seed, epoch): Fisher-Yates driven by a SplitMix32-style generator."""
    m32 = 0xFFFFFFFF
    s = (seed ^ (((epoch + 1) * 0x9E3779B9) & m32)) & m32
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        s = (s + 0x9E3779B9) & m32
        z = s
        z = ((z ^ (z >> 16)) * 0x85EBCA6B) & m32
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & m32
        r = ((z ^ (z >> 16)) & m32) / 4294967296.0
        j = int(r * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


class RnnkitOrderSampler(DistributedSampler):
    """DistributedSampler whose epoch order is rnnkit's permutation (shuffle) or 0..n-1; the split
    among processes is DistributedSampler's (pad to a multiple of the world size, take every N-th)."""

    def __iter__(self):
        n = len(self.dataset)
        indices = rnnkit_permutation(n, self.seed, self.epoch) if self.shuffle else list(range(n))
        pad = self.total_size - len(indices)
        if pad > 0:
            indices += (indices * (pad // len(indices) + 1))[:pad]
        return iter(indices[self.rank:self.total_size:self.num_replicas])


# ---------------------------------------------------------------- training

def parse_args(manifest, argv):
    t = manifest['training']
    opt = t['optimizer']
    p = argparse.ArgumentParser(description='Train the rnnkit model of this package with PyTorch DDP (run under torchrun).')
    p.add_argument('--epochs', type=int, default=t['epochs'], help='epochs (default %(default)s)')
    p.add_argument('--batch-size', type=int, default=t['batchSize'], help='rows per step and process (default %(default)s)')
    p.add_argument('--lr', type=float, default=opt['lr'], help='learning rate (default %(default)s)')
    p.add_argument('--optimizer', choices=['adam', 'adamw', 'sgd'], default=opt['type'], help='default %(default)s')
    p.add_argument('--momentum', type=float, default=opt['momentum'], help='SGD momentum (default %(default)s)')
    p.add_argument('--weight-decay', type=float, default=opt['weightDecay'], help='default %(default)s')
    p.add_argument('--clip-norm', type=float, default=t['clipNorm'], help='global L2 norm clip, 0 = off (default %(default)s)')
    p.add_argument('--clip-value', type=float, default=t['clipValue'], help='clip by value, 0 = off (default %(default)s)')
    p.add_argument('--seed', type=int, default=t['seed'], help='seeds the row order (default %(default)s)')
    p.add_argument('--no-shuffle', action='store_true', help='visit rows in order (default: rnnkit\'s seeded permutation)')
    p.add_argument('--max-steps', type=int, default=0, help='stop after this many steps in all (0: no limit)')
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto', help='auto: cuda + nccl when a GPU is there, else cpu + gloo')
    p.add_argument('--step-log', default='', help='write one JSON line per step (epoch, step, loss, tokens) to this file (process 0)')
    p.add_argument('--out', default=os.path.join(HERE, 'trained'), help='output directory, must not exist (default: trained/ in the package)')
    args = p.parse_args(argv)
    for name in ('epochs', 'batch_size'):
        if getattr(args, name) < 1:
            p.error('--%s must be a positive integer' % name.replace('_', '-'))
    if not args.lr > 0 or args.momentum < 0 or args.weight_decay < 0 or args.clip_norm < 0 or args.clip_value < 0 or args.max_steps < 0:
        p.error('--lr must be > 0; --momentum, --weight-decay, --clip-norm, --clip-value, --max-steps >= 0')
    args.out = os.path.abspath(args.out)
    if os.path.lexists(args.out):
        p.error('--out %s already exists: choose a new directory (train.py never overwrites one)' % args.out)
    return args


def make_optimizer(params, args, opt):
    betas = (opt['beta1'], opt['beta2'])
    if args.optimizer == 'sgd':
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=bool(opt['nesterov']) and args.momentum > 0,
                               weight_decay=args.weight_decay)
    cls = torch.optim.AdamW if args.optimizer == 'adamw' else torch.optim.Adam
    return cls(params, lr=args.lr, betas=betas, eps=opt['eps'], weight_decay=args.weight_decay)


def evaluate(net, inputs, targets, rank, world, batch, reduce):
    """Mean loss per token over the rows (each process a share), in eval mode."""
    net.eval()
    total = torch.zeros(2, dtype=torch.float64, device=inputs.device)
    with torch.no_grad():
        mine = torch.arange(rank, inputs.shape[0], world, device=inputs.device)
        for k in range(0, mine.numel(), batch):
            idx = mine[k:k + batch]
            logits = net(inputs[idx])
            total[0] += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[idx].reshape(-1), reduction='sum').double()
            total[1] += targets[idx].numel()
    reduce(total)
    net.train()
    return float(total[0] / total[1]) if total[1] > 0 else float('nan')


def check_manifest(m):
    """The fields this script relies on (lib/io/torch-package.ts checkManifest checks the same)."""
    path = os.path.join(HERE, 'manifest.json')
    if not isinstance(m, dict) or m.get('format') != PACKAGE_FORMAT or m.get('version') != PACKAGE_VERSION:
        raise BadPackage('%s is not an rnnkit torch package of version %d' % (path, PACKAGE_VERSION))

    def at(field):
        v = m
        for k in field.split('.'):
            v = v.get(k) if isinstance(v, dict) else None
        return v

    def need(field, ok, what):
        if not ok(at(field)):
            raise BadPackage('%s has no valid %s (%s): damaged?' % (path, field, what))

    name = lambda v: isinstance(v, str) and v != '' and '/' not in v and '\\' not in v
    count = lambda low: lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 and v != float('inf')
    for field in ('weights', 'tokenizer', 'data.train.file'):
        need(field, name, 'a file name in the package')
    if at('data.validation') is not None:
        need('data.validation.file', name, 'a file name in the package')
    need('data.seqLen', count(1), 'an integer >= 1')
    for field in ('training.epochs', 'training.batchSize'):
        need(field, count(1), 'an integer >= 1')
    for field in ('training.seed', 'training.startEpoch'):
        need(field, count(0), 'an integer >= 0')
    for key in ('clipNorm', 'clipValue', 'optimizer.lr', 'optimizer.momentum', 'optimizer.beta1', 'optimizer.beta2',
                'optimizer.eps', 'optimizer.weightDecay'):
        need('training.' + key, number, 'a finite number >= 0')
    need('training.optimizer.type', lambda v: v in ('sgd', 'adam', 'adamw'), "'sgd', 'adam' or 'adamw'")


def main(argv):
    manifest = read_json('manifest.json')
    check_manifest(manifest)
    args = parse_args(manifest, argv)

    distributed = 'RANK' in os.environ and 'WORLD_SIZE' in os.environ
    use_cuda = args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        sys.stderr.write('train.py: --device cuda but torch sees no GPU\n')
        return EXIT_USAGE
    backend = 'nccl' if use_cuda else 'gloo'
    if distributed:
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = torch.device('cuda', local_rank) if use_cuda else torch.device('cpu')
    if use_cuda:
        torch.cuda.set_device(device)

    def reduce(t):
        if distributed:
            dist.all_reduce(t)

    def say(text):
        if rank == 0:
            print(text, flush=True)

    weights, metadata = read_safetensors(os.path.join(HERE, manifest['weights']))
    if 'rnnkit.config' not in metadata:
        raise BadPackage('%s has no rnnkit.config in its metadata' % manifest['weights'])
    config = json.loads(metadata['rnnkit.config'])
    dtype = torch.float64 if config.get('dtype') == 'float64' else torch.float32
    net = RnnkitNet(config).to(dtype)
    for name in net.tied:  # the shared table is stored once, under the embedding's name
        if 'layers.0.weight' in weights:
            weights[name] = weights['layers.0.weight']
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise BadPackage('%s does not fit the model: %s' % (manifest['weights'], err))
    net.to(device)

    try:
        with open(os.path.join(HERE, manifest['tokenizer']), 'rb') as f:
            crc = zlib.crc32(f.read()) & 0xFFFFFFFF
    except OSError as err:
        raise BadPackage('cannot read %s: %s' % (manifest['tokenizer'], err.strerror or err))
    data = manifest['data']
    seq_len = data['seqLen']
    x_train, y_train = (t.to(device) for t in windows(read_tokens(data['train']['file'], net.vocab, crc), seq_len))
    if x_train.shape[0] == 0:
        raise BadPackage('%s holds fewer than %d tokens: no training window' % (data['train']['file'], seq_len + 1))
    val = None
    if data.get('validation'):
        val = tuple(t.to(device) for t in windows(read_tokens(data['validation']['file'], net.vocab, crc), seq_len))

    model = DistributedDataParallel(net, device_ids=[local_rank] if use_cuda else None) if distributed else net
    optimizer = make_optimizer(model.parameters(), args, manifest['training']['optimizer'])
    sampler = RnnkitOrderSampler(range(x_train.shape[0]), num_replicas=world, rank=rank, shuffle=not args.no_shuffle,
                                 seed=args.seed)
    mean = config.get('reduction', 'mean') == 'mean'
    start_epoch = manifest['training']['startEpoch']
    say('train.py: %s, %d process%s (%s on %s), %d training windows of %d tokens, batch %d per process, %s lr %g'
        % (', '.join(l['type'] for l in config['layers']), world, 'es' if world > 1 else '', backend, device.type,
           x_train.shape[0], seq_len, args.batch_size, args.optimizer, args.lr))

    log = open(args.step_log, 'w') if args.step_log and rank == 0 else None
    history, step, t_start = [], 0, time.time()
    for e in range(args.epochs):
        epoch = start_epoch + e
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), dtype=torch.int64, device=device)
        sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss * tokens, tokens (this process)
        t0 = time.time()
        for k in range(0, order.numel(), args.batch_size):
            if args.max_steps and step >= args.max_steps:
                break
            idx = order[k:k + args.batch_size]
            x, y = x_train[idx], y_train[idx]
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, net.vocab), y.reshape(-1), reduction='mean' if mean else 'sum')
            optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over processes: a summed loss is scaled back up to the sum over all of them.
            (loss if mean else loss * world).backward()
            if args.clip_value > 0:
                torch.nn.utils.clip_grad_value_(model.parameters(), args.clip_value)
            if args.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
            optimizer.step()
            tokens = y.numel()
            per_token = loss.detach().double() if mean else loss.detach().double() / tokens
            step_sums = torch.stack([per_token * tokens, torch.tensor(float(tokens), dtype=torch.float64, device=device)])
            reduce(step_sums)
            sums += step_sums
            step += 1
            if log:
                log.write(json.dumps({'epoch': epoch, 'step': step, 'loss': float(step_sums[0] / step_sums[1]),
                                      'tokens': int(step_sums[1])}) + '\n')
        seconds = time.time() - t0
        if sums[1] == 0:
            break
        entry = {'epoch': epoch, 'loss': float(sums[0] / sums[1]), 'tokens': int(sums[1]), 'seconds': seconds,
                 'tokensPerSec': float(sums[1]) / max(seconds, 1e-9)}
        if val is not None and val[0].shape[0] > 0:
            entry['valLoss'] = evaluate(net, val[0], val[1], rank, world, args.batch_size, reduce)
        history.append(entry)
        say('epoch %d/%d  loss %.4f%s  %d tok/s  %.1fs' % (e + 1, args.epochs, entry['loss'],
            '  val %.4f' % entry['valLoss'] if 'valLoss' in entry else '', round(entry['tokensPerSec']), seconds))
    if log:
        log.close()

    if rank == 0:
        write_result(args.out, net, metadata, {
            'format': RESULT_FORMAT, 'version': 1, 'startEpoch': start_epoch, 'endEpoch': start_epoch + len(history),
            'steps': step, 'worldSize': world, 'backend': backend, 'device': device.type, 'torch': torch.__version__,
            'batchSizePerProcess': args.batch_size, 'optimizer': args.optimizer, 'lr': args.lr,
            'seconds': time.time() - t_start, 'history': history,
        })
        say('wrote %s (model.safetensors, result.json)' % args.out)
    if distributed:
        dist.barrier()  # rank 0 has written the result; every rank is done
        # No destroy_process_group: with torch 1.13's gloo, a rank tearing the group down
        # after its peer had exited spun in gloo's transport thread for minutes (seen in CI,
        # once in a few runs). Every rank's work is finished here, so leave at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def write_result(out, net, metadata, result):
    """Writes model.safetensors and result.json into a temporary sibling of `out`, then renames it to `out`."""
    parent = os.path.dirname(out)
    temp = os.path.join(parent, '.%s.%d.tmp' % (os.path.basename(out), os.getpid()))
    os.makedirs(parent, exist_ok=True)
    shutil.rmtree(temp, ignore_errors=True)
    os.mkdir(temp)
    try:
        state = {k: v for k, v in net.state_dict().items() if k not in net.tied}
        write_safetensors(os.path.join(temp, 'model.safetensors'), state, metadata)
        with open(os.path.join(temp, 'result.json'), 'w') as f:
            json.dump(result, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temp, out)  # fails (rather than merging) if `out` appeared meanwhile
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except BadPackage as err:
        sys.stderr.write('train.py: damaged or inconsistent package: %s\n' % err)
        sys.exit(EXIT_BAD_PACKAGE)
