"""`python -m services.api`: the same as `jan-models api`."""

from services.api.app import run

if __name__ == "__main__":
    run()
