"""A Jupyter-first toolkit for curating ML training data: score, look, decide, and run the decision at scale.

Modules:

- `curatekit.lm`: One torch kernel for per-token log-probabilities under any causal LM, and the scores built on it: perplexity, Min-K%, Min-K%++, zlib, Moore-Lewis; plus small reference LMs trained offline."""

__version__ = "0.0.1"
