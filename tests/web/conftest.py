from tests.web.portal import browser  # noqa: F401 - the fixture, for every test here
