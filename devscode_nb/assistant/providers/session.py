"""A urllib3 pool shaped by ``requestOptions`` and the standard environment, as Continue does.

- **Proxy**: ``requestOptions.proxy``, else ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (either
  case); bypassed for hosts in ``requestOptions.noProxy`` or ``NO_PROXY`` (``*``, ``corp`` and
  ``.corp`` and ``*.corp`` for the domain and below, ``host:port``, CIDR). urllib3's
  ``ProxyManager`` does the CONNECT tunnelling; ``http://user:password@proxy:port`` becomes its
  ``Proxy-Authorization``.
- **Trust**: the system's roots (OpenSSL's defaults, so ``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply;
  certifi's Mozilla roots where the system offers none), **plus** every ``caBundlePath`` and
  ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` — Continue adds a bundle to the roots, it does not
  replace them. ``verifySsl: false`` checks nothing. ``clientCertificate`` is loaded into the
  same context.
- Redirects are not followed: a ``Location`` elsewhere must not receive the key in our headers.

urllib3 is the engine of ``requests`` (which comes with posthog), without its sessions, cookies,
redirects and character-set detection: in a kernel that saves ~15–20 ms of imports on the first
answer (docs/benchmarks.md). Imported on the first request only.
"""

from __future__ import annotations

import functools
import os
import ssl
import stat
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3

from .options import RequestOptions

#: Environment variables naming a CA bundle that ``requests`` users already set; added to roots.
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class SettingError(Exception):
    """A ``requestOptions`` value that cannot be used; ``setting`` names it for the message."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def proxy_for(url: str, options: RequestOptions, env: Mapping[str, str]) -> str | None:
    """The proxy ``url`` goes through, or ``None`` for a direct connection."""
    no_proxy = [*options.no_proxy]
    for name in ("NO_PROXY", "no_proxy"):
        no_proxy += env.get(name, "").split(",")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if any(_bypasses(p.strip().lower(), parts.hostname or "", port) for p in no_proxy):
        return None
    if options.proxy:
        return options.proxy
    found = _environ_proxies(env)
    return found.get(parts.scheme) or found.get("all")


def _bypasses(pattern: str, host: str, port: int) -> bool:
    """curl's ``NO_PROXY`` rules, with Continue's ``*.domain`` and CIDR blocks."""
    if not pattern:
        return False
    if pattern == "*":
        return True
    if "/" in pattern:
        import ipaddress  # only for CIDR blocks

        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    name, _, want_port = pattern.rpartition(":") if pattern.count(":") == 1 else (pattern, "", "")
    if want_port and (not want_port.isdigit() or int(want_port) != port):
        return False
    name = (name or pattern).strip("[]").removeprefix("*").removeprefix(".")
    return host == name or host.endswith("." + name)


def _environ_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """``<scheme>_PROXY`` variables by scheme; lower case wins, as in curl and urllib.

    ``HTTP_PROXY`` is ignored under CGI (``REQUEST_METHOD`` set), where a client can set it.
    """
    found: dict[str, str] = {}
    for lower in (False, True):
        for name, value in env.items():
            if (name == name.lower()) == lower and name.lower().endswith("_proxy") and value:
                found[name.lower().removesuffix("_proxy")] = value.strip()
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    return found


def ssl_context(options: RequestOptions, env: Mapping[str, str]) -> ssl.SSLContext:
    """The TLS context for ``options``: system roots plus the extra bundles, client cert loaded."""
    extra = [(path, "requestOptions.caBundlePath") for path in options.ca_bundle_paths]
    extra += [(env[name], name) for name in CA_BUNDLE_ENV if env.get(name, "").strip()]
    cert = options.client_certificate
    # OpenSSL reads SSL_CERT_FILE/SSL_CERT_DIR from the process environment itself when the
    # context loads its defaults; another mapping's values are loaded explicitly.
    own = env is os.environ
    key = (
        tuple((path, _mtime(path), setting) for path, setting in extra),
        options.verify_ssl,
        (cert.cert, cert.key, cert.passphrase, _mtime(cert.cert)) if cert else None,
        env.get("SSL_CERT_FILE"),
        env.get("SSL_CERT_DIR"),
        own,
    )
    return _context(key)


def _mtime(path: str) -> float | None:
    try:
        return os.stat(os.path.expanduser(path)).st_mtime
    except OSError:
        return None


@functools.lru_cache(maxsize=16)
def _context(key: tuple[Any, ...]) -> ssl.SSLContext:
    """Built once per distinct setting: loading roots costs milliseconds."""
    extra, verify, cert, cert_file, cert_dir, own = key
    if cert_file:  # OpenSSL would read it, and wait on a FIFO
        _pem_file(cert_file, "SSL_CERT_FILE")
    if verify:
        ctx = ssl.create_default_context()
        if not own and (cert_file or cert_dir):
            ctx.load_verify_locations(cafile=cert_file or None, capath=cert_dir or None)
        if not ctx.get_ca_certs() and not _system_dir():
            try:
                import certifi  # Mozilla's roots; comes with requests (and so with posthog)
            except ImportError:
                pass
            else:
                ctx.load_verify_locations(cafile=certifi.where())
        for path, _, setting in extra:
            _load_bundle(ctx, os.path.expanduser(path), setting)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        cert_path, key_path, passphrase, _ = cert
        for path in (cert_path, key_path):
            if path:
                _pem_file(os.path.expanduser(path), "requestOptions.clientCertificate")
        try:
            ctx.load_cert_chain(
                os.path.expanduser(cert_path),
                os.path.expanduser(key_path) if key_path else None,
                password=passphrase,
            )
        except (OSError, ssl.SSLError) as exc:
            raise SettingError(
                "requestOptions.clientCertificate",
                f"cannot load {cert_path} ({_reason(exc)}): check its cert, key and passphrase",
            ) from None
    return ctx


def _system_dir() -> bool:
    """OpenSSL has a directory of hashed roots (loaded lazily, so not counted up front)."""
    capath = ssl.get_default_verify_paths().capath
    return bool(capath) and os.path.isdir(capath) and any(os.scandir(capath))


#: More than any certificate bundle holds (Mozilla's whole set is about 220 KB).
MAX_PEM_BYTES = 16 * 1024 * 1024


def _pem_file(path: str, setting: str) -> None:
    """Refuse what OpenSSL must not be handed: a FIFO or a device would keep the cell waiting
    for ever (OpenSSL reads until the end), a huge file would take its time and memory."""
    try:
        info = os.stat(path)
    except OSError:
        return  # OpenSSL says what is missing, in its own words
    if not stat.S_ISREG(info.st_mode):
        raise SettingError(
            setting,
            f"{path} is not a regular file (a FIFO, a device?), so it is not read: give the "
            "path of a PEM file",
        )
    if info.st_size > MAX_PEM_BYTES:
        raise SettingError(
            setting,
            f"{path} is {info.st_size:,} bytes, more than any PEM file holds, so it is not "
            "read: give the path of a PEM file",
        )


def _load_bundle(ctx: ssl.SSLContext, path: str, setting: str) -> None:
    folder = os.path.isdir(path)
    if not folder:
        _pem_file(path, setting)
    try:
        if folder:
            ctx.load_verify_locations(capath=path)
        else:
            ctx.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise SettingError(
            setting,
            f"cannot read the CA bundle {path} ({_reason(exc)}): give the path of a PEM file",
        ) from None


def _reason(exc: OSError) -> object:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc


def make_pool(
    url: str, proxy: str | None, options: RequestOptions, env: Mapping[str, str]
) -> urllib3.PoolManager:
    """A pool for one request to ``url`` through ``proxy`` (``None``: direct; see
    :func:`proxy_for`)."""
    kwargs: dict[str, Any] = {"retries": False, "num_pools": 1}
    if url.lower().startswith("https:") or (proxy or "").lower().startswith("https:"):
        context = ssl_context(options, env)
        kwargs.update(
            ssl_context=context,
            cert_reqs=ssl.CERT_REQUIRED if options.verify_ssl else ssl.CERT_NONE,
        )
    if proxy is None:
        return urllib3.PoolManager(**kwargs)
    try:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise SettingError(
            "proxy", "is not a URL (it may hold a password, so it is not shown): write it as "
            "http://host:port in requestOptions.proxy, HTTPS_PROXY, HTTP_PROXY or ALL_PROXY"
        ) from None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        kwargs["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=credentials)
    if "ssl_context" in kwargs:
        kwargs["proxy_ssl_context"] = kwargs["ssl_context"]
    host = parts.hostname or ""
    address = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
    if parts.port:
        address += f":{parts.port}"
    return urllib3.ProxyManager(address, **kwargs)
