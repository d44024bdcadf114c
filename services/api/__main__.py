"""`python -m services.api`: the api configured only by `JAN_MODELS_*` variables."""

from services.api.app import run

if __name__ == "__main__":
    run()
