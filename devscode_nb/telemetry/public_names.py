"""Public model names (SPEC §3): the one place that decides which model names may leave.

A model name is text the person chose; it can name their organisation, project or client. So it
leaves only when it is a *public* name: it starts with a known model family, every word in it is
a public word (sizes, tags, quantisations), every number is short (versions, sizes, dates), and
any prefix is a provider or a public hub organisation. A fine-tuned id keeps only its public base
(``ft:gpt-4o-mini-2024-07-18:acme:proj:id`` → ``ft:gpt-4o-mini-2024-07-18``). Everything else —
a private deployment, a local file, an unknown name — leaves as ``custom``.

To add a family: add it to ``FAMILIES`` and an example to ``tests/test_public_names.py``.
"""

from __future__ import annotations

import re
from typing import Any

CUSTOM = "custom"

#: Model families, by the name we test them under: a regex for how a public name starts.
FAMILIES: dict[str, str] = {
    "openai-gpt": r"(chat)?gpt",
    "openai-o": r"o[1-9]",
    "openai-embedding": r"text-(embedding|moderation)|omni-moderation",
    "openai-legacy": r"davinci|babbage|curie|ada|codex",
    "openai-media": r"whisper|tts|dall-e|sora|computer-use",
    "claude": r"claude",
    "gemini": r"gemini",
    "gemma": r"(code|shield|med|data)?gemma",
    "palm": r"(text|chat|codechat|code)-bison|palm|learnlm",
    "llama": r"(meta-)?(code|tiny)?llama|llava|bakllava",
    "mistral": r"(open-)?(mistral|mixtral)|(code|mini|magi|dev|math)stral|pixtral",
    "qwen": r"(code)?qwen|qwq|qvq",
    "deepseek": r"deepseek",
    "phi": r"phi",
    "grok": r"grok",
    "cohere": r"command|aya|c4ai-command|embed-(english|multilingual)",
    "granite": r"granite",
    "starcoder": r"starcoder|stable-?code|stablelm|santacoder",
    "falcon": r"falcon",
    "yi": r"yi",
    "hermes": r"(open|nous-)?hermes|dolphin|openchat|neural-chat|zephyr|vicuna|orca|wizard",
    "nemotron": r"nemotron|nemo",
    "olmo": r"olmo|tulu|smollm",
    "glm": r"(chat)?glm|codegeex",
    "internlm": r"internlm",
    "kimi": r"kimi|moonshot",
    "minimax": r"minimax|abab",
    "jamba": r"jamba|jurassic",
    "dbrx": r"dbrx",
    "arctic": r"(snowflake-)?arctic",
    "nova": r"(amazon\.)?(nova|titan)",
    "sonar": r"sonar|pplx",
    "reka": r"reka",
    "solar": r"solar",
    "embedding": r"nomic-embed|mxbai-embed|all-minilm|bge|e5|gte|jina-embeddings",
    "moondream": r"moondream|minicpm",
    "cogito": r"cogito|deepcoder|opencoder|sqlcoder|exaone|baichuan|ernie",
}


def _words(*lines: str) -> frozenset[str]:
    return frozenset(word for line in lines for word in line.split())


#: Words a public name may contain after its family (lower case; letters only).
WORDS = _words(
    "behemoth deep english maverick meta minicpm multimodal scout",
    "a b e f i k l m n o p q r s t v x ada aya abab all amazon anthropic arctic audio awq",
    "bakllava base babbage baichuan beta bf bge bison c ce chat chatglm chatgpt claude code",
    "codechat codegeex codegemma codellama codeqwen coder codestral codex cogito command",
    "computer curie dall data davinci deepcoder deepseek dense devstral distill dolphin dbrx",
    "dpo e embed embedding embeddings ernie exaone exp experimental express falcon fast flash",
    "fp gemini gemma ggml gguf glm gpt gptq granite grok gte guard haiku hd hermes hf high iq",
    "image instant instruct int internlm it jamba jina jurassic kimi large latest learnlm lite",
    "llama llava long low m magistral math mathstral max med medium mini minilm minimax",
    "ministral mistral mixtral mlx moderation moe moondream moonshot multilingual mxbai nano",
    "nemo nemotron neural nomic nous nova olmo omni online open openchat opencoder opus orca",
    "oss palm phi pixtral plus pplx preview pro qvq qwen qwq r realtime reasoner reasoning reka",
    "research santacoder search shield small smollm snowflake solar sonar sonnet sora sqlcoder",
    "stable stablelm starcoder text thinking tiny tinyllama titan transcribe tts tulu turbo",
    "ultra use versatile vicuna vision vl whisper wizard wizardcoder wizardlm xl xs yi zephyr",
)

#: Prefixes that name a provider or a public hub organisation (``openai/``, ``meta-llama/``).
PREFIXES = _words(
    "01-ai ai21 ai21labs allenai amazon anthropic anyscale azure baai bartowski bedrock bigcode",
    "cerebras codellama cohere cohereforai databricks deepinfra deepseek deepseek-ai fireworks",
    "fireworks_ai gemini google groq hf.co hosted_vllm huggingface huggingfaceh4 huggingfacetb",
    "ibm-granite internlm jinaai lm_studio lmstudio lmstudio-community meta meta-llama",
    "microsoft mistral mistralai mlx-community moonshotai nomic-ai nousresearch nvidia ollama",
    "ollama_chat openai openrouter perplexity qwen sentence-transformers snowflake stabilityai",
    "thebloke thudm tiiuae together together_ai togethercomputer unsloth vertex_ai x-ai xai",
)

#: Bedrock-style dotted prefixes (``us.anthropic.claude-…``, ``meta.llama3-…``).
_DOTTED = re.compile(
    r"((us|eu|apac|us-gov)\.)?(anthropic|meta|amazon|mistral|cohere|ai21|deepseek)\."
)
_FIREWORKS = re.compile(r"accounts/fireworks/models/")
_FAMILY = re.compile("|".join(f"(?:{regex})" for regex in FAMILIES.values()), re.IGNORECASE)
_CHARS = re.compile(r"[A-Za-z0-9._:+-]{1,80}")
_LETTERS = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_LEGACY_FT = re.compile(r"([^:]+):ft-.*")


def _is_public_body(body: str) -> bool:
    """A name without prefixes: a family first, then only public words and short numbers."""
    if not _CHARS.fullmatch(body) or not _FAMILY.match(body):
        return False
    if any(len(run) > 8 for run in _DIGITS.findall(body)):
        return False
    return all(word.lower() in WORDS for word in _LETTERS.findall(body))


def is_public_model_name(name: str) -> bool:
    """Whether ``name`` may leave as it is."""
    body = _FIREWORKS.sub("", name, count=1)
    *prefixes, body = body.split("/")
    if any(p.lower() not in PREFIXES for p in prefixes) or len(prefixes) > 2:
        return False
    dotted = _DOTTED.match(body)
    return _is_public_body(body[dotted.end() :] if dotted else body)


def public_model_name(value: Any) -> str | None:
    """What may leave for a model name: the name, its fine-tuned public base, or ``custom``.

    ``None`` (the property is dropped) for anything that is not a non-empty string.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    name = value.strip()
    if name.startswith("ft:"):
        base = name.split(":")[1]
        return f"ft:{base}" if is_public_model_name(base) else CUSTOM
    legacy = _LEGACY_FT.fullmatch(name)
    if legacy:
        base = legacy.group(1)
        return f"ft:{base}" if is_public_model_name(base) else CUSTOM
    return name if is_public_model_name(name) else CUSTOM
