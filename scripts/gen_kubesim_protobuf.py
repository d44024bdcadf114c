"""Generate `kubesim/protobuf_messages.json`: the field tables of the Kubernetes protobuf
messages kubesim decodes, read from the published `generated.proto` files of
`k8s.io/api` and `k8s.io/apimachinery`, so kubesim needs no protobuf runtime.

kubectl sends protobuf bodies (`application/vnd.kubernetes.protobuf`) for built-in kinds
through its typed clients (`kubectl create namespace|deployment|secret ...`, `auth
can-i`, DeleteOptions); `kubesim.protobuf` turns such a body into the JSON object the
apiserver would have decoded. The proto field names are the JSON names (go-to-protobuf
mostly takes them from the json tags; where not, the Go source's json tag wins), so each
table is `number -> (name, label, type[, "inline"])`, "inline" marking an embedded struct
whose fields JSON puts in its parent (a Probe's `handler`, a Volume's `volumeSource`).

Run with checkouts (or bare git directories) of both repositories:
`.venv/bin/python scripts/gen_kubesim_protobuf.py API_GIT_DIR APIMACHINERY_GIT_DIR`
(rewrites the file; the commits read are recorded in it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "kubesim" / "protobuf_messages.json"

#: the k8s.io/api groups kubesim serves or answers (and what their kinds embed)
API_FILES = (
    "core/v1",
    "apps/v1",
    "batch/v1",
    "rbac/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "storage/v1",
    "events/v1",
    "policy/v1",
    "authorization/v1",
    "authentication/v1",
    "coordination/v1",
    "networking/v1",
    "scheduling/v1",
    "discovery/v1",
)
APIMACHINERY_FILES = (
    "pkg/apis/meta/v1",
    "pkg/api/resource",
    "pkg/runtime",
    "pkg/runtime/schema",
    "pkg/util/intstr",
)
_PACKAGE = re.compile(r"^package ([\w.]+);", re.MULTILINE)
_MESSAGE = re.compile(r"^message (\w+) \{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
_FIELD = re.compile(
    r"^\s*(?:(optional|repeated) ([\w.]+)|map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>) (\w+) = (\d+);",
    re.MULTILINE,
)
_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.MULTILINE | re.DOTALL)
#: a Go struct field with both tags: `Name Type `json:"..." protobuf:"...,name=..."``;
#: an embedded one has no name (`ProbeHandler `json:"" protobuf:"...,name=handler"``)
_GO_FIELD = re.compile(r"^\t(?:(\w+)\s+)?[\w.\[\]*]+\s+`([^`]*)`", re.MULTILINE)
_TAG = re.compile(r'(\w+):"([^"]*)"')
_SCALARS = frozenset(
    {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}
)


def _git_show(git_dir: str, path: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _head(git_dir: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _qualify(type_name: str, package: str) -> str:
    if type_name in _SCALARS:
        return type_name
    return type_name.lstrip(".") if type_name.startswith(".") else f"{package}.{type_name}"


def parse(text: str) -> dict[str, list[list[object]]]:
    """Message name (fully qualified) -> [[number, name, label, type], ...]; a map's type
    is [key type, value type] with label `map`."""
    found = _PACKAGE.search(text)
    assert found, "a generated.proto names its package"
    package = found.group(1)
    messages: dict[str, list[list[object]]] = {}
    for name, body in _MESSAGE.findall(text):
        fields: list[list[object]] = []
        for label, type_name, key, value, field, number in _FIELD.findall(body):
            if label:
                fields.append([int(number), field, label, _qualify(type_name, package)])
            else:
                typed = [_qualify(key, package), _qualify(value, package)]
                fields.append([int(number), field, "map", typed])
        messages[f"{package}.{name}"] = sorted(fields)
    return messages


def json_shapes(go_source: str) -> dict[tuple[str, str], str]:
    """(Go struct, proto field name) -> its JSON name, or "" for an embedded (inlined)
    struct, wherever that is not simply the proto name."""
    shapes: dict[tuple[str, str], str] = {}
    for struct, body in _STRUCT.findall(go_source):
        for name, tags in _GO_FIELD.findall(body):
            tag = dict(_TAG.findall(tags))
            proto_name = next(
                (p[5:] for p in tag.get("protobuf", "").split(",") if p.startswith("name=")), ""
            )
            if not proto_name:
                continue
            if "json" not in tag:
                continue  # a custom JSON form (IntOrString, Duration): handled by type
            json_name = tag["json"].split(",")[0]
            if json_name == "" and not name:
                shapes[(struct, proto_name)] = ""  # embedded: its fields are inlined
            elif json_name not in ("", "-") and json_name != proto_name:
                shapes[(struct, proto_name)] = json_name
    return shapes


def _go_files(git_dir: str, directory: str) -> str:
    listing = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "--name-only", "HEAD", f"{directory}/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return "\n".join(
        _git_show(git_dir, path)
        for path in listing
        if path.endswith(".go") and not path.endswith(("_test.go", "generated.pb.go"))
    )


def main(api_git: str, apimachinery_git: str) -> None:
    messages: dict[str, list[list[object]]] = {}
    for git_dir, files in ((api_git, API_FILES), (apimachinery_git, APIMACHINERY_FILES)):
        for directory in files:
            parsed = parse(_git_show(git_dir, f"{directory}/generated.proto"))
            shapes = json_shapes(_go_files(git_dir, directory))
            for message, fields in parsed.items():
                struct = message.rsplit(".", 1)[-1]
                for field in fields:
                    json_name = shapes.get((struct, str(field[1])))
                    if json_name == "":
                        field.append("inline")
                    elif json_name is not None:
                        field[1] = json_name
            messages.update(parsed)
    document = {
        "source": {
            "k8s.io/api": _head(api_git),
            "k8s.io/apimachinery": _head(apimachinery_git),
        },
        "messages": dict(sorted(messages.items())),
    }
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{OUT}: {len(messages)} messages")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
