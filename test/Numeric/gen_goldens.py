#!/usr/bin/env python3
"""Makes the numeric goldens: random weights and inputs, and the outputs of the same models written in
PyTorch (torch.nn.functional), computed in float64 and stored as float32.

    python3 test/Numeric/gen_goldens.py        # needs torch and numpy; rewrites test/Numeric/goldens/

Each case directory holds weights.safetensors, one <input>.npy per model input and one <output>.npy per
output. The tests need neither PyTorch nor this script: they compare compiled programs against these files.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import reference_models
import seeded_weights

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDENS = os.path.join(HERE, "goldens")


def save_safetensors(path, tensors):
    """Writes float32 tensors in the safetensors format."""
    seeded_weights.write_safetensors(
        path, {k: (list(t.shape), np.ascontiguousarray(t, dtype="<f4").tobytes()) for k, t in tensors.items()})


class Case:
    """A model's weights, inputs and reference outputs for one set of shapes."""

    def __init__(self, model, name, seed):
        self.dir = os.path.join(GOLDENS, model, name)
        self.gen = torch.Generator().manual_seed(seed)
        self.weights, self.inputs, self.outputs = {}, {}, {}

    def randn(self, *shape, scale=1.0):
        return torch.randn(*shape, generator=self.gen, dtype=torch.float64) * scale

    def input(self, name, *shape):
        t = self.randn(*shape)
        self.inputs[name] = t
        return t

    def mask(self, name, batch, length):
        """A padding mask: each row keeps a random prefix of at least one position."""
        keep = torch.zeros(batch, length, dtype=torch.int32)
        for b in range(batch):
            n = int(torch.randint(1, length + 1, (1,), generator=self.gen))
            keep[b, :n] = 1
        self.inputs[name] = keep
        return keep

    def dense(self, prefix, x, units, bias=True, trainable=False):
        """A linear layer with new random weights; `trainable` ones record gradients."""
        fan_in = x.shape[-1]
        w = self.randn(units, fan_in, scale=fan_in ** -0.5).requires_grad_(trainable)
        self.weights[prefix + ".weight"] = w
        b = None
        if bias:
            b = self.randn(units, scale=0.1).requires_grad_(trainable)
            self.weights[prefix + ".bias"] = b
        return F.linear(x, w, b)

    def output(self, name, t):
        self.outputs[name] = t

    def save(self, weights=True):
        """Writes the case; without `weights` the test makes them again (seeded_weights.py)."""
        os.makedirs(self.dir, exist_ok=True)
        if weights:
            save_safetensors(os.path.join(self.dir, "weights.safetensors"),
                             {k: v.numpy() for k, v in self.weights.items()})
        for name, t in self.inputs.items():
            dtype = np.int32 if t.dtype == torch.int32 else np.float32
            np.save(os.path.join(self.dir, name + ".npy"), t.numpy().astype(dtype))
        for name, t in self.outputs.items():
            dtype = np.int32 if t.dtype == torch.int32 else np.float32
            np.save(os.path.join(self.dir, name + ".npy"), np.require(t.numpy().astype(dtype), requirements="C"))


def attention(q, k, v, heads=1, causal=False, mask=None, scale=None):
    """dot_attention as the language defines it, via scaled_dot_product_attention."""
    b, sq, d = q.shape
    sk, dv = k.shape[1], v.shape[2]
    split = lambda t, n, f: t.reshape(b, n, heads, f // heads).transpose(1, 2)
    attn_mask = None
    if mask is not None:
        attn_mask = (mask != 0).reshape(b, 1, 1, sk)
    if causal:
        tril = torch.ones(sq, sk, dtype=torch.bool).tril()
        attn_mask = tril if attn_mask is None else attn_mask & tril
    out = F.scaled_dot_product_attention(split(q, sq, d), split(k, sk, d), split(v, sk, dv),
                                         attn_mask=attn_mask, scale=scale)
    return out.transpose(1, 2).reshape(b, sq, dv)


def attention_block(name, seed, batch, length):
    c = Case("attention_block", name, seed)
    x = c.input("x", batch, length, 32)
    valid = c.mask("valid", batch, length)
    q, k, v = (c.dense(p, x, 32) for p in ("q", "k", "v"))
    a = attention(q, k, v, heads=4, mask=valid)
    c.output("y", c.dense("y", a, 32))
    c.save()


def layers(name, seed, batch, length):
    c = Case("layers", name, seed)
    x = c.input("x", batch, 5)
    s = c.input("s", batch, length, 5)
    c.output("h", torch.relu(c.dense("h.dense0", x, 7)))
    c.output("t", torch.tanh(c.dense("t.dense0", x, 3, bias=False)))
    c.output("g", torch.sigmoid(c.dense("g.dense0", x, 4)))
    c.output("p", torch.softmax(c.dense("p.dense0", x, 6), dim=-1))
    c.output("r", c.dense("r", s, 21))
    c.output("sp", torch.softmax(s, dim=-1))
    c.save()


def shapes(name, seed, batch, length):
    c = Case("shapes", name, seed)
    x = c.input("x", batch, length, 12)
    f = c.input("f", batch, 2, 3, 4)
    heads = c.dense("heads.dense0", x, 24).reshape(batch, length, 4, 6).transpose(1, 2)
    c.output("heads", heads)
    c.output("merged", c.dense("merged", heads.transpose(1, 2).reshape(batch, length, -1), 5))
    for name, part in zip("qkv", x.split(4, dim=-1)):
        c.output(name, part)
    c.output("t", f.transpose(-1, 1))
    c.output("r", f.reshape(batch, -1, 2))
    lo, hi = f.split(1, dim=1)
    c.output("lo", lo)
    c.output("hi", hi)
    c.output("mixed", torch.relu(lo.reshape(batch, 12) - hi.reshape(batch, 12)))
    c.save()


def losses(name, seed, batch, length):
    c = Case("losses", name, seed)
    v = 7
    logits = c.input("logits", batch, length, v)
    tgt = torch.randint(0, v, (batch, length), generator=c.gen, dtype=torch.int32)
    tgt[0, 0] = 0  # at least one padding position
    c.inputs["tgt"] = tgt
    flat = c.input("flat", batch, v)
    label = torch.randint(0, v, (batch,), generator=c.gen, dtype=torch.int32)
    c.inputs["label"] = label
    other = c.input("other", batch, length, v)
    ce = lambda x, t, **kw: F.cross_entropy(x.reshape(-1, x.shape[-1]), t.reshape(-1).long(), **kw)
    c.output("ce", ce(logits, tgt))
    c.output("ce_ignore", ce(logits, tgt, ignore_index=0))
    c.output("ce_smooth", ce(logits, tgt, ignore_index=0, label_smoothing=0.1))
    c.output("ce_flat", ce(flat, label, label_smoothing=0.2))
    c.output("squared", F.mse_loss(logits, other))
    c.save()


def gradient_case(c, loss_fn, params=None):
    """Backpropagates the loss `loss_fn()` computes, checks the gradients against central finite
    differences in float64, records the loss with the gradient of every weight (named as `./model grad`
    writes them), and saves the case. `params` maps names to the tensors that require gradients (default:
    the case's weights)."""
    params = params if params is not None else c.weights
    loss = loss_fn()
    loss.backward()
    check_finite_differences(loss_fn, params)
    c.output("loss", loss.detach())
    for key, w in params.items():
        c.output("grad." + key, w.grad)
    c.weights = {k: w.detach() for k, w in c.weights.items()}
    c.save()


def check_finite_differences(loss_fn, params, samples=4, eps=1e-6):
    """(L(w + e) − L(w − e)) / 2e in float64 at `samples` elements of every parameter must equal autograd's
    gradient, so that every golden gradient is checked against finite differences too."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, w in params.items():
            flat, grad = w.view(-1), w.grad.reshape(-1)
            for i in torch.randint(0, flat.numel(), (samples,), generator=gen).tolist():
                original = flat[i].item()
                flat[i] = original + eps
                plus = loss_fn().item()
                flat[i] = original - eps
                minus = loss_fn().item()
                flat[i] = original
                numeric = (plus - minus) / (2 * eps)
                assert abs(numeric - grad[i].item()) <= 1e-6 + 1e-4 * abs(numeric), \
                    f"{key}[{i}]: finite differences {numeric}, autograd {grad[i].item()}"


def after_training(c, forward, optimizer, steps=3, clip=None, ema=None):
    """Takes `steps` full-batch optimizer steps (with global-norm clipping) on a copy of the case's weights,
    then writes the loss and gradients at the trained weights to CASE/steps<N>/, as `./model train` then
    `./model grad` would produce them. With `ema`, they are taken at the parameters' moving average instead
    (after step t: average = d·average + (1 − d)·parameter, d = min(ema, (1 + t)/(10 + t)), from the initial
    parameters), in CASE/steps<N>_ema/."""
    params = {k: v.detach().clone().requires_grad_() for k, v in c.weights.items()}
    average = {k: v.detach().clone() for k, v in params.items()}
    opt = optimizer(list(params.values()))
    for t in range(1, steps + 1):
        opt.zero_grad()
        forward(params).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(list(params.values()), clip)
        opt.step()
        if ema:
            d = min(ema, (1 + t) / (10 + t))
            for k, v in params.items():
                average[k].mul_(d).add_(v.detach(), alpha=1 - d)
    opt.zero_grad()
    if ema:
        params = {k: v.requires_grad_() for k, v in average.items()}
    loss = forward(params)
    loss.backward()
    out = os.path.join(c.dir, f"steps{steps}" + ("_ema" if ema else ""))
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "loss.npy"), np.require(loss.detach().numpy().astype(np.float32), requirements="C"))
    for key, w in params.items():
        np.save(os.path.join(out, "grad." + key + ".npy"), w.grad.numpy().astype(np.float32))


def grad_classifier(name, seed, batch, length):
    c = Case("grad_classifier", name, seed)
    x = c.input("x", batch, length, 6)
    tgt = torch.randint(0, 5, (batch, length), generator=c.gen, dtype=torch.int32)
    tgt[0, 0] = 0  # at least one ignored position
    c.inputs["tgt"] = tgt
    for prefix, units, fan_in in (("a.dense0", 8, 6), ("b.dense0", 8, 6), ("c.dense0", 8, 16), ("logits", 5, 8)):
        c.weights[prefix + ".weight"] = c.randn(units, fan_in, scale=fan_in ** -0.5).requires_grad_()
        c.weights[prefix + ".bias"] = c.randn(units, scale=0.1).requires_grad_()

    def forward(w, out=None):
        dense = lambda prefix, t: F.linear(t, w[prefix + ".weight"], w[prefix + ".bias"])
        a = F.gelu(dense("a.dense0", x))
        b = torch.sigmoid(dense("b.dense0", x))
        h = torch.relu(dense("c.dense0", torch.cat([a, b], -1))) - a * b
        logits = dense("logits", torch.tanh(h))
        if out is not None:
            out("logits", logits.detach())
        return F.cross_entropy(logits.reshape(-1, 5), tgt.reshape(-1).long(), ignore_index=0, label_smoothing=0.1)

    forward(c.weights, c.output)
    gradient_case(c, lambda: forward(c.weights))
    after_training(c, forward, lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1), clip=0.5)
    after_training(c, forward, lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1), clip=0.5, ema=0.9)


def grad_regression(name, seed, batch):
    c = Case("grad_regression", name, seed)
    x = c.input("x", batch, 4, 6)
    y = c.input("y", batch, 6, 4)
    c.weights["h.weight"] = c.randn(6, 6, scale=6 ** -0.5).requires_grad_()

    def forward(w, out=None):
        h = F.linear(x, w["h.weight"])
        p = torch.softmax(h.reshape(batch, 6, 4), -1)
        q = torch.log_softmax(h.transpose(1, 2), -1)
        if out is not None:
            out("p", p.detach())
        return F.mse_loss(p + q, y)

    forward(c.weights, c.output)
    gradient_case(c, lambda: forward(c.weights))
    after_training(c, forward, lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9, weight_decay=0.01))


def grad_additive_primitives(name, seed, batch, length):
    """test/Numeric/models/grad_additive_primitives.attn: Bahdanau attention from primitives."""
    c = Case("grad_additive_primitives", name, seed)
    query, values, target = c.input("query", batch, 32), c.input("values", batch, length, 32), c.input(
        "target", batch, 32)
    c.dense("q", query, 32, trainable=True)
    c.dense("k", values, 32, trainable=True)
    c.weights["v.weight"] = c.randn(1, 32, scale=32 ** -0.5).requires_grad_()
    w = c.weights

    def forward():
        q = F.linear(query, w["q.weight"], w["q.bias"])
        k = F.linear(values, w["k.weight"], w["k.bias"])
        p = torch.softmax(F.linear(torch.tanh(q[:, None, :] + k), w["v.weight"]), dim=1)
        context = (p * values).sum(1)
        c.output("context", context.detach())
        return F.mse_loss(context, target)

    gradient_case(c, forward)


def grad_attention(name, seed, batch, length):
    """test/Numeric/models/grad_attention.attn: gradients through an embedding, masked causal multi-head
    attention, layer norm and masked additive attention."""
    c = Case("grad_attention", name, seed)
    ids = torch.randint(1, 11, (batch, length), generator=c.gen, dtype=torch.int32)
    valid = c.mask("valid", batch, length)
    tgt = torch.randint(0, 11, (batch, length), generator=c.gen, dtype=torch.int32)
    c.inputs["ids"], c.inputs["tgt"] = ids, tgt

    def param(key, *shape, scale=1.0):
        t = c.randn(*shape, scale=scale).requires_grad_()
        c.weights[key] = t
        return t

    def dense(prefix, t, units):
        return c.dense(prefix, t, units, trainable=True)

    param("e.weight", 11, 8)
    for prefix in ("a.dense0", "a.dense1", "a.dense2"):
        dense(prefix, torch.zeros(1, 8, dtype=torch.float64), 8)
    param("n.weight", 8), param("n.bias", 8, scale=0.1)
    dense("c.query", torch.zeros(1, 8, dtype=torch.float64), 6)
    dense("c.keys", torch.zeros(1, 8, dtype=torch.float64), 6)
    param("c.v.weight", 1, 6, scale=6 ** -0.5)
    dense("logits", torch.zeros(1, 8, dtype=torch.float64), 11)
    w = c.weights

    def forward():
        linear = lambda prefix, t: F.linear(t, w[prefix + ".weight"], w[prefix + ".bias"])
        e = F.embedding(ids.long(), w["e.weight"])
        a = attention(linear("a.dense0", e), linear("a.dense1", e), linear("a.dense2", e), heads=2, causal=True,
                      mask=valid)
        n = F.layer_norm(e + a, (8,), w["n.weight"], w["n.bias"])
        qp, kp = linear("c.query", n), linear("c.keys", e)
        scores = (torch.tanh(qp[:, :, None, :] + kp[:, None, :, :]) @ w["c.v.weight"].T).squeeze(-1)
        scores = scores.masked_fill(valid[:, None, :] == 0, float("-inf"))
        context = torch.softmax(scores, -1) @ e
        return linear("logits", context + n)

    c.output("logits", forward().detach())
    gradient_case(c, lambda: F.cross_entropy(forward().reshape(-1, 11), tgt.reshape(-1).long(), ignore_index=0))


def attention_variants(name, seed, batch, s, t):
    c = Case("attention", name, seed)
    q = c.input("q", batch, s, 16)
    k = c.input("k", batch, t, 16)
    v = c.input("v", batch, t, 32)
    keep = c.mask("keep", batch, t)
    wide = c.input("wide", batch, s, 64)
    c.output("cross", attention(q, k, v))
    c.output("causal", attention(q, q, q, heads=4, causal=True))
    c.output("masked", attention(q, k, v, heads=2, mask=keep, scale=0.3))
    c.output("heads", attention(wide, wide, wide, heads=4, causal=True))
    c.save()


def streaming_attention(name, seed, batch, s, t):
    """test/Numeric/models/streaming_attention.attn: more keys than one streaming block."""
    c = Case("streaming_attention", name, seed)
    q = c.input("q", batch, s, 8)
    k = c.input("k", batch, t, 8)
    v = c.input("v", batch, t, 8)
    keep = c.mask("keep", batch, t)
    c.output("cross", attention(q, k, v))
    c.output("causal", attention(q, q, q, heads=2, causal=True))
    c.output("masked", attention(q, k, v, heads=2, mask=keep))
    c.save()


def streaming_heads(name, seed, batch, s):
    """test/Numeric/models/streaming_heads.attn: heads of 64 features over several blocks of keys, the
    shape of the SDPA benchmark's heads (the GPU kernel's register tiles and rounded slots)."""
    c = Case("streaming_heads", name, seed)
    x = c.input("x", batch, s, 128)
    y = c.input("y", batch, s, 128)
    c.output("full", attention(x, y, y, heads=2))
    c.output("causal", attention(x, x, x, heads=2, causal=True))
    c.save()


def elementwise(name, seed, batch, length):
    c = Case("elementwise", name, seed)
    x = c.input("x", batch, length, 24)
    y = c.input("y", batch, length, 24)

    def layer_norm(prefix, t, eps=1e-5):
        w, b = c.randn(24, scale=0.5) + 1.0, c.randn(24, scale=0.1)
        c.weights[prefix + ".weight"], c.weights[prefix + ".bias"] = w, b
        return F.layer_norm(t, (24,), w, b, eps)

    c.output("n", layer_norm("n", x))
    c.output("e", layer_norm("e", y, eps=0.1))
    c.output("g", F.gelu(x))
    c.output("ls", F.log_softmax(x, dim=-1))
    c.output("r", x + y * x - y)
    c.output("d", torch.relu(x))
    c.output("res", c.dense("res.dense0", x, 24) + x)
    c.save()


def primitives(name, seed, batch, length):
    """test/Numeric/models/primitives.attn: broadcasting arithmetic over size-1, missing leading and symbolic
    dimensions, numbers as scalars, negation, the elementwise functions, reductions, softmax along an axis,
    expand_dims and squeeze, batched matrix products; forward and gradients."""
    c = Case("primitives", name, seed)
    q, k = c.input("q", batch, 5), c.input("k", batch, length, 5)
    cin, z = c.input("c", 1, 5), c.input("z", 1, length, 4)
    tgt = c.input("tgt", batch, length, 4)
    for prefix, units in (("qe.dense0", 4), ("kp", 4), ("gate", 1), ("bias", 4)):
        c.weights[prefix + ".weight"] = c.randn(units, 5, scale=5 ** -0.5).requires_grad_()
        c.weights[prefix + ".bias"] = c.randn(units, scale=0.1).requires_grad_()
    w = c.weights

    def forward(out=None):
        dense = lambda prefix, t: F.linear(t, w[prefix + ".weight"], w[prefix + ".bias"])
        qe = dense("qe.dense0", q).reshape(batch, 1, 4)
        kp, gate, bias = dense("kp", k), dense("gate", k), dense("bias", cin)
        s = torch.tanh(qe + kp) * gate - bias / 2 + z
        e = torch.exp(s * 0.5) + torch.abs(s) - torch.sqrt(kp * kp + 1) / (gate * gate + 1)
        f = torch.log(torch.sigmoid(s) + 0.5) * torch.rsqrt(s * s + 2) - -e / 3 + (1 - gate) * qe
        r1, r2 = s.sum(1), e.mean(dim=(0, 2), keepdim=True)
        r3, r4 = f.amax(-1), (s * e).amin(0, keepdim=True)
        p, lp = torch.softmax(s, 1), torch.log_softmax(e * r2 + r4, 0)
        x1 = r3.unsqueeze(1).squeeze(1)
        mm, mv, mt = s @ kp.transpose(1, 2), s @ bias.T, s.transpose(1, 2) @ p
        if out is not None:
            for key, t in dict(s=s, e=e, f=f, r1=r1, r2=r2, r3=r3, r4=r4, p=p, lp=lp, mm=mm, mv=mv, mt=mt).items():
                out(key, t.detach())
        return (F.mse_loss(f, tgt) + (r1 * r1).mean() / 10 + (p * lp).sum() / 100 + x1.mean() + mm.mean() / 10
                + (mv * mv).sum() / 100 + mt.mean())

    forward(c.output)
    gradient_case(c, forward)


def selections(name, seed, batch, length):
    """test/Numeric/models/selections.attn: pow, maximum, minimum, clamp, the comparisons, where, argmax and
    slice; forward and gradients."""
    c = Case("selections", name, seed)
    x, y, tgt = c.input("x", batch, length, 6), c.input("y", batch, length, 1), c.input("tgt", batch, length, 4)
    for prefix, units in (("h", 4), ("g", 1)):
        c.weights[prefix + ".weight"] = c.randn(units, 6, scale=6 ** -0.5).requires_grad_()
        c.weights[prefix + ".bias"] = c.randn(units, scale=0.1).requires_grad_()
    w = c.weights
    mask = lambda t: t.to(torch.float64)

    def forward(out=None):
        h = F.linear(x, w["h.weight"], w["h.bias"])
        g = F.linear(x, w["g.weight"], w["g.bias"])
        p2 = h ** 2 + (g.abs() + 1) ** 0.5 + (h.abs() + 1) ** -1.5 + (g.abs() + 0.5) ** 1.7
        mx, mn = torch.maximum(h, g), torch.minimum(torch.tensor(0.25, dtype=torch.float64), h)
        cl = torch.minimum(torch.clamp(h, min=-0.5), g)
        ne = (mask(h <= 0.1) + mask(h >= -0.1) * 2 + mask(h == h) - mask(h != h) + mask(h < g) * 0.5
              + mask(g > 0) * 4)
        wh = torch.where(h > 0, h, g * 2)
        w2 = torch.where(y > 0, torch.tensor(1.0, dtype=torch.float64), h)
        am, am2 = h.argmax(-1).to(torch.int32), x.argmax(1).to(torch.int32)
        sl, sl2 = h[..., 1:3], x[..., -2:]
        if out is not None:
            for key, t in dict(p2=p2, mx=mx, mn=mn, cl=cl, ne=ne, w=wh, w2=w2, am=am, am2=am2, sl=sl,
                               sl2=sl2).items():
                out(key, t.detach())
        return F.mse_loss(p2 + mx + mn + cl + wh + w2 + ne, tgt) + (sl * sl).mean() + (cl[..., 0:2] * sl).mean()

    forward(c.output)
    gradient_case(c, forward)


def transformer_encoder(name, seed, batch, length):
    """Two torch.nn.TransformerEncoderLayer (post-norm, ReLU) as the two calls h1, h2 of the example's
    encoder_layer block; attnc's q/k/v weights are the thirds of PyTorch's in_proj_weight."""
    c = Case("transformer_encoder", name, seed)
    x = c.input("x", batch, length, 32)
    valid = c.mask("valid", batch, length)
    h = x
    for i in (1, 2):
        layer = torch.nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True,
                                                 dtype=torch.float64)
        with torch.no_grad():
            for p in layer.parameters():
                p.copy_(c.randn(*p.shape, scale=p.shape[-1] ** -0.5))
        sa = layer.self_attn
        for j, part in enumerate("qkv"):
            c.weights[f"h{i}.{part}.weight"] = sa.in_proj_weight[32 * j:32 * (j + 1)].detach()
            c.weights[f"h{i}.{part}.bias"] = sa.in_proj_bias[32 * j:32 * (j + 1)].detach()
        named = {f"h{i}.a": sa.out_proj, f"h{i}.f.dense0": layer.linear1, f"h{i}.f": layer.linear2,
                 f"h{i}.n": layer.norm1, f"h{i}.h": layer.norm2}
        for prefix, module in named.items():
            c.weights[prefix + ".weight"] = module.weight.detach()
            c.weights[prefix + ".bias"] = module.bias.detach()
        layer.train()  # the inference fast path would zero padded positions; dropout is 0 anyway
        h = layer(h, src_key_padding_mask=(valid == 0))
    c.output("h2", h.detach())
    c.save()


def cnn_layers(name, seed, batch):
    c = Case("cnn_layers", name, seed)
    x = c.input("x", batch, 3, 9, 7)

    def param(key, *shape, scale=1.0, offset=0.0, positive=False):
        t = c.randn(*shape, scale=scale)
        t = (t.abs() if positive else t) + offset
        c.weights[key] = t
        return t

    c1 = F.conv2d(x, param("c1.weight", 8, 3, 3, 3, scale=27 ** -0.5), param("c1.bias", 8, scale=0.1), padding=1)
    c2 = F.conv2d(x, param("c2.weight", 6, 1, 3, 3, scale=1 / 3), None, stride=2, padding=2, dilation=2, groups=3)
    bn = F.batch_norm(c1, param("bn.batch_norm0.running_mean", 8, scale=0.1),
                      param("bn.batch_norm0.running_var", 8, scale=0.1, offset=0.5, positive=True),
                      param("bn.batch_norm0.weight", 8, scale=0.2, offset=1.0), param("bn.batch_norm0.bias", 8, scale=0.1),
                      training=False, eps=1e-5)
    w1, b1 = param("ca.fc1.weight", 2, 8, scale=8 ** -0.5), param("ca.fc1.bias", 2, scale=0.1)
    w2, b2 = param("ca.fc2.weight", 8, 2, scale=2 ** -0.5), param("ca.fc2.bias", 8, scale=0.1)
    mlp = lambda z: F.linear(torch.relu(F.linear(z, w1, b1)), w2, b2)
    ca = c1 * torch.sigmoid(mlp(c1.mean((2, 3))) + mlp(c1.amax((2, 3))))[:, :, None, None]
    stats = torch.cat([c1.mean(1, keepdim=True), c1.amax(1, keepdim=True)], 1)
    sa = c1 * torch.sigmoid(F.conv2d(stats, param("sa.conv.weight", 1, 2, 5, 5, scale=0.2), padding=2))
    flat = c1.flatten(2)
    proj = lambda key, t, o, i: (torch.einsum("oi,bin->bon", param(key + ".weight", o, i, scale=i ** -0.5), t)
                                 + param(key + ".bias", o, scale=0.1)[:, None])
    theta, phi, g = (proj("nl." + k, flat, 4, 8) for k in ("theta", "phi", "g"))
    p = torch.softmax(torch.einsum("bin,bim->bnm", theta, phi), dim=-1)
    y = torch.einsum("bnm,bim->bin", p, g)
    nl = c1 + proj("nl.out", y, 8, 4).reshape(c1.shape)

    for key, t in [("c1", c1), ("c2", c2), ("mp", F.max_pool2d(c1, 2)),
                   ("ap", F.avg_pool2d(c1, 3, stride=2, padding=1)), ("gp", c1.mean((2, 3))),
                   ("gm", c1.amax((2, 3))), ("bn", torch.relu(bn)), ("fl", F.max_pool2d(c1, 2).flatten(1)),
                   ("ca", ca), ("sa", sa), ("nl", nl)]:
        c.output(key, t)
    c.save()


def attention_scores(name, seed, batch, s, t):
    """Additive (Bahdanau) and Luong dot/general attention, with weights, against explicit formulas."""
    c = Case("attention_scores", name, seed)
    q, h = c.input("q", batch, s, 12), c.input("h", batch, 12)
    k, v = c.input("k", batch, t, 20), c.input("v", batch, t, 8)
    keep = c.mask("keep", batch, t)
    masked = lambda scores: scores.masked_fill((keep == 0)[:, None, :], float("-inf"))

    def additive(prefix, query, values, units):
        qp = c.dense(prefix + ".query", query, units)
        kp = c.dense(prefix + ".keys", k, units)
        w = c.randn(1, units, scale=units ** -0.5)
        c.weights[prefix + ".v.weight"] = w
        scores = (torch.tanh(qp[:, :, None, :] + kp[:, None, :, :]) @ w.T).squeeze(-1)  # [B, Sq, T]
        p = torch.softmax(masked(scores), dim=-1)
        return p @ values, p

    add1, _ = additive("add1", q, v, 10)
    add2, w2 = additive("add2", h[:, None, :], k, 6)
    c.output("add1", add1)
    c.output("add2", add2.squeeze(1))
    c.output("w2", w2.squeeze(1))

    kg = c.dense("gen.dense0", k, 12)
    wgen = c.randn(12, 12, scale=12 ** -0.5)
    c.weights["gen.weight"] = wgen
    pg = torch.softmax((q @ wgen.T) @ kg.transpose(1, 2), dim=-1)  # Luong general: (W q)·k, no scaling
    c.output("gen", pg @ v)
    c.output("wg", pg)

    kd = c.dense("dt.dense0", k, 12)
    pd = torch.softmax(masked(h[:, None, :] @ kd.transpose(1, 2)), dim=-1)  # Luong dot, no scaling
    c.output("dt", (pd @ v).squeeze(1))

    split = lambda x: x.reshape(batch, s, 3, 4).transpose(1, 2)
    scores = split(q) @ split(q).transpose(2, 3) / 2.0  # scaled by 1/sqrt(4)
    pm = torch.softmax(scores.masked_fill(~torch.ones(s, s, dtype=torch.bool).tril(), float("-inf")), dim=-1)
    c.output("mh", (pm @ split(q)).transpose(1, 2).reshape(batch, s, 12))
    c.output("wm", pm)
    c.save()


def tokens(name, seed, batch, length):
    c = Case("tokens", name, seed)
    ids = lambda key, vocab: c.inputs.setdefault(
        key, torch.randint(0, vocab, (batch, length), generator=c.gen, dtype=torch.int32))
    src, tgt = ids("src", 7), ids("tgt", 5)
    x = c.input("x", batch, length, 6)

    def embed(prefix, t, vocab, dim):
        table = c.randn(vocab, dim)
        c.weights[prefix + ".weight"] = table
        return F.embedding(t.long(), table)

    e, e2 = embed("e", src, 11, 6), embed("e2", src, 7, 4)
    c.output("e", e)
    c.output("e2", e2)
    c.output("j", torch.cat([e, x], -1))
    c.output("c", c.dense("c", torch.cat([embed("c.embed0", tgt, 5, 3), e2], -1), 8))
    c.save()


def recurrent(name, seed, batch, steps):
    """torch.nn.LSTM and GRU, the padded ones through pack_padded_sequence / pad_packed_sequence."""
    c = Case("recurrent", name, seed)
    x = c.input("x", batch, steps, 5)
    lengths = torch.randint(1, steps + 1, (batch,), generator=c.gen, dtype=torch.int32)
    lengths[0] = steps  # pad_packed_sequence pads to the longest sequence
    c.inputs["len"] = lengths

    def rnn(cls, prefix, hidden, **kw):
        module = cls(5, hidden, batch_first=True, dtype=torch.float64, **kw)
        with torch.no_grad():
            for key, p in module.named_parameters():
                p.copy_(c.randn(*p.shape, scale=hidden ** -0.5))
                c.weights[f"{prefix}.{key}"] = p.detach().clone()
        return module

    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths.long(), batch_first=True, enforce_sorted=False)
    unpack = lambda out: torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps)[0]
    with torch.no_grad():
        for cls, one, both in [(torch.nn.LSTM, "one", "bi"), (torch.nn.GRU, "g1", "gbi")]:
            c.output(one, rnn(cls, one, 7)(x)[0])
            c.output(both, unpack(rnn(cls, both, 6, bidirectional=True, num_layers=2)(packed)[0]))
    c.save()


def grad_recurrent_blocks(name, seed, batch, steps):
    """test/Numeric/models/grad_recurrent_blocks.attn: a two-layer bidirectional LSTM (8 units) and a
    bidirectional GRU (16 units) over padded sequences, to a mean squared error."""
    c = Case("grad_recurrent_blocks", name, seed)
    nn = torch.nn
    x = c.input("x", batch, steps, 5)
    lengths = torch.randint(1, steps + 1, (batch,), generator=c.gen, dtype=torch.int32)
    lengths[0] = steps  # pad_packed_sequence pads to the longest sequence
    c.inputs["len"] = lengths
    y = c.input("y", batch, steps, 32)
    model = reference_models._module(l=nn.LSTM(5, 8, num_layers=2, bidirectional=True, batch_first=True),
                                     g=nn.GRU(16, 16, bidirectional=True, batch_first=True))
    model = trainable_case(c, model)
    pack = lambda t: nn.utils.rnn.pack_padded_sequence(t, lengths.long(), batch_first=True, enforce_sorted=False)
    unpack = lambda out: nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=steps)[0]

    def forward():
        l = unpack(model.l(pack(x))[0])
        return l, unpack(model.g(pack(l))[0])

    l, g = forward()
    c.output("l", l.detach())
    c.output("g", g.detach())
    gradient_case(c, lambda: F.mse_loss(forward()[1], y))


def cnn_example(model_name, module, name, seed, batch, size):
    """An example CNN against its reference module (test/Numeric/reference_models.py) in eval mode."""
    c = Case(model_name, name, seed)
    model = reference_models.randomize(module.double().eval(), c.gen)
    c.weights.update(reference_models.weights(model))
    image = c.input("image", batch, 1, size, size)
    with torch.no_grad():
        for key, t in model(image).items():
            c.output(key, t)
    c.save()


def seq2seq_inputs(c, batch, length, vocab):
    """Source ids in [3, vocab) (0 pads, 1 and 2 are start and stop) and each row's length (at least 1)."""
    src_len = torch.randint(1, length + 1, (batch,), generator=c.gen, dtype=torch.int32)
    src = torch.randint(3, vocab, (batch, length), generator=c.gen, dtype=torch.int32)
    src[torch.arange(length)[None, :] >= src_len[:, None]] = 0
    c.inputs["src"], c.inputs["src_len"] = src, src_len
    return src, src_len


def seq2seq_model(module, c, logit_scale, stop_bias):
    """Random weights; the output layer is scaled up so that the decoders' choices are clear-cut, and the
    stop token favoured so that hypotheses end at different lengths."""
    model = reference_models.randomize(module.double(), c.gen)
    with torch.no_grad():
        model.step.logits.weight.mul_(logit_scale)
        model.step.logits.bias[2] += stop_bias
    c.weights.update(reference_models.weights(model))
    return model


def check_float32_agrees(module, decode, src, src_len, tokens):
    """A choice that float32 rounding could flip would make the golden fragile: refuse such a seed."""
    single = decode(module.float(), src, src_len)[0]
    module.double()
    assert torch.equal(single, tokens), "decoding is not robust to float32 rounding; pick another seed"


def seq2seq_example(model_name, module, decode, outputs, name, seed, batch, length):
    """An example encoder-decoder against its reference (test/Numeric/reference_models.py)."""
    c = Case(model_name, name, seed)
    model = seq2seq_model(module, c, logit_scale=3.0, stop_bias=0.0)
    src, src_len = seq2seq_inputs(c, batch, length, 30)
    with torch.no_grad():
        tokens, weights = decode(model, src, src_len)
        check_float32_agrees(model, decode, src, src_len, tokens)
    c.output(outputs[0], tokens)
    c.output(outputs[1], weights)
    c.save()


def decoders(name, seed, batch, length, steps):
    """tests/Numeric/models/decoders.attn: teacher forcing, greedy and beam search of one decoder."""
    c = Case("decoders", name, seed)
    model = seq2seq_model(reference_models.Seq2SeqBahdanau(v_in=11, v_out=9, e=5, h=6, d=10, a=7), c, 3.0, 0.3)
    src, src_len = seq2seq_inputs(c, batch, length, 11)
    tgt = torch.randint(0, 9, (batch, steps), generator=c.gen, dtype=torch.int32)
    c.inputs["tgt"] = tgt
    R = reference_models
    beam_search = lambda m, s, l: R.beam_search(m, s, l, width=3, max_len=7, length_penalty=0.5)
    with torch.no_grad():
        logits, weights = R.teacher(model, src, src_len, tgt)
        greedy = R.greedy(model, src, src_len, max_len=7)
        beam = beam_search(model, src, src_len)
        check_float32_agrees(model, beam_search, src, src_len, beam[0])
    for key, t in [("logits", logits), ("weights", weights), ("greedy_tokens", greedy[0]),
                   ("greedy_weights", greedy[1]), ("beam_tokens", beam[0]), ("beam_weights", beam[1])]:
        c.output(key, t)
    c.save()


def transformer_names(encoder, decoder, feed_forward):
    """attnc's parameter names for reference_models.TransformerG2P: `encoder[i]` maps encoder layer i's
    sub-layers (q, k, v, out, norm1, linear1, linear2, norm2) to the .attn bindings, `decoder[i]` is decoder
    layer i's binding prefix, and `feed_forward` names the decoder layers' linear1 and linear2 under it."""
    names = {"embed_in": "letters.embed0", "embed_out": "step.x.embed0", "out": "step.logits"}
    for i, parts in enumerate(encoder):
        for key, name in zip(["self_attn.q", "self_attn.k", "self_attn.v", "self_attn.out_proj", "norm1",
                              "linear1", "linear2", "norm2"], parts):
            names[f"encoder.{i}.{key}"] = name
    linear1, linear2 = feed_forward
    for i, p in enumerate(decoder):
        for key, name in [("self_attn.q", "s.dense0"), ("self_attn.k", "k.dense0"), ("self_attn.v", "v.dense0"),
                          ("self_attn.out_proj", "s"), ("norm1", "n1"), ("multihead_attn.q", "c.dense0"),
                          ("multihead_attn.k", "c.dense1"), ("multihead_attn.v", "c.dense2"),
                          ("multihead_attn.out_proj", "c"), ("norm2", "n2"), ("linear1", linear1),
                          ("linear2", linear2), ("norm3", "n3")]:
            names[f"decoder.{i}.{key}"] = f"{p}.{name}"
    return names


def transformer_decoder(name, seed, batch, length, steps):
    """test/Numeric/models/transformer_decoder.attn: a Transformer encoder-decoder whose search steps carry
    key/value caches, against reference_models.TransformerG2P, which recomputes each step's whole prefix:
    teacher-forced logits and last hidden states, greedy and beam-search tokens with the hidden states along
    the chosen path, and the gradient of the teacher-forced loss."""
    c = Case("transformer_decoder", name, seed)
    R = reference_models
    model = R.randomize(R.TransformerG2P(v_in=11, v_out=9, d=8, heads=2, ff=12, enc_layers=1, dec_layers=2).double(),
                        c.gen)
    with torch.no_grad():  # layer norms near the identity, and clear-cut choices for the searches
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)):
            norm.weight.copy_(1 + c.randn(*norm.weight.shape, scale=0.2))
        model.out.weight.mul_(3.0)
        model.out.bias[2] += 3.0
    names = transformer_names([["a.dense0", "a.dense1", "a.dense2", "a", "n", "enc.dense1", "enc.dense0", "enc"]],
                              ["step.h1", "step.h2"], ("n3.dense1", "n3.dense0"))
    c.weights.update({k: v.detach().clone() for k, v in model.attn_names(model.state_dict(), names).items()})
    src, src_len = seq2seq_inputs(c, batch, length, 11)
    tgt = targets(c, batch, steps, 9)
    beam_search = lambda m, s, l: R.beam_search(m, s, l, width=3, max_len=8, length_penalty=0.5)
    with torch.no_grad():
        greedy = R.greedy(model, src, src_len, max_len=7)
        beam = beam_search(model, src, src_len)
        check_float32_agrees(model, beam_search, src, src_len, beam[0])
        check_float32_agrees(model, lambda m, s, l: R.greedy(m, s, l, max_len=7), src, src_len, greedy[0])
        logits, hidden = R.teacher(model, src, src_len, tgt)
    forward = lambda: R.teacher(model, src, src_len, tgt)[0]
    for key, t in [("logits", logits), ("hidden", hidden), ("greedy_tokens", greedy[0]), ("greedy_hidden", greedy[1]),
                   ("beam_tokens", beam[0]), ("beam_hidden", beam[1])]:
        c.output(key, t)
    params = dict(model.named_parameters())
    loss_fn = lambda: F.cross_entropy(forward().reshape(-1, 9), tgt.reshape(-1).long(), ignore_index=0)
    loss = loss_fn()
    loss.backward()
    check_finite_differences(loss_fn, params)
    c.output("loss", loss.detach())
    for key, g in model.attn_names({k: p.grad for k, p in params.items()}, names).items():
        c.output("grad." + key, g)
    c.save()


def g2p_transformer(name, seed, batch, length, steps, weights_seed):
    """examples/g2p_transformer.attn at its own size against reference_models.TransformerG2P: beam-search
    tokens, and the teacher-forced loss with the gradients of a few parameters. Its 1.4M weights are not
    kept: seeded_weights.py makes them from `weights_seed` here and in the test."""
    c = Case("g2p_transformer", name, seed)
    R = reference_models
    model = R.TransformerG2P().double()
    encoder = [[f"{b}.q", f"{b}.k", f"{b}.v", f"{b}.a", f"{b}.n", f"{b}.f.dense0", f"{b}.f", f"{b}.h"]
               for b in ("e1", "e2", "enc")]
    names = transformer_names(encoder, ["step.h1", "step.h2", "step.h3"], ("f.dense0", "f"))
    views = model.attn_names(model.state_dict(), names)
    generated = seeded_weights.generate(weights_seed, {k: list(v.shape) for k, v in views.items()})
    with torch.no_grad():
        for key, view in views.items():
            view.copy_(torch.tensor(generated[key][1], dtype=torch.float64).reshape(view.shape))
    src, src_len = seq2seq_inputs(c, batch, length, 30)
    tgt = targets(c, batch, steps, 42)
    beam_search = lambda m, s, l: R.beam_search(m, s, l, width=4, max_len=30)
    with torch.no_grad():
        tokens = beam_search(model, src, src_len)[0]
        check_float32_agrees(model, beam_search, src, src_len, tokens)
    c.output("phonemes", tokens)
    params = dict(model.named_parameters())
    loss = F.cross_entropy(R.teacher(model, src, src_len, tgt)[0].reshape(-1, 42), tgt.reshape(-1).long(),
                           ignore_index=0, label_smoothing=0.1)
    loss.backward()
    c.output("loss", loss.detach())
    grads = model.attn_names({k: p.grad for k, p in params.items()}, names)
    for key in ["letters.embed0.weight", "e1.q.weight", "enc.h.bias", "step.h1.k.dense0.weight",
                "step.h2.c.dense1.weight", "step.h3.n3.weight", "step.logits.weight"]:
        c.output("grad." + key, grads[key])
    c.save(weights=False)


def targets(c, batch, steps, vocab):
    """Target ids in [1, vocab), each row padded with 0 after a random length of at least 1."""
    tgt = torch.randint(1, vocab, (batch, steps), generator=c.gen, dtype=torch.int32)
    tgt_len = torch.randint(1, steps + 1, (batch,), generator=c.gen)
    tgt[torch.arange(steps)[None, :] >= tgt_len[:, None]] = 0
    c.inputs["tgt"] = tgt
    return tgt


def trainable_case(c, module):
    """Random weights for `module` in float64, all recording gradients."""
    model = reference_models.randomize(module.double(), c.gen)
    c.weights.update(dict(model.named_parameters()))
    return model


def grad_seq2seq(name, seed, batch, length, steps):
    """test/Numeric/models/grad_seq2seq.attn: backpropagation through a bidirectional LSTM over padded
    sources and a teacher-forced LSTM-cell decoder with masked additive attention."""
    c = Case("grad_seq2seq", name, seed)
    model = trainable_case(c, reference_models.Seq2SeqBahdanau(v_in=7, v_out=9, e=4, h=5, d=6, a=3))
    src, src_len = seq2seq_inputs(c, batch, length, 7)
    tgt = targets(c, batch, steps, 9)
    forward = lambda: reference_models.teacher(model, src, src_len, tgt)[0]
    c.output("logits", forward().detach())
    gradient_case(c, lambda: F.cross_entropy(forward().reshape(-1, 9), tgt.reshape(-1).long(), ignore_index=0))


def grad_gru(name, seed, batch, length, steps):
    """test/Numeric/models/grad_gru.attn: a two-layer bidirectional GRU over padded sources and a
    teacher-forced GRU-cell decoder with masked general attention, label smoothing."""
    c = Case("grad_gru", name, seed)
    nn = torch.nn
    enc = nn.GRU(4, 3, num_layers=2, bidirectional=True, batch_first=True)
    enc.embed0 = nn.Embedding(7, 4)
    cell = nn.GRUCell(4, 6)
    cell.embed0 = nn.Embedding(9, 4)
    ctx = nn.Module()
    ctx.weight = nn.Parameter(torch.empty(6, 6))
    logits_layer = nn.Linear(6, 9)
    logits_layer.dense0 = nn.Linear(12, 6, bias=False)
    step = reference_models._module(h=cell, ctx=ctx, logits=logits_layer)
    model = trainable_case(c, reference_models._module(enc=enc, step=step))
    src, src_len = seq2seq_inputs(c, batch, length, 7)
    tgt = targets(c, batch, steps, 9)
    def forward():
        packed = nn.utils.rnn.pack_padded_sequence(enc.embed0(src.long()), src_len.long(), batch_first=True,
                                                   enforce_sorted=False)
        memory = nn.utils.rnn.pad_packed_sequence(enc(packed)[0], batch_first=True, total_length=length)[0]
        h = memory.new_zeros(batch, 6)
        logits = []
        for t in range(steps):
            y = torch.full((batch,), 1) if t == 0 else tgt[:, t - 1].long()
            h = cell(cell.embed0(y), h)
            w = reference_models._masked_softmax(torch.einsum("bd,bsd->bs", F.linear(h, ctx.weight), memory),
                                                 src_len)
            context = (w[:, :, None] * memory).sum(1)
            logits.append(logits_layer(torch.tanh(logits_layer.dense0(torch.cat([context, h], -1)))))
        return torch.stack(logits, 1)

    c.output("logits", forward().detach())
    gradient_case(c, lambda: F.cross_entropy(forward().reshape(-1, 9), tgt.reshape(-1).long(), ignore_index=0,
                                             label_smoothing=0.1))


def grad_cnn(name, seed, batch):
    """examples/cnn_spatial_attention.attn in training mode: gradients through convolutions, batch norm with
    the batch's statistics (and the running statistics it updates), CBAM channel and spatial attention,
    max pooling and global average pooling."""
    c = Case("grad_cnn", name, seed)
    model = reference_models.randomize(reference_models.CNNSpatialAttention().double(), c.gen).train()
    before = {k: v.clone() for k, v in reference_models.weights(model).items()}
    image = c.input("image", batch, 1, 8, 8)
    label = torch.randint(0, 10, (batch,), generator=c.gen, dtype=torch.int32)
    c.inputs["label"] = label
    training_mode_case(c, model, before, lambda: F.cross_entropy(model(image)["logits"], label.long()))


def training_mode_case(c, model, before, loss_fn):
    """gradient_case for a module in training mode: the running statistics after one forward pass are the
    `update.*` results (the finite-difference passes update them again, harmlessly)."""
    loss = loss_fn()
    loss.backward()
    for key, t in reference_models.weights(model).items():
        if "running" in key:
            c.output("update." + key, t.detach().clone())
    params = dict(model.named_parameters())
    check_finite_differences(loss_fn, params)
    c.weights = before
    c.output("loss", loss.detach())
    for key, p in params.items():
        c.output("grad." + key, p.grad)
    c.save()


def grad_conv(name, seed, batch):
    """test/Numeric/models/grad_conv.attn: strided, dilated and grouped convolutions, batch norm in training
    mode, padded average pooling, global average pooling."""
    c = Case("grad_conv", name, seed)
    nn = torch.nn
    m = reference_models._module(
        a=reference_models._module(conv2d0=nn.Conv2d(2, 4, 3, stride=2, padding=1), batch_norm0=nn.BatchNorm2d(4)),
        c=reference_models._module(conv2d0=nn.Conv2d(4, 6, 3, dilation=2, padding=2, groups=2)),
        logits=nn.Linear(6, 5))
    model = reference_models.randomize(m.double(), c.gen).train()
    before = {k: v.clone() for k, v in reference_models.weights(model).items()}
    image = c.input("image", batch, 2, 7, 7)
    label = torch.randint(0, 5, (batch,), generator=c.gen, dtype=torch.int32)
    c.inputs["label"] = label
    def loss_fn():
        a = torch.tanh(m.a.batch_norm0(m.a.conv2d0(image)))
        p = F.avg_pool2d(a, 3, stride=1, padding=1)
        return F.cross_entropy(m.logits(torch.sigmoid(m.c.conv2d0(p)).mean((2, 3))), label.long())

    training_mode_case(c, model, before, loss_fn)


if __name__ == "__main__":
    attention_block("b1_s5", 1, batch=1, length=5)
    attention_block("b7_s13", 2, batch=7, length=13)
    layers("b1_s1", 3, batch=1, length=1)
    layers("b6_s9", 4, batch=6, length=9)
    shapes("b1_s1", 40, batch=1, length=1)
    shapes("b7_s5", 41, batch=7, length=5)
    losses("b1_t1", 42, batch=1, length=1)
    losses("b5_t9", 43, batch=5, length=9)
    grad_classifier("b1_t2", 44, batch=1, length=2)
    grad_classifier("b6_t7", 45, batch=6, length=7)
    grad_regression("b1", 46, batch=1)
    grad_regression("b5", 47, batch=5)
    grad_additive_primitives("b1_s1", 72, batch=1, length=1)
    grad_additive_primitives("b5_s9", 73, batch=5, length=9)
    grad_attention("b1_s3", 48, batch=1, length=3)
    grad_attention("b4_s7", 49, batch=4, length=7)
    grad_seq2seq("b1_s3_t2", 50, batch=1, length=3, steps=2)
    grad_seq2seq("b5_s6_t4", 51, batch=5, length=6, steps=4)
    grad_seq2seq("b25_s5_t4", 58, batch=25, length=5, steps=4)  # rows split among threads: 8 + 8 + 9
    grad_gru("b1_s2_t3", 52, batch=1, length=2, steps=3)
    grad_gru("b4_s5_t4", 53, batch=4, length=5, steps=4)
    grad_gru("b17_s4_t3", 59, batch=17, length=4, steps=3)  # rows split among threads: 8 + 9
    grad_recurrent_blocks("b3_t5", 68, batch=3, steps=5)
    grad_recurrent_blocks("b17_t6", 69, batch=17, steps=6)  # a second vector of rows, one row in it
    grad_cnn("b2", 54, batch=2)
    grad_cnn("b5", 55, batch=5)
    grad_conv("b1", 56, batch=1)
    grad_conv("b6", 57, batch=6)
    attention_variants("b1_s5_t7", 5, batch=1, s=5, t=7)
    attention_variants("b3_s11_t4", 6, batch=3, s=11, t=4)
    streaming_attention("b2_s270_t530", 60, batch=2, s=270, t=530)
    streaming_heads("b1_s40", 80, batch=1, s=40)
    elementwise("b1_s3", 7, batch=1, length=3)
    elementwise("b5_s7", 8, batch=5, length=7)
    primitives("b1_s1", 61, batch=1, length=1)  # every dimension 1: nothing repeats but what is declared 1
    primitives("b5_s7", 62, batch=5, length=7)
    selections("b1_s1", 63, batch=1, length=1)
    selections("b4_s6", 64, batch=4, length=6)
    transformer_encoder("b1_s6", 9, batch=1, length=6)
    transformer_encoder("b7_s11", 10, batch=7, length=11)
    cnn_layers("b1", 11, batch=1)
    cnn_layers("b4", 12, batch=4)
    cnn_example("cnn_spatial_attention", reference_models.CNNSpatialAttention(), "b1_8x8", 13, batch=1, size=8)
    cnn_example("cnn_spatial_attention", reference_models.CNNSpatialAttention(), "b7_8x8", 14, batch=7, size=8)
    cnn_example("cnn_spatial_attention", reference_models.CNNSpatialAttention(), "b2_28x28", 15, batch=2, size=28)
    cnn_example("cnn_self_attention", reference_models.CNNSelfAttention(), "b1", 16, batch=1, size=8)
    cnn_example("cnn_self_attention", reference_models.CNNSelfAttention(), "b7", 17, batch=7, size=8)
    attention_scores("b1_s4_t6", 18, batch=1, s=4, t=6)
    attention_scores("b5_s7_t3", 19, batch=5, s=7, t=3)
    tokens("b1_s1", 20, batch=1, length=1)
    tokens("b6_s9", 21, batch=6, length=9)
    recurrent("b1_t4", 22, batch=1, steps=4)
    recurrent("b5_t9", 23, batch=5, steps=9)
    transformer_decoder("b1_s4_t3", 65, batch=1, length=4, steps=3)
    transformer_decoder("b5_s7_t6", 66, batch=5, length=7, steps=6)
    g2p_transformer("b3_s8_t9", 67, batch=3, length=8, steps=9, weights_seed=71)
    decoders("b1_s4_t3", 24, batch=1, length=4, steps=3)
    decoders("b6_s7_t5", 25, batch=6, length=7, steps=5)
    R = reference_models
    bahdanau = lambda m, s, l: R.beam_search(m, s, l, width=4, max_len=30)
    luong = lambda m, s, l: R.greedy(m, s, l, max_len=30)
    for name, seed, batch, length in [("b1_s5", 26, 1, 5), ("b7_s9", 27, 7, 9)]:
        seq2seq_example("seq2seq_bahdanau", R.Seq2SeqBahdanau(), bahdanau, ("phonemes", "attention"), name, seed,
                        batch, length)
        seq2seq_example("seq2seq_luong", R.Seq2SeqLuong(), luong, ("tokens", "attention"), name, seed + 10, batch,
                        length)
    print("goldens written to", GOLDENS)
