"""Staff: users with a role and a jurisdiction, password + TOTP login, permissions as data."""
