"""jan_models."""
