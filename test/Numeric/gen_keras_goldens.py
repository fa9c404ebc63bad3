#!/usr/bin/env python3
"""Makes the goldens of examples/seed_attention.attn: the seed's Keras `Attention` layer, run verbatim under
TensorFlow/Keras (float64), inside the example's model (embedding, LSTM encoder, the layer, a dense layer
over the context and the query), with random weights mapped to attnc's parameter names.

    .deps/bench-venv/bin/python test/Numeric/gen_keras_goldens.py   # needs tensorflow-cpu and keras

Each case directory holds weights.safetensors, the inputs, the outputs (context, weights, logits), the loss
and the gradient of every parameter (`grad.<name>.npy`), and under steps3/ the loss and gradients after
three full-batch SGD steps (lr 0.1), as `./model train --steps 3` then `./model grad` give them. The tests
need neither TensorFlow nor this script.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import keras

from gen_goldens import GOLDENS, save_safetensors

keras.config.set_floatx("float64")
VOCAB, EMBED, UNITS, LR = 40, 16, 32, 0.1


# The seed's layer, verbatim.
class Attention(tf.keras.layers.Layer):
    def __init__(self, units):
        super(Attention, self).__init__()
        self.W1 = tf.keras.layers.Dense(units)
        self.W2 = tf.keras.layers.Dense(units)

    def call(self, query, values):
        query_with_time_axis = tf.expand_dims(query, 1)
        score = self.W1(query_with_time_axis)
        score = tf.nn.tanh(score + self.W2(values))
        attention_weights = tf.nn.softmax(score, axis=1)
        context_vector = attention_weights * values
        context_vector = tf.reduce_sum(context_vector, axis=1)
        return context_vector, attention_weights


class Model:
    """The example's model in Keras layers; `attnc_weights` maps its variables to attnc's names."""

    def __init__(self, rng, batch, length):
        self.embed = keras.layers.Embedding(VOCAB, EMBED)
        self.lstm = keras.layers.LSTM(UNITS, return_sequences=True)
        self.attention = Attention(UNITS)
        self.dense = keras.layers.Dense(VOCAB)
        self(np.zeros((batch, length), np.int32), np.zeros((batch, UNITS)))  # builds the variables
        for layer in (self.embed, self.lstm, self.attention, self.dense):
            layer.set_weights([rng.standard_normal(w.shape) * (0.3 if w.ndim > 1 else 0.1)
                               for w in layer.get_weights()])

    def __call__(self, src, query):
        values = self.lstm(self.embed(src))
        context, weights = self.attention(query, values)
        return context, weights, self.dense(tf.concat([context, query], axis=-1))

    def variables(self):
        """(attnc name, variable, transposed); the LSTM's one bias is attnc's bias_ih (bias_hh is zero)."""
        a = self.attention
        return [("values.embed0.weight", self.embed.embeddings, False),
                ("values.weight_ih_l0", self.lstm.cell.kernel, True),
                ("values.weight_hh_l0", self.lstm.cell.recurrent_kernel, True),
                ("values.bias_ih_l0", self.lstm.cell.bias, False),
                ("context.W1_kernel", a.W1.kernel, False), ("context.W1_bias", a.W1.bias, False),
                ("context.W2_kernel", a.W2.kernel, False), ("context.W2_bias", a.W2.bias, False),
                ("logits.weight", self.dense.kernel, True), ("logits.bias", self.dense.bias, False)]

    def attnc_weights(self):
        out = {name: (v.numpy().T if t else v.numpy()) for name, v, t in self.variables()}
        out["values.bias_hh_l0"] = np.zeros(4 * UNITS)
        return out

    def loss_and_grads(self, src, query, target):
        """The loss and attnc's gradients (bias_hh's is bias_ih's: the two are added)."""
        with tf.GradientTape() as tape:
            logits = self(src, query)[2]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(target, logits))
        variables = self.variables()
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, [v for _, v, _ in variables])]
        out = {"grad." + name: (g.numpy().T if t else g.numpy()) for (name, _, t), g in zip(variables, grads)}
        out["grad.values.bias_hh_l0"] = out["grad.values.bias_ih_l0"]
        return loss.numpy(), out, grads

    def sgd_step(self, src, query, target):
        """One step of plain SGD on attnc's parameters: the LSTM's bias, the sum of bias_ih and bias_hh, moves
        by both of their steps."""
        _, _, grads = self.loss_and_grads(src, query, target)
        for (name, v, _), g in zip(self.variables(), grads):
            v.assign_sub(LR * g * (2 if name == "values.bias_ih_l0" else 1))


def save(folder, arrays):
    os.makedirs(folder, exist_ok=True)
    for name, a in arrays.items():
        a = a.astype(np.int32 if a.dtype.kind == "i" else np.float32)
        np.save(os.path.join(folder, name + ".npy"), np.require(a, requirements="C"))


def seed_attention(name, seed, batch, length):
    rng = np.random.default_rng(seed)
    model = Model(rng, batch, length)
    src = rng.integers(0, VOCAB, (batch, length)).astype(np.int32)
    query = rng.standard_normal((batch, UNITS))
    target = rng.integers(0, VOCAB, (batch,)).astype(np.int32)
    folder = os.path.join(GOLDENS, "seed_attention", name)
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, "weights.safetensors"), model.attnc_weights())
    context, weights, logits = (t.numpy() for t in model(src, query))
    loss, grads, _ = model.loss_and_grads(src, query, target)
    save(folder, dict(src=src, query=query, target=target, context=context, weights=weights, logits=logits,
                      loss=np.asarray(loss), **grads))
    for _ in range(3):
        model.sgd_step(src, query, target)
    loss, grads, _ = model.loss_and_grads(src, query, target)
    save(os.path.join(folder, "steps3"), dict(loss=np.asarray(loss), **grads))


if __name__ == "__main__":
    seed_attention("b2_s5", 70, batch=2, length=5)
    seed_attention("b6_s11", 71, batch=6, length=11)
