"""A Jupyter-first toolkit for curating ML training data: score, look, decide, and run the decision at scale.

Modules:

- `curatekit.lm`: One torch kernel for per-token log-probabilities under any causal LM, and the scores built on it: perplexity, Min-K%, Min-K%++, zlib, Moore-Lewis; plus small reference LMs trained offline.
- `curatekit.scale`: Run a recipe shard by shard with bounded memory, resume after a crash, reuse what was already computed, or hand the map steps to Ray Data."""

__version__ = "0.0.1"
