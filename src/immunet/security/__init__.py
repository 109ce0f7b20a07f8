"""Cross-cutting security machinery: keys, vault, OTP, tokens, rate limits, audit."""
