"""Scenario cards shipped with facebench (installed as ``facebench.scenarios``).

Each ``<name>.yaml`` here is a card; ``facebench.data.cards.load_card("<name>")`` finds it by name.
The card format is defined by ``facebench.data.cards.CardSchema``.
"""
