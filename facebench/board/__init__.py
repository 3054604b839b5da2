"""The board layer: the result schema, loading and validating result files, aggregation and
statistics, comparisons, rendering (terminal, Markdown, CSV, JSON) and plots."""
