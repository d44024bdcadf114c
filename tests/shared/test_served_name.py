"""The served-name reader reads argv as the container runs it."""

import pytest

from shared.served_name import served_names, shell_words
from tests.shared.examples import SEED_ARGS


def read(command: list[str], args: list[str]) -> list[list[str]]:
    return [[name.text for name in found.names] for found in served_names([*command, *args])]


def test_the_seeds_sh_c_example_yields_its_served_name() -> None:
    assert read(["sh"], SEED_ARGS) == [["qwen3-coder-30b"]]


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        (["python3", "-m", "vllm"], ["--served-model-name", "qwen3"], [["qwen3"]]),
        (["python3"], ["--served-model-name=qwen3"], [["qwen3"]]),
        (
            ["/bin/bash"],
            ["-c", "vllm serve x --served-model-name 'qwen3' --port 8000"],
            [["qwen3"]],
        ),
        (["sh"], ["-c", 'vllm serve x --served-model-name="qwen3"'], [["qwen3"]]),
        (["vllm"], ["serve", "x", "--served-model-name", "a", "b", "--port", "1"], [["a", "b"]]),
        (["vllm"], ["serve", "x", "--served-model-name"], [[]]),
        (["vllm"], ["serve", "x"], []),
        # `-c` is only a script after a shell: python's -c is not split
        (["python3"], ["-c", "print('--served-model-name x')"], []),
        # shell operators end a word and a command
        (
            ["sh"],
            ["-c", "vllm serve m --served-model-name qwen3-coder-30b; sleep 1"],
            [["qwen3-coder-30b"]],
        ),
        (["sh"], ["-c", "vllm serve m --served-model-name q&&echo done"], [["q"]]),
        (["sh"], ["-c", "vllm serve m --served-model-name q || exit 1"], [["q"]]),
        (["sh"], ["-c", "vllm serve m --served-model-name q | tee log"], [["q"]]),
        (["sh"], ["-c", "vllm serve m --served-model-name q>log 2>&1"], [["q"]]),
        (["sh"], ["-c", "vllm serve m --served-model-name q &"], [["q"]]),
        (["sh"], ["-c", "pip install x\nvllm serve m --served-model-name q"], [["q"]]),
        # comments end the command; a `#` inside a word is part of it
        (
            ["sh"],
            ["-c", "vllm serve m --served-model-name q # was: --served-model-name z"],
            [["q"]],
        ),
        (["sh"], ["-c", "vllm serve m --served-model-name q#1"], [["q#1"]]),
        (["sh"], ["-c", "# --served-model-name z\nvllm serve m --served-model-name q"], [["q"]]),
        # combined shell flags, separate flags, `-o` with its argument, exec and assignments
        (["bash", "-lc"], ["vllm serve m --served-model-name q"], [["q"]]),
        (["bash"], ["-ec", "vllm serve m --served-model-name q"], [["q"]]),
        (["bash"], ["-e", "-o", "pipefail", "-c", "vllm --served-model-name q"], [["q"]]),
        (["sh", "-c", "exec vllm serve m --served-model-name q"], [], [["q"]]),
        (["env"], ["X=1", "sh", "-c", "vllm --served-model-name q"], [["q"]]),
        (["sh", "-c", "X=1 bash -lc 'vllm --served-model-name q'"], [], [["q"]]),
        # line continuations join the lines
        (["sh", "-c", "vllm serve m \\\n  --served-model-name q \\\n  --port 8000"], [], [["q"]]),
        # argparse: a repeated flag keeps the last
        (["vllm"], ["--served-model-name", "a", "--served-model-name", "b"], [["b"]]),
        (["sh", "-c", "vllm --served-model-name=a --port 1 --served-model-name b"], [], [["b"]]),
        (["vllm"], ["--served_model_name", "q"], [["q"]]),
        # two commands, each with its own flag
        (
            ["sh", "-c", "vllm --served-model-name a & vllm --served-model-name b"],
            [],
            [["a"], ["b"]],
        ),
    ],
)
def test_served_names_are_read_as_the_container_runs_them(
    command: list[str], args: list[str], expected: list[list[str]]
) -> None:
    assert read(command, args) == expected


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["sh", "-c", 'vllm --served-model-name "$NAME"'], []),
        (["sh", "-c", "vllm --served-model-name $NAME"], []),
        (["sh", "-c", "vllm --served-model-name=${NAME}"], []),
        (["sh", "-c", "vllm --served-model-name `cat name`"], []),
        (["vllm"], ["--served-model-name", "$(MODEL_NAME)"]),  # Kubernetes expands $(VAR)
    ],
)
def test_a_name_built_when_the_container_starts_is_not_literal(
    command: list[str], args: list[str]
) -> None:
    (found,) = served_names([*command, *args])
    assert not found.names[0].literal


@pytest.mark.parametrize(
    "script",
    [
        "vllm --served-model-name '$NAME'",
        'vllm --served-model-name "q\\$"',
        "vllm --served-model-name q",
    ],
)
def test_single_quotes_and_escapes_keep_a_name_literal(script: str) -> None:
    (found,) = served_names(["sh", "-c", script])
    assert found.names[0].literal


def test_a_prefix_of_the_name_is_a_different_name() -> None:
    assert read(["vllm"], ["--served-model-name", "qwen"]) != [["qwen3"]]


def test_the_flag_as_text_outside_a_shell_is_not_split() -> None:
    assert read(["python3"], ["--model x --served-model-name m"]) == []


def test_shell_words_split_quotes_operators_and_comments() -> None:
    words = shell_words('a \'b c\' "d\\"e" f;g&&h # i\nj')
    assert [w.text for w in words] == ["a", "b c", 'd"e', "f", ";", "g", "&&", "h", "\n", "j"]
    assert [w.operator for w in words] == [False] * 4 + [True, False, True, False, True, False]
