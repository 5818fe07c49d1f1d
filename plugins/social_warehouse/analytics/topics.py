"""Text topics for posts written in English, Chinese or both, with hashtags and emoji.

The pipeline is TF-IDF followed by NMF (default) or LDA, both from scikit-learn.

Tokenisation (:class:`MixedTextAnalyzer`)
-----------------------------------------
Text is NFKC-normalised (full-width forms become ASCII) and lower-cased; URLs and
``@mentions`` are dropped. Then, in order of appearance:

* ``#hashtag`` becomes the token ``#hashtag`` and its words are tokenised as well;
* Latin words (letters, digits, inner ``'``/``-``/``_``) of two or more characters that
  are not English stop words and not pure numbers become tokens;
* a run of CJK ideographs becomes its character unigrams and bigrams (``健身房`` ->
  ``健 身 房 健身 身房``); frequent function characters (的, 了, 是, ...) are not kept as
  unigrams. No word segmenter is needed: bigrams carry most two-character words and
  TF-IDF down-weights the spurious ones;
* pictographic emoji become one token each (variation selectors and skin tones dropped).

The ``hashtags`` column (a list of tags) is added as ``#tag`` tokens when the text
does not already contain them.

Number of topics
----------------
When ``n_topics`` is a range, models for every candidate ``k`` are fitted on a seeded
sample of at most ``selection_sample`` documents and ``k`` is chosen by the stated
``criterion``:

``"stability"`` (default; Greene, O'Callaghan & Cunningham, 2014)
    a reference model on the sample and ``n_stability_runs`` models on random 80 %
    subsamples of it; each subsample model's topics are matched one-to-one (Hungarian
    algorithm) to the reference topics by the *average Jaccard* of their top-term lists
    (mean Jaccard of the top-1, top-2, ..., top-``n_top_terms`` sets) and
    ``stability(k)`` is the mean matched agreement. A ``k`` that matches the data's
    structure is reproduced by every subsample; too few topics merge or drop different
    topics from run to run, too many split them arbitrarily.
``"coherence"``
    ``quality(k) = ((mean NPMI + 1) / 2) * diversity``: NPMI of every pair of a topic's
    top terms from document co-occurrence in the sample (pairs that never co-occur
    count -1), diversity the share of distinct terms among all topics' top terms
    (Dieng et al., 2020). Cheaper, but blind to topics a small model leaves out.
``"reconstruction"``
    the knee of the NMF reconstruction error (Frobenius) curve: the ``k`` farthest below
    the chord joining the first and last candidates (the "kneedle" rule); it depends
    on the candidate range.

The smallest ``k`` whose score is within ``selection_tolerance`` (relative) of the best
is chosen and refitted on all documents. Coherence, diversity and reconstruction error
of every candidate are reported whatever the criterion.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import NMF, LatentDirichletAllocation
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    TfidfVectorizer,
)

__all__ = [
    "MixedTextAnalyzer",
    "TopicModel",
    "TopicsSkipped",
    "fit_topics",
    "item_topic_matrix",
    "topic_coherence_npmi",
    "topic_diversity",
    "topic_stability",
    "DEFAULT_TOPIC_RANGE",
]

class TopicsSkipped(ValueError):
    """The texts cannot support a topic model (too few documents or terms).

    The message is the reason; the topics stage records it and writes empty outputs
    instead of failing the run.
    """


#: Candidate numbers of topics when none is given.
DEFAULT_TOPIC_RANGE: tuple[int, ...] = (4, 6, 8, 10, 12, 15, 20, 25, 30)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff"
_TOKEN_RE = re.compile(
    rf"#[^\s#.,!?;:，。！？；：、()\[\]{{}}\"']+"  # hashtag
    rf"|[{_CJK}]+"  # CJK run
    rf"|[{_EMOJI}]"  # one emoji
    rf"|[^\W_{_CJK}]+(?:['\-_][^\W_{_CJK}]+)*"  # Latin (and other alphabetic) word
)
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_MENTION_RE = re.compile(r"@\w+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_EMOJI_ONLY = re.compile(rf"^[{_EMOJI}]$")
#: Function characters not kept as CJK unigrams (they still form bigrams).
CJK_STOP_CHARS = frozenset("的了是在我你他她它们这那有和就不也都很吧吗呢啊呀哦嗯个之与及或被把给对")


class MixedTextAnalyzer:
    """Callable analyzer for ``TfidfVectorizer(analyzer=...)`` on mixed-language text.

    Parameters
    ----------
    cjk_ngrams : tuple of int, default (1, 2)
        Character n-gram lengths for CJK runs.
    keep_emoji : bool, default True
        Keep pictographic emoji as tokens.
    hashtag_words : bool, default True
        Also tokenise the words inside a hashtag.
    stop_words : iterable of str, optional
        Latin stop words (default: scikit-learn's English list).
    min_word_len : int, default 2
        Shortest Latin token kept.
    """

    def __init__(
        self,
        cjk_ngrams: tuple[int, ...] = (1, 2),
        keep_emoji: bool = True,
        hashtag_words: bool = True,
        stop_words: Iterable[str] | None = None,
        min_word_len: int = 2,
    ) -> None:
        self.cjk_ngrams = tuple(cjk_ngrams)
        self.keep_emoji = keep_emoji
        self.hashtag_words = hashtag_words
        self.stop_words = frozenset(ENGLISH_STOP_WORDS if stop_words is None else stop_words)
        self.min_word_len = min_word_len

    def _cjk(self, run: str, out: list[str]) -> None:
        for n in self.cjk_ngrams:
            if n == 1:
                out.extend(ch for ch in run if ch not in CJK_STOP_CHARS)
            else:
                out.extend(run[i : i + n] for i in range(len(run) - n + 1))

    def _words(self, text: str, out: list[str]) -> None:
        for m in _TOKEN_RE.finditer(text):
            tok = m.group(0)
            first = tok[0]
            if first == "#":
                continue  # hashtags inside hashtags are not expected
            if _CJK_RUN.fullmatch(tok):
                self._cjk(tok, out)
            elif _EMOJI_ONLY.match(tok):
                if self.keep_emoji:
                    out.append(tok)
            else:
                self._latin(tok, out)

    def __call__(self, doc: Any) -> list[str]:
        if doc is None or (isinstance(doc, float) and np.isnan(doc)):
            return []
        text = unicodedata.normalize("NFKC", str(doc)).lower()
        text = text.replace("\ufe0f", "").replace("\u200d", " ")
        text = re.sub("[\U0001f3fb-\U0001f3ff]", "", text)  # skin tones
        text = _MENTION_RE.sub(" ", _URL_RE.sub(" ", text))
        out: list[str] = []
        for m in _TOKEN_RE.finditer(text):
            tok = m.group(0)
            if tok[0] == "#":
                tag = tok[1:].strip("-_'")
                if not tag:
                    continue
                out.append("#" + tag)
                if self.hashtag_words:
                    self._words(tag.replace("_", " ").replace("-", " "), out)
            elif _CJK_RUN.fullmatch(tok):
                self._cjk(tok, out)
            elif _EMOJI_ONLY.match(tok):
                if self.keep_emoji:
                    out.append(tok)
            else:
                self._latin(tok, out)
        return out

    def _latin(self, tok: str, out: list[str]) -> None:
        if tok.endswith("'s"):
            tok = tok[:-2]
        if (
            len(tok) >= self.min_word_len
            and tok not in self.stop_words
            and not tok.replace("-", "").replace("_", "").replace("'", "").isdigit()
        ):
            out.append(tok)


def _docs_from_items(
    items: pd.DataFrame, text_col: str = "text", hashtags_col: str | None = "hashtags"
) -> list[str]:
    """One document per item: its text plus ``#tag`` for tags the text does not contain."""
    texts = items[text_col].fillna("").astype(str).tolist() if text_col in items else [""] * len(
        items
    )
    if not hashtags_col or hashtags_col not in items.columns:
        return texts
    docs = []
    for text, tags in zip(texts, items[hashtags_col].tolist(), strict=True):
        if tags is None or (isinstance(tags, float) and np.isnan(tags)):
            docs.append(text)
            continue
        if isinstance(tags, str):
            tags = re.split(r"[\s,]+", tags)
        low = text.lower()
        extra = [
            "#" + str(t).lstrip("#").lower()
            for t in tags
            if str(t).strip("# ") and "#" + str(t).lstrip("#").lower() not in low
        ]
        docs.append(text + (" " + " ".join(extra) if extra else ""))
    return docs


def _display_terms(terms: np.ndarray, weights: np.ndarray, order: np.ndarray, n: int):
    """Top ``n`` terms, skipping a CJK unigram already contained in a higher-ranked term."""
    picked: list[int] = []
    for j in order:
        t = terms[j]
        if weights[j] <= 0:
            break
        if len(t) == 1 and _HAS_CJK.match(t) and any(t in terms[p] for p in picked):
            continue
        picked.append(int(j))
        if len(picked) == n:
            break
    return picked


def topic_coherence_npmi(
    doc_term: sp.spmatrix, top_term_idx: Sequence[Sequence[int]]
) -> np.ndarray:
    """Mean NPMI of each topic's top-term pairs from document co-occurrence.

    Parameters
    ----------
    doc_term : sparse matrix, shape (n_docs, n_terms)
        Any non-negative document-term matrix; only presence is used.
    top_term_idx : sequence of sequences of int
        Column indices of each topic's top terms.

    Returns
    -------
    ndarray of shape (n_topics,)
        Mean NPMI per topic, in [-1, 1]; a pair that never co-occurs scores -1.
    """
    X = sp.csc_matrix(doc_term)
    n_docs = X.shape[0]
    out = np.zeros(len(top_term_idx))
    for t, top in enumerate(top_term_idx):
        idx = np.asarray(top, dtype=np.int64)
        if idx.size < 2:
            out[t] = 0.0
            continue
        B = (X[:, idx] > 0).astype(np.float64)
        co = (B.T @ B).toarray()
        df = np.diag(co).copy()
        iu = np.triu_indices(idx.size, 1)
        pij = co[iu] / n_docs
        pi = df[iu[0]] / n_docs
        pj = df[iu[1]] / n_docs
        with np.errstate(divide="ignore", invalid="ignore"):
            pmi = np.log(pij / (pi * pj))
            npmi = pmi / -np.log(pij)
        npmi = np.where(pij > 0, npmi, -1.0)
        npmi = np.where(pij >= 1.0, 1.0, npmi)
        out[t] = float(np.nanmean(npmi))
    return out


def topic_diversity(top_term_idx: Sequence[Sequence[int]]) -> float:
    """Share of distinct terms among all topics' top terms (1 = no overlap)."""
    flat = [int(j) for idx in top_term_idx for j in idx]
    return len(set(flat)) / max(len(flat), 1)


def _average_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    depth = min(len(a), len(b))
    if depth == 0:
        return 0.0
    total, sa, sb = 0.0, set(), set()
    for d in range(depth):
        sa.add(a[d])
        sb.add(b[d])
        total += len(sa & sb) / len(sa | sb)
    return total / depth


def topic_stability(
    reference: Sequence[Sequence[int]], others: Sequence[Sequence[Sequence[int]]]
) -> float:
    """Mean agreement of topic term rankings with a reference (Greene et al., 2014).

    Parameters
    ----------
    reference : sequence of top-term index lists, one per topic
    others : sequence of such sets (e.g. from models fitted on subsamples)

    Returns
    -------
    float in [0, 1]
        For each other set, topics are matched one-to-one to the reference maximising
        the average Jaccard of their rankings; the matched mean is averaged over sets.
    """
    scores = []
    for other in others:
        M = np.array([[_average_jaccard(a, b) for b in other] for a in reference])
        r, c = linear_sum_assignment(-M)
        scores.append(M[r, c].sum() / max(len(reference), 1))
    return float(np.mean(scores)) if scores else float("nan")


def _knee(ks: np.ndarray, err: np.ndarray) -> int:
    """Index of the point farthest below the chord of a decreasing curve."""
    if len(ks) <= 2:
        return int(np.argmin(err))
    x = (ks - ks[0]) / max(ks[-1] - ks[0], 1e-12)
    y = (err - err.min()) / max(err.max() - err.min(), 1e-12)
    chord = y[0] + (y[-1] - y[0]) * x
    return int(np.argmax(chord - y))


class TopicModel:
    """TF-IDF + NMF (or counts + LDA) topic model with a chosen number of topics.

    Parameters
    ----------
    n_topics : int, sequence of int or None, default None
        A fixed number of topics, or candidates to choose from with ``criterion``
        (``None``: :data:`DEFAULT_TOPIC_RANGE`, clipped to what the data supports).
    method : {"nmf", "lda"}, default "nmf"
    criterion : {"stability", "coherence", "reconstruction"}, default "stability"
        How ``k`` is chosen among candidates (see the module docstring).
        ``"reconstruction"`` needs ``method="nmf"``.
    n_top_terms : int, default 10
        Terms listed per topic and used for coherence.
    max_features, min_df, max_df : vectoriser vocabulary limits.
    selection_sample : int, default 5000
        Documents (seeded sample) used to score candidate ``k``.
    n_stability_runs : int, default 4
        Subsample models per candidate for ``criterion="stability"``.
    selection_tolerance : float, default 0.01
        Relative tolerance: the smallest ``k`` within it of the best score wins.
    max_iter : int, default 300
    random_state : int, default 0
    analyzer : callable, optional
        Tokeniser (default :class:`MixedTextAnalyzer`).

    Attributes
    ----------
    vectorizer_ : fitted TfidfVectorizer or CountVectorizer
    model_ : fitted NMF or LatentDirichletAllocation
    n_topics_ : int
    terms_ : ndarray of str
    top_terms_ : list of list of str
    top_term_weights_ : list of list of float
    coherence_ : ndarray of shape (n_topics_,), NPMI per topic on the selection sample
    selection_ : DataFrame, one row per candidate ``k`` with its scores
    """

    def __init__(
        self,
        n_topics: int | Sequence[int] | None = None,
        method: str = "nmf",
        criterion: str = "stability",
        n_top_terms: int = 10,
        max_features: int | None = 50_000,
        min_df: int | float = 2,
        max_df: float = 0.5,
        selection_sample: int = 5_000,
        n_stability_runs: int = 4,
        selection_tolerance: float = 0.01,
        max_iter: int = 300,
        random_state: int = 0,
        analyzer: Any = None,
    ) -> None:
        self.n_topics = n_topics
        self.method = method
        self.criterion = criterion
        self.n_top_terms = n_top_terms
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.selection_sample = selection_sample
        self.n_stability_runs = n_stability_runs
        self.selection_tolerance = selection_tolerance
        self.max_iter = max_iter
        self.random_state = random_state
        self.analyzer = analyzer

    # -- internals ---------------------------------------------------------------------
    def _vectorizer(self, n_docs: int):
        min_df = self.min_df
        if isinstance(min_df, int) and n_docs < 10 * min_df:
            min_df = 1
        kw = dict(
            analyzer=self.analyzer or MixedTextAnalyzer(),
            min_df=min_df,
            max_df=self.max_df if n_docs >= 20 else 1.0,
            max_features=self.max_features,
            dtype=np.float32,
        )
        if self.method == "lda":
            return CountVectorizer(**kw)
        return TfidfVectorizer(sublinear_tf=True, **kw)

    def _new_model(self, k: int, quick: bool = False):
        if self.method == "nmf":
            return NMF(
                n_components=k,
                init="nndsvda",
                max_iter=self.max_iter,
                random_state=self.random_state,
                tol=1e-3 if quick else 1e-4,
            )
        if self.method == "lda":
            return LatentDirichletAllocation(
                n_components=k,
                learning_method="online" if self._n_docs > 20_000 else "batch",
                max_iter=min(self.max_iter, 50),
                random_state=self.random_state,
            )
        raise ValueError(f"unknown method {self.method!r}")

    def _top(self, components: np.ndarray, terms: np.ndarray):
        idx, wts = [], []
        for row in components:
            order = np.argsort(-row, kind="stable")[: max(self.n_top_terms * 4, 40)]
            picked = _display_terms(terms, row, order, self.n_top_terms)
            idx.append(picked)
            wts.append([float(row[j]) for j in picked])
        return idx, wts

    def _ranked(self, components: np.ndarray) -> list[list[int]]:
        n = self.n_top_terms
        part = np.argpartition(-components, min(n, components.shape[1] - 1), axis=1)[:, :n]
        vals = np.take_along_axis(components, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1).tolist()

    def _candidates(self, n_docs: int, n_terms: int) -> list[int]:
        if self.n_topics is None:
            cands = list(DEFAULT_TOPIC_RANGE)
        elif isinstance(self.n_topics, int | np.integer):
            return [int(self.n_topics)]
        else:
            cands = sorted({int(k) for k in self.n_topics})
        limit = max(2, min(n_docs - 1, n_terms - 1))
        cands = [k for k in cands if 2 <= k <= limit] or [min(2, limit)]
        return cands

    # -- public API --------------------------------------------------------------------
    def fit(self, texts: Sequence[str], y: Any = None) -> TopicModel:
        """Fit the vocabulary, choose ``k`` and fit the topic model on ``texts``."""
        with warnings.catch_warnings():
            # the selection fits stop at a loose tolerance on purpose
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._fit(texts)
        return self

    def _fit(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        texts = list(texts)
        self._n_docs = len(texts)
        if self._n_docs < 3:
            raise TopicsSkipped(f"need at least 3 documents to fit topics, got {self._n_docs}")
        vec = self._vectorizer(self._n_docs)
        try:
            X = vec.fit_transform(texts)
        except ValueError as exc:  # sklearn: "After pruning, no terms remain", "empty vocabulary"
            raise TopicsSkipped(
                f"no terms survive the vocabulary pruning of {self._n_docs} documents "
                f"(min_df={vec.min_df}, max_df={vec.max_df}): {exc}") from exc
        terms = vec.get_feature_names_out()
        if len(terms) < 2:
            raise TopicsSkipped(
                f"only {len(terms)} term(s) survive the vocabulary pruning of "
                f"{self._n_docs} documents ({list(terms)}): no topics to separate")
        keep_docs = np.flatnonzero(X.getnnz(axis=1) > 0)
        if keep_docs.size < 3:
            raise TopicsSkipped(f"only {keep_docs.size} of {self._n_docs} documents keep any "
                                "term after pruning (need 3)")
        cands = self._candidates(keep_docs.size, len(terms))
        rng = np.random.default_rng(self.random_state)
        rows = []
        if len(cands) > 1:
            sample = keep_docs
            if sample.size > self.selection_sample:
                sample = np.sort(rng.choice(sample, self.selection_sample, replace=False))
            Xs = X[sample]
            subs = [
                np.sort(rng.choice(Xs.shape[0], int(0.8 * Xs.shape[0]), replace=False))
                for _ in range(self.n_stability_runs if self.criterion == "stability" else 0)
            ]
            for k in cands:
                m = self._new_model(k, quick=True)
                m.fit(Xs)
                idx, _ = self._top(m.components_, terms)
                coh = topic_coherence_npmi(Xs, idx)
                div = topic_diversity(idx)
                err = float(getattr(m, "reconstruction_err_", np.nan))
                row = dict(
                    k=k,
                    coherence_npmi=float(coh.mean()),
                    diversity=div,
                    quality=(float(coh.mean()) + 1.0) / 2.0 * div,
                    reconstruction_err=err,
                    n_docs=int(sample.size),
                )
                if subs:
                    ref = self._ranked(m.components_)
                    others = [
                        self._ranked(self._new_model(k, quick=True).fit(Xs[s]).components_)
                        for s in subs
                    ]
                    row["stability"] = topic_stability(ref, others)
                rows.append(row)
            sel = pd.DataFrame(rows)
            if self.criterion in ("stability", "coherence"):
                col = "stability" if self.criterion == "stability" else "quality"
                best = sel[col].max()
                ok = sel[sel[col] >= best * (1.0 - self.selection_tolerance)]
                k_best = int(ok["k"].min())
            elif self.criterion == "reconstruction":
                if self.method != "nmf":
                    raise ValueError("criterion='reconstruction' needs method='nmf'")
                k_best = int(sel["k"].iloc[_knee(sel["k"].to_numpy(float),
                                                 sel["reconstruction_err"].to_numpy())])
            else:
                raise ValueError(f"unknown criterion {self.criterion!r}")
            sel["chosen"] = sel["k"] == k_best
        else:
            k_best = cands[0]
            sel = pd.DataFrame([dict(k=k_best, chosen=True)])
        model = self._new_model(k_best)
        W = np.zeros((X.shape[0], k_best), dtype=np.float32)
        W[keep_docs] = model.fit_transform(X[keep_docs])
        idx, wts = self._top(model.components_, terms)
        Xc = X[keep_docs]
        if Xc.shape[0] > self.selection_sample:
            Xc = Xc[np.sort(rng.choice(Xc.shape[0], self.selection_sample, replace=False))]
        self.vectorizer_ = vec
        self.model_ = model
        self.n_topics_ = k_best
        self.terms_ = terms
        self.top_term_idx_ = idx
        self.top_terms_ = [[str(terms[j]) for j in row] for row in idx]
        self.top_term_weights_ = wts
        self.coherence_ = topic_coherence_npmi(Xc, idx)
        self.diversity_ = topic_diversity(idx)
        self.selection_ = sel.reset_index(drop=True)
        self.n_features_ = len(terms)
        return X, W

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Topic weights per document, rows summing to 1 (all zero for empty text).

        Returns
        -------
        ndarray of float32, shape (n_docs, n_topics_)
        """
        X = self.vectorizer_.transform(list(texts))
        return self._normalised(self.model_.transform(X), X)

    @staticmethod
    def _normalised(W: np.ndarray, X) -> np.ndarray:
        W = np.asarray(W, dtype=np.float32)
        W[X.getnnz(axis=1) == 0] = 0.0
        s = W.sum(axis=1, keepdims=True)
        np.divide(W, s, out=W, where=s > 0)
        return W

    def fit_transform(self, texts: Sequence[str], y: Any = None) -> np.ndarray:
        """Fit and return the normalised topic weights of ``texts``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            X, W = self._fit(texts)
        return self._normalised(W, X)

    def topics_frame(self) -> pd.DataFrame:
        """Topics and their top terms: ``topic_id, rank, term, weight, label, coherence``."""
        rows = []
        for t, (terms, wts) in enumerate(zip(self.top_terms_, self.top_term_weights_, strict=True)):
            label = " / ".join(terms[:3])
            for r, (term, w) in enumerate(zip(terms, wts, strict=True), start=1):
                rows.append((t, r, term, w, label, float(self.coherence_[t])))
        return pd.DataFrame(
            rows, columns=["topic_id", "rank", "term", "weight", "label", "coherence_npmi"]
        )


def fit_topics(
    items: pd.DataFrame,
    *,
    text_col: str = "text",
    hashtags_col: str | None = "hashtags",
    id_col: str = "post_id",
    n_topics: int | Sequence[int] | None = None,
    method: str = "nmf",
    criterion: str = "stability",
    min_weight: float = 0.05,
    random_state: int = 0,
    **params: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Fit text topics on items and return topics, item weights and how ``k`` was chosen.

    Parameters
    ----------
    items : DataFrame
        ``dim_items``-like: ``post_id``, ``text`` and optionally ``hashtags`` (list of tags).
    text_col, hashtags_col, id_col : str
        Column names.
    n_topics : int, sequence of int or None
        Fixed ``k`` or candidates (see :class:`TopicModel`).
    method, criterion : str
        See :class:`TopicModel`.
    min_weight : float, default 0.05
        Item-topic weights below this are left out of ``item_topics`` (the kept weights
        are renormalised to sum to 1 per item).
    random_state : int, default 0
    **params
        Other :class:`TopicModel` parameters.

    Returns
    -------
    topics : DataFrame
        ``topic_id, rank, term, weight, label, coherence_npmi``.
    item_topics : DataFrame
        ``post_id, topic_id, weight, rank``: long format, weights sum to 1 per item;
        items without usable text are absent.
    info : dict
        ``n_topics``, ``method``, ``criterion``, ``selection`` (DataFrame per candidate
        ``k``), ``coherence_npmi``, ``diversity``, ``n_items``, ``n_items_with_topics``,
        ``n_features``, ``random_state`` and ``model`` (the fitted :class:`TopicModel`,
        whose ``transform`` scores new items).
    """
    docs = _docs_from_items(items, text_col, hashtags_col)
    tm = TopicModel(
        n_topics=n_topics, method=method, criterion=criterion, random_state=random_state, **params
    )
    W = tm.fit_transform(docs)
    item_topics = _long_item_topics(items[id_col].to_numpy(), W, min_weight)
    info = dict(
        n_topics=tm.n_topics_,
        method=method,
        criterion=criterion,
        selection=tm.selection_,
        coherence_npmi=float(np.mean(tm.coherence_)),
        diversity=tm.diversity_,
        n_items=len(items),
        n_items_with_topics=int(item_topics[id_col].nunique()) if len(item_topics) else 0,
        n_features=tm.n_features_,
        random_state=random_state,
        model=tm,
    )
    return tm.topics_frame(), item_topics, info


def _long_item_topics(ids: np.ndarray, W: np.ndarray, min_weight: float) -> pd.DataFrame:
    W = W.copy()
    W[W < min_weight] = 0.0
    s = W.sum(axis=1, keepdims=True)
    np.divide(W, s, out=W, where=s > 0)
    r, c = np.nonzero(W)
    df = pd.DataFrame({"post_id": ids[r], "topic_id": c.astype(np.int32),
                       "weight": W[r, c].astype(np.float32)})
    df = df.sort_values(["post_id", "weight"], ascending=[True, False], kind="stable")
    df["rank"] = df.groupby("post_id", sort=False).cumcount().astype(np.int32) + 1
    return df.reset_index(drop=True)


def item_topic_matrix(
    item_topics: pd.DataFrame,
    post_ids: Sequence[Any] | pd.Index | None = None,
    n_topics: int | None = None,
) -> tuple[pd.Index, np.ndarray]:
    """Dense item x topic weights from the long ``item_topics`` frame.

    Parameters
    ----------
    item_topics : DataFrame
        ``post_id, topic_id, weight``.
    post_ids : sequence, optional
        Row order wanted (items without topics get a zero row). Default: the posts of
        ``item_topics`` in sorted order.
    n_topics : int, optional
        Number of columns (default: max topic id + 1).

    Returns
    -------
    index : pandas.Index of post ids
    matrix : ndarray of float32, shape (len(index), n_topics)
    """
    if n_topics is None:
        n_topics = int(item_topics["topic_id"].max()) + 1 if len(item_topics) else 0
    index = pd.Index(
        np.sort(item_topics["post_id"].unique()) if post_ids is None else post_ids
    )
    M = np.zeros((len(index), n_topics), dtype=np.float32)
    if len(item_topics):
        rows = index.get_indexer(item_topics["post_id"])
        ok = rows >= 0
        np.add.at(
            M,
            (rows[ok], item_topics["topic_id"].to_numpy()[ok].astype(np.int64)),
            item_topics["weight"].to_numpy(np.float32)[ok],
        )
    return index, M
