"""Vaccination centres' sessions: planning, publishing and public availability."""
