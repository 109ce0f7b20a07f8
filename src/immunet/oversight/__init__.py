"""Oversight: insider-misuse alerts, disputes, break-glass grants, reports and transparency."""
