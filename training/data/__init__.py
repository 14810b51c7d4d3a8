"""Training sets on top of the wsss_zoo.data readers (no second dataset reader here)."""
