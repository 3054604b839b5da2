"""The board layer: the result schema (writing and validating result files: ``schema``, and
migrating old ones: ``migrate``), reading a folder of them (``load``), aggregation and statistics
(``aggregate``), comparisons (``compare``), names (``labels``), rendering (terminal, Markdown,
CSV, JSON: ``render``) and plots (``plots``)."""
