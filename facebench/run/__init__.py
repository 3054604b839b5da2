"""The run layer: anchors, the fine-tuning template, strategy kinds, the protocol evaluator,
kept memory, checkpoints, the runner and the sweep."""
