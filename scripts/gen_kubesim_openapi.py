"""Generate `kubesim/openapi_schemas.json`: the OpenAPI definitions of the built-in kinds
kubesim serves, from the official `kubernetes` client's generated models (a dev
dependency), so kubesim itself needs no new runtime dependency.

Each model class knows its fields' JSON names (`attribute_map`), types (`openapi_types`),
descriptions and whether they are required (pydantic `model_fields`). Definitions are
named as the apiserver names them (`io.k8s.api.apps.v1.Deployment`), in swagger 2.0 form
(`#/definitions/...` references); `kubesim.openapi` derives the v3 documents from them.

Run: `.venv/bin/python scripts/gen_kubesim_openapi.py` (rewrites the file).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kubernetes.client import models

OUT = Path(__file__).resolve().parent.parent / "kubesim" / "openapi_schemas.json"

#: (apiVersion, kind, model class name) of every top-level kind kubesim serves or answers
ROOTS: tuple[tuple[str, str, str], ...] = (
    ("v1", "Namespace", "V1Namespace"),
    ("v1", "Node", "V1Node"),
    ("v1", "Pod", "V1Pod"),
    ("v1", "Service", "V1Service"),
    ("v1", "Secret", "V1Secret"),
    ("v1", "ConfigMap", "V1ConfigMap"),
    ("v1", "PersistentVolumeClaim", "V1PersistentVolumeClaim"),
    ("v1", "Event", "CoreV1Event"),
    ("v1", "Status", "V1Status"),
    ("apps/v1", "Deployment", "V1Deployment"),
    ("apps/v1", "ReplicaSet", "V1ReplicaSet"),
    ("apps/v1", "DaemonSet", "V1DaemonSet"),
    ("apps/v1", "StatefulSet", "V1StatefulSet"),
    ("batch/v1", "Job", "V1Job"),
    ("batch/v1", "CronJob", "V1CronJob"),
    ("v1", "ServiceAccount", "V1ServiceAccount"),
    ("v1", "ReplicationController", "V1ReplicationController"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "V2HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io/v1", "Role", "V1Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "V1RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "V1ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "V1ClusterRoleBinding"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview", "V1SelfSubjectAccessReview"),
    ("apiregistration.k8s.io/v1", "APIService", "V1APIService"),
    ("autoscaling/v1", "Scale", "V1Scale"),
    ("events.k8s.io/v1", "Event", "EventsV1Event"),
    ("storage.k8s.io/v1", "StorageClass", "V1StorageClass"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "V1CustomResourceDefinition"),
)

#: the Go package of each group's types, as the apiserver's definition names show it
_PACKAGES = {
    "": "io.k8s.api.core",
    "apps": "io.k8s.api.apps",
    "autoscaling": "io.k8s.api.autoscaling",
    "batch": "io.k8s.api.batch",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac",
    "authorization.k8s.io": "io.k8s.api.authorization",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
    "events.k8s.io": "io.k8s.api.events",
    "storage.k8s.io": "io.k8s.api.storage",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
}
_META = "io.k8s.apimachinery.pkg.apis.meta"
_META_TYPES = frozenset(
    {
        "ObjectMeta",
        "ListMeta",
        "LabelSelector",
        "LabelSelectorRequirement",
        "OwnerReference",
        "ManagedFieldsEntry",
        "Status",
        "StatusDetails",
        "StatusCause",
        "DeleteOptions",
        "Preconditions",
        "Condition",
        "WatchEvent",
    }
)
#: JSON names of the fields typed `object` in the client that are IntOrString on the server
_INT_OR_STRING = frozenset({"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"})
_INT_OR_STRING_NAME = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_CLASS_NAME = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")
_PRIMITIVES: dict[str, dict[str, str]] = {
    "str": {"type": "string"},
    "bytes": {"type": "string", "format": "byte"},
    "bytearray": {"type": "string", "format": "byte"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}


class Generator:
    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}  # class name -> definition name
        self.root_kind = ""

    def name_for(self, class_name: str, group: str) -> str:
        if class_name in self.names:
            return self.names[class_name]
        m = _CLASS_NAME.match(class_name)
        if m is None:
            raise ValueError(f"cannot name model {class_name}")
        version, kind = m.group(2).lower(), m.group(3)
        # a group's own types carry its kind's name (RollingUpdateDeployment, ScaleSpec);
        # what they embed (PodTemplateSpec, TopologySelectorTerm) is core's
        own = group == "apiextensions.k8s.io" or self.root_kind in kind
        package = _META if kind in _META_TYPES else _PACKAGES[group if own else ""]
        name = f"{package}.{version}.{kind}"
        self.names[class_name] = name
        return name

    def add(self, class_name: str, group: str) -> str:
        name = self.name_for(class_name, group)
        if name in self.definitions:
            return name
        cls = getattr(models, class_name)
        schema: dict[str, Any] = {"type": "object"}
        doc = (cls.__doc__ or "").split("Attributes:")[0].strip()
        if doc and not doc.startswith(class_name):
            schema["description"] = " ".join(doc.split())
        self.definitions[name] = schema
        properties: dict[str, Any] = {}
        required = []
        fields = {f.alias or attr: f for attr, f in cls.model_fields.items()}
        for attr, type_name in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            field = fields.get(attr) or cls.model_fields[attr]
            prop = self.type_schema(type_name, group, json_name)
            if field.description:
                prop = {"description": field.description, **prop}
            properties[json_name] = prop
            if field.is_required():
                required.append(json_name)
        schema["properties"] = dict(sorted(properties.items()))
        if required:
            schema["required"] = sorted(required)
        return name

    def type_schema(self, type_name: str, group: str, json_name: str) -> dict[str, Any]:
        if type_name.startswith("List["):
            return {"type": "array", "items": self.type_schema(type_name[5:-1], group, "")}
        if type_name.startswith("Dict[str, "):
            inner = self.type_schema(type_name[10:-1], group, "")
            return {"type": "object", "additionalProperties": inner}
        if type_name in _PRIMITIVES:
            return dict(_PRIMITIVES[type_name])
        if type_name == "object":
            if json_name in _INT_OR_STRING:
                self.definitions[_INT_OR_STRING_NAME] = {
                    "description": "IntOrString is a type that can hold an int32 or a string.",
                    "type": "string",
                    "format": "int-or-string",
                }
                return {"$ref": f"#/definitions/{_INT_OR_STRING_NAME}"}
            return {}
        return {"$ref": f"#/definitions/{self.add(type_name, group)}"}


def main() -> None:
    gen = Generator()
    kinds: dict[str, str] = {}
    for api_version, kind, class_name in ROOTS:
        group = api_version.rpartition("/")[0]
        gen.root_kind = kind
        for suffix in ("", "List"):
            cls_name = class_name + suffix
            if not hasattr(models, cls_name):
                continue
            name = gen.add(cls_name, group)
            gvk = {"group": group, "version": api_version.rpartition("/")[2], "kind": kind + suffix}
            gen.definitions[name]["x-kubernetes-group-version-kind"] = [gvk]
            kinds[f"{api_version}/{kind}{suffix}"] = name
    delete_options = gen.add("V1DeleteOptions", "")
    gen.definitions[delete_options]["x-kubernetes-group-version-kind"] = [
        {"group": g, "version": "v1", "kind": "DeleteOptions"} for g in sorted(_PACKAGES)
    ]
    document = {
        "definitions": dict(sorted(gen.definitions.items())),
        "kinds": dict(sorted(kinds.items())),
    }
    OUT.write_text(json.dumps(document, indent=None, separators=(",", ":"), sort_keys=False))
    print(f"wrote {len(gen.definitions)} definitions, {len(kinds)} kinds to {OUT}")


if __name__ == "__main__":
    main()
