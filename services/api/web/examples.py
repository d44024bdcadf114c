"""The seed document's examples, shown in the OpenAPI document as they are in the seed."""

from typing import Any, Final

SEED_CREATE_REQUEST: Final[dict[str, Any]] = {
    "name": "qwen3-coder-30b",
    "display_name": "Qwen3 Coder 30B",
    "description": "Qwen3 Coder model for code completion",
    "model_type": "completion",
    "huggingface_id": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
    "requirements": {
        "cpu": "2000m",
        "memory": "16Gi",
        "gpu": {"min_vram": "24Gi", "min_gpus": 1, "max_gpus": 1},
    },
    "deployment_config": {
        "image": "registry.menlo.ai/dockerhub/vllm/vllm-openai:v0.10.2",
        "image_pull_policy": "IfNotPresent",
        "command": ["sh"],
        "args": [
            "-c",
            "python3 -m vllm.entrypoints.openai.api_server --host 0.0.0.0 --port 8000 "
            "--uvicorn-log-level warning --model Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8 "
            "--served-model-name qwen3-coder-30b --tool-call-parser qwen3_coder "
            "--enable-auto-tool-choice --api-server-count 4",
        ],
        "gpu_count": 1,
        "initial_delay_seconds": 240,
        "enable_pvc": True,
        "storage_class": "",
        "enable_autoscaling": True,
        "autoscaling_config": {
            "min_replicas": 1,
            "max_replicas": 8,
            "target_metric": "num_requests_running",
            "target_value": "40",
            "scale_down_delay": "3m",
        },
        "extra_env": [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}],
        "hugging_face_token": "hf_your_token_here",
    },
    "tags": ["coding", "completion"],
    "is_public": False,
}

# The model every example below describes: what the created and the detailed bodies share.
_SEED_MODEL: Final = {
    "id": 1,
    "public_id": "mdl_abc123def456",
    "organization_id": 123,
    "name": "qwen3-coder-30b",
    "display_name": "Qwen3 Coder 30B",
}

SEED_STORED_CONFIG: Final[dict[str, Any]] = {
    **{
        k: v
        for k, v in SEED_CREATE_REQUEST["deployment_config"].items()
        if k != "hugging_face_token"
    },
    "pvc_size": "100Gi",
    "replicas": 1,
    "rollout": {"strategy": "Recreate", "max_surge": 0, "max_unavailable": 1},
    "has_hugging_face_token": True,
    "secret_env_names": [],
}
"""The seed's `deployment_config` as its details show it: the defaults filled in, no token."""

SEED_CREATED: Final = {
    "model": {
        **_SEED_MODEL,
        "model_type": "completion",
        "status": "creating",
        "huggingface_id": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
        "namespace": "jan-models",
        "created_at": "2025-01-01T10:00:00Z",
    }
}

SEED_LIST: Final = {
    "models": [
        {
            "id": 1,
            "public_id": "mdl_abc123def456",
            "name": "qwen3-coder-30b",
            "display_name": "Qwen3 Coder 30B",
            "status": "running",
            "model_type": "completion",
        }
    ],
    "total": 1,
    "next_offset": None,
}

SEED_DETAIL: Final = {
    "model": {
        **_SEED_MODEL,
        "description": "Qwen3 Coder model for code completion",
        "model_type": "completion",
        "status": "running",
        "huggingface_id": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
        "namespace": "jan-models",
        "deployment_name": "qwen3-coder-30b",
        "service_name": "qwen3-coder-30b",
        "endpoint_url": "http://qwen3-coder-30b.jan-models.svc.cluster.local:8000",
        "requirements": {
            "cpu": "2000m",
            "memory": "16Gi",
            "gpu": {"min_vram": "24Gi", "min_gpus": 1},
        },
        "tags": ["coding", "completion"],
        "is_public": False,
        "created_at": "2025-01-01T10:00:00Z",
        "updated_at": "2025-01-01T10:05:00Z",
        "generation": 1,
        "deployment_config": SEED_STORED_CONFIG,
        "observed_generation": 1,
        "replicas": 1,
        "ready_replicas": 1,
        "updated_replicas": 1,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "1 of 1 replicas ready",
                "last_transition_time": "2025-01-01T10:05:00Z",
            }
        ],
    }
}

SEED_STATUS: Final = {  # the seed's, with the admission fields
    "organization_id": 123,
    "cluster_status": {
        "has_gpus": True,
        "total_nodes": 3,
        "gpu_nodes": [
            {
                "node_name": "gpu-node-1",
                "gpu_count": 2,
                "gpu_type": "nvidia-a100",
                "total_vram": "40Gi",
                "available_vram": "20Gi",
                "allocated_gpus": 1,
                "reserved_gpus": 0,
                "free_gpus": 1,
                "schedulable": True,
                "unschedulable_reason": None,
            }
        ],
        "total_gpus": 2,
        "gpu_operator_ok": True,
        "aibrix_ok": True,
        "kuberay_ok": True,
        "envoy_gateway_ok": True,
    },
    "quota": {"gpus": {"limit": 8, "used": 1}},
}

SEED_ALL: Final = {
    "models": [
        {
            "name": "llama2-7b-chat",
            "namespace": "jan-models",
            "is_managed": True,
            "status": "Running",
            "replicas": 2,
            "created_at": "2025-01-01T10:00:00Z",
            "model_type": "chat",
            "display_name": "Llama 2 7B Chat",
            "description": "Llama 2 model for chat completions",
            "is_own": True,
        },
        {
            "name": "external-model",
            "namespace": "default",
            "is_managed": False,
            "status": "Running",
            "replicas": 1,
            "created_at": "2025-01-01T09:00:00Z",
        },
    ],
    "total": 2,
    "next_offset": None,
}

SEED_EVENTS: Final = {
    "events": [
        {
            "specversion": "1.0",
            "id": "5f0c6c4e-8a51-4d37-9d0e-2f1b4c1f6a10",
            "source": "/jan-models/inventory",
            "type": "ai.jan.model.running",
            "subject": "mdl_abc123def456",
            "time": "2025-01-01T10:05:00Z",
            "datacontenttype": "application/json",
            "data": {
                "organization_id": 123,
                "model_id": 1,
                "public_id": "mdl_abc123def456",
                "name": "qwen3-coder-30b",
                "namespace": "jan-models",
                "generation": 1,
                "replicas": 1,
                "ready_replicas": 1,
                "updated_replicas": 1,
            },
        }
    ],
    "next_after": 42,
}


PATCH_EXAMPLE: Final = {
    "display_name": "Qwen3 Coder 30B (v0.10)",
    "deployment_config": {
        "image": "vllm/vllm-openai:v0.10.0",
        "rollout": {"strategy": "RollingUpdate", "max_surge": 0, "max_unavailable": 1},
    },
}
"""A change of image rolled out one replica at a time, and a new display name."""
