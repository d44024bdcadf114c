"""The `--served-model-name` vLLM will run with, read from the container's argv as it runs.

The seed's example is `command: ["sh"], args: ["-c", "python3 -m vllm ... --served-model-name x"]`,
so the argv is read as the container runs it: a shell (`sh`, `bash`, ... with `-c`, also in
combined flags such as `-lc` or `-ec`) runs its script, which is split into words and
simple commands with the shell's rules (quotes, backslashes, `#` comments, and the
operators `;`, `&`, `&&`, `|`, `||`, newlines and redirections ending a word and a command).
In each simple command argparse's rules apply: the flag may be written `--served-model-name
x` or `--served-model-name=x`, takes one or more names up to the next option, and when it is
repeated the last one wins. A name built by the shell or by Kubernetes (`"$NAME"`,
`$(NAME)`, a backquote) is not literal: nothing can tell what it will be.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

FLAG: Final = "--served-model-name"
_FLAG_SPELLINGS: Final = frozenset({FLAG, "--served_model_name"})
_SHELLS: Final = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh"})
_OPERATOR_CHARS: Final = frozenset(";&|<>()\n")
_COMMAND_ENDS: Final = frozenset({";", "&", "&&", "|", "||", "\n", "(", ")", ";;", "|&"})
_BLANKS: Final = frozenset(" \t\r")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    literal: bool = True
    """False when the shell would expand part of it (`$`, backquote outside single quotes)."""
    operator: bool = False


@dataclass(frozen=True, slots=True)
class ServedName:
    names: tuple[Word, ...]
    """The names after the flag's last occurrence in one simple command (maybe none)."""


def shell_words(script: str) -> list[Word]:
    """A shell script as words and operators; an unterminated quote ends at the script's end."""
    words: list[Word] = []
    index, length = 0, len(script)
    while index < length:
        char = script[index]
        if char in _BLANKS:
            index += 1
        elif char == "\\" and script.startswith("\\\n", index):
            index += 2  # a line continuation
        elif char == "#":
            while index < length and script[index] != "\n":
                index += 1
        elif char in _OPERATOR_CHARS:
            operator = script[index : index + 2]
            if operator not in {"&&", "||", ";;", "|&", ">>", "<<", ">&", "<&", "&>"}:
                operator = char
            words.append(Word(operator, operator=True))
            index += len(operator)
        else:
            word, index = _word(script, index)
            words.append(word)
    return words


def _word(script: str, index: int) -> tuple[Word, int]:
    text: list[str] = []
    literal = True
    length = len(script)
    while index < length:
        char = script[index]
        if char in _BLANKS or char in _OPERATOR_CHARS:
            break
        if char == "\\":
            if script.startswith("\\\n", index):
                index += 2
                continue
            text.append(script[index + 1 : index + 2])
            index += 2
        elif char == "'":
            end = script.find("'", index + 1)
            end = length if end < 0 else end
            text.append(script[index + 1 : end])
            index = end + 1
        elif char == '"':
            index += 1
            while index < length and script[index] != '"':
                if script[index] == "\\" and script[index + 1 : index + 2] in {'"', "\\", "$", "`"}:
                    text.append(script[index + 1])
                    index += 2
                    continue
                literal = literal and script[index] not in "$`"
                text.append(script[index])
                index += 1
            index += 1
        else:
            literal = literal and char not in "$`*?["
            text.append(char)
            index += 1
    return Word("".join(text), literal=literal), index


def simple_commands(argv: list[str]) -> Iterator[list[Word]]:
    """The simple commands the argv runs: itself, or each command of a shell's `-c` script."""
    words = [Word(arg, literal="$(" not in arg) for arg in argv]  # Kubernetes expands $(VAR)
    yield from _commands_of(words)


def _commands_of(words: list[Word]) -> Iterator[list[Word]]:
    script = _shell_script(words)
    if script is None:
        yield words
        return
    command: list[Word] = []
    for word in shell_words(script):
        if word.operator and word.text in _COMMAND_ENDS:
            if command:
                yield from _commands_of(command)
            command = []
        else:
            command.append(word)
    if command:
        yield from _commands_of(command)


def _shell_script(words: list[Word]) -> str | None:
    """The script of `[exec|env] [VAR=x ...] sh [-flags] -c SCRIPT ...`; None for anything else."""
    position = 0
    while position < len(words) and (
        words[position].text in {"exec", "env"} or _is_assignment(words[position].text)
    ):
        position += 1
    if position >= len(words) or words[position].text.rsplit("/", 1)[-1] not in _SHELLS:
        return None
    has_script = False
    position += 1
    while position < len(words):
        flag = words[position].text
        if flag == "--" or len(flag) < 2 or flag[0] not in "-+" or flag.startswith("--"):
            break
        has_script = has_script or "c" in flag[1:]
        position += 2 if "o" in flag[1:] else 1  # `-o pipefail` takes an argument
    if not has_script or position >= len(words):
        return None
    return words[position].text


def _is_assignment(text: str) -> bool:
    name, equals, _ = text.partition("=")
    return bool(equals) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def served_names(argv: list[str]) -> list[ServedName]:
    """One entry per simple command that has the flag: the names its last occurrence gives."""
    found: list[ServedName] = []
    for command in simple_commands(argv):
        names: tuple[Word, ...] | None = None
        for position, word in enumerate(command):
            flag, equals, value = word.text.partition("=")
            if word.operator or flag not in _FLAG_SPELLINGS:
                continue
            if equals:
                names = (Word(value, literal=word.literal),)
                continue
            values: list[Word] = []
            for following in command[position + 1 :]:
                if following.operator or following.text.startswith("-"):
                    break
                values.append(following)
            names = tuple(values)
        if names is not None:
            found.append(ServedName(names))
    return found
