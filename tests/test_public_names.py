"""Public names only (SPEC §3): model names by allow-list, custom commands as ``custom``.

Unit tests per family and property tests here; what reaches a real capture server through the
real assistant and a loopback model server is checked byte for byte in ``test_privacy.py``.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devscode_nb.assistant.core import BUILTIN_COMMANDS
from devscode_nb.telemetry.events import BUILTIN_COMMANDS as SCHEMA_COMMANDS
from devscode_nb.telemetry.events import build_properties
from devscode_nb.telemetry.public_names import FAMILIES, PREFIXES, WORDS, public_model_name

# Real public names, at least one per family (each family in FAMILIES must appear here).
EXAMPLES: dict[str, list[str]] = {
    "openai-gpt": [
        "gpt-4o-mini",
        "gpt-4o-2024-08-06",
        "chatgpt-4o-latest",
        "gpt-4.1-nano",
        "gpt-3.5-turbo-0125",
        "gpt-oss:20b",
        "gpt-5",
    ],
    "openai-o": ["o1-preview", "o3-mini", "o4-mini-high"],
    "openai-embedding": ["text-embedding-3-small", "omni-moderation-latest"],
    "openai-legacy": ["davinci-002", "babbage-002"],
    "openai-media": ["whisper-1", "tts-1-hd", "dall-e-3", "computer-use-preview"],
    "claude": [
        "claude-3-5-sonnet-20241022",
        "claude-sonnet-4-20250514",
        "claude-opus-4-1",
        "claude-3-haiku-20240307",
        "claude-instant-1.2",
        "claude-3-7-sonnet-latest",
    ],
    "gemini": ["gemini-1.5-pro-002", "gemini-2.0-flash-exp", "gemini-2.5-flash-lite"],
    "gemma": ["gemma2:9b", "gemma-3n-e4b-it", "codegemma:7b-code"],
    "palm": ["text-bison-001", "chat-bison"],
    "llama": [
        "llama3.1:8b",
        "llama3.1:8b-instruct-q4_K_M",
        "codellama:13b",
        "llama-3.3-70b-versatile",
        "llama-3.1-8b-instant",
        "llama4:scout",
        "llama-4-maverick-17b-128e-instruct",
        "Meta-Llama-3.1-8B-Instruct-Turbo",
        "llava:13b",
        "tinyllama",
        "Llama-3.2-1B-Instruct-GGUF",
    ],
    "mistral": [
        "mistral-large-latest",
        "mixtral-8x7b-instruct-v0.1",
        "open-mistral-nemo",
        "codestral-2405",
        "ministral-8b-latest",
        "pixtral-12b-2409",
        "devstral:24b",
    ],
    "qwen": ["qwen2.5-coder:7b", "Qwen3-30B-A3B", "qwq:32b", "Qwen2.5-Coder-32B-Instruct"],
    "deepseek": [
        "deepseek-chat",
        "deepseek-reasoner",
        "deepseek-r1:14b",
        "deepseek-r1-distill-qwen-7b",
        "deepseek-coder-v2:16b",
    ],
    "phi": ["phi3:mini", "phi-3.5-mini-instruct", "phi4", "phi-4-multimodal-instruct"],
    "grok": ["grok-beta", "grok-2-vision-1212", "grok-3-mini"],
    "cohere": ["command-r-plus-08-2024", "command-r", "aya:8b", "embed-english-v3.0"],
    "granite": ["granite-code:8b", "granite3.1-dense:8b"],
    "starcoder": ["starcoder2:3b", "stable-code:3b"],
    "falcon": ["falcon:7b", "falcon3:10b"],
    "yi": ["yi:34b", "yi-coder:9b"],
    "hermes": [
        "nous-hermes2:10.7b",
        "dolphin-mixtral:8x7b",
        "openchat:7b",
        "zephyr:7b",
        "wizardlm2:7b",
    ],
    "nemotron": ["nemotron:70b", "mistral-nemo:12b"],
    "olmo": ["olmo2:13b", "smollm2:1.7b"],
    "glm": ["glm4:9b", "codegeex4:9b"],
    "internlm": ["internlm2:7b"],
    "kimi": ["kimi-k2-instruct", "moonshot-v1-8k"],
    "minimax": ["minimax-m1"],
    "jamba": ["jamba-1.5-large"],
    "dbrx": ["dbrx-instruct"],
    "arctic": ["snowflake-arctic-embed:335m"],
    "nova": ["amazon.nova-pro-v1:0", "amazon.titan-text-express-v1"],
    "sonar": ["sonar-pro", "sonar-reasoning", "sonar-deep-research"],
    "reka": ["reka-flash"],
    "solar": ["solar:10.7b"],
    "embedding": ["nomic-embed-text", "mxbai-embed-large", "all-minilm:l6-v2", "bge-m3"],
    "moondream": ["moondream", "minicpm-v"],
    "cogito": ["cogito:8b", "deepcoder:14b", "exaone3.5:7.8b"],
}

PREFIXED = [
    "openai/gpt-4o",
    "anthropic/claude-3.5-sonnet",
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/llama-3.1-8b-instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
    "deepseek-ai/DeepSeek-R1",
    "microsoft/Phi-3-mini-4k-instruct",
    "google/gemma-2-9b-it",
    "openrouter/openai/gpt-4o",
    "ollama/llama3",
    "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
    "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
]


def test_every_family_has_an_example():
    assert set(EXAMPLES) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_public_names_of_each_family_leave_as_they_are(family):
    for name in EXAMPLES[family]:
        assert public_model_name(name) == name, name


@pytest.mark.parametrize("name", PREFIXED)
def test_provider_prefixes_and_public_hub_organisations_are_kept(name):
    assert public_model_name(name) == name


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ft:gpt-4o-mini-2024-07-18:acme-corp:merger-memos:9xYzAbC1", "ft:gpt-4o-mini-2024-07-18"),
        ("ft:gpt-3.5-turbo-0125:personal::8abcDEF", "ft:gpt-3.5-turbo-0125"),
        ("ft:acme-model:acme::x", "custom"),
        ("ft:", "custom"),
        ("davinci:ft-acme-corp-2023-01-01-00-00-00", "ft:davinci"),
    ],
)
def test_a_fine_tuned_id_keeps_only_its_public_base(name, expected):
    assert public_model_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "demo",
        "acme-gpt",  # an organisation's own name first
        "gpt-4o-acme",  # a public family with a private word
        "llama3.1:acme-merger",
        "acme/Llama-3.1-8B-Instruct",  # a private hub organisation
        "azure/acme-prod-deployment",  # a private deployment behind a provider prefix
        "/home/someone/models/mistral-7b.gguf",  # a local file
        "C:\\Users\\someone\\m.gguf",
        "tunedModels/acme-summariser-123",
        "accounts/acme/models/llama-v3p1-8b-instruct",
        "gpt-4o-123456789",  # a number too long to be a version, size or date
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
        "someone@example.org",
        "https://user:pw@host/gpt-4o",
        "gpt 4o",
        "g" * 200,
    ],
)
def test_everything_else_leaves_as_custom(name):
    assert public_model_name(name) == "custom"


@pytest.mark.parametrize("value", [None, "", "   ", 42, ["gpt-4o"]])
def test_what_is_not_a_name_is_dropped(value):
    assert public_model_name(value) is None


def test_the_schemas_command_names_are_the_assistants_builtins():
    assert set(SCHEMA_COMMANDS) == set(BUILTIN_COMMANDS)
    for name in (*BUILTIN_COMMANDS, "custom"):
        assert build_properties("useSlashCommand", {"name": name}, {}) == {"name": name}
    for name in ("summarize-patient-record", "check", "Ask", ""):
        assert build_properties("useSlashCommand", {"name": name}, {}) == {}


# --- property tests ------------------------------------------------------------------------------

_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/"
_PUBLIC_STEMS = [name for names in EXAMPLES.values() for name in names] + PREFIXED
_WORD = re.compile(r"[a-z]+")


def _leaves_only_public_words(sent: str) -> bool:
    """Independent of the grammar: every word of what leaves is a public word or a prefix."""
    lowered = sent.lower()
    prefix_words = {w for p in PREFIXES for w in _WORD.findall(p)} | {"ft", "accounts", "models"}
    return all(w in WORDS or w in prefix_words for w in _WORD.findall(lowered))


@settings(max_examples=500)
@given(name=st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=60))
def test_random_single_token_names_leave_only_as_public_names(name):
    sent = public_model_name(name)
    if name.strip():
        assert sent is not None
        assert sent == "custom" or _leaves_only_public_words(sent)
        assert sent in ("custom", name) or sent.startswith("ft:")


PREFIX_WORDS = {w for prefix in PREFIXES for w in _WORD.findall(prefix.lower())}


@settings(max_examples=500)
@given(
    stem=st.sampled_from(_PUBLIC_STEMS),
    # A public word or a public prefix (``openrouter``, ``meta-llama``) is not private, nor is
    # "custom", what a private name is sent as.
    private=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12).filter(
        lambda w: w not in WORDS and w not in PREFIX_WORDS and w != "custom"
    ),
    shape=st.sampled_from(
        [
            "{s}-{p}",
            "{p}-{s}",
            "{s}:{p}",
            "{p}/{s}",
            "ft:{s}:{p}:proj:9xYz",
            "{s}-{p}-7b",
            "{s}.{p}",
            "{s}/{p}",
        ]
    ),
)
def test_a_private_word_next_to_a_public_name_never_leaves(stem, private, shape):
    sent = public_model_name(shape.format(s=stem, p=private))
    assert sent is not None
    assert private not in _WORD.findall(sent.lower())  # not as a word ("cus" is in "custom")
