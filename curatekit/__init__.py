"""A Jupyter-first toolkit for curating ML training data: score, look, decide, and run the decision at scale.

Modules:

- `curatekit.distill`: Condense a labelled image set into a few synthetic images by matching expert training trajectories (MTT, DATM, smooth experts), and an unlabelled set into a few images for self-supervised transfer (KRR-ST).
- `curatekit.distributed`: MinHash, exact and semantic dedup as tasks over blocks and partitions (Ray, or one after another here): the driver holds file paths and a few numbers per task, never the corpus, its signatures or its clusters.
- `curatekit.embed`: Sentence embeddings from any Hugging Face encoder, exact top-k cosine search in bounded memory, and what it serves: demonstration retrieval, hard negatives, class exemplars, Recall@k.
- `curatekit.incremental`: A persistent MinHash-LSH index of a corpus (signatures and band buckets in Parquet, versioned by the parameters that made them): deduplicate new data against it without recomputing the old corpus.
- `curatekit.kd`: Curate the synthetic data a student learns from — hard, class-balanced, replayed (CaBaGe's pieces) — and distil class relations from known to novel classes (class-relation knowledge distillation).
- `curatekit.lm`: One torch kernel for per-token log-probabilities under any causal LM, and the scores built on it: perplexity, Min-K%, Min-K%++, zlib, Moore-Lewis; plus small reference LMs trained offline.
- `curatekit.metrics`: Measure what a recipe changed: lexical and embedding diversity, complexity proxies, plug-in quality scores, label familiarity, and a side-by-side QDC report.
- `curatekit.scale`: Run a recipe shard by shard with bounded memory, resume after a crash, reuse what was already computed, or hand the map steps to Ray Data.
- `curatekit.unlearn`: Remove what a model learned from data that should not have been there: corrective unlearning with Selective Synaptic Dampening for classifiers, Who's Harry Potter for language models, and membership inference to check."""

__version__ = "0.0.1"
