"""Partner apps acting for a consenting citizen, and research clients (issue #10)."""
