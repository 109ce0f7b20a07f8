"""People: citizen accounts (a mobile number) and the beneficiaries registered under them."""
