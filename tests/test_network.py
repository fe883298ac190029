"""The assistant on real networks: a real forward proxy (tinyproxy), HTTPS with a test CA
(trustme), client certificates, requestOptions, and the standard environment — all on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from forward_proxy import Tinyproxy
from harness import wait_until
from model_servers import DEFAULT_ANSWER, ModelServer

from devscode_nb.assistant.providers import ModelConfig, ProviderError, chat, resolve_models
from devscode_nb.assistant.providers.options import RequestOptions

ASK = [{"role": "user", "content": "Print the square root of two."}]
KEY = "sk-test-0123456789abcdef"
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
CA_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the proxy variables it is about; none leak in from the machine."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_server(ca: trustme.CA, *names: str, client_ca: trustme.CA | None = None,
               **cert: Any) -> ModelServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1",)), **cert).configure_cert(ctx)
    if client_ca is not None:
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ModelServer(tls=ctx)


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


@pytest.fixture
def https_server(ca: trustme.CA) -> Iterator[ModelServer]:
    with tls_server(ca) as s:
        yield s


@pytest.fixture
def proxy() -> Iterator[Tinyproxy]:
    with Tinyproxy() as p:
        yield p


def model_for(server: ModelServer, provider: str = "openai", **options: Any) -> ModelConfig:
    """The model as config.json would give it, ``options`` as its ``requestOptions``."""
    entry = {"title": "Corp", "provider": provider, "model": "demo", "apiKey": KEY,
             "apiBase": server.base_url, "requestOptions": options}
    (model,) = resolve_models({"models": [entry]}, {})
    return model


def failure(model: ModelConfig, timeout: float = 5) -> ProviderError:
    with pytest.raises(ProviderError) as err:
        chat(model, ASK, timeout=timeout)
    message = str(err.value)
    assert KEY not in message and "\n" not in message
    return err.value


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so no other process can take it while
    the test runs) but not listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


# -- proxies --------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_requests_go_through_the_proxy_of_requestOptions(
    proxy: Tinyproxy, server: ModelServer, provider: str
) -> None:
    path = "/chat/completions" if provider == "openai" else "/messages"
    for _ in range(3):
        assert chat(model_for(server, provider, proxy=proxy.url), ASK, timeout=5).text == (
            DEFAULT_ANSWER
        )
    assert proxy.requests() == [("POST", f"{server.base_url}{path}")] * 3
    assert len(server.requests) == 3


def test_https_goes_through_a_connect_tunnel_from_HTTPS_PROXY(
    proxy: Tinyproxy, https_server: ModelServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    answer = chat(model_for(https_server, caBundlePath=ca_file), ASK, timeout=5)
    assert answer.text == DEFAULT_ANSWER
    # The proxy saw only the tunnel: the key and the prompt went inside TLS.
    assert proxy.requests() == [("CONNECT", f"127.0.0.1:{https_server.port}")]
    assert https_server.last.headers["authorization"] == f"Bearer {KEY}"


def test_lower_case_http_proxy_is_used_too(
    proxy: Tinyproxy, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    chat(model_for(server), ASK, timeout=5)
    assert len(proxy.requests()) == 1


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "127.0.0.1:{port}"]
)
def test_noProxy_bypasses_the_proxy(
    proxy: Tinyproxy, server: ModelServer, no_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    pattern = no_proxy.format(port=server.port)
    chat(model_for(server, proxy=proxy.url, noProxy=[pattern]), ASK, timeout=5)
    assert proxy.requests() == []
    assert len(server.requests) == 1


@pytest.mark.parametrize("name", ["NO_PROXY", "no_proxy"])
def test_NO_PROXY_bypasses_the_proxy_from_the_environment_and_from_requestOptions(
    proxy: Tinyproxy, server: ModelServer, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv(name, "example.com, 127.0.0.1")
    chat(model_for(server), ASK, timeout=5)
    chat(model_for(server, proxy=proxy.url), ASK, timeout=5)
    assert proxy.requests() == []
    monkeypatch.setenv(name, "example.com")
    chat(model_for(server), ASK, timeout=5)
    assert len(proxy.requests()) == 1


def test_a_wildcard_noProxy_matches_subdomains_only_as_continue_does() -> None:
    from devscode_nb.assistant.providers.session import proxy_for

    opts = RequestOptions(proxy="http://proxy.corp:3128", no_proxy=("*.internal.corp",))
    assert proxy_for("https://llm.internal.corp/v1", opts, {}) is None
    assert proxy_for("https://api.openai.com/v1", opts, {}) == "http://proxy.corp:3128"
    env = {"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2", "HTTP_PROXY": "http://c:3"}
    assert proxy_for("https://x.org", RequestOptions(), env) == "http://b:2"  # lower case wins
    assert proxy_for("http://x.org", RequestOptions(), env) == "http://c:3"
    # Under CGI a client sets HTTP_PROXY (the "httpoxy" header): it is not trusted there.
    assert proxy_for("http://x.org", RequestOptions(), {**env, "REQUEST_METHOD": "GET"}) is None


def test_a_proxy_that_refuses_names_the_setting_and_the_model(server: ModelServer) -> None:
    with refusing_port() as port:
        error = failure(model_for(server, proxy=f"http://127.0.0.1:{port}"))
    assert error.kind == "proxy"
    assert str(error) == (
        f'Proxy http://127.0.0.1:{port} refused the connection for "Corp": check '
        "requestOptions.proxy (or HTTPS_PROXY), or add the host to requestOptions.noProxy "
        "(or NO_PROXY)"
    )
    assert server.requests == []


@pytest.mark.parametrize(
    ("where", "proxy", "says"),
    [
        ("requestOptions", "socks5://bob:pr0xy-s3cret@127.0.0.1:1080",
         "Cannot use the proxy socks5://127.0.0.1:1080 for \"Corp\" (socks5:// proxies are not "
         "supported; use an http:// or https:// proxy)"),
        ("ALL_PROXY", "socks5h://127.0.0.1:1080", "(socks5h:// proxies are not supported"),
        ("requestOptions", "http://bob:pr0xy-s3cret@proxy.corp:31 28",
         'The proxy for "Corp" is not a URL (it may hold a password, so it is not shown)'),
        ("HTTP_PROXY", "http://[proxy.corp", 'The proxy for "Corp" is not a URL'),
    ],
)
def test_a_proxy_that_cannot_be_used_says_why_in_one_line_without_its_password(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch, where: str, proxy: str, says: str
) -> None:
    if where == "requestOptions":
        model = model_for(server, proxy=proxy)
    else:
        monkeypatch.setenv(where, proxy)
        model = model_for(server)
        monkeypatch.setenv("NO_PROXY", "example.com")  # the loopback server is not exempt
    error = failure(model)
    assert error.kind == "proxy" and says in str(error), str(error)
    assert "requestOptions.proxy" in str(error) and "ALL_PROXY" in str(error)
    assert "pr0xy-s3cret" not in str(error) and "bob" not in str(error)
    assert server.requests == []


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:99999/v1", "http://[::1/v1", "http://u:pw@localhost:port/v1",
             "ftp://127.0.0.1/v1", "http:///v1"],
)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "azure"])
def test_an_apiBase_that_is_not_a_url_is_one_line_naming_it(base: str, provider: str) -> None:
    entry = {"title": "Corp", "provider": provider, "model": "demo", "apiKey": KEY,
             "apiBase": base, "deployment": "d"}
    (model,) = resolve_models({"models": [entry]}, {})
    error = failure(model)
    assert error.kind == "unreachable", str(error)
    assert str(error).startswith('apiBase of model "Corp" is not an http(s) URL')
    assert "pw@" not in str(error)


def test_a_proxy_that_wants_a_password_says_so_and_accepts_it(
    server: ModelServer, https_server: ModelServer, ca_file: str
) -> None:
    with Tinyproxy(auth=("alice", "pr0xy-s3cret")) as proxy:
        # HTTPS: the tunnel is refused with 407.
        error = failure(model_for(https_server, proxy=proxy.url, caBundlePath=ca_file))
        assert error.kind == "proxy"
        assert "wants a user name and password" in str(error) and "(407)" in str(error)
        assert "requestOptions.proxy" in str(error) and '"Corp"' in str(error)
        # Plain HTTP: the proxy answers the request itself with 407.
        error = failure(model_for(server, proxy=proxy.url))
        assert error.http_status == 407 and "requestOptions.proxy" in str(error)
        assert https_server.requests == [] and server.requests == []

        with_password = proxy.url_with("alice", "pr0xy-s3cret")
        model = model_for(https_server, proxy=with_password, caBundlePath=ca_file)
        assert chat(model, ASK, timeout=5).text == DEFAULT_ANSWER
        assert len(https_server.requests) == 1
        # A failure behind an authenticated proxy never shows its password.
        https_server.fault = "server_error"
        assert "pr0xy-s3cret" not in str(failure(model))


def test_a_proxy_that_hangs_times_out(server: ModelServer) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        error = failure(model_for(server, proxy=f"http://127.0.0.1:{port}"), timeout=0.5)
    assert error.kind == "timeout" and f"proxy http://127.0.0.1:{port}" in str(error)


# -- TLS ------------------------------------------------------------------------------------


def test_an_unknown_ca_is_rejected_with_the_setting_to_use(https_server: ModelServer) -> None:
    error = failure(model_for(https_server))
    assert error.kind == "tls"
    assert str(error) == (
        f'Secure connection to {https_server.base_url} for "Corp" failed: its certificate is '
        "signed by an unknown authority — add your organisation's CA to "
        "requestOptions.caBundlePath (or SSL_CERT_FILE), or set requestOptions.verifySsl to false"
    )
    assert https_server.requests == []


def test_caBundlePath_a_string_or_a_list_is_added_to_the_system_roots(
    https_server: ModelServer, ca_file: str, tmp_path: Path
) -> None:
    assert chat(model_for(https_server, caBundlePath=ca_file), ASK, timeout=5).text == (
        DEFAULT_ANSWER
    )
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    assert chat(model_for(https_server, caBundlePath=[str(other), ca_file]), ASK, timeout=5)
    assert len(https_server.requests) == 2

    from devscode_nb.assistant.providers.session import ssl_context

    system = len(ssl_context(RequestOptions(), {}).get_ca_certs())
    assert system > 10, "the machine's roots are loaded"
    added = ssl_context(RequestOptions(ca_bundle_paths=(ca_file,)), {}).get_ca_certs()
    assert len(added) == system + 1  # added to the roots, not instead of them


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_the_standard_ca_variables_are_honoured(
    https_server: ModelServer, ca_file: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)
    assert failure(model_for(https_server)).kind == "tls"
    monkeypatch.setenv(variable, ca_file)
    assert chat(model_for(https_server), ASK, timeout=5).text == DEFAULT_ANSWER


def test_verifySsl_false_connects_without_a_word(
    https_server: ModelServer, capfd: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = chat(model_for(https_server, verifySsl=False), ASK, timeout=5)
    assert answer.text == DEFAULT_ANSWER
    assert caught == []
    assert capfd.readouterr() == ("", "")


def test_a_host_name_mismatch_is_named(ca: trustme.CA, ca_file: str) -> None:
    with tls_server(ca, "llm.devscode.invalid") as wrong:
        error = failure(model_for(wrong, caBundlePath=ca_file))
        assert error.kind == "tls" and wrong.requests == []
    assert "not valid for this host name" in str(error) and '"apiBase"' in str(error)


def test_an_expired_certificate_is_named(ca: trustme.CA, ca_file: str) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    with tls_server(ca, not_before=past, not_after=past + datetime.timedelta(days=1)) as old:
        error = failure(model_for(old, caBundlePath=ca_file))
    assert error.kind == "tls" and "its certificate has expired" in str(error)
    assert "requestOptions.verifySsl" in str(error)


def test_a_missing_ca_bundle_is_a_setting_error_and_nothing_is_sent(
    https_server: ModelServer, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    error = failure(model_for(https_server, caBundlePath=str(missing)))
    assert error.kind == "tls"
    assert str(error).startswith(f'requestOptions.caBundlePath of "Corp": cannot read the CA '
                                 f"bundle {missing}")
    assert error.latency_s is None and https_server.requests == []


@pytest.mark.timeout(60)  # what this guards against is waiting for ever
@pytest.mark.parametrize("where", ["caBundlePath", "clientCertificate", "SSL_CERT_FILE",
                                   "REQUESTS_CA_BUNDLE"])
@pytest.mark.parametrize("what", ["a FIFO", "a device", "a 20 GB file"])
def test_a_certificate_path_that_is_no_pem_file_is_refused_before_it_is_read(
    https_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    where: str, what: str,
) -> None:
    """OpenSSL reads a CA or certificate file to its end: a FIFO (no writer) or a device would
    keep the cell waiting for ever, a huge file would take its time and memory."""
    if what == "a FIFO":
        path = tmp_path / "corporate-ca.pem"
        os.mkfifo(path)
    elif what == "a device":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "corporate-ca.pem"
        with path.open("wb") as f:
            f.truncate(20 * 1024**3)  # sparse: no disk used
    options: dict[str, Any] = {}
    if where == "caBundlePath":
        options["caBundlePath"] = str(path)
    elif where == "clientCertificate":
        options["clientCertificate"] = {"cert": str(path), "key": str(path)}
    else:
        monkeypatch.setenv(where, str(path))
    started = time.monotonic()
    error = failure(model_for(https_server, **options))
    assert time.monotonic() - started < 30
    setting = where if where.isupper() else f"requestOptions.{where}"
    assert error.kind == "tls" and str(error).startswith(f'{setting} of "Corp": {path} is ')
    assert ("not a regular file" in str(error)) == (what != "a 20 GB file")
    assert "give the path of a PEM file" in str(error)
    assert https_server.requests == []


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    return trustme.CA()


def write_client_cert(client_ca: trustme.CA, folder: Path, passphrase: bytes | None) -> dict:
    from cryptography.hazmat.primitives import serialization

    leaf = client_ca.issue_cert("notebook@devscode.invalid")
    cert, key = folder / "client.pem", folder / "client.key"
    cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    if passphrase is None:
        leaf.private_key_pem.write_to_path(str(key))
    else:
        private = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        key.write_bytes(private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        ))
    entry: dict[str, str] = {"cert": str(cert), "key": str(key)}
    if passphrase is not None:
        entry["passphrase"] = passphrase.decode()
    return entry


@pytest.mark.parametrize("passphrase", [None, b"k3y-passphrase"])
def test_client_certificate_auth(
    ca: trustme.CA, ca_file: str, client_ca: trustme.CA, tmp_path: Path,
    passphrase: bytes | None,
) -> None:
    certificate = write_client_cert(client_ca, tmp_path, passphrase)
    with tls_server(ca, client_ca=client_ca) as mtls:
        error = failure(model_for(mtls, caBundlePath=ca_file))
        # The alert ("certificate required") or, losing the TLS 1.3 race, a bare close: either
        # way the line points at the setting.
        assert error.kind == "tls" and "requestOptions.clientCertificate" in str(error)
        # The server's side of the failed handshake may be recorded just after ours.
        wait_until(lambda: mtls.tls_failures, message="the server saw no failed handshake")
        assert mtls.requests == []

        model = model_for(mtls, caBundlePath=ca_file, clientCertificate=certificate)
        assert chat(model, ASK, timeout=5).text == DEFAULT_ANSWER
        assert len(mtls.requests) == 1


def test_a_wrong_passphrase_names_the_setting_never_the_passphrase(
    ca: trustme.CA, ca_file: str, client_ca: trustme.CA, tmp_path: Path
) -> None:
    certificate = write_client_cert(client_ca, tmp_path, b"the-right-one")
    certificate["passphrase"] = "a-wrong-passphrase"
    with tls_server(ca, client_ca=client_ca) as mtls:
        error = failure(model_for(mtls, caBundlePath=ca_file, clientCertificate=certificate))
        assert mtls.requests == []
    assert error.kind == "tls" and "requestOptions.clientCertificate" in str(error)
    assert "a-wrong-passphrase" not in str(error) and "the-right-one" not in str(error)


# -- headers, body, redirects, timeout ------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_headers_and_extraBodyProperties_reach_the_server(
    server: ModelServer, provider: str
) -> None:
    model = model_for(
        server,
        provider,
        headers={"X-Org-Route": "team-a", "user-agent": "corp-notebooks/1.0"},
        extraBodyProperties={"metadata": {"cost_center": "42"}, "temperature": 0.0},
    )
    chat(model, ASK, timeout=5)
    seen = server.last
    assert seen.headers["x-org-route"] == "team-a"
    assert seen.headers["user-agent"] == "corp-notebooks/1.0"  # merged over ours
    assert seen.body["metadata"] == {"cost_center": "42"} and seen.body["temperature"] == 0.0
    assert seen.body["messages"][-1] == ASK[0]  # ours is still there


@pytest.mark.parametrize("headers", [{"X-Token": "tok-123\r\nX-Evil: 1"}, {"Bad:Name": "v"}])
def test_a_header_that_cannot_be_sent_is_one_line_without_its_value(
    server: ModelServer, headers: dict
) -> None:
    error = failure(model_for(server, headers=headers))
    assert error.kind == "config" and "requestOptions.headers" in str(error)
    assert "tok-123" not in str(error) and error.latency_s is None
    assert server.requests == []


def test_a_redirect_is_not_followed_so_the_key_stays_with_its_host(server: ModelServer) -> None:
    with ModelServer() as elsewhere:
        server.fault, server.redirect_to = "redirect", elsewhere.url
        error = failure(model_for(server))
        assert (error.kind, error.http_status) == ("http", 307)
        assert f"redirects to {elsewhere.url}/v1/chat/completions" in str(error)
        assert '"apiBase"' in str(error)
        assert elsewhere.requests == []


def test_requestOptions_timeout_beats_the_default(server: ModelServer) -> None:
    server.fault = "hang"
    error = failure(model_for(server, timeout=0.5), timeout=60)
    assert error.kind == "timeout" and "within 0.5 s" in str(error)


# -- config: Continue's fields and precedence -----------------------------------------------


def test_top_level_options_apply_to_every_model_and_a_models_own_keys_win() -> None:
    config = {
        "systemMessage": "Top-level system.",
        "completionOptions": {"temperature": 0.1, "maxTokens": 300},
        "requestOptions": {"proxy": "http://proxy.corp:3128", "headers": {"X-A": "1"},
                           "timeout": 30},
        "models": [
            {"title": "Plain", "provider": "ollama", "model": "llama3.1"},
            {"title": "Own", "provider": "ollama", "model": "qwen",
             "systemMessage": "Own system.", "completionOptions": {"temperature": 0.7},
             "requestOptions": {"headers": {"X-B": "2"}, "verifySsl": False},
             "contextLength": 8192},
        ],
    }
    plain, own = resolve_models(config, {})
    assert plain.system_message == "Top-level system."
    assert dict(plain.completion_options) == {"temperature": 0.1, "maxTokens": 300}
    assert plain.request_options.proxy == "http://proxy.corp:3128"
    assert dict(plain.request_options.headers) == {"X-A": "1"}
    assert plain.request_options.timeout == 30 and plain.context_length is None
    assert own.system_message == "Own system."
    assert dict(own.completion_options) == {"temperature": 0.7, "maxTokens": 300}
    # Shallow, as Continue: the model's headers replace the top-level headers as a whole.
    assert dict(own.request_options.headers) == {"X-B": "2"}
    assert own.request_options.proxy == "http://proxy.corp:3128"
    assert own.request_options.verify_ssl is False and own.context_length == 8192


def test_bad_option_values_are_ignored_not_fatal() -> None:
    (model,) = resolve_models(
        {"models": [{"provider": "ollama", "model": "m", "contextLength": "big",
                     "requestOptions": {"timeout": "soon", "headers": ["x"], "noProxy": 5,
                                        "caBundlePath": ["", 3, "/a.pem"],
                                        "clientCertificate": {"key": "k"}}}]},
        {},
    )
    opts = model.request_options
    assert (opts.timeout, dict(opts.headers), opts.no_proxy) == (None, {}, ())
    assert opts.ca_bundle_paths == ("/a.pem",) and opts.client_certificate is None
    assert model.context_length is None


def test_completion_options_in_each_protocols_own_field_names(server: ModelServer) -> None:
    options = {"temperature": 0.2, "topP": 0.9, "topK": 40, "maxTokens": 321, "stop": ["##"],
               "presencePenalty": 0.5, "frequencyPenalty": 0.25}
    config = {"systemMessage": "Answer in Python.", "completionOptions": options, "models": [
        {"title": p, "provider": p, "model": "demo", "apiBase": server.base_url, "apiKey": KEY}
        for p in ("openai", "ollama", "anthropic")
    ]}
    bodies = {}
    for model in resolve_models(config, {}):
        chat(model, ASK, timeout=5)
        bodies[model.provider] = server.last.body
    openai, ollama, anthropic = bodies["openai"], bodies["ollama"], bodies["anthropic"]
    assert openai["messages"][0] == {"role": "system", "content": "Answer in Python."}
    for body in (openai, ollama):
        assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"]) == (
            0.2, 0.9, 321, ["##"])
        assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, 0.25)
    assert "top_k" not in openai and ollama["top_k"] == 40  # only where the server has it
    assert anthropic["system"] == "Answer in Python."
    assert (anthropic["temperature"], anthropic["top_p"], anthropic["top_k"]) == (0.2, 0.9, 40)
    assert anthropic["max_tokens"] == 321 and anthropic["stop_sequences"] == ["##"]
    assert "presence_penalty" not in anthropic and "frequency_penalty" not in anthropic


# -- Azure OpenAI and Gemini ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "deployment", "version"),
    [
        ({"provider": "azure", "model": "gpt-4o", "deployment": "acme-prod-4o",
          "apiVersion": "2024-06-01"}, "acme-prod-4o", "2024-06-01"),
        ({"provider": "azure", "model": "gpt-4o", "engine": "acme-old-name"},
         "acme-old-name", "2024-10-21"),
        ({"provider": "openai", "apiType": "azure", "model": "gpt-4o-mini"},
         "gpt-4o-mini", "2024-10-21"),
    ],
)
def test_azure_uses_the_deployment_route_and_the_api_key_header(
    server: ModelServer, entry: dict, deployment: str, version: str
) -> None:
    server.api_key = KEY
    (model,) = resolve_models({"models": [{**entry, "apiBase": server.url + "/"}]},
                              {"AZURE_OPENAI_API_KEY": KEY})
    assert model.provider == "azure"
    answer = chat(model, ASK, timeout=5)
    assert answer.text == DEFAULT_ANSWER and answer.usage.source == "provider"
    seen = server.last
    assert seen.path == f"/openai/deployments/{deployment}/chat/completions?api-version={version}"
    assert seen.headers["api-key"] == KEY and "authorization" not in seen.headers


def test_azure_errors_name_the_key_and_never_show_it(server: ModelServer) -> None:
    (no_key,) = resolve_models(
        {"models": [{"provider": "azure", "model": "gpt-4o", "apiBase": server.url}]}, {}
    )
    error = failure(no_key)
    assert error.kind == "missing_key" and "AZURE_OPENAI_API_KEY" in str(error)
    server.api_key = "the-right-key"
    (wrong,) = resolve_models({"models": [{"provider": "azure", "model": "gpt-4o",
                                           "apiBase": server.url, "apiKey": KEY}]}, {})
    error = failure(wrong)
    assert error.http_status == 401 and "Access denied" in str(error)


def test_an_azure_deployment_name_never_leaves_as_a_model_name(
    sending_shell: Any, capture: Any, server: ModelServer, global_dir: Path
) -> None:
    from conftest import telemetry_of, write_config

    write_config(global_dir, (
        '{"models": [{"title": "Azure", "provider": "azure", "deployment": "acme-secret-proj",'
        f' "apiKey": "{KEY}", "apiBase": "{server.url}"}}]}}'
    ))
    assert sending_shell.run_cell("%%devscode\nPrint the square root of two.").success
    assert server.last.path.startswith("/openai/deployments/acme-secret-proj/")
    assert telemetry_of(sending_shell).flush()
    sent = [e for e in capture.events if e["event"] != "$pageview"]
    assert {e["event"] for e in sent} >= {"useSlashCommand", "tokens_generated", "$ai_generation"}
    assert "acme-secret-proj" not in repr(capture.events)
    for event in sent:
        props = event["properties"]
        assert props.get("provider", props.get("$ai_provider", "azure")) == "azure"
        for key in ("model", "$ai_model"):
            assert props.get(key, "custom") == "custom"


def test_gemini_through_its_openai_compatible_endpoint(server: ModelServer) -> None:
    (default,) = resolve_models({"models": [{"provider": "gemini", "model": "gemini-2.0-flash"}]},
                                {"GEMINI_API_KEY": KEY})
    assert default.api_key == KEY
    from devscode_nb.assistant.providers.models import base_url

    assert base_url(default) == "https://generativelanguage.googleapis.com/v1beta/openai"
    local = ModelConfig(title="Gemini", provider="gemini", model="gemini-2.0-flash", api_key=KEY,
                        api_base=f"{server.url}/v1beta/openai")
    assert chat(local, ASK, timeout=5).text == DEFAULT_ANSWER
    assert server.last.path == "/v1beta/openai/chat/completions"
    assert server.last.headers["authorization"] == f"Bearer {KEY}"


# -- cost -----------------------------------------------------------------------------------


def test_our_requests_log_nothing_under_a_notebooks_debug_logging(
    server: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``logging.basicConfig(level=logging.DEBUG)`` in a notebook: urllib3 says nothing of our
    requests (ok or failed), and still logs the notebook's own, on the same thread."""
    import urllib3

    caplog.set_level(logging.DEBUG)
    assert chat(model_for(server), ASK, timeout=5).text == DEFAULT_ANSWER
    with refusing_port() as port:
        failure(model_for(server, proxy=f"http://127.0.0.1:{port}"))
    assert [r for r in caplog.records if r.name.startswith("urllib3")] == []
    with urllib3.PoolManager() as pool:  # the notebook's own traffic: logged as configured
        pool.request("POST", f"{server.base_url}/chat/completions", body=b"{}")
    assert [r for r in caplog.records if r.name.startswith("urllib3")]


def test_the_http_library_is_imported_on_the_first_request_only(
    server: ModelServer, tmp_path: Path
) -> None:
    code = f"""
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
import devscode_nb
shell.run_line_magic("load_ext", "devscode_nb")
loaded = [m for m in ("requests", "urllib3") if m in sys.modules]
print("before:", loaded)
from devscode_nb.assistant.providers import ModelConfig, chat
chat(ModelConfig(title="T", provider="ollama", model="m", api_base="{server.base_url}"),
     [{{"role": "user", "content": "hi"}}], timeout=5)
print("after:", "urllib3" in sys.modules, "requests" in sys.modules)
"""
    env = {"PATH": "/usr/bin:/bin", "DO_NOT_TRACK": "1", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    assert "before: []" in out and "after: True False" in out
    assert len(server.requests) == 1


def test_concurrent_requests_through_one_proxy_are_all_counted(
    proxy: Tinyproxy, server: ModelServer
) -> None:
    """Threads sharing nothing but the proxy and the TLS-context cache."""
    model = model_for(server, proxy=proxy.url)
    results: list[str] = []

    def ask() -> None:
        results.append(chat(model, ASK, timeout=10).text)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [DEFAULT_ANSWER] * 8
    assert len(proxy.requests()) == 8 and len(server.requests) == 8


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_a_kernel_interrupt_lands_promptly_inside_a_tls_tunnel(
    proxy: Tinyproxy, https_server: ModelServer, ca_file: str
) -> None:
    """SIGINT while a silent HTTPS server is waited on through the proxy: one clean line."""
    https_server.fault = "hang"
    model = model_for(https_server, proxy=proxy.url, caBundlePath=ca_file)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(ProviderError) as err:
            chat(model, ASK, timeout=30)
    finally:
        timer.cancel()
    assert err.value.kind == "interrupted" and time.monotonic() - started < 5
    assert proxy.requests() == [("CONNECT", f"127.0.0.1:{https_server.port}")]
    https_server.fault = None
    assert chat(model, ASK, timeout=5).text == DEFAULT_ANSWER  # the process is still usable
