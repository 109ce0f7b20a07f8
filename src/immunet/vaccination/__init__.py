"""Vaccination: vaccines, antigens, series and doses as data; recording doses."""
