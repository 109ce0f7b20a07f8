"""Booking: appointments against session seats, with secret codes and idempotent writes."""
