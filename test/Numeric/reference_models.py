"""The example CNNs written as PyTorch modules whose state_dict keys are exactly attnc's weight keys, so
`model.state_dict()` (less BatchNorm's num_batches_tracked) is a weight file for the compiled program."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNReLU(nn.Module):
    """relu(batch_norm(conv2d(x, out, 3, padding = 1)))"""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv2d0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.batch_norm0 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.batch_norm0(self.conv2d0(x)))


class ChannelAttention(nn.Module):
    """CBAM channel attention: x · σ(MLP(avgpool x) + MLP(maxpool x))."""

    def __init__(self, channels, reduction):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        mlp = lambda z: self.fc2(torch.relu(self.fc1(z)))
        return x * torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]


class CBAM(nn.Module):
    """spatial_attention(channel_attention(x, reduction), kernel): the spatial part owns `conv`."""

    def __init__(self, channels, reduction, kernel):
        super().__init__()
        self.channel_attention0 = ChannelAttention(channels, reduction)
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        x = self.channel_attention0(x)
        stats = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        self.weights = torch.sigmoid(self.conv(stats))  # [B, 1, H, W]
        return x * self.weights


class NonLocal(nn.Module):
    """Embedded-Gaussian non-local block; the 1×1 convolutions are Linear layers over channels."""

    def __init__(self, channels, reduction):
        super().__init__()
        inner = channels // reduction
        self.theta, self.phi, self.g = (nn.Linear(channels, inner) for _ in range(3))
        self.out = nn.Linear(inner, channels)

    def forward(self, x):
        b, c, h, w = x.shape
        flat = x.flatten(2).transpose(1, 2)  # [B, N, C]
        p = torch.softmax(self.theta(flat) @ self.phi(flat).transpose(1, 2), dim=-1)
        return x + self.out(p @ self.g(flat)).transpose(1, 2).reshape(b, c, h, w)


class CNNSpatialAttention(nn.Module):
    """examples/cnn_spatial_attention.attn"""

    def __init__(self, c1=16, c2=32, classes=10):
        super().__init__()
        self.c1, self.a1 = ConvBNReLU(1, c1), CBAM(c1, 4, 7)
        self.c2, self.a2 = ConvBNReLU(c1, c2), CBAM(c2, 4, 7)
        self.logits = nn.Linear(c2, classes)

    def forward(self, image):
        x = F.max_pool2d(self.a1(self.c1(image)), 2)
        logits = self.logits(self.a2(self.c2(x)).mean((2, 3)))
        return {"logits": logits, "probs": torch.softmax(logits, -1), "attention": self.a1.weights}


class CNNSelfAttention(nn.Module):
    """examples/cnn_self_attention.attn"""

    def __init__(self, c=16, classes=10):
        super().__init__()
        self.c1, self.c2 = ConvBNReLU(1, c), ConvBNReLU(c, 2 * c)
        self.nl = NonLocal(2 * c, 2)
        self.logits = nn.Linear(2 * c, classes)

    def forward(self, image):
        x = F.max_pool2d(self.c2(self.c1(image)), 2)
        return {"logits": self.logits(self.nl(x).mean((2, 3)))}


def randomize(model, generator):
    """Random weights and batch-norm statistics (PyTorch's fresh statistics would make batch norm trivial)."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            r = torch.randn(t.shape, generator=generator, dtype=t.dtype)
            if name.endswith("running_var"):
                t.copy_(r.abs() * 0.5 + 0.5)
            elif name.endswith("batch_norm0.weight"):
                t.copy_(1 + 0.2 * r)
            else:
                fan_in = t[0].numel() if t.dim() > 1 else 10
                t.copy_(r * fan_in ** -0.5)
    return model


def weights(model):
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


#===------------------------------------------------------------------------------------------------------===#
# Encoder-decoders: examples/seq2seq_bahdanau.attn and seq2seq_luong.attn (and smaller test variants).
# `encode` gives the per-row context the decoder attends over; `step` runs one decoder step for a set of
# rows (`rows` index the batch) and returns the next state, the scores and the attention weights.
#===------------------------------------------------------------------------------------------------------===#


def _module(**children):
    m = nn.Module()
    for name, child in children.items():
        setattr(m, name, child)
    return m


def _masked_softmax(scores, lengths):
    keep = torch.arange(scores.shape[-1], device=scores.device)[None, :] < lengths[:, None]
    return torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)


class Seq2SeqBahdanau(nn.Module):
    """BiLSTM encoder; LSTM decoder cell fed [embed(y); context] with additive attention over the encoder
    from the previous hidden state, and logits from [h; context]."""

    def __init__(self, v_in=30, v_out=42, e=32, h=64, d=128, a=64):
        super().__init__()
        self.enc = nn.LSTM(e, h, bidirectional=True, batch_first=True)
        self.enc.embed0 = nn.Embedding(v_in, e)
        cell = nn.LSTMCell(e + 2 * h, d)
        cell.embed0 = nn.Embedding(v_out, e)
        self.step = _module(ctx=_module(query=nn.Linear(d, a), keys=nn.Linear(2 * h, a), v=nn.Linear(a, 1, bias=False)),
                            h=cell, logits=nn.Linear(d + 2 * h, v_out))
        self.d = d

    def encode(self, src, src_len):
        packed = nn.utils.rnn.pack_padded_sequence(self.enc.embed0(src.long()), src_len.long(), batch_first=True,
                                                   enforce_sorted=False)
        enc = nn.utils.rnn.pad_packed_sequence(self.enc(packed)[0], batch_first=True, total_length=src.shape[1])[0]
        self.memory = (enc, self.step.ctx.keys(enc), src_len.to(enc.device))  # packing took them on the host
        zeros = enc.new_zeros(src.shape[0], self.d)
        return (zeros, zeros)

    def step_rows(self, y, state, rows):
        enc, keys, lengths = (t[rows] for t in self.memory)
        h, c = state
        s = self.step
        scores = s.ctx.v(torch.tanh(s.ctx.query(h)[:, None, :] + keys))[..., 0]
        w = _masked_softmax(scores, lengths)
        ctx = (w[:, :, None] * enc).sum(1)
        h, c = s.h(torch.cat([s.h.embed0(y.long()), ctx], -1), (h, c))
        return (h, c), s.logits(torch.cat([h, ctx], -1)), w


class Seq2SeqLuong(nn.Module):
    """GRU encoder; GRU decoder cell on embed(y), then general attention from the new state and
    tanh(W·[context; h]) into the logits."""

    def __init__(self, v_in=30, v_out=44, e=32, h=64):
        super().__init__()
        self.enc = nn.GRU(e, h, batch_first=True)
        self.enc.embed0 = nn.Embedding(v_in, e)
        cell = nn.GRUCell(e, h)
        cell.embed0 = nn.Embedding(v_out, e)
        att = _module(dense0=nn.Linear(2 * h, h, bias=False))
        self.step = _module(h=cell, ctx=_module(), att=att, logits=nn.Linear(h, v_out))
        self.step.ctx.weight = nn.Parameter(torch.empty(h, h))
        self.h = h

    def encode(self, src, src_len):
        packed = nn.utils.rnn.pack_padded_sequence(self.enc.embed0(src.long()), src_len.long(), batch_first=True,
                                                   enforce_sorted=False)
        enc = nn.utils.rnn.pad_packed_sequence(self.enc(packed)[0], batch_first=True, total_length=src.shape[1])[0]
        self.memory = (enc, src_len.to(enc.device))  # packing took them on the host
        return (enc.new_zeros(src.shape[0], self.h),)

    def step_rows(self, y, state, rows):
        enc, lengths = (t[rows] for t in self.memory)
        s = self.step
        h = s.h(s.h.embed0(y.long()), state[0])
        w = _masked_softmax(torch.einsum("bd,bsd->bs", F.linear(h, s.ctx.weight), enc), lengths)
        ctx = (w[:, :, None] * enc).sum(1)
        att = torch.tanh(s.att.dense0(torch.cat([ctx, h], -1)))
        return (h,), s.logits(att), w


def teacher(model, src, src_len, tgt, start=1):
    """Teacher forcing: step t reads `start`, then tgt[:, t-1]; returns logits [B, T, V] and weights [B, T, S]."""
    state = model.encode(src, src_len)
    rows = torch.arange(src.shape[0])
    logits, weights = [], []
    for t in range(tgt.shape[1]):
        y = torch.full((src.shape[0],), start) if t == 0 else tgt[:, t - 1]
        state, scores, w = model.step_rows(y, state, rows)
        logits.append(scores)
        weights.append(w)
    return torch.stack(logits, 1), torch.stack(weights, 1)


def _pad_results(hyps, pad, src_len_max):
    """Tokens [B, L] (padded with `pad`) and weights [B, L, S] (zeros) from per-row (tokens, weights)."""
    length = max(1, max(len(t) for t, _ in hyps))
    size = next((ws[0].shape[-1] for _, ws in hyps if ws), src_len_max)  # what the step emits per row
    tokens = torch.full((len(hyps), length), pad, dtype=torch.int32)
    weights = torch.zeros(len(hyps), length, size, dtype=torch.float64)
    for b, (toks, ws) in enumerate(hyps):
        tokens[b, :len(toks)] = torch.tensor(toks, dtype=torch.int32)
        for t, w in enumerate(ws):
            weights[b, t] = w
    return tokens, weights


def greedy(model, src, src_len, start=1, stop=2, pad=0, max_len=50):
    """Arg-max decoding (the lowest id on ties), each row on its own until it emits `stop`."""
    state0 = model.encode(src, src_len)
    hyps = []
    for b in range(src.shape[0]):
        rows = torch.tensor([b])
        state = tuple(s[b:b + 1] for s in state0)
        y, toks, ws = start, [], []
        for _ in range(max_len):
            state, scores, w = model.step_rows(torch.tensor([y]), state, rows)
            y = int(torch.argmax(scores[0]))
            toks.append(y)
            ws.append(w[0])
            if y == stop:
                break
        hyps.append((toks, ws))
    return _pad_results(hyps, pad, src.shape[1])


def beam_search(model, src, src_len, width=4, start=1, stop=2, pad=0, max_len=50, length_penalty=1.0):
    """Beam search as docs/dialect.md defines it, one batch row at a time: each step extends every live
    hypothesis by every token (score = sum of log-softmax), walks the candidates best first (ties: lower beam,
    then lower token) and keeps the first `width` that do not stop; one that stops is finished (while fewer
    than `width` are) with score / length^length_penalty. A row ends when `width` hypotheses finished, or at
    max_len, where the live ones finish too; the best finished one wins (ties: the first)."""
    state0 = model.encode(src, src_len)
    hyps = []
    for b in range(src.shape[0]):
        rows = torch.tensor([b])
        beams = [(0.0, [], [], tuple(s[b:b + 1] for s in state0))]
        finished = []
        for t in range(max_len):
            candidates = []
            for k, (score, toks, ws, state) in enumerate(beams):
                y = torch.tensor([toks[-1] if toks else start])
                nstate, scores, w = model.step_rows(y, state, rows)
                logp = torch.log_softmax(scores[0].double(), -1)
                for v in range(logp.shape[0]):
                    candidates.append((score + float(logp[v]), k, v, nstate, w[0]))
            candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
            live = []
            for score, k, v, nstate, w in candidates[:2 * width]:
                if len(live) == width:
                    break
                toks, ws = beams[k][1] + [v], beams[k][2] + [w]
                if v == stop:
                    if len(finished) < width:
                        finished.append((score / (t + 1) ** length_penalty, toks, ws))
                    continue
                live.append((score, toks, ws, nstate))
            if len(finished) >= width:
                break
            if t == max_len - 1:
                finished += [(score / (t + 1) ** length_penalty, toks, ws) for score, toks, ws, _ in live]
                break
            beams = live
        best = finished[0]
        for f in finished[1:]:
            if f[0] > best[0]:
                best = f
        hyps.append((best[1], best[2]))
    return _pad_results(hyps, pad, src.shape[1])


#===------------------------------------------------------------------------------------------------------===#
# Transformer encoder-decoders: examples/g2p_transformer.attn and test/Numeric/models/transformer_decoder.attn.
# The step recomputes the whole prefix with a causal mask (no cache): the oracle for the compiled caches.
#===------------------------------------------------------------------------------------------------------===#


def sinusoid(positions, d):
    """Sinusoidal position encodings [..., d] of integer positions: sin and cos of p·10000^(-2i/d) interleaved."""
    omega = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    angle = positions.double()[..., None] * omega
    return torch.stack([torch.sin(angle), torch.cos(angle)], -1).flatten(-2)


class TransformerG2P(nn.Module):
    """Post-norm nn.TransformerEncoderLayer / nn.TransformerDecoderLayer stacks (ReLU, no dropout), embeddings
    scaled by sqrt(d) plus sinusoidal positions, and a linear output layer."""

    def __init__(self, v_in=30, v_out=42, d=128, heads=4, ff=512, enc_layers=3, dec_layers=3):
        super().__init__()
        self.embed_in, self.embed_out = nn.Embedding(v_in, d), nn.Embedding(v_out, d)
        layer = dict(d_model=d, nhead=heads, dim_feedforward=ff, dropout=0.0, batch_first=True)
        self.encoder = nn.ModuleList(nn.TransformerEncoderLayer(**layer) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(nn.TransformerDecoderLayer(**layer) for _ in range(dec_layers))
        self.out = nn.Linear(d, v_out)
        self.d = d

    def attn_names(self, tensors, names):
        """`tensors` (the state_dict, or the gradients by parameter name) under the names the .attn model
        gives them: `names` maps each module path, with in_proj split into q, k and v, to attnc's prefix."""
        out = {}
        for key, t in tensors.items():
            module, _, kind = key.rpartition(".")
            attn, _, proj = key.rpartition(".in_proj_")
            parts = zip("qkv", t.chunk(3)) if attn else [(None, t)]
            for part, chunk in parts:
                path = f"{attn}.{part}" if part else module
                out[names[path] + "." + (proj if part else kind)] = chunk
        return out

    def encode(self, src, src_len):
        pad = torch.arange(src.shape[1])[None, :] >= src_len[:, None].long()
        x = self.embed_in(src.long()) * math.sqrt(self.d)
        x = x + sinusoid(torch.arange(src.shape[1]), self.d).to(x.dtype)
        for layer in self.encoder:
            layer.train()  # PyTorch's inference fast path zeroes padded positions; dropout is 0 anyway
            x = layer(x, src_key_padding_mask=pad)
        self.memory = (x, pad)
        return (src.new_zeros(src.shape[0], 0, dtype=torch.long),)

    def decode(self, prefix, rows):
        """The last layer's output [rows, T, d] at every position of the token prefixes [rows, T] (causal)."""
        memory, pad = (t[rows] for t in self.memory)
        steps = prefix.shape[1]
        x = self.embed_out(prefix) * math.sqrt(self.d)
        x = x + sinusoid(torch.arange(steps), self.d).to(x.dtype)
        causal = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1)
        for layer in self.decoder:
            layer.train()
            x = layer(x, memory, tgt_mask=causal, memory_key_padding_mask=pad)
        return x

    def step_rows(self, y, state, rows):
        """The next state, the logits and the last layer's output of the step that reads `y`."""
        prefix = torch.cat([state[0], y.long()[:, None]], 1)
        hidden = self.decode(prefix, rows)[:, -1]
        return (prefix,), self.out(hidden), hidden
