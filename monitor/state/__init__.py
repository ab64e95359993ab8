"""Check state: the current result of every check and its history (store.py), and the
protocol of those who listen to new states (listener.py)."""
