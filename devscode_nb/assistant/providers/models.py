"""Models from the user's Devscode ``config.json``: the same entries the IDE extension reads.

Entries look like Continue's: ``{"title", "provider", "model", "apiKey", "apiBase",
"completionOptions", "systemMessage", "contextLength", "requestOptions"}`` and, for Azure OpenAI,
``apiType``, ``apiVersion``, ``deployment`` (or the older ``engine``). The top level may carry
``completionOptions``, ``requestOptions`` and ``systemMessage`` for every model; a model's own
values win, key by key (see :mod:`.options`). Keys may also come from the usual environment
variables, so a notebook works with the same setup as the provider's own SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from .base import DEFAULT_CONFIG_HINT, ModelConfig, ProviderError, check_key
from .options import merged, request_options

#: Where each provider listens when ``apiBase`` is not set. Everything but anthropic speaks the
#: OpenAI-compatible chat completions protocol at ``<base>/chat/completions``.
DEFAULT_BASES: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "ollama": "http://localhost:11434/v1",
    "lmstudio": "http://localhost:1234/v1",
    "vllm": "http://localhost:8000/v1",
    "llamacpp": "http://localhost:8080/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
    "xai": "https://api.x.ai/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
}

#: Environment variables holding each hosted provider's key, first match wins.
KEY_ENV_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "together": ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "deepinfra": ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
    "xai": ("XAI_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "azure": ("AZURE_OPENAI_API_KEY",),
}

#: Azure OpenAI's ``api-version`` when the entry gives none: the newest generally available one
#: (it streams token usage). Continue's own default is an older preview.
AZURE_API_VERSION = "2024-10-21"
#: ``apiType`` values that make an entry Azure OpenAI whatever its ``provider`` says.
AZURE_API_TYPES = frozenset({"azure", "azure-openai"})

#: Servers that run on the user's machine and need no key (one is sent if configured).
LOCAL_PROVIDERS = frozenset({"ollama", "lmstudio", "vllm", "llamacpp"})

#: Spellings used in Continue configs, mapped to the names above.
PROVIDER_ALIASES: dict[str, str] = {
    "llama.cpp": "llamacpp",
    "llama-cpp": "llamacpp",
    "lm-studio": "lmstudio",
    "lm_studio": "lmstudio",
    "togetherai": "together",
    "together-ai": "together",
    "mistralai": "mistral",
    "x-ai": "xai",
    "google": "gemini",
    "azure-openai": "azure",
}


def canonical_provider(name: str) -> str:
    """Lower-cased provider name with Continue's alternative spellings folded."""
    key = name.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def resolve_models(
    config: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    config_path: str = DEFAULT_CONFIG_HINT,
) -> list[ModelConfig]:
    """The usable entries of ``config["models"]``, keys filled in from ``env`` when missing.

    Entries without a ``provider`` or ``model`` string are skipped rather than failing the
    whole list: one broken entry should not take away the others (an Azure entry may name only
    its ``deployment``).
    """
    raw = config.get("models")
    if not isinstance(raw, list):
        return []
    models: list[ModelConfig] = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        provider = _str_or_none(entry.get("provider"))
        if provider is None:
            continue
        provider = canonical_provider(provider)
        api_type = (_str_or_none(entry.get("apiType")) or "").lower()
        if api_type in AZURE_API_TYPES:
            provider = "azure"
        deployment = None
        if provider == "azure":
            deployment = (
                _str_or_none(entry.get("deployment"))
                or _str_or_none(entry.get("engine"))
                or _str_or_none(entry.get("model"))
            )
        model = _str_or_none(entry.get("model")) or deployment
        if model is None:
            continue
        title = _str_or_none(entry.get("title")) or model
        api_key, source = _str_or_none(entry.get("apiKey")), "apiKey"
        if api_key is None:
            names = KEY_ENV_VARS.get(provider, ())
            source, api_key = next(
                ((v, env[v].strip()) for v in names if env.get(v, "").strip()), ("", None)
            )
        check_key(api_key, title, source, config_path)
        context_length = entry.get("contextLength")
        models.append(
            ModelConfig(
                title=title,
                provider=provider,
                model=model,
                api_key=api_key,
                api_base=_str_or_none(entry.get("apiBase")),
                completion_options=merged(
                    config.get("completionOptions"), entry.get("completionOptions")
                ),
                system_message=_str_or_none(entry.get("systemMessage"))
                or _str_or_none(config.get("systemMessage")),
                request_options=request_options(
                    merged(config.get("requestOptions"), entry.get("requestOptions"))
                ),
                context_length=(
                    context_length
                    if isinstance(context_length, int)
                    and not isinstance(context_length, bool)
                    and context_length > 0
                    else None
                ),
                deployment=deployment,
                api_version=(
                    (_str_or_none(entry.get("apiVersion")) or AZURE_API_VERSION)
                    if provider == "azure"
                    else None
                ),
                config_path=config_path,
            )
        )
    return models


def _str_or_none(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def find_model(models: Sequence[ModelConfig], name: str | None, default: str | None) -> ModelConfig:
    """The model named ``name`` (else ``default``, else the first configured one).

    A name matches a title (exactly, then ignoring case) or ``provider/model``.
    """
    if not models:
        raise ProviderError(
            "no_model",
            'No model configured: add one to the "models" list in ~/.devscode/config.json, e.g. '
            '{"title": "Llama", "provider": "ollama", "model": "llama3.1"}',
        )
    wanted = name or default
    if not wanted:
        return models[0]
    wanted = wanted.strip()
    for match in (
        lambda m: m.title == wanted,
        lambda m: m.title.lower() == wanted.lower(),
        lambda m: f"{m.provider}/{m.model}" == wanted,
        lambda m: f"{m.provider}/{m.model}".lower() == _fold_provider(wanted).lower(),
    ):
        for m in models:
            if match(m):
                return m
    titles = ", ".join(f'"{m.title}"' for m in models)
    source = "" if name else " (DevscodeMagics.default_model)"
    raise ProviderError(
        "unknown_model",
        f'Unknown model "{wanted}"{source}: use one of {titles} (a title, or provider/model, '
        f"from {models[0].config_path})",
    )


def _fold_provider(name: str) -> str:
    provider, sep, model = name.partition("/")
    return f"{canonical_provider(provider)}/{model}" if sep else name


def base_url(model: ModelConfig) -> str:
    """The URL requests go under, without a trailing slash.

    A base with no path gets ``/v1`` (Continue's Ollama and llama.cpp entries often say just
    ``http://localhost:11434``, their native APIs' root).
    """
    base = model.api_base or DEFAULT_BASES.get(model.provider)
    if base is None:
        example = " (https://<resource>.openai.azure.com)" if model.provider == "azure" else ""
        raise ProviderError(
            "unreachable",
            f'Provider "{model.provider}" of model "{model.title}" has no default address: '
            f'set "apiBase"{example} for it in {model.config_path}',
        )
    parts: SplitResult | None
    try:
        parts = urlsplit(base.strip())
        parts.port  # noqa: B018 (a port that is not a number from 0 to 65535 raises here)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(
            "unreachable",
            f'apiBase of model "{model.title}" is not an http(s) URL with a host (and a port '
            f"from 1 to 65535): fix it in {model.config_path}",
        )
    if model.provider == "azure":  # the resource's root; the deployment path is added per call
        path = parts.path.rstrip("/").removesuffix("/openai")
    else:
        path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def display_url(url: str) -> str:
    """``url`` without credentials or query, fit for an error message (never raises: an
    address that is not a URL is shown as such, since it may hold a password)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return "(not a valid URL)"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def require_key(model: ModelConfig) -> str | None:
    """The key to send; raises ``missing_key`` for a hosted provider at its default address.

    With a custom ``apiBase`` (a proxy, or a local server configured as "openai") the key is
    optional: the server will say 401 if it wants one.
    """
    if model.api_key:
        return model.api_key
    own_auth = {h.lower() for h in model.request_options.headers} & {"authorization", "api-key"}
    azure = model.provider == "azure" and not own_auth  # Azure always wants a key
    if azure or (model.api_base is None and model.provider not in LOCAL_PROVIDERS):
        env = " or ".join(KEY_ENV_VARS.get(model.provider, ()))
        also = f" (or set {env})" if env else ""
        raise ProviderError(
            "missing_key",
            f'Missing API key for model "{model.title}" ({model.provider}): add "apiKey" to '
            f"its entry in {model.config_path}{also}",
        )
    return None
