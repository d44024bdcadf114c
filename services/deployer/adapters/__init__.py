"""The deployer's clients of the outside world: Kubernetes and NATS JetStream."""
