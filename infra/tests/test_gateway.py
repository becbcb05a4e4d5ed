"""The gateway in front of the API, as template.yaml declares it and the local stack runs it.

The route table is read from template.yaml (the same file `sam deploy` and infra/deploy.py
deploy): every request the page makes before sign-in is on a public route, every other route is
behind the Cognito JWT authorizer, and nothing else is routed. Then, against the running stack
(`make up`), every per-user route answers 401 from the gateway itself, before the function runs,
for no token and for tokens that are expired, from another issuer, for another audience, or
signed with another key; and a token with the right claims, signed by the stack's Cognito key,
gets through. The emulator's Cognito keeps the pool's signing keys in .local/ministack-state
(COGNITO_KEY_FILE), which is how this test signs tokens with the real key.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What the page asks for before anyone has signed in (its HTML, script, styles and config),
# Spotify's redirect back, and the health check.
PUBLIC = {
    "GET /",
    "GET /assets/app.js",
    "GET /assets/style.css",
    "GET /api/config",
    "GET /api/health",
    "GET /api/services/spotify/callback",
}
PER_USER = {"ANY /api/me", "ANY /api/me/{proxy+}"}


def template() -> dict:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse((ROOT / "template.yaml").read_text())


def routes() -> dict[str, dict]:
    return {
        res["Properties"]["RouteKey"]: res["Properties"]
        for res in template()["Resources"].values()
        if res["Type"] == "AWS::ApiGatewayV2::Route"
    }


def stack_env() -> dict[str, str]:
    path = ROOT / ".local/stack.env"
    if not path.exists():
        pytest.skip("the local stack is not running (make up)")
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


# ---------------------------------------------------------------------------------------------
# The route table


def test_exactly_the_page_s_first_requests_are_public_and_the_rest_need_a_token():
    table = routes()
    public = {key for key, r in table.items() if r.get("AuthorizationType") == "NONE"}
    assert public == PUBLIC
    assert set(table) == PUBLIC | PER_USER, "nothing else is routed (no catch-all)"
    authorizers = {
        name: res["Properties"]
        for name, res in template()["Resources"].items()
        if res["Type"] == "AWS::ApiGatewayV2::Authorizer"
    }
    assert list(authorizers) == ["CognitoAuthorizer"]
    jwt = authorizers["CognitoAuthorizer"]["JwtConfiguration"]
    assert jwt["Audience"] == [{"Ref": "UserPoolClient"}]
    assert "cognito-idp" in json.dumps(jwt["Issuer"])
    for key in PER_USER:
        assert table[key]["AuthorizationType"] == "JWT", key
        assert table[key]["AuthorizerId"] == {"Ref": "CognitoAuthorizer"}, key


def test_every_file_the_page_loads_before_sign_in_is_on_a_public_route():
    html = (ROOT / "functions/api/assets/index.html").read_text()
    loaded = set(re.findall(r'(?:href|src)="(assets/[^"]+)"', html))
    assert loaded, "index.html loads its script and styles"
    for asset in loaded:
        assert f"GET /{asset}" in PUBLIC, asset
    app = (ROOT / "functions/api/assets/app.js").read_text()
    # Calls the page makes without a token.
    anonymous = set(re.findall(r'api\("GET", "(api/[^"]+)"[^)]*auth: false', app))
    assert anonymous == {"api/config"}
    for path in anonymous:
        assert f"GET /{path}" in PUBLIC, path


def test_the_deployed_template_has_no_developer_sign_in():
    t = template()
    text = (ROOT / "template.yaml").read_text()
    assert "DevJwtSecret" not in t.get("Parameters", {})
    assert "DEV_JWT_SECRET" not in text and "dev/sign-in" not in text


# ---------------------------------------------------------------------------------------------
# The running gateway


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict, key, kid: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def request(url: str, method: str = "GET", token: str | None = None) -> tuple[int, object]:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    data = b"{}" if method in ("POST", "PUT", "DELETE") else None
    req = urllib.request.Request(url, method=method, headers=headers, data=data)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as res:
            status, body = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, body.decode(errors="replace")


@pytest.fixture(scope="module")
def stack():
    env = stack_env()
    region = env["AWS_REGION"]
    pool = env["USER_POOL_ID"]
    endpoint = env["AWS_ENDPOINT_URL"].rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/{pool}/.well-known/jwks.json", timeout=10) as res:
        jwks = json.load(res)
    from cryptography.hazmat.primitives import serialization

    # The pool's access-token key (the emulator made it when the JWKS above was first read).
    pem = Path(env["COGNITO_KEY_FILE"]).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    public = key.public_key().public_numbers()
    kid = next(k["kid"] for k in jwks["keys"] if int.from_bytes(
        base64.urlsafe_b64decode(k["n"] + "=" * (-len(k["n"]) % 4)), "big") == public.n)
    return {
        "api": env["API_URL"].rstrip("/"),
        "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool}",
        "client_id": env["USER_POOL_CLIENT_ID"],
        "key": key,
        "kid": kid,
    }


def per_user_requests() -> list[tuple[str, str]]:
    """Every per-user method and path the API serves (from docs/openapi.yaml)."""
    spec = (ROOT / "docs/openapi.yaml").read_text()
    out = []
    path = None
    for line in spec.splitlines():
        m = re.match(r"^  (/api/\S+):\s*$", line)
        if m:
            path = m.group(1)
            continue
        m = re.match(r"^    (get|put|post|delete|patch):", line)
        if m and path and path.startswith("/api/me"):
            out.append((m.group(1).upper(), path))
    assert len(out) > 20, out
    return out


def claims(stack, **changes) -> dict:
    now = int(time.time())
    c = {
        "sub": "gateway-test-user",
        "iss": stack["issuer"],
        "client_id": stack["client_id"],
        "token_use": "access",
        "scope": "openid email",
        "iat": now - 5,
        "exp": now + 600,
    }
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def bad_tokens(stack) -> dict[str, str | None]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    real = stack["key"], stack["kid"]
    return {
        "no token": None,
        "not a JWT": "not.a.token",
        "expired": sign(claims(stack, iat=now - 7200, exp=now - 3600), *real),
        "another issuer": sign(
            claims(stack, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"), *real),
        "another audience": sign(claims(stack, client_id="some-other-app-client"), *real),
        "another key": sign(claims(stack), other_key, stack["kid"]),
        "unsigned": b64url(json.dumps({"alg": "none", "kid": stack["kid"]}).encode())
        + "." + b64url(json.dumps(claims(stack)).encode()) + ".",
    }


def test_every_per_user_route_answers_401_at_the_gateway_for_any_bad_token(stack):
    tokens = bad_tokens(stack)
    for method, path in per_user_requests():
        for why, token in tokens.items():
            status, body = request(stack["api"] + path, method, token)
            assert (status, body) == (401, {"message": "Unauthorized"}), f"{method} {path}, {why}: {body}"


def test_a_token_with_the_right_claims_and_key_gets_through(stack):
    token = sign(claims(stack), stack["key"], stack["kid"])
    status, body = request(stack["api"] + "/api/me/services", "GET", token)
    assert status == 200, body
    assert [s["service"] for s in body["services"]] == ["lastfm", "spotify"]


def test_the_page_s_first_requests_need_no_token(stack):
    for key in sorted(PUBLIC):
        _, path = key.split(" ", 1)
        status, body = request(stack["api"] + path)
        if path == "/api/services/spotify/callback":
            assert status == 302, body  # back to the page, with an error: no state
        else:
            assert status == 200, f"{path}: {status} {body}"


def test_nothing_else_is_routed(stack):
    for method, path in [("GET", "/api/dev/sign-in"), ("POST", "/api/dev/sign-in"),
                         ("GET", "/index.html"), ("GET", "/assets/secret.js"),
                         ("GET", "/x/api/me/songs"), ("GET", "/api/other")]:
        status, body = request(stack["api"] + path, method)
        assert (status, body) == (404, {"message": "Not Found"}), f"{method} {path}: {body}"
