"""Static rules for what immunet must never do, read from the source's syntax tree.

ruff's ``S`` rules (bandit's checks) run in ``make lint``; these are the project's own:

- LOG-PII: a log call carrying personal data (a mobile, name, ID number, OTP, token,
  password…) or a query string / full URL.
- HTTP-TIMEOUT: an outbound HTTP call (httpx, requests, urllib) without a timeout, or one
  that follows redirects.
- SQL-CONCAT: SQL text built from strings at run time (f-string, ``+``, ``%``,
  ``.format``) passed to ``text()`` / ``execute()``.
- ROUTE-AUDIENCE: a route function (``@router.get`` …) with no guard among its parameters.

Each rule has a bad snippet it must catch, a good one it must pass, and must pass the tree.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "immunet"

Finding = tuple[int, str]
Rule = Callable[[ast.Module], Iterator[Finding]]

# -- LOG-PII ------------------------------------------------------------------------------

LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
LOGGER_NAMES = {"log", "logger", "logging", "access_log", "audit_log"}
PERSONAL = {
    "mobile",
    "phone",
    "name",
    "full_name",
    "aadhaar",
    "photo_id_number",
    "id_number",
    "identifier",
    "otp",
    "token",
    "password",
    "secret",
    "secret_code",
    "birth_year",
    "date_of_birth",
    "address",
    "email",
    "body",
    "payload",
    "query_string",
    "query_params",
    "query",
    "url",
    "headers",
    "authorization",
}


def _is_logger(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in LOGGER_NAMES or node.id.endswith("_log") or node.id.endswith("log")
    if isinstance(node, ast.Call):  # logging.getLogger(...).info / log.getChild(...).error
        return isinstance(node.func, ast.Attribute) and node.func.attr in {"getLogger", "getChild"}
    if isinstance(node, ast.Attribute):
        return node.attr in LOGGER_NAMES
    return False


def _named(node: ast.AST) -> Iterator[str]:
    """Every name and attribute a log argument reads (``type(x).__name__`` excepted)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "type":
            continue
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr


def _type_only(node: ast.AST) -> set[int]:
    """ids of nodes under ``type(...)``: a type's name carries no value."""
    ids: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "type":
            ids.update(id(n) for n in ast.walk(sub))
    return ids


def log_pii(tree: ast.Module) -> Iterator[Finding]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LOG_METHODS or not _is_logger(node.func.value):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            skip = _type_only(arg)
            for sub in ast.walk(arg):
                if id(sub) in skip:
                    continue
                word = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", None)
                if isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant):
                    word = sub.slice.value  # scope["query_string"], headers["authorization"]
                if isinstance(word, str) and word.lower() in PERSONAL:
                    yield node.lineno, f"log call reads {word!r}"


# -- HTTP-TIMEOUT -------------------------------------------------------------------------

HTTP_MODULES = {"httpx", "requests"}
HTTP_FUNCTIONS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream"}
CLIENTS = {"Client", "AsyncClient"}


def http_timeout(tree: ast.Module) -> Iterator[Finding]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        keywords = {k.arg: k.value for k in node.keywords}
        outbound = False
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            module, attr = func.value.id, func.attr
            if module in HTTP_MODULES and (attr in HTTP_FUNCTIONS or attr in CLIENTS):
                outbound = attr not in CLIENTS or "transport" not in keywords
            if module == "request" and attr == "urlopen" or (module, attr) == ("urllib", "urlopen"):
                outbound = True
            if module == "requests" and attr == "Session":
                yield node.lineno, "requests.Session has no default timeout"
        elif isinstance(func, ast.Name) and func.id == "urlopen":
            outbound = True
        if not outbound:
            continue
        if "timeout" not in keywords:
            yield node.lineno, "outbound HTTP call without timeout="
        for name in ("follow_redirects", "allow_redirects"):
            value = keywords.get(name)
            if value is not None and not (isinstance(value, ast.Constant) and not value.value):
                yield node.lineno, f"outbound HTTP call with {name}"


# -- SQL-CONCAT ---------------------------------------------------------------------------

SQL_SINKS = {"text", "execute", "exec_driver_sql", "executescript"}


def _built_at_run_time(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return any(
            isinstance(side, ast.Constant | ast.JoinedStr)
            and not isinstance(side, ast.Constant)
            or (isinstance(side, ast.Constant) and isinstance(side.value, str))
            for side in (node.left, node.right)
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in {"format", "join"} and isinstance(node.func.value, ast.Constant)
    return False


def _constant_names(tree: ast.Module) -> set[str]:
    """Loop variables over a module-level tuple/list of string literals: identifiers the
    source itself names (``for table in _AUDIT_TABLES``), not values from a request."""
    literal_lists = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Tuple | ast.List)
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    return {
        node.target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.For)
        and isinstance(node.target, ast.Name)
        and isinstance(node.iter, ast.Name)
        and node.iter.id in literal_lists
    }


def sql_concat(tree: ast.Module) -> Iterator[Finding]:
    constants = _constant_names(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        sql = node.args[0]
        if isinstance(sql, ast.JoinedStr) and all(
            isinstance(v.value, ast.Name) and v.value.id in constants
            for v in sql.values
            if isinstance(v, ast.FormattedValue)
        ):
            continue
        if name in SQL_SINKS and _built_at_run_time(sql):
            yield node.lineno, f"SQL built at run time passed to {name}()"


# -- ROUTE-AUDIENCE -----------------------------------------------------------------------

ROUTE_METHODS = {"get", "post", "put", "patch", "delete", "api_route"}
GUARDS = {"PUBLIC", "PUBLIC_UNLIMITED", "CITIZEN", "STAFF", "PARTNER", "RESEARCH"}
# The portal's pages (immunet/web/guards.py): the same guards, read from the session cookie.
GUARDS |= {"WEB_CITIZEN", "WEB_STAFF"}
# Partner apps (immunet/partners/guards.py): a client's signed assertion, a DPoP-bound token
# per scope (PARTNER_TOKEN[scope]), Co-WIN's x-api-key.
GUARDS |= {"PARTNER_CLIENT", "PARTNER_CLIENT_DPOP", "PARTNER_TOKEN", "PARTNER_API_KEY"}
GUARDS |= {"PARTNER_CLIENT_ANY"}  # the revocation endpoint also serves research clients


def _mentions_guard(node: ast.AST | None, aliases: set[str]) -> bool:
    if node is None:
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and getattr(sub.func, "id", None) == "Depends":
            for arg in sub.args:
                target = arg.func if isinstance(arg, ast.Call) else arg
                target = target.value if isinstance(target, ast.Subscript) else target
                if getattr(target, "id", None) in GUARDS:
                    return True
        if isinstance(sub, ast.Name) and sub.id in aliases:
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in aliases:
            return True  # a string annotation (from __future__ import annotations)
    return False


def route_audience(tree: ast.Module) -> Iterator[Finding]:
    aliases: set[str] = set()
    for node in tree.body:  # module-level `Citizen = Annotated[..., Depends(CITIZEN)]`
        if isinstance(node, ast.Assign) and _mentions_guard(node.value, set()):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        routed = any(
            isinstance(d, ast.Call)
            and isinstance(d.func, ast.Attribute)
            and d.func.attr in ROUTE_METHODS
            for d in node.decorator_list
        )
        if not routed:
            continue
        args = [*node.args.args, *node.args.kwonlyargs]
        defaults = [*node.args.defaults, *node.args.kw_defaults]
        annotated = any(_mentions_guard(a.annotation, aliases) for a in args)
        if not annotated and not any(_mentions_guard(d, aliases) for d in defaults):
            yield node.lineno, f"route {node.name}() declares no guard"


RULES: dict[str, Rule] = {
    "LOG-PII": log_pii,
    "HTTP-TIMEOUT": http_timeout,
    "SQL-CONCAT": sql_concat,
    "ROUTE-AUDIENCE": route_audience,
}

BAD: dict[str, list[str]] = {
    "LOG-PII": [
        'log.info("otp sent to %s", mobile)',
        'logger.warning(f"login failed for {body.username} {password}")',
        'log.info("request %s", request.url)',
        'access_log.info("GET %s?%s", path, scope["query_string"])',
        'logging.getLogger("x").error("token %s", token)',
    ],
    "HTTP-TIMEOUT": [
        'httpx.post("https://sms.example", json=body)',
        "requests.get(url)",
        "httpx.AsyncClient()",
        "httpx.get(url, timeout=5, follow_redirects=True)",
        "urlopen(url)",
    ],
    "SQL-CONCAT": [
        'session.execute(text(f"SELECT * FROM t WHERE id = {user_id}"))',
        'conn.exec_driver_sql("DELETE FROM t WHERE name = \'" + name + "\'")',
        'text("SELECT %s FROM t" % column)',
        'cursor.execute("SELECT {} FROM t".format(column))',
        'for table in tables:\n    op.execute(f"DROP TABLE {table}")',
    ],
    "ROUTE-AUDIENCE": [
        '@router.get("/x")\nasync def x(ctx: Ctx) -> dict: ...',
        '@router.post("/y")\nasync def y(body: B, who: Annotated[P, Depends(whoami)]): ...',
    ],
}
GOOD: dict[str, list[str]] = {
    "LOG-PII": [
        'log.error("unhandled %s in request %s", type(exc).__name__, request_id)',
        'log.info("sms sent: %d", count)',
    ],
    "HTTP-TIMEOUT": [
        "httpx.post(url, json=body, timeout=5.0)",
        "httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)",
        'httpx.AsyncClient(transport=transport, base_url="http://testserver")',
    ],
    "SQL-CONCAT": [
        'session.execute(text("SELECT 1"))',
        'session.execute(text("SELECT * FROM t WHERE id = :id"), {"id": user_id})',
        "session.execute(select(T).where(T.id == user_id))",
        'TABLES = ("a", "b")\nfor table in TABLES:\n    op.execute(f"DROP TABLE {table}")',
    ],
    "ROUTE-AUDIENCE": [
        'Citizen = Annotated[P, Depends(CITIZEN)]\n@router.get("/x")\nasync def x(c: Citizen): ...',
        '@router.get("/y")\nasync def y(p: Annotated[S, Depends(STAFF(Permission.X))]): ...',
        '@router.get("/z")\nasync def z(p: "Anyone"): ...\nAnyone = Annotated[P, Depends(PUBLIC)]',
    ],
}


def _findings(rule: Rule, source: str) -> list[Finding]:
    return list(rule(ast.parse(source)))


@pytest.mark.parametrize(
    ("rule", "snippet"), [(r, s) for r, snippets in BAD.items() for s in snippets]
)
def test_each_rule_catches_its_bad_snippets(rule, snippet):
    assert _findings(RULES[rule], snippet), f"{rule} missed: {snippet}"


@pytest.mark.parametrize(
    ("rule", "snippet"), [(r, s) for r, snippets in GOOD.items() for s in snippets]
)
def test_each_rule_passes_good_snippets(rule, snippet):
    assert not _findings(RULES[rule], snippet), f"{rule} flagged: {snippet}"


SOURCES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_tree_follows_the_rule(rule):
    assert len(SOURCES) > 50  # the walk found the tree
    problems = [
        f"{path.relative_to(SRC)}:{line}: {message}"
        for path in SOURCES
        for line, message in RULES[rule](ast.parse(path.read_text("utf-8")))
    ]
    assert not problems, "\n".join(problems)


def test_the_route_rule_sees_every_route():
    """Not vacuous: as many routed functions in the source as the route-audience table."""
    from tests.security.test_route_audiences import EXPECTED

    routed = 0
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                routed += any(
                    isinstance(d, ast.Call) and getattr(d.func, "attr", None) in ROUTE_METHODS
                    for d in node.decorator_list
                )
    assert routed == len(EXPECTED)
