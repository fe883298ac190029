"""Continue's ``requestOptions`` and ``completionOptions``, read and merged the way Continue does.

Both may be given at the top level of ``config.json`` and per model. Continue merges them
shallowly, the model's own keys winning (``{...config.requestOptions, ...model.requestOptions}``
in its ``applyRequestOptionsToModels``, the same for ``completionOptions`` in
``llmFromDescription``): a model's ``headers`` replaces the top-level ``headers`` as a whole.
``systemMessage`` is the model's, else the top level's.

Only reading happens here (stdlib, no networking): ``http.py`` turns the options into a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClientCertificate:
    """``requestOptions.clientCertificate``: PEM files, and the key's passphrase if it has one."""

    cert: str
    key: str | None = None
    passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RequestOptions:
    """The parts of ``requestOptions`` that shape a request (unknown keys are ignored)."""

    proxy: str | None = None
    no_proxy: tuple[str, ...] = ()
    ca_bundle_paths: tuple[str, ...] = ()
    verify_ssl: bool = True
    client_certificate: ClientCertificate | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to connect and to wait for each piece of the answer (``None``: the caller's).
    timeout: float | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)


def merged(top: object, own: object) -> dict[str, Any]:
    """Continue's shallow merge of a top-level options object and a model's: the model wins."""
    out = dict(top) if isinstance(top, Mapping) else {}
    if isinstance(own, Mapping):
        out.update(own)
    return out


def request_options(raw: Mapping[str, Any]) -> RequestOptions:
    """``raw`` (an already merged ``requestOptions``) as :class:`RequestOptions`.

    Values of the wrong type are skipped, as a missing key would be: one bad value should not
    take the model away.
    """
    cert = raw.get("clientCertificate")
    client = None
    if isinstance(cert, Mapping) and _text(cert.get("cert")):
        client = ClientCertificate(
            str(cert["cert"]).strip(), _text(cert.get("key")), _text(cert.get("passphrase"))
        )
    headers = raw.get("headers")
    extra = raw.get("extraBodyProperties")
    timeout = raw.get("timeout")
    return RequestOptions(
        proxy=_text(raw.get("proxy")),
        no_proxy=_texts(raw.get("noProxy"), split=True),
        ca_bundle_paths=_texts(raw.get("caBundlePath")),
        verify_ssl=raw.get("verifySsl") is not False,
        client_certificate=client,
        headers=(
            {str(k): str(v) for k, v in headers.items() if isinstance(v, (str, int, float))}
            if isinstance(headers, Mapping)
            else {}
        ),
        timeout=(
            float(timeout)
            if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
            else None
        ),
        extra_body=dict(extra) if isinstance(extra, Mapping) else {},
    )


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _texts(value: object, *, split: bool = False) -> tuple[str, ...]:
    """A string (comma-separated when ``split``) or a list of strings, as a tuple."""
    items = (value.split(",") if split else [value]) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return ()
    return tuple(t for t in (_text(v) for v in items) if t)
