#!/usr/bin/python3
"""tests/reference/bm25_reference.py - an independent BM25 in Python (standard library only)
for tests/test_bm25.c: its own analyzer (tokens, possessive, the 33 stopwords, a Porter
stemmer written again from Porter's 1980 description with Lucene's three departures; see
docs/reference-notes.md Sec. 18) and BM25 with Lucene's idf over the pool.

Pool: the Debian test split (the last 10,000 targets of retrieval_debian.jsonl). Writes the
pool's statistics and the scores of the first Q test queries against the first D test
targets to OUT (default tests/data/bm25_debian.tsv), which test_bm25.c compares with the C
library's. With --check-nltk, also compares the stemmer with NLTK's PorterStemmer in
MARTIN_EXTENSIONS mode (Porter's reference code, which Lucene ports) on every word of the
file, when NLTK is installed (Debian: python3-nltk).

Usage: bm25_reference.py [PAIRS.jsonl] [OUT] [--check-nltk]
"""
import json
import math
import struct
import sys

TEST_SPLIT = 10000
N_QUERIES = 25
N_DOCS = 25
MAX_TERM = 255

STOPWORDS = set("a an and are as at be but by for if in into is it no not of on or such that the "
                "their then there these they this to was will with".split())
assert len(STOPWORDS) == 33


def f32(x):
    """The value a C float holds (k1 and b are floats in mmix_bm25_config)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ---- Tokens ----
def separator(ch):
    """Non-ASCII punctuation and symbols (reference-notes Sec. 18)."""
    cp = ord(ch)
    if cp < 0xC0:
        return cp not in (0xAA, 0xB5, 0xBA)
    if cp in (0xD7, 0xF7) or 0x2000 <= cp <= 0x2BFF or 0x3000 <= cp <= 0x303F or 0xE000 <= cp <= 0xF8FF:
        return True
    if 0xFE00 <= cp <= 0xFE0F or cp == 0xFEFF or 0xFFF0 <= cp <= 0xFFFF or cp >= 0x1F000:
        return True
    if 0xFF00 <= cp <= 0xFF65:
        return not (0xFF10 <= cp <= 0xFF19 or 0xFF21 <= cp <= 0xFF3A or 0xFF41 <= cp <= 0xFF5A)
    return False


def token_char(ch):
    if ord(ch) < 0x80:
        return ch.isascii() and ch.isalnum()
    return not separator(ch)


def lower(ch):
    if "A" <= ch <= "Z":
        return chr(ord(ch) + 32)
    if 0xC0 <= ord(ch) <= 0xDE and ord(ch) != 0xD7:
        return chr(ord(ch) + 32)
    return ch


def tokens(text):
    """Raw lowercased tokens, the possessive dropped, long runs cut at 255 UTF-8 bytes."""
    out, cur, size, i, n = [], [], 0, 0, len(text)
    while i <= n:
        if i < n and token_char(text[i]):
            b = len(text[i].encode("utf-8"))
            if size + b > MAX_TERM:
                out.append("".join(cur))
                cur, size = [], 0
            cur.append(lower(text[i]))
            size += b
            i += 1
            continue
        if cur:
            last = cur[-1]
            if (i + 1 < n and text[i] in "'\u2019\uff07" and not ("0" <= last <= "9") and text[i + 1] in "sS"
                    and (i + 2 == n or not token_char(text[i + 2]))):
                i += 2
            out.append("".join(cur))
            cur, size = [], 0
            continue
        i += 1
    return out


# ---- Porter (1980), with Lucene's departures ----
def is_vowel(w, i):
    if w[i] in "aeiou":
        return True
    if w[i] == "y":
        return i > 0 and not is_vowel(w, i - 1)
    return False


def measure(stem):
    """m in [C](VC)^m[V]: the number of V->C changes along the word."""
    forms = "".join("v" if is_vowel(stem, i) else "c" for i in range(len(stem)))
    return forms.count("vc")


def has_vowel(stem):
    return any(is_vowel(stem, i) for i in range(len(stem)))


def double_cons(stem):
    return len(stem) >= 2 and stem[-1] == stem[-2] and ord(stem[-1]) < 0x80 and not is_vowel(stem, len(stem) - 1)


def cvc(stem):
    n = len(stem)
    return (n >= 3 and not is_vowel(stem, n - 3) and is_vowel(stem, n - 2) and not is_vowel(stem, n - 1)
            and stem[-1] not in "wxy")


STEP2 = [("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
         ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"),
         ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"),
         ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("logi", "log")]
STEP3 = [("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""),
         ("ness", "")]
STEP4 = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
         "ate", "iti", "ous", "ive", "ize"]


def longest(w, suffixes):
    best = None
    for s in suffixes:
        if w.endswith(s) and (best is None or len(s) > len(best)):
            best = s
    return best


def stem(word):
    """Works on the UTF-8 bytes, as the C code does (a byte >= 0x80 is a consonant)."""
    b = word.encode("utf-8")
    if len(b) <= 2:
        return word
    w = b.decode("latin-1")  # one character per byte
    # 1a
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies"):
        w = w[:-2]
    elif w.endswith("ss"):
        pass
    elif w.endswith("s"):
        w = w[:-1]
    # 1b
    if w.endswith("eed"):
        if measure(w[:-3]) > 0:
            w = w[:-1]
    else:
        cut = None
        if w.endswith("ed") and has_vowel(w[:-2]):
            cut = w[:-2]
        elif w.endswith("ing") and has_vowel(w[:-3]):
            cut = w[:-3]
        if cut is not None:
            w = cut
            if w.endswith(("at", "bl", "iz")):
                w += "e"
            elif double_cons(w):
                if w[-1] not in "lsz":
                    w = w[:-1]
            elif measure(w) == 1 and cvc(w):
                w += "e"
    # 1c
    if w.endswith("y") and has_vowel(w[:-1]):
        w = w[:-1] + "i"
    # 2, 3
    for table in (STEP2, STEP3):
        s = longest(w, [a for a, _ in table])
        if s is not None and measure(w[:-len(s)]) > 0:
            w = w[:-len(s)] + dict(table)[s]
    # 4
    s = longest(w, STEP4)
    if s is not None:
        base = w[:-len(s)]
        if measure(base) > 1 and (s != "ion" or base.endswith(("s", "t"))):
            w = base
    # 5a
    if w.endswith("e"):
        m = measure(w[:-1])
        if m > 1 or (m == 1 and not cvc(w[:-1])):
            w = w[:-1]
    # 5b
    if measure(w) > 1 and double_cons(w) and w[-1] == "l":
        w = w[:-1]
    return w.encode("latin-1").decode("utf-8")


def analyze(text):
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


# ---- BM25 ----
def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    pairs = args[0] if args else "../shared/data/retrieval_debian.jsonl"
    out = args[1] if len(args) > 1 else "tests/data/bm25_debian.tsv"
    rows = [json.loads(line) for line in open(pairs, encoding="utf-8")]
    test = rows[-TEST_SPLIT:]
    k1, b = f32(0.9), f32(0.4)
    docs = []
    for r in test:
        counts = {}
        terms = analyze(r["target"])
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        docs.append((len(terms), counts))
    counted = sum(1 for dl, _ in docs if dl > 0)
    total = sum(dl for dl, _ in docs)
    avgdl = total / counted
    df = {}
    for _, counts in docs:
        for t in counts:
            df[t] = df.get(t, 0) + 1
    idf = {t: math.log(1.0 + (counted - d + 0.5) / (d + 0.5)) for t, d in df.items()}
    with open(out, "w", encoding="utf-8") as f:
        f.write("# written by tests/reference/bm25_reference.py: BM25 (k1 0.9f, b 0.4f) over the Debian test split\n")
        f.write("pool\t%d\t%d\t%d\t%.17g\n" % (len(docs), counted, len(df), avgdl))
        for q in range(N_QUERIES):
            qcount, order = {}, []
            for t in analyze(test[q]["query"]):
                if t in idf:
                    if t not in qcount:
                        order.append(t)
                    qcount[t] = qcount.get(t, 0) + 1
            for d in range(N_DOCS):
                dl, counts = docs[d]
                norm = k1 * (1.0 - b + b * (dl / avgdl))
                s = 0.0
                for t in order:
                    tf = counts.get(t, 0)
                    if tf > 0:
                        s += qcount[t] * idf[t] * (tf * (k1 + 1.0) / (tf + norm))
                f.write("%d\t%d\t%.17g\n" % (q, d, s))
    print("wrote %s: %d documents (%d with terms), %d terms, avgdl %.4f" % (out, len(docs), counted, len(df), avgdl))
    if "--check-nltk" in sys.argv:
        try:
            from nltk.stem.porter import PorterStemmer
        except ImportError:
            print("NLTK is not installed: stemmer not compared")
            return
        ps = PorterStemmer(mode=PorterStemmer.MARTIN_EXTENSIONS)
        words = set()
        for r in rows:
            for field in ("query", "target"):
                words.update(t for t in tokens(r[field]) if t.isascii())
        bad = [(w, stem(w), ps.stem(w)) for w in sorted(words) if stem(w) != ps.stem(w)]
        print("stemmer vs NLTK MARTIN_EXTENSIONS: %d words, %d differ %s" % (len(words), len(bad), bad[:10]))


if __name__ == "__main__":
    main()
