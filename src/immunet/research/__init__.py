"""Research data that identifies no one (issue #10 §4): suppressed aggregates, differentially
private counts (OpenDP), pseudonymised k-anonymous extracts, and the public register."""
