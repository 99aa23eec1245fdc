"""Word evidence that separates near neighbours the embedding blurs.

MiniLM puts "wet cat food" and "dry cat food" almost on top of each other;
the one word that matters is rare in the corpus and present in just one
entry's vocabulary. Three signals, all over lower-cased content words:
- title share: how much of an entry's title the traveler used;
- vocabulary share: how much of the traveler's wording (weighted by inverse
  document frequency over entries) appears anywhere in the entry's title,
  phrasings and aliases;
- a distinctive word: the traveler used a word that at most a few entries
  know (a brand alias like "Dexcom", "Zippo", "Inogen"). The vocabulary share
  is a fraction of the whole message, so in a long message about a trip that
  one word counts for little; this signal does not shrink with the message.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Dict, FrozenSet, List

from knowledge.corpus import Corpus
from knowledge.index import Candidate

_STOPWORDS = frozenset(
    "a an the of to in on for with my i can is it do does be and or at by from ok your you me we are "
    "bring pack carry checked bag bags plane flight tsa security through thru".split()
)


def content_words(text: str) -> FrozenSet[str]:
    """Lower-cased words without stopwords or a plural 's'."""
    return frozenset(w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS)


# A word known to at most this many entries is distinctive.
DISTINCTIVE_MAX_ENTRIES = 3


class LexicalScorer:
    def __init__(self, corpus: Corpus):
        self.titles: Dict[str, FrozenSet[str]] = {e.id: content_words(e.title) for e in corpus}
        self.vocab: Dict[str, FrozenSet[str]] = {
            e.id: content_words(" ".join([e.title, *e.phrasings, *e.aliases])) for e in corpus
        }
        entries = max(1, len(self.vocab))
        seen_in = Counter(w for words in self.vocab.values() for w in words)
        self.distinctive = frozenset(w for w, n in seen_in.items() if n <= DISTINCTIVE_MAX_ENTRIES)
        self.idf: Dict[str, float] = {w: math.log(entries / (1 + n)) + 1 for w, n in seen_in.items()}
        self.unseen_idf = math.log(entries) + 1

    def title_share(self, asked: FrozenSet[str], entry_id: str) -> float:
        title = self.titles.get(entry_id, frozenset())
        return len(asked & title) / len(title) if title else 0.0

    def vocabulary_share(self, asked: FrozenSet[str], entry_id: str) -> float:
        if not asked:
            return 0.0
        vocab = self.vocab.get(entry_id, frozenset())
        total = sum(self.idf.get(w, self.unseen_idf) for w in asked)
        return sum(self.idf[w] for w in asked if w in vocab) / total

    def has_distinctive(self, asked: FrozenSet[str], entry_id: str) -> bool:
        return not (asked & self.distinctive).isdisjoint(self.vocab.get(entry_id, frozenset()))

    def rerank(
        self,
        text: str,
        candidates: List[Candidate],
        title_weight: float,
        vocabulary_weight: float,
        distinctive_weight: float = 0.0,
    ) -> List[Candidate]:
        """Candidates rescored as embedding score + weighted word evidence, best first."""
        asked = content_words(text)
        rescored = [
            Candidate(
                c.entry_id,
                c.score
                + title_weight * self.title_share(asked, c.entry_id)
                + vocabulary_weight * self.vocabulary_share(asked, c.entry_id)
                + distinctive_weight * self.has_distinctive(asked, c.entry_id),
            )
            for c in candidates
        ]
        return sorted(rescored, key=lambda c: -c.score)
