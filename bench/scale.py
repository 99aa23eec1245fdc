"""Retrieval at scale: flat vs approximate FAISS indexes on synthetic corpora.

Vectors are perturbed copies of the project's real phrasing embeddings (unit
length, 384-dim): each is a real embedding plus Gaussian noise, renormalised,
so the corpus has the clustered shape of real paraphrases. ``--kind random``
uses uniform random directions instead (no structure: the hard case for an
approximate index). Queries are fresh perturbations of the same embeddings.
Vectors are generated in seeded chunks and added chunk by chunk, so only one
index is in memory at a time. Search latency is one query at a time on one
thread; recall@10 is against the flat index's exact top 10.
Usage: python -m bench.scale [--sizes 10000,100000,1000000] [--kind perturbed|random]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from typing import Callable, Dict, Iterator, List, Sequence

import faiss
import numpy as np

from bench.devset import percentile
from bench.results import save
from knowledge.base import load_or_build
from travelbot.settings import settings

DIM = 384
CHUNK = 100_000
NOISE = 0.6  # noise norm; cosine to the source embedding is about 1/sqrt(1 + 0.36) = 0.86
QUERIES = 1000  # for recall
TIMED = 300  # of those, timed one at a time
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = (32, 64, 128)
IVF_NPROBE = (8, 16, 32)
PLOT = "scale_latency.png"


def normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def chunks(n: int, base: np.ndarray, kind: str, seed: int) -> Iterator[np.ndarray]:
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        rng = np.random.default_rng([seed, start])
        noise = rng.standard_normal((size, DIM), dtype=np.float32)
        if kind == "random":
            yield normalised(noise)
        else:
            src = base[rng.integers(0, len(base), size)]
            yield normalised(src + noise * (NOISE / math.sqrt(DIM)))


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(factory: Callable[[], faiss.Index], n: int, base: np.ndarray, kind: str) -> Dict:
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = factory()
    if not index.is_trained:  # on the corpus's own first vectors, 50 per IVF list
        count = min(n, 50 * faiss.extract_index_ivf(index).nlist)
        index.train(np.vstack(list(chunks(count, base, kind, seed=1))))
    for part in chunks(n, base, kind, seed=1):
        index.add(part)
    elapsed = time.perf_counter() - started
    return {"index": index, "build_s": elapsed, "rss_mb": rss_mb() - before, "size_mb": size_mb(index)}


def size_mb(index: faiss.Index) -> float:
    """Bytes the index holds: vectors, plus HNSW links or IVF ids and centroids."""
    vectors = index.ntotal * DIM * 4
    if isinstance(index, faiss.IndexHNSW):
        extra = index.hnsw.neighbors.size() * 4 + index.hnsw.levels.size() * 4
    elif isinstance(index, faiss.IndexIVF):
        extra = index.ntotal * 8 + index.nlist * DIM * 4
    else:
        extra = 0
    return (vectors + extra) / 2**20


def timed_search(index: faiss.Index, queries: np.ndarray) -> Dict[str, float]:
    """Wall-clock p50/p95 and p95 of the CPU time this thread spent (immune to other load)."""
    faiss.omp_set_num_threads(1)
    index.search(queries[:10], 10)  # warm-up
    wall, cpu = [], []
    for q in queries[:TIMED]:
        started, started_cpu = time.perf_counter(), time.thread_time()
        index.search(q.reshape(1, -1), 10)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return {"p50_ms": percentile(wall, 50), "p95_ms": percentile(wall, 95), "p95_cpu_ms": percentile(cpu, 95)}


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact top 10 that the approximate search also returned."""
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def measure(n: int, base: np.ndarray, kind: str) -> List[Dict]:
    queries = next(chunks(QUERIES, base, kind, seed=2))
    rows: List[Dict] = []

    def record(name: str, built: Dict, times: Dict[str, float], recall: float, **extra: object) -> None:
        row = {"n": n, "index": name, "build_s": built["build_s"], "size_mb": built["size_mb"],
               "rss_mb": built["rss_mb"], **times, "recall_at_10": recall, **extra}  # fmt: skip
        print(f"  {name:<28} build {row['build_s']:7.1f} s  size {row['size_mb']:7.0f} MB  "
              f"p50 {times['p50_ms']:7.2f} p95 {times['p95_ms']:7.2f} ms (cpu {times['p95_cpu_ms']:.2f})  "
              f"recall@10 {recall:.3f}", flush=True)  # fmt: skip
        rows.append(row)

    flat = build(lambda: faiss.IndexFlatIP(DIM), n, base, kind)
    _, truth = flat["index"].search(queries, 10)
    record("flat (exact)", flat, timed_search(flat["index"], queries), 1.0)
    del flat
    hnsw = build(lambda: _hnsw(), n, base, kind)
    for ef in HNSW_EF_SEARCH:
        hnsw["index"].hnsw.efSearch = ef
        _, found = hnsw["index"].search(queries, 10)
        record(f"HNSW M={HNSW_M} efSearch={ef}", hnsw, timed_search(hnsw["index"], queries),
               recall_at_10(found, truth), ef_search=ef)  # fmt: skip
    del hnsw
    # sqrt(n) lists (faiss's guide says 4-16 x sqrt(n) for the best speed, but k-means for 4000 lists
    # over 200k training vectors alone took over 10 minutes here, more than the rest of the benchmark);
    # faiss wants >= 39 training points a list
    nlist = max(16, min(int(math.sqrt(n)), n // 39))
    ivf = build(lambda: _ivf(nlist), n, base, kind)
    for nprobe in IVF_NPROBE:
        ivf["index"].nprobe = nprobe
        _, found = ivf["index"].search(queries, 10)
        record(f"IVF{nlist} nprobe={nprobe}", ivf, timed_search(ivf["index"], queries),
               recall_at_10(found, truth), nprobe=nprobe)  # fmt: skip
    del ivf
    return rows


def _hnsw() -> faiss.Index:
    index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    return index


def _ivf(nlist: int) -> faiss.Index:
    return faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kind", choices=("perturbed", "random"), default="perturbed")
    args = parser.parse_args(argv)
    base = load_or_build(settings().index_path(), progress=False).index.vectors
    rows: List[Dict] = []
    name = "scale" if args.kind == "perturbed" else f"scale_{args.kind}"
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"{n} {args.kind} vectors", flush=True)
        rows.extend(measure(n, base, args.kind))
        # saved after every size: the largest one runs for a long time on a busy machine
        save(name, {"kind": args.kind, "base_vectors": len(base), "noise": NOISE, "queries": QUERIES,
                    "timed": TIMED, "plot": f"{name}_latency.png", "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
