"""Workload 3: training the grapheme-to-phoneme seq2seq model (examples/seq2seq_bahdanau.attn: BiLSTM encoder,
LSTM decoder with additive attention, teacher forcing, label-smoothed cross-entropy, Adam, global-norm
clipping) on CMUdict batches of 64, in target tokens per second (phonemes plus the stop token, padding not
counted). attnc's `train` against the same model in PyTorch eager, with torch.compile, and in Keras/TensorFlow,
all starting from the same initial weights.

The peers train on batches made the way attnc's trainer makes them (runtime/lib/Dataset.cpp, Trainer.cpp):
the TSV tokenized with the model's vocabularies, a stop token after each pronunciation, examples shuffled,
runs of 64 batches sorted by word length before they are cut, the batches shuffled, each padded with 0 to
its longest row. The shuffle is NumPy's, so the batches are attnc's kind of batches, not its exact ones;
tokens per second is measured over each one's own batches."""
import re
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import (REPO, AttncError, Goal, Result, Table, check, checks_note, hand_and_tuned, log,
                    read_safetensors, reference_models, save_inputs, tensorflow, tuned_note)

MODEL = REPO / "examples/seq2seq_bahdanau.attn"
DATA = REPO / "examples/data/g2p/train.tsv"
LETTERS, PHONEMES = REPO / "examples/g2p_letters.vocab", REPO / "examples/g2p_phonemes.vocab"
BATCH, PAD, START, STOP = 64, 0, 1, 2
LR, CLIP, SMOOTHING = 3e-3, 5.0, 0.1
V_IN, V_OUT, EMBED, ENCODER, DECODER, UNITS = 30, 42, 32, 64, 128, 64


def steps(ctx):
    """(warm-up steps, timed steps)."""
    return (3, 10) if ctx.quick else (10, 100)


#===------------------------------------------------------------------------------------------------------===#
# Data, as attnc's trainer reads it
#===------------------------------------------------------------------------------------------------------===#


def tokenizer(path):
    """text -> ids with the vocabulary file at `path` (line n holds the token of id n - 1): characters for a
    vocabulary of single characters (the letters), else whitespace-separated words (the phonemes)."""
    tokens = [line.rstrip("\r") for line in open(path, encoding="utf-8").read().splitlines() if line.strip()]
    ids = {token: i for i, token in enumerate(tokens)}
    special = lambda t: len(t) > 2 and t[0] == "<" and t[-1] == ">"
    if all(len(t) == 1 for t in tokens if not special(t)):
        return lambda text: [ids[c] for c in text if not c.isspace()]
    return lambda text: [ids[word] for word in text.split()]


def read_examples(path):
    """(letter ids, phoneme ids + stop) per TSV line."""
    letters, phonemes = tokenizer(LETTERS), tokenizer(PHONEMES)
    examples = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\r\n")
        if line:
            word, pronunciation = line.split("\t")
            examples.append((letters(word), phonemes(pronunciation) + [STOP]))
    return examples


def batches(examples, count, seed=1):
    """The first `count` batches of an epoch: shuffled, runs of 64 batches sorted by word length, cut into
    batches of BATCH, the batches shuffled; each as (src [B, S], src_len [B], tgt [B, T]) int32, 0-padded."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(examples))[: len(examples) // BATCH * BATCH]
    run = 64 * BATCH
    for first in range(0, len(order), run):
        chunk = order[first:first + run]
        order[first:first + run] = chunk[np.argsort([len(examples[i][0]) for i in chunk], kind="stable")]
    cut = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    picked = rng.permutation(len(cut))[:count]
    return [pad([examples[i] for i in cut[b]]) for b in picked]


def pad(rows):
    def matrix(sequences):
        out = np.full((len(sequences), max(len(s) for s in sequences)), PAD, np.int32)
        for r, s in enumerate(sequences):
            out[r, :len(s)] = s
        return out
    src, tgt = matrix([r[0] for r in rows]), matrix([r[1] for r in rows])
    return src, np.array([len(r[0]) for r in rows], np.int32), tgt


def target_tokens(batch):
    return int(np.count_nonzero(batch[2] != PAD))


def shape_warmup(warmup, timed):
    """The warm-up batches: `warmup` ones, then one of each (S, T) shape among the timed batches not yet seen,
    so that compilers that specialize on shapes have compiled every one before the timing."""
    seen = {b[0].shape + b[2].shape for b in warmup}
    extra = []
    for b in timed:
        key = b[0].shape + b[2].shape
        if key not in seen:
            seen.add(key)
            extra.append(b)
    return warmup + extra


def train_rate(step, warmup, timed):
    """Runs `step(batch)` on the warm-up batches, then on the timed ones; (tokens/s, warm-up seconds)."""
    start = time.perf_counter()
    for b in warmup:
        step(b)
    warm_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for b in timed:
        step(b)
    seconds = time.perf_counter() - start
    return sum(target_tokens(b) for b in timed) / seconds, warm_seconds


#===------------------------------------------------------------------------------------------------------===#
# attnc
#===------------------------------------------------------------------------------------------------------===#


def attnc_rate(ctx, program, weights, total_steps):
    """tokens/s from the last progress line of `train`, which covers the whole run."""
    out = program.run("train", "--weights", weights, "--tsv", DATA, "--out", ctx.work / "g2p-ckpt.safetensors",
                      "--steps", total_steps, "--batch", BATCH, "--seed", 1, "--log-every", total_steps,
                      "--checkpoint-every", 10 * total_steps, "--threads", ctx.threads)
    rates = re.findall(r"([0-9.]+) tokens/s", out)
    if not rates:
        raise AttncError(f"{program.path.name} train printed no tokens/s: {out.strip()[-200:]}")
    return float(rates[-1])


#===------------------------------------------------------------------------------------------------------===#
# PyTorch: test/Numeric/reference_models.py's Seq2SeqBahdanau, whose keys are attnc's
#===------------------------------------------------------------------------------------------------------===#


def torch_trainer(weights, compiled):
    """step(batch) -> loss: one Adam step with clipping. With `compiled`, the decoder step (attention, LSTM
    cell, output layer) and the loss are compiled with torch.compile (dynamic shapes); the teacher-forcing
    loop stays in Python, as its trip count changes with every batch, and so does the packed-sequence encoder."""
    model = reference_models().Seq2SeqBahdanau(V_IN, V_OUT, EMBED, ENCODER, DECODER, UNITS)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    decoder_step, criterion = model.step_rows, F.cross_entropy
    if compiled:
        decoder_step, criterion = torch.compile(decoder_step, dynamic=True), torch.compile(criterion, dynamic=True)

    def loss_of(src, src_len, tgt):
        # reference_models.teacher, with every row in every step (a view, not a gather of the rows)
        state = model.encode(src, src_len)
        previous = torch.cat([torch.full_like(tgt[:, :1], START), tgt[:, :-1]], 1)
        logits = []
        for t in range(tgt.shape[1]):
            state, scores, _ = decoder_step(previous[:, t], state, slice(None))
            logits.append(scores)
        return criterion(torch.stack(logits, 1).flatten(0, 1), tgt.flatten().long(), ignore_index=PAD,
                         label_smoothing=SMOOTHING)

    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step(batch):
        src, src_len, tgt = (torch.from_numpy(x) for x in batch)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(src, src_len, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        return float(loss.detach())

    def first_loss(batch):
        with torch.no_grad():
            return float(loss_of(*(torch.from_numpy(x) for x in batch)))

    return step, first_loss


#===------------------------------------------------------------------------------------------------------===#
# Keras / TensorFlow: the same architecture, trained by a tf.function step
#===------------------------------------------------------------------------------------------------------===#


def keras_lstm(weights, prefix, suffix):
    """A torch LSTM's weights in Keras's layout: kernels transposed to [in, 4H] (the gates in the same order,
    i f g o), the two biases summed into one."""
    w = lambda name: weights[f"{prefix}{name}{suffix}"]
    return [w("weight_ih").T, w("weight_hh").T, w("bias_ih") + w("bias_hh")]


def keras_trainer(weights, build_batch):
    """step(batch) -> loss for the model written with Keras layers: an embedding, a bidirectional LSTM masked
    by the word lengths, and an LSTM cell decoder that attends additively over the encoder outputs (masked by
    length) with the previous hidden state, fed [embed(previous phoneme); context], with logits from
    [h; context]; teacher forcing in a tf.while_loop, so one trace serves every batch shape."""
    tf = tensorflow()
    import keras
    L = keras.layers

    class G2P(keras.Model):
        def __init__(self):
            super().__init__()
            self.src_embed = L.Embedding(V_IN, EMBED)
            self.encoder = L.Bidirectional(L.LSTM(ENCODER, return_sequences=True))
            self.tgt_embed = L.Embedding(V_OUT, EMBED)
            self.query, self.keys = L.Dense(UNITS), L.Dense(UNITS)
            self.v = L.Dense(1, use_bias=False)
            self.cell = L.LSTMCell(DECODER)
            self.out = L.Dense(V_OUT)

        def call(self, src, src_len, tgt):
            mask = tf.sequence_mask(src_len, tf.shape(src)[1])
            enc = self.encoder(self.src_embed(src), mask=mask)  # [B, S, 2H]
            keys = self.keys(enc)
            batch, steps = tf.shape(tgt)[0], tf.shape(tgt)[1]
            previous = self.tgt_embed(tf.concat([tf.fill([batch, 1], START), tgt[:, :-1]], 1))

            def step(t, h, c, logits):
                scores = tf.squeeze(self.v(tf.tanh(self.query(h)[:, None, :] + keys)), -1)
                w = tf.nn.softmax(tf.where(mask, scores, float("-inf")), axis=-1)
                context = tf.reduce_sum(w[:, :, None] * enc, 1)
                _, (h, c) = self.cell(tf.concat([previous[:, t], context], -1), [h, c])
                return t + 1, h, c, logits.write(t, self.out(tf.concat([h, context], -1)))

            zeros = tf.zeros([batch, DECODER])
            _, _, _, logits = tf.while_loop(lambda t, *_: t < steps, step,
                                            (tf.constant(0), zeros, zeros, tf.TensorArray(tf.float32, size=steps)))
            return tf.transpose(logits.stack(), [1, 0, 2])

    def loss_of(logits, tgt):
        logp = tf.nn.log_softmax(logits)
        nll = -tf.gather(logp, tgt, batch_dims=2)
        per_token = (1 - SMOOTHING) * nll - SMOOTHING * tf.reduce_mean(logp, -1)
        keep = tf.cast(tgt != PAD, tf.float32)
        return tf.reduce_sum(per_token * keep) / tf.reduce_sum(keep)

    model = G2P()
    model(*(tf.constant(x) for x in build_batch))  # eagerly, to make the variables
    model.src_embed.set_weights([weights["enc.embed0.weight"]])
    model.encoder.forward_layer.set_weights(keras_lstm(weights, "enc.", "_l0"))
    model.encoder.backward_layer.set_weights(keras_lstm(weights, "enc.", "_l0_reverse"))
    model.tgt_embed.set_weights([weights["step.h.embed0.weight"]])
    model.query.set_weights([weights["step.ctx.query.weight"].T, weights["step.ctx.query.bias"]])
    model.keys.set_weights([weights["step.ctx.keys.weight"].T, weights["step.ctx.keys.bias"]])
    model.v.set_weights([weights["step.ctx.v.weight"].T])
    model.cell.set_weights(keras_lstm(weights, "step.h.", ""))
    model.out.set_weights([weights["step.logits.weight"].T, weights["step.logits.bias"]])

    optimizer = keras.optimizers.Adam(learning_rate=LR, epsilon=1e-8)
    signature = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32),
                 tf.TensorSpec([None, None], tf.int32)]

    @tf.function(input_signature=signature)
    def train_step(src, src_len, tgt):
        with tf.GradientTape() as tape:
            loss = loss_of(model(src, src_len, tgt), tgt)
        grads = tape.gradient(loss, model.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, CLIP)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(input_signature=signature)
    def evaluate(src, src_len, tgt):
        return loss_of(model(src, src_len, tgt), tgt)

    return (lambda batch: float(train_step(*batch))), (lambda batch: float(evaluate(*batch)))


#===------------------------------------------------------------------------------------------------------===#


# The sizes attnc tunes the G2P kernels for: CMUdict words have 7.5 letters and 6.7 phonemes on average.
ESTIMATES = {"B": BATCH, "S": 8, "T": 8}


def tune_cases(ctx):
    """What `make tune` tunes for this workload: (model, estimates, compile flags, budget in seconds,
    inference kernels only): training."""
    return [(MODEL, ESTIMATES, (), 300, False)]


def run(ctx):
    warmup_steps, timed_steps = steps(ctx)
    log("[g2p] reading the data")
    examples = read_examples(DATA)
    data = batches(examples, warmup_steps + timed_steps)
    timed = data[warmup_steps:]
    warm = shape_warmup(data[:warmup_steps], timed)
    attnc_steps = warmup_steps + timed_steps

    hand_program, program = hand_and_tuned(ctx, MODEL, ESTIMATES)
    weight_file = program.init(ctx.work / "g2p-init.safetensors", seed=1)
    weights = read_safetensors(weight_file)
    check_batch = data[0]
    attnc_loss = float(program.grad(weight_file, save_inputs(ctx.work / "g2p-batch", src=check_batch[0],
                                                             src_len=check_batch[1], tgt=check_batch[2]),
                                    ctx.work / "g2p-grad")["loss"])
    log("[g2p] attnc")
    # The median of 3 runs each, the tuned and hand programs taking turns, so that a slow spell of a shared
    # machine does not fall on one of them only.
    samples = {"attnc": [], "attnc hand": []}
    for _ in range(3):
        samples["attnc"].append(attnc_rate(ctx, program, weight_file, attnc_steps))
        if hand_program is not program:
            samples["attnc hand"].append(attnc_rate(ctx, hand_program, weight_file, attnc_steps))
    rates = {name: statistics.median(values or samples["attnc"]) for name, values in samples.items()}
    log(f"    {rates['attnc']:.0f} tokens/s (hand {rates['attnc hand']:.0f})")

    checks, warm_seconds = [], {}
    peers = [("PyTorch eager", lambda: torch_trainer(weights, compiled=False)),
             ("torch.compile", lambda: torch_trainer(weights, compiled=True)),
             ("Keras/TensorFlow", lambda: keras_trainer(weights, check_batch))]
    for name, make in peers:
        log(f"[g2p] {name}")
        step, first_loss = make()
        checks.append(check(f"{name} initial loss", first_loss(check_batch), attnc_loss))
        rates[name], warm_seconds[name] = train_rate(step, warm, timed)
        log(f"    {rates[name]:.0f} tokens/s (warm-up {warm_seconds[name]:.1f} s)")

    table = Table(f"3. G2P seq2seq training (examples/seq2seq_bahdanau.attn, batch {BATCH}, CMUdict)",
                  ["implementation", "target tokens/s", "attnc speed-up", "warm-up (not timed)"])
    for name, rate in rates.items():
        table.rows.append([name, f"{rate:.0f}", "" if name.startswith("attnc") else f"{rates['attnc'] / rate:.2f}×",
                           f"{warm_seconds[name]:.1f} s" if name in warm_seconds else ""])
    table.notes += [
        tuned_note(ctx),
        f"attnc: `train --steps {attnc_steps} --batch {BATCH}`, the rate of its last progress line (the whole run; "
        f"compiled ahead of time, it has nothing to warm up); the median of 3 runs, tuned and hand in turn. Peers: {timed_steps} timed steps after {len(warm)} "
        f"warm-up steps ({warmup_steps}, then one batch of every (word, pronunciation) length pair among the timed "
        f"batches, so that torch.compile has compiled each shape). {ctx.threads} threads. Each step: forward with "
        "teacher forcing, label-smoothed (0.1) cross-entropy ignoring padding, backward, global-norm clipping to "
        "5, Adam (lr 3e-3; attnc's cosine schedule changes only the rate's value).",
        "PyTorch runs reference_models.Seq2SeqBahdanau (packed-sequence BiLSTM encoder, LSTMCell decoder); "
        "torch.compile compiles its decoder step and the loss (dynamic shapes, a cold cache: its warm-up is "
        "mostly compilation); the encoder and the teacher-forcing loop, whose length changes per batch, stay "
        "eager. Keras: a tf.function train step with a tf.while_loop over the target (traced once).",
    ] + [checks_note(checks)]
    goals = [Goal("G2P training ≥ 2.5× PyTorch eager", rates["attnc"] / rates["PyTorch eager"], 2.5),
             Goal("G2P training ≥ 2.5× TF/Keras", rates["attnc"] / rates["Keras/TensorFlow"], 2.5),
             Goal("G2P training hand ≤ 1.25× tuned time", rates["attnc"] / rates["attnc hand"], 1.25,
                  at_most=True)]
    return Result([table], goals)
