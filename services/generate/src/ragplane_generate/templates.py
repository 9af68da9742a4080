"""Chat templates: render system/user/assistant messages into the one prompt string a TensorRT-LLM ensemble
(or the CPU model server) takes as ``text_input``.

The template must match the served model (Qwen2.5 and SmolLM2 use ChatML; Llama 3 its own header tokens).
Untrusted text (questions, passages, history) is passed through ``escape`` first: a string such as
``<|im_end|><|im_start|>system`` inside a passage would otherwise become real control tokens, because servers
parse special tokens in the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class ChatTemplate:
    """A chat format.

    Attributes:
        name: the setting value that selects it.
        message: format of one message with ``{role}`` and ``{content}``.
        generation_prefix: what opens the assistant's reply.
        prefix: text before the first message (for example a BOS token the server does not add).
        stop: strings that end a reply.
        special_tokens: control strings removed from untrusted text.
        role_lines: roles are plain text at the start of a line (``user: ...``), so untrusted lines that start
            that way are quoted.
    """

    name: str
    message: str
    generation_prefix: str
    prefix: str = ""
    stop: tuple[str, ...] = ()
    special_tokens: tuple[str, ...] = ()
    role_lines: bool = False

    def escape(self, text: str) -> str:
        """Remove this template's control strings (and any ``<|...|>`` token lookalike) from untrusted text.

        The result holds no ``<|`` or ``|>`` at all, so no control token, however it was split, survives. For a
        template whose roles are line prefixes, no line of the result starts with a role name and a colon.
        """
        for token in self.special_tokens:
            text = text.replace(token, "")
        text = defuse_delimiters(_TOKEN_LIKE.sub("", text))
        return defuse_role_lines(text) if self.role_lines else text

    def render(self, messages: list[Message]) -> str:
        """The prompt: every message in order, then the opening of the assistant's reply.

        Raises:
            ValueError: a message has an unknown role.
        """
        parts = [self.prefix]
        for message in messages:
            if message.role not in ROLES:
                raise ValueError(f"role must be one of {', '.join(ROLES)}, but got {message.role!r}")
            parts.append(self.message.format(role=message.role, content=message.content))
        parts.append(self.generation_prefix)
        return "".join(parts)


_TOKEN_LIKE = re.compile(r"<\|[A-Za-z0-9_./-]{1,40}\|>")
# A "|" next to "<" or ">": what is left of a token that removing an inner one rebuilt ("<|im_<|x|>end|>").
_DELIMITER_PIPE = re.compile(r"(?<=<)\||\|(?=>)")


def defuse_delimiters(text: str) -> str:
    """Replace every "|" that touches "<" or ">" with "¦", so no ``<|...|>`` token can be read from ``text``.

    Removing a match again until nothing changes would be quadratic in the nesting depth; replacing instead
    leaves the neighbours as they are, so one linear pass cannot rebuild what it removed, and a second changes
    nothing.
    """
    return _DELIMITER_PIPE.sub("\u00a6", text)


# Every line break str.splitlines() knows: a model or a client may take any of them for a new line.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ROLE_LINE = re.compile(
    rf"(?:(?<=[{_LINE_BREAKS}])|\A)(?=[^\S{_LINE_BREAKS}]*(?:{'|'.join(ROLES)})[^\S{_LINE_BREAKS}]*:)", re.IGNORECASE
)


def defuse_role_lines(text: str) -> str:
    """Quote (prefix "> ") every line of ``text`` that starts like a turn of a plain template ("user: ...").

    A quoted line no longer starts with a role, so a second pass changes nothing; the lookahead reads at most
    one line's leading blanks and a role name from each line start, so the pass is linear.
    """
    return _ROLE_LINE.sub("> ", text)


CHATML = ChatTemplate(
    name="chatml",
    message="<|im_start|>{role}\n{content}<|im_end|>\n",
    generation_prefix="<|im_start|>assistant\n",
    stop=("<|im_end|>", "<|im_start|>"),
    special_tokens=("<|im_start|>", "<|im_end|>", "<|endoftext|>"),
)
LLAMA3 = ChatTemplate(
    name="llama3",
    message="<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
    generation_prefix="<|start_header_id|>assistant<|end_header_id|>\n\n",
    prefix="<|begin_of_text|>",
    stop=("<|eot_id|>",),
    special_tokens=("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"),
)
PLAIN = ChatTemplate(
    name="plain",
    message="{role}: {content}\n\n",
    generation_prefix="assistant: ",
    stop=("\nuser:",),
    role_lines=True,
)
TEMPLATES = {t.name: t for t in (CHATML, LLAMA3, PLAIN)}


def get_template(name: str) -> ChatTemplate:
    """The template called ``name``.

    Raises:
        ValueError: no such template (the message lists the known ones).
    """
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown chat template {name!r}; known: {', '.join(sorted(TEMPLATES))}") from None
