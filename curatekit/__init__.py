"""A Jupyter-first toolkit for curating ML training data: score, look, decide, and run the decision at scale.

Modules:

- `curatekit.embed`: Sentence embeddings from any Hugging Face encoder, exact top-k cosine search in bounded memory, and what it serves: demonstration retrieval, hard negatives, class exemplars, Recall@k.
- `curatekit.metrics`: Measure what a recipe changed: lexical and embedding diversity, complexity proxies, plug-in quality scores, label familiarity, and a side-by-side QDC report."""

__version__ = "0.0.1"
