"""Mitogen's linear strategy under the name `mitogen_linear`, found through ansible.cfg's
strategy_plugins wherever the repository is (a checkout, a worker machine's release), without a path
into the Python environment. It is Mitogen's own plugin module: imported by its real name, so
Mitogen's classes exist once (see ansible_mitogen/plugins/strategy/mitogen_linear.py)."""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
