"""scipy.stats: distributions restated (see the next commit)."""
