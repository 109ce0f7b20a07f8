"""immunet's benchmark suite (``make bench``)."""
